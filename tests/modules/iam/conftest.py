"""Fixtures of the IAM tests: a real slapd on loopback, shared by the directory tests."""

from __future__ import annotations

import pytest

from .ldapserver import Slapd, needs_slapd


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory):
    """A throwaway slapd on a free loopback port, seeded with people and groups."""
    if needs_slapd.args[0]:
        pytest.skip(needs_slapd.kwargs["reason"])
    server = Slapd(tmp_path_factory.mktemp("slapd") / "plain").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def slapd(slapd_server) -> str:
    """The URL of ``slapd_server``."""
    return slapd_server.url
