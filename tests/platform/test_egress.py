"""The platform's egress policy: which addresses Taiji may connect to on a tenant's behalf, and the
allow-list an operator extends it with. Names are resolved for real (``localhost`` from the hosts
file, ``.invalid`` never resolves)."""

from __future__ import annotations

import ipaddress

import pytest

from taiji.platform import egress
from taiji.platform.tx import egress as tx_egress


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:6379/", "http://127.8.9.10/", "http://[::1]/x", "http://localhost/x",
    "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/x", "http://0.0.0.0/x", "http://[::]/x",
    "http://224.0.0.1/x", "http://240.0.0.1/x", "http://[::ffff:127.0.0.1]/x",
])
def test_loopback_link_local_and_reserved_addresses_are_refused(url):
    found = egress.refusal(url, ())
    assert found is not None and found.address is not None and egress.forbidden(found.address)
    assert found.host and found.host in url


@pytest.mark.parametrize("url", [
    "http://10.0.0.9/a", "http://172.16.5.5/a", "http://192.168.1.1:8080/a", "http://[fd00::5]/a",
    "https://93.184.215.14/", "https://[2606:4700::1111]/",
])
def test_public_and_private_addresses_are_allowed(url):
    assert egress.refusal(url, ()) is None


def test_the_allow_list_takes_host_names_and_ranges():
    assert egress.refusal("http://localhost:9/a", ("localhost",)) is None
    assert egress.refusal("http://127.0.0.5:9/a", ("127.0.0.0/8",)) is None
    assert egress.refusal("http://LOCALHOST/a", ("localhost",)) is None  # names compare without case
    # A range allows what it contains, nothing more; a malformed entry allows nothing.
    assert egress.refusal("http://169.254.169.254/", ("127.0.0.0/8", "not-a-range/99")) is not None
    assert egress.refusal("http://[::1]/a", ("127.0.0.1",)) is not None


def test_a_name_that_does_not_resolve_is_refused_unless_the_caller_accepts_it():
    found = egress.refusal("http://forge.nothing.invalid/x.git", ())
    assert found is not None and found.address is None
    assert found.explain("an address x may not call", "TAIJI_X") == (
        "The host 'forge.nothing.invalid' does not resolve.")
    assert egress.refusal("http://forge.nothing.invalid/x.git", (), unresolved_ok=True) is None


def test_a_refusal_names_the_host_the_address_and_the_setting():
    found = egress.refusal("http://localhost:6379/", ())
    message = found.explain("an address mirrors may not fetch from", "TAIJI_VCS_MIRROR_ALLOWED_HOSTS")
    assert message == ("The host 'localhost' resolves to 127.0.0.1, an address mirrors may not fetch from; "
                       "an operator can allow it in TAIJI_VCS_MIRROR_ALLOWED_HOSTS.")


def test_a_url_without_a_usable_host_is_refused_not_an_error():
    for url in ("http://[::1/x", "not a url", "http:///path-only"):
        assert egress.refusal(url, ()) is not None


def test_the_addresses_checked_are_the_ones_resolved():
    assert egress.resolve("127.0.0.1") == [ipaddress.ip_address("127.0.0.1")]
    assert egress.resolve("[::1]") == [ipaddress.ip_address("::1")]
    assert ipaddress.ip_address("127.0.0.1") in egress.resolve("localhost")
    assert egress.resolve("forge.nothing.invalid") is None
    # Handed the addresses it resolved earlier, the check judges those and resolves nothing again.
    public = [ipaddress.ip_address("93.184.215.14")]
    assert egress.host_refusal("localhost", (), addresses=public) is None
    assert egress.host_refusal("example.org", (), addresses=[ipaddress.ip_address("127.0.0.1")]) is not None


def test_the_transaction_engine_keeps_its_setting_and_message(app, monkeypatch):
    assert tx_egress.refusal("http://127.0.0.1:6379/", entries=()) == (
        "The host '127.0.0.1' resolves to 127.0.0.1, an address tenants' transactions may not call; "
        "an operator can allow it in TAIJI_TX_ALLOWED_HOSTS.")
    assert tx_egress.refusal("http://nothing.invalid/", entries=()) == (
        "The host 'nothing.invalid' does not resolve.")
    assert tx_egress.refusal("http://nothing.invalid/", entries=(), unresolved_ok=True) is None
    # Its allow-list is its own: the mirrors' setting does not open anything for transactions.
    monkeypatch.setitem(app.config, "VCS_MIRROR_ALLOWED_HOSTS", ("127.0.0.1",))
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ())
    assert tx_egress.refusal("http://127.0.0.1/") is not None
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ("127.0.0.1",))
    assert tx_egress.refusal("http://127.0.0.1/") is None


def test_the_mirror_allow_list_is_read_from_its_setting(monkeypatch, tmp_path):
    from taiji.modules.vcs.settings import SETTINGS
    from taiji.platform import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAIJI_VCS_MIRROR_ALLOWED_HOSTS", " forge.internal , 127.0.0.0/8,, ")
    assert config.load(settings=SETTINGS)["VCS_MIRROR_ALLOWED_HOSTS"] == ("forge.internal", "127.0.0.0/8")
    monkeypatch.delenv("TAIJI_VCS_MIRROR_ALLOWED_HOSTS")
    assert config.load(settings=SETTINGS)["VCS_MIRROR_ALLOWED_HOSTS"] == ()
