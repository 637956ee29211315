"""Transaction engine latencies measured through a real `taiji worker` and a real broker.

- redo-to-alert: sagas whose compensation always fails go through their retries and the redo
  queue on the worker; the figure is the time from the participant answering the last redo
  attempt (its clock) to the ``tx.transaction.parked`` audit entry (the worker's clock, same
  machine), written in the commit that parks the transaction.
- notification scheduling accuracy: notifications to a receiver that never acknowledges, on a
  short schedule; for every attempt after the first, lateness = arrival at the receiver minus
  (previous arrival + the schedule's delay). The previous answer's round trip (about a
  millisecond on loopback) counts as lateness, so the figure errs on the pessimistic side.

Used by ``bench.tx_bench``; the broker is ``TAIJI_BENCH_BROKER_URL`` (default Redis db 7).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BROKER = "redis://127.0.0.1:6379/7"
NOTIFY_SCHEDULE = [0.1, 0.1, 0.2, 0.3, 0.5, 1.0]
REDO_OPTIONS = {"retries": 1, "redo_retries": 2, "backoff": 0.05, "redo_backoff": 0.2, "timeout": 2.0,
                "action_retries": 0}


class _Recorder(BaseHTTPRequestHandler):
    """Answers ``/ok`` with success and anything else with 503; remembers when it answered what."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        ok = parts.path == "/ok"
        body = b'{"result": "SUCCESS"}' if ok else b"not now"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        key = self.headers.get("Taiji-Notification") or parse_qs(parts.query).get("gid", [""])[0]
        with self.lock:
            self.seen[key].append(time.time())

    def log_message(self, *args):
        pass


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {_percentile(values, 0.5) * 1000:.0f} ms, p99 {_percentile(values, 0.99) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms (n={len(values)})")


class _Worker:
    def __init__(self, database_url: str, broker_url: str, data_dir: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAIJI_")}
        env.update({"TAIJI_DATABASE_URL": database_url, "TAIJI_BROKER_URL": broker_url,
                    "TAIJI_DATA_DIR": str(data_dir), "TAIJI_SECRET_KEY": "bench",
                    "TAIJI_LOG_LEVEL": "WARNING",
                    "PYTHONPATH": str(ROOT)})
        self.log = data_dir / "worker.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "taiji.cli", "worker", "--concurrency", "4"],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def _wait_until(predicate, timeout: float, worker: _Worker) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if worker.proc.poll() is not None:
            raise RuntimeError(f"the worker exited: {worker.log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the worker")
        time.sleep(0.1)


def _redo_to_alert(app, base: str, worker: _Worker, count: int) -> list[float]:
    from taiji.platform.audit import AuditEntry
    from taiji.platform.db import db
    from taiji.platform.tx import services
    from taiji.platform.tx.engine import PARKED_EVENT

    run = uuid.uuid4().hex[:8]
    gids = [f"redo-{run}-{i}" for i in range(count)]
    steps = [{"name": "reserve", "action": f"{base}/ok", "compensate": f"{base}/fail"},
             {"name": "charge", "action": f"{base}/fail"}]
    with app.app_context():
        for gid in gids:
            services.submit_saga(steps, gid=gid, options=REDO_OPTIONS)
        db.session.commit()  # the commit enqueues every saga to the worker

        def alerted() -> dict:
            rows = db.session.execute(sa.select(AuditEntry.target, AuditEntry.created_at).where(
                AuditEntry.action == PARKED_EVENT, AuditEntry.target.in_(gids))).all()
            db.session.rollback()
            return dict(rows)

        _wait_until(lambda: len(alerted()) == count, 120, worker)
        parked_at = alerted()
    return [parked_at[gid].timestamp() - _Recorder.seen[gid][-1] for gid in gids]


def _notification_lateness(app, base: str, worker: _Worker, count: int) -> list[float]:
    from taiji.platform.db import db
    from taiji.platform.tx import notify

    nids = [f"nb-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    with app.app_context():
        for nid in nids:
            notify.notify(f"{base}/notify", {"n": nid}, secret="bench-secret-0123456789", nid=nid,  # noqa: S106
                          schedule=NOTIFY_SCHEDULE)
        db.session.commit()

        def finished() -> bool:
            done = db.session.scalar(sa.select(sa.func.count()).select_from(notify.Notification).where(
                notify.Notification.nid.in_(nids), notify.Notification.state != notify.PENDING))
            db.session.rollback()
            return done == count

        _wait_until(finished, 60 + 3 * sum(NOTIFY_SCHEDULE), worker)
    lateness = []
    for nid in nids:
        arrivals = _Recorder.seen[nid]
        assert len(arrivals) == 1 + len(NOTIFY_SCHEDULE), (nid, arrivals)
        lateness += [arrivals[i + 1] - (arrivals[i] + delay) for i, delay in enumerate(NOTIFY_SCHEDULE)]
    return lateness


def run(app, database_url: str, data_dir: Path, count: int = 20) -> list[tuple[str, str]]:
    """Start a worker on ``database_url`` and measure; returns table rows."""
    broker = os.environ.get("TAIJI_BENCH_BROKER_URL") or DEFAULT_BROKER
    app.config["BROKER_URL"] = broker
    from taiji.platform.tasks import init_celery

    init_celery(app)
    app.extensions["celery"].control.purge()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    worker = _Worker(database_url, broker, data_dir)
    try:
        redo = _redo_to_alert(app, base, worker, count)
        lateness = _notification_lateness(app, base, worker, count)
    finally:
        worker.stop()
        server.shutdown()
        server.server_close()
    return [
        ("redo-to-alert latency", _ms(redo)),
        (f"notification lateness (schedule {json.dumps(NOTIFY_SCHEDULE)} s)", _ms(lateness)),
    ]
