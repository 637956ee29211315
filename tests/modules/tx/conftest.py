"""TX module tests: the engine tests' real HTTP participant, allowed on loopback for these tests."""

from __future__ import annotations

import pytest

from tests.platform.tx.conftest import (  # noqa: F401  (fixtures)
    _local_steps,
    local_participant,
    participant,
    participant_server,
)


@pytest.fixture
def loopback_allowed(app, monkeypatch):
    """The participant listens on 127.0.0.1, which tenants may call only when an operator allows it."""
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ("127.0.0.1",))
