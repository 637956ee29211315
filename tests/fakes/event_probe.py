"""A test-only module whose event handlers write files, so that tests can see what a worker
process received. Enable it with ``TAIJI_EXTRA_MODULES=tests.fakes.event_probe``.

Under ``<TAIJI_DATA_DIR>/probe`` every handler call leaves a ``call`` record at once, and an
``effect`` record only when its unit of work commits: effects are what "exactly one effect
per event" is about. After every delivery task the worker also leaves a ``task`` record
naming the task's state, so a test knows when a redelivered copy has been processed.

``probe.flaky`` events fail ``payload["fail_times"]`` times in the ``flaky`` handler before
it succeeds.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from celery.signals import task_postrun
from flask import current_app

from taiji.platform.db import after_commit
from taiji.platform.module import EventSpec, Module


def probe_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "probe"


def _write(kind: str, handler: str, event_id, **fields) -> None:
    folder = probe_dir(current_app.config["DATA_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    body = {"kind": kind, "handler": handler, "event_id": str(event_id), "at": time.time(), **fields}
    # Written under a temporary name and renamed: a reader never sees half a record.
    final = folder / f"{kind}--{handler}--{event_id}--{uuid.uuid4().hex}.json"
    partial = final.with_suffix(".tmp")
    partial.write_text(json.dumps(body))
    partial.rename(final)


def records(data_dir: str | Path, kind: str, handler: str = "*", event_id="*") -> list[dict]:
    """The records of ``kind`` left so far, oldest first."""
    folder = probe_dir(data_dir)
    found = [json.loads(path.read_text()) for path in folder.glob(f"{kind}--{handler}--{event_id}--*.json")]
    return sorted(found, key=lambda body: body["at"])


def wait_for(condition: Callable[[], object], timeout: float = 30, what: str = "the condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def record(event) -> None:
    """Records every event it receives."""
    _write("call", "record", event.id, name=event.name)
    payload, name, event_id = dict(event.payload), event.name, event.id
    after_commit(lambda: _write("effect", "record", event_id, name=name, payload=payload))


def flaky(event) -> None:
    """Fails the first ``fail_times`` deliveries of an event, then records it."""
    data_dir = current_app.config["DATA_DIR"]
    attempts = len(records(data_dir, "call", "flaky", event.id))
    _write("call", "flaky", event.id, name=event.name, attempt=attempts + 1)
    if attempts < int(event.payload.get("fail_times", 0)):
        raise RuntimeError(f"probe: attempt {attempts + 1} of the flaky handler fails on purpose")
    event_id = event.id
    after_commit(lambda: _write("effect", "flaky", event_id, attempts=attempts + 1))


def _after_delivery(sender=None, args=None, state=None, **_):
    if getattr(sender, "name", None) != "platform.deliver_event" or not args:
        return
    event_id, handler = args[0], args[1].rpartition(".")[2]
    with sender.app.flask_app.app_context():
        _write("task", handler, event_id, state=state)


def _setup(app) -> None:
    task_postrun.connect(_after_delivery, weak=False, dispatch_uid="taiji-event-probe")


module = Module(
    code="probe",
    title="Event probe",
    events=[EventSpec("probe.ping", {"marker?": str, "sent?": str}),
            EventSpec("probe.flaky", {"fail_times?": int})],
    event_handlers={
        "tm.tenant.created": [record],
        "probe.ping": [record],
        "probe.flaky": [record, flaky],
    },
    setup=_setup,
)
