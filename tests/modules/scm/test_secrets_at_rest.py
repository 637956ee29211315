"""A secret value leaves no trace in what an operator or an attacker with the disk can read: the
database's own files (SQLite) or a dump of it (PostgreSQL), and the logs — after it was written
through the API, published, read by a client, revealed, exported and rolled back, all committed
by a served Taiji (the suite's other tests roll their transactions back, so nothing of theirs
ever reaches the files)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import sqlalchemy as sa

from tests.liveapp import serve

SECRET = "pa55-Zq8#unguessable-7f3e"
OWNER = "olga@rest.example.com"


def _stored_bytes(url: str) -> bytes:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = Path(parsed.database)
        files = [p for p in database.parent.glob(database.name + "*") if p.is_file()]  # -wal, -journal
        assert database in files
        return b"".join(p.read_bytes() for p in files)
    dump = subprocess.run(
        ["pg_dump", "--data-only", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
         "-U", parsed.username or "postgres", parsed.database],
        capture_output=True, check=True, timeout=120)
    assert b"scm_" in dump.stdout  # the dump holds SCM's rows
    return dump.stdout


def _seed_orders(site, slug: str) -> None:
    """Olga owning tenant ``slug`` with product shop and its component orders."""
    from taiji.modules.spm import services as spm
    from taiji.modules.tm import services as tm

    site.user(OWNER, "Olga")
    site.tenant(slug, slug.title(), OWNER)

    def component():
        tenant = tm.get_tenant(slug)
        product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
        spm.create_component(tenant, product, {"name": "orders"})

    site.run(component)


def test_a_secret_is_absent_from_the_database_files_and_the_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with serve(tmp_path, "scmrest") as site:
        _seed_orders(site, "rest")
        api = site.api(OWNER)
        base = "/api/v1/tenants/rest/config/orders/prod"
        put = api.put(f"{base}/items/db.password", json={"value": SECRET, "secret": True})
        assert put.status_code in (200, 201), put.text
        assert SECRET not in put.text
        assert api.put(f"{base}/items/db.user", json={"value": "orders"}).status_code in (200, 201)
        first = api.post(f"{base}/releases", json={"comment": "first"})
        assert first.status_code == 201, first.text
        assert api.put(f"{base}/items/db.user", json={"value": "orders2"}).status_code in (200, 201)
        assert api.post(f"{base}/releases", json={"comment": "second"}).status_code == 201
        rollback = api.post(f"{base}/releases/{first.json()['number']}/rollback", json={"comment": "back"})
        assert rollback.status_code == 201, rollback.text

        # Its readers get it: a client with the environment's key, and the owner revealing it.
        key = api.post("/api/v1/tenants/rest/config-keys", json={"environment": "prod"})
        assert key.status_code == 201, key.text
        token = key.json()["token"]
        read = site.anonymous().get("/config/rest/orders/prod", headers={"X-Config-Token": token})
        assert read.status_code == 200 and read.json()["values"]["db.password"] == SECRET
        revealed = api.get(f"{base}/items/db.password/secret")
        assert revealed.status_code == 200 and SECRET in revealed.text
        # Nowhere else: the draft, the diff, the releases, the history and the export mask it.
        for path in ("draft", "diff", "releases", f"releases/{first.json()['number']}", "history",
                     "export?format=yaml"):
            answer = api.get(f"{base}/{path}")
            assert answer.status_code == 200, (path, answer.text)
            assert SECRET not in answer.text, path
        url = str(site.app.config["SQLALCHEMY_DATABASE_URI"])

    stored = _stored_bytes(url)
    assert b"db.password" in stored  # the rows are there ...
    assert SECRET.encode() not in stored  # ... sealed
    assert SECRET not in caplog.text
    assert caplog.records  # the capture saw the served requests


def test_values_a_key_had_before_it_became_secret_are_absent_from_the_database_files(tmp_path):
    """A key public for a while (set, published, changed) and then made secret: its earlier values
    leave no trace either — not in the history, not in the releases that held them, not in the
    free space the rewritten rows left."""
    earlier = ("Pl41n-before-3b9d0c", "Pl41n-meanwhile-e7a215")
    with serve(tmp_path, "scmflip") as site:
        _seed_orders(site, "flip")
        api = site.api(OWNER)
        base = "/api/v1/tenants/flip/config/orders/prod"
        for value in earlier:
            assert api.put(f"{base}/items/api.token", json={"value": value}).status_code in (200, 201)
            assert api.put(f"{base}/items/region", json={"value": value, "layer": "product"}
                           ).status_code in (200, 201)
            published = api.post(f"{base}/releases", json={"comment": "public"})
            assert published.status_code == 201, published.text
        for key, layer in (("api.token", "environment"), ("region", "product")):
            flipped = api.put(f"{base}/items/{key}", json={"value": SECRET, "secret": True, "layer": layer})
            assert flipped.status_code in (200, 201), flipped.text
        for path in ("history", "releases/1", "releases/2", "diff"):
            answer = api.get(f"{base}/{path}")
            assert answer.status_code == 200, (path, answer.text)
            assert not any(value in answer.text for value in earlier), path
        url = str(site.app.config["SQLALCHEMY_DATABASE_URI"])

    stored = _stored_bytes(url)
    assert b"api.token" in stored and b"region" in stored
    for value in (*earlier, SECRET):
        assert value.encode() not in stored, value
