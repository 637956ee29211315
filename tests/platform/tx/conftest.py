"""Fixtures of the transaction engine's tests: a real HTTP participant and a driver that plays
the part of the worker and timer (advance, wait until due, advance again)."""

from __future__ import annotations

import itertools
import time

import pytest

from taiji.platform.db import db, utcnow
from taiji.platform.tx import engine
from taiji.platform.tx.models import ACTIVE_STATES
from tests.conftest import sibling_database
from tests.fakes.participant import Participant

# Short enough that the suite stays fast, long enough to measure that backoff is honoured.
FAST = {"backoff": 0.05, "backoff_factor": 2.0, "backoff_max": 1.0, "redo_backoff": 0.05, "timeout": 0.5,
        "action_retries": 2, "retries": 2, "redo_retries": 2}


_instances = itertools.count()


@pytest.fixture(scope="session")
def participant_server(tmp_path_factory):
    # tests/modules/tx re-exports this fixture, which makes it a second session fixture: each
    # instance needs a database of its own (recreating a shared one cut the other's connections).
    url = sibling_database(f"participant{next(_instances)}", tmp_path_factory.mktemp("participant"))
    server = Participant(url, hang_seconds=1.0).start()
    yield server
    server.stop()


@pytest.fixture
def participant(participant_server):
    participant_server.reset()
    yield participant_server
    participant_server.reset()


def saga_steps(participant, *names, compensate=True, **extra):
    return [{"name": name, "action": participant.url("action"),
             "compensate": participant.url("compensate") if compensate else None,
             "payload": {"step": name}, **extra.get(name, {})} for name in names]


def tcc_branches(participant, *names):
    return [{"name": name, "try": participant.url("try"), "confirm": participant.url("confirm"),
             "cancel": participant.url("cancel"), "payload": {"branch": name}} for name in names]


def drive(gid: str, timeout: float = 20.0):
    """Advance ``gid`` as worker and timer would, until it is no longer active; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        progress = engine.advance(gid)
        tx = engine.load(gid)
        db.session.commit()
        if tx.state not in ACTIVE_STATES:
            return tx
        assert time.monotonic() < deadline, f"transaction {gid} still {tx.state}/{tx.phase}"
        if progress is None and tx.lease_until is not None:
            wait = (tx.lease_until - utcnow()).total_seconds()
        else:
            wait = (tx.next_attempt_at - utcnow()).total_seconds() if tx.next_attempt_at else 0
        time.sleep(min(max(wait, 0.0), 0.5) + 0.001)


@pytest.fixture(scope="session")
def _local_steps(app):
    import sqlalchemy as sa

    from tests.fakes import local_participant

    # An engine of its own: inside a test, db.engine is the test's connection, rolled back at its end.
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with app.app_context():  # the steps are registered on the session's app (its registry)
        handle = local_participant.install(engine)
    engine.dispose()
    return handle


@pytest.fixture
def local_participant(_local_steps):
    _local_steps.reset()
    yield _local_steps
    _local_steps.reset()


class _Http:
    """The HTTP participant behind the same two helpers as the local one, for shared tests."""

    kind = "http"

    def __init__(self, participant):
        self.participant = participant

    def __getattr__(self, name):
        return getattr(self.participant, name)

    def saga_steps(self, *names, **kw):
        return saga_steps(self.participant, *names, **kw)

    def tcc_branches(self, *names):
        return tcc_branches(self.participant, *names)


@pytest.fixture(params=["http", "local"])
def any_participant(request):
    """The correctness tests that apply to both run against an HTTP participant and local steps."""
    if request.param == "http":
        return _Http(request.getfixturevalue("participant"))
    return request.getfixturevalue("local_participant")
