"""Operations: structured JSON logs with a request id, Prometheus metrics, health and readiness."""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid

import sqlalchemy as sa
from flask import Blueprint, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pythonjsonlogger.json import JsonFormatter

REQUESTS = Counter("taiji_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "taiji_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS_STARTED = Counter("taiji_tasks_started_total", "Background tasks started", ["task"])
TASKS_DONE = Counter("taiji_tasks_finished_total", "Background tasks finished", ["task", "outcome"])


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        if not hasattr(record, "request_id"):
            try:
                record.request_id = g.get("request_id")
            except RuntimeError:  # outside a request
                record.request_id = None
        return True


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr, each with the request id when there is one."""
    root = logging.getLogger()
    if any(getattr(h, "_taiji", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._taiji = True
    handler.setFormatter(
        JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                      rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    )
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)


def start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    # Accept the caller's id only when it is short and printable; it ends up in logs.
    g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def finish_request(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    started = g.get("request_started")
    if started is not None and request.endpoint not in ("ops.metrics",):
        endpoint = request.endpoint or "unmatched"
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
    return response


bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Database and broker reachable: 200; otherwise 503 naming what is down."""
    from taiji.platform.db import db
    from taiji.platform.tasks import broker_reachable

    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        db.session.rollback()
        checks["database"] = f"down: {type(exc).__name__}"
    checks["broker"] = "ok" if broker_reachable() else "down"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
def metrics():
    """Prometheus exposition; with a shared metrics folder it sums every process of the install."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Content-Type": CONTENT_TYPE_LATEST})
