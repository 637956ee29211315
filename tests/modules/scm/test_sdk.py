"""The Python configuration client (taiji.config) against a real Taiji served over HTTP: it reads
typed values with an access key, revalidates with its ETag, keeps the last good answer on disk
(0600) and falls back to it when Taiji is stopped, is refused loudly on a wrong key or component,
takes a gray release by its labels, and is called back by its watch when a release is published."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from taiji.config import Client, ConfigError, Unavailable
from tests.liveapp import serve

pytestmark = pytest.mark.live

OWNER = "olga@sdk.example"
TENANT = "acme"

# Generous bounds for a slow CI machine: waits, not timing claims.
NOTICE_WAIT = 30


def _publish(site, component: str, environment: str, items: dict, *, gray=None, secret=()) -> int:
    from taiji.modules.iam import services as iam
    from taiji.modules.scm import services as scm
    from taiji.modules.tm import services as tm

    def work():
        tenant, owner = tm.get_tenant(TENANT), iam.get_user_by_email(OWNER)
        for key, (value, kind) in items.items():
            scm.put_item(tenant, owner, component, environment, key, value=value, type=kind,
                         secret=key in secret)
        return scm.publish(tenant, owner, component, environment, comment="sdk test", gray=gray).number

    return site.run(work)


def _access_key(site, environment: str) -> str:
    from taiji.modules.iam import services as iam
    from taiji.modules.scm import services as scm
    from taiji.modules.tm import services as tm

    return site.run(lambda: scm.create_access_key(tm.get_tenant(TENANT), iam.get_user_by_email(OWNER),
                                                   environment, "sdk test")[1])


def _seed(site) -> None:
    from taiji.modules.spm import services as spm
    from taiji.modules.tm import services as tm

    site.user(OWNER, "Olga")
    site.tenant(TENANT, "Acme", OWNER)

    def components():
        tenant = tm.get_tenant(TENANT)
        product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
        for name in ("orders", "watched", "fresh", "canary", "lonely"):
            spm.create_component(tenant, product, {"name": name})

    site.run(components)
    _publish(site, "orders", "dev", {
        "server.port": (8080, "int"), "greeting": ("你好, Zoë", "string"), "debug": (True, "bool"),
        "hosts": (["a", "b"], "json"), "db.password": ("s3cret-pa55", "string"),
    }, secret={"db.password"})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("sdk"), "sdk") as site:
        _seed(site)
        site.dev_key = _access_key(site, "dev")
        yield site


def client(site, component="orders", environment="dev", **kwargs) -> Client:
    kwargs.setdefault("key", site.dev_key)
    return Client(site.base, TENANT, component, environment, **kwargs)


def test_fetch_reads_typed_values_with_secrets_and_saves_them_privately(site, tmp_path):
    cache_dir = tmp_path / "cache"
    config = client(site, cache_dir=str(cache_dir), instance="orders-1")
    values = config.fetch()
    assert values["server.port"] == 8080 and values["debug"] is True
    assert values["hosts"] == ["a", "b"] and values["greeting"] == "你好, Zoë"
    assert values["db.password"] == "s3cret-pa55"  # the consumer gets the secret in clear
    assert config.get("server.port") == 8080 and config.get("missing", "dflt") == "dflt"
    assert config.release == 1 and config.stale is False and config.gray is False

    [saved] = list(cache_dir.iterdir())
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # it holds the secret
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert json.loads(saved.read_text())["answer"]["values"]["db.password"] == "s3cret-pa55"
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".tmp-")]

    # Asked again, Taiji answers 304 for the ETag the client holds: the saved copy is not rewritten.
    before = saved.read_bytes()
    os.utime(saved, (0, 0))
    assert config.fetch() == values
    assert saved.stat().st_mtime == 0 and saved.read_bytes() == before


def test_refusals_are_clear_errors_never_hidden_by_a_saved_copy(site, tmp_path):
    cache_dir = str(tmp_path)
    client(site, cache_dir=cache_dir).fetch()  # a saved copy exists for orders/dev

    with pytest.raises(ConfigError) as wrong_key:
        client(site, key="tjc_999_not-a-key", cache_dir=cache_dir).fetch()
    assert wrong_key.value.status == 401

    with pytest.raises(ConfigError) as no_key:
        client(site, key=None).fetch()
    assert no_key.value.status == 401

    with pytest.raises(ConfigError) as unknown:
        client(site, component="nosuch").fetch()
    assert unknown.value.status == 404

    with pytest.raises(ConfigError) as other_environment:  # a dev key cannot read prod
        client(site, environment="prod").fetch()
    assert other_environment.value.status == 404

    with pytest.raises(ConfigError) as nothing:
        client(site, component="lonely").fetch()
    assert nothing.value.status == 404
    assert "lonely" in str(nothing.value)


def test_a_gray_release_reaches_the_instances_its_selector_chooses(site):
    _publish(site, "canary", "dev", {"mode": ("stable", "string")})
    _publish(site, "canary", "dev", {"mode": ("gray", "string")}, gray={"selector": "zone=bj"})
    in_bj = client(site, component="canary", instance="c-1", labels={"zone": "bj"})
    in_sh = client(site, component="canary", instance="c-2", labels="zone=sh")
    anonymous = client(site, component="canary", labels={"zone": "bj"})  # no instance id: never gray
    assert (in_bj.get("mode"), in_bj.gray, in_bj.release) == ("gray", True, 2)
    assert (in_sh.get("mode"), in_sh.gray, in_sh.release) == ("stable", False, 1)
    assert anonymous.get("mode") == "stable"


def test_watch_is_called_back_after_a_publish(site):
    _publish(site, "watched", "dev", {"server.port": (8080, "int")})
    # The longest poll Taiji allows: a stop that did not cut it would leave the thread for a minute.
    config = client(site, component="watched", poll_timeout=60)
    assert config.fetch()["server.port"] == 8080
    held = config.release
    seen: list[dict] = []
    arrived = threading.Event()

    def callback(values):
        seen.append(values)
        arrived.set()

    with config:
        thread = config.watch(callback)
        with pytest.raises(RuntimeError, match="already watching"):
            config.watch(callback)
        _publish(site, "watched", "dev", {"server.port": (9090, "int")})
        assert arrived.wait(NOTICE_WAIT), "no callback after the publish"
        assert seen[-1]["server.port"] == 9090 and config.release == held + 1
        assert config.get("server.port") == 9090
    # Leaving the block stopped the watch: the long poll in flight was cut, the thread ended.
    thread.join(NOTICE_WAIT)
    assert not thread.is_alive()


def test_watch_waits_for_the_first_release_of_a_component(site):
    config = client(site, component="fresh", poll_timeout=60)
    arrived = threading.Event()
    seen: list[dict] = []
    thread = config.watch(lambda values: (seen.append(values), arrived.set()))
    try:
        _publish(site, "fresh", "dev", {"feature.x": (False, "bool")})
        assert arrived.wait(NOTICE_WAIT), "no callback after the first publish"
        assert seen == [{"feature.x": False}] and config.release == 1
    finally:
        # Right after a callback the thread is opening its next poll: stop() ends that one too.
        config.stop()
    thread.join(NOTICE_WAIT)
    assert not thread.is_alive()


def test_the_saved_copy_serves_when_taiji_is_stopped(tmp_path):
    cache_dir = str(tmp_path / "cache")
    with serve(tmp_path / "stopping", "sdkstop") as site:
        _seed(site)
        key = _access_key(site, "dev")
        base = site.base
        running = Client(base, TENANT, "orders", "dev", key=key, cache_dir=cache_dir)
        values = running.fetch()
        assert values["server.port"] == 8080 and running.stale is False
    # Taiji is stopped now (the port is closed).

    # The client in hand keeps its values.
    assert running.fetch() == values and running.stale is True
    # A service starting while Taiji is down reads the copy its last run saved.
    restarted = Client(base, TENANT, "orders", "dev", key=key, cache_dir=cache_dir)
    assert restarted.fetch() == values
    assert restarted.stale is True and restarted.release == 1
    # Without a copy there is nothing to serve: a clear error naming where it looked.
    with pytest.raises(Unavailable, match="cannot be reached") as nothing:
        Client(base, TENANT, "orders", "dev", key=key, cache_dir=str(tmp_path / "empty")).fetch()
    assert str(tmp_path / "empty") in str(nothing.value)
    with pytest.raises(Unavailable, match="no cache_dir"):
        Client(base, TENANT, "orders", "dev", key=key).fetch()


@pytest.mark.no_database
def test_a_damaged_copy_is_no_copy(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "taiji+acme+orders+dev.json").write_text('{"format": 1, "answer": {"val')
    with pytest.raises(Unavailable, match="connection refused"):
        Client(closed, TENANT, "orders", "dev", key="k", cache_dir=str(cache_dir)).fetch()
