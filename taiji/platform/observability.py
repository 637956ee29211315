"""Operations: structured JSON logs with a request id, Prometheus metrics, health and readiness."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pythonjsonlogger.json import JsonFormatter

from taiji.platform import auth

# prometheus_client picks its storage when a metric is created: PROMETHEUS_MULTIPROC_DIR must
# be set before this module is imported (``taiji`` commands do it first thing).
REQUESTS = Counter("taiji_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "taiji_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS_STARTED = Counter("taiji_tasks_started_total", "Background tasks started", ["task"])
TASKS_DONE = Counter("taiji_tasks_finished_total", "Background tasks finished", ["task", "outcome"])

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
request_log = logging.getLogger("taiji.request")


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        if not hasattr(record, "request_id"):
            try:
                record.request_id = g.get("request_id")
            except RuntimeError:  # outside a request
                record.request_id = None
        return True


def json_handler(stream: TextIO) -> logging.Handler:
    """A handler writing one JSON object per line, each with the request id when there is one."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                      rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    )
    handler.addFilter(_RequestIdFilter())
    return handler


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for every logger of the process (once, however many apps exist)."""
    root = logging.getLogger()
    if not any(getattr(h, "_taiji", False) for h in root.handlers):
        handler = json_handler(sys.stderr)
        handler._taiji = True
        root.addHandler(handler)
    root.setLevel(level.upper())


def start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    # The caller's id is kept only when it looks like an id: it is echoed and logged.
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def finish_request(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    started = g.get("request_started")
    if started is not None and request.endpoint != "ops.metrics":
        # The endpoint name, never the path: one series per route, whatever the URL holds.
        endpoint = request.endpoint or "unmatched"
        elapsed = time.perf_counter() - started
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        LATENCY.labels(request.method, endpoint).observe(elapsed)
        if endpoint not in ("ops.healthz", "ops.readyz", "static"):
            request_log.info("request", extra={
                "method": request.method, "path": request.path, "endpoint": endpoint,
                "status": response.status_code, "duration_ms": round(elapsed * 1000, 1),
                "remote_addr": request.remote_addr,
            })
    return response


bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@auth.public
def healthz():
    """The process is alive."""
    return {"status": "ok"}


@bp.get("/readyz")
@auth.public
def readyz():
    """Database and broker reachable: 200; otherwise 503 naming what is down."""
    from taiji.platform.db import db
    from taiji.platform.tasks import broker_reachable

    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception as exc:
        db.session.rollback()
        checks["database"] = f"down: {type(exc).__name__}"
        current_app.logger.warning("database not reachable", exc_info=True)
    reachable = broker_reachable(current_app.config["BROKER_URL"], Path(current_app.config["DATA_DIR"]))
    checks["broker"] = "ok" if reachable else "down"
    down = [name for name, state in checks.items() if state != "ok"]
    body = {"status": "ready" if not down else "not ready", "checks": checks}
    if down:
        body["down"] = down
    return body, 503 if down else 200


@bp.get("/metrics")
@auth.public  # an operator keeps it off the public network (docs/operations.md)
def metrics():
    """Prometheus exposition; with a shared metrics folder it sums every process of the install."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, headers={"Content-Type": CONTENT_TYPE_LATEST})

