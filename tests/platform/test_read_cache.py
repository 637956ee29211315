"""The read cache (taiji/platform/readcache.py): a repeated API read is answered from memory, and
never after a change to what it was read from — in this process, another process of the machine,
or (PostgreSQL) another machine."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa

from taiji.platform.db import db
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.factories import make_member, make_tenant, make_token, make_user


def _statements(work) -> list[str]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return seen


def _emails(response) -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {row["email"] for row in response.get_json()}


def test_a_repeated_read_is_answered_without_the_database_and_a_change_shows_at_once(app, client):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    headers = {"Authorization": f"Bearer {make_token(owner)}"}
    path = f"/api/v1/tenants/{tenant.slug}/members?per_page=5"
    first = client.get(path, headers=headers)
    client.get(path, headers=headers)  # the token's last use is written once (a write: not kept)
    warm = client.get(path, headers=headers)
    again = []
    statements = _statements(lambda: again.append(client.get(path, headers=headers)))
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")], statements
    assert again[0].get_data() == warm.get_data() == first.get_data()
    assert again[0].headers["X-Taiji-Read-Cache"] == "hit"
    assert again[0].headers.get("X-Pagination") == first.headers.get("X-Pagination")

    # Written in this transaction, not even committed (as the tests' factories do): seen.
    member = make_member(tenant, "viewer")
    assert member.email in _emails(client.get(path, headers=headers))
    # Through the API: seen.
    owner_headers = headers
    assert client.delete(f"/api/v1/tenants/{tenant.slug}/members/{member.id}",
                         headers=owner_headers).status_code == 204
    assert member.email not in _emails(client.get(path, headers=headers))


def test_an_answer_is_only_given_to_whom_may_still_read_it(app, client):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    member = make_member(tenant, "viewer")
    as_member = {"Authorization": f"Bearer {make_token(member)}"}
    as_owner = {"Authorization": f"Bearer {make_token(owner)}"}
    path = f"/api/v1/tenants/{tenant.slug}/members"
    for _ in range(3):
        assert client.get(path, headers=as_member).status_code == 200
    assert client.delete(f"{path}/{member.id}", headers=as_owner).status_code == 204
    assert client.get(path, headers=as_member).status_code == 404
    # Another tenant's owner asking the same URL gets no answer kept for someone else.
    stranger = {"Authorization": f"Bearer {make_token(make_user())}"}
    assert client.get(path, headers=stranger).status_code == 404


def test_what_a_blueprint_loaded_before_the_view_counts_too(app, client):
    """SPM loads the product a URL names in a before_request hook; the view only serializes it."""
    owner = make_user()
    tenant = make_tenant(owner=owner)
    headers = {"Authorization": f"Bearer {make_token(owner)}"}
    base = f"/api/v1/tenants/{tenant.slug}/products"
    made = client.post(base, json={"slug": "shop", "name": "Shop", "description": "before"}, headers=headers)
    assert made.status_code == 201
    for _ in range(3):
        read = client.get(f"{base}/shop", headers=headers)
        assert read.get_json()["description"] == "before"
    assert read.headers["X-Taiji-Read-Cache"] == "hit"
    changed = client.patch(f"{base}/shop", json={"description": "after"},
                           headers={**headers, "If-Match": read.headers["ETag"]})  # the kept answer's
    assert changed.status_code == 200
    assert client.get(f"{base}/shop", headers=headers).get_json()["description"] == "after"


def test_with_the_cache_off_nothing_is_kept(database_url, tmp_path):
    from taiji.platform.app import create_app

    app = create_app(app_overrides(database_url, tmp_path, READ_CACHE_SECONDS=0))
    assert app.extensions["taiji"].read_cache is None


WRITER = """
import sys
from taiji.platform.app import create_app
from taiji.platform.db import db
from tests.conftest import app_overrides
from tests.factories import make_member
from taiji.platform.tenancy import Tenant
from pathlib import Path
app = create_app(app_overrides(sys.argv[1], Path(sys.argv[2])))
with app.app_context():
    tenant = db.session.execute(db.select(Tenant).filter_by(slug=sys.argv[3])).scalar_one()
    make_member(tenant, "viewer", email=sys.argv[4])
    db.session.commit()
"""


def _seed(url, data_dir):
    from taiji.platform.app import create_app

    app = create_app(app_overrides(url, data_dir))
    with app.app_context():
        owner = make_user(email=f"owner-{uuid.uuid4().hex[:6]}@example.com")
        tenant = make_tenant(owner=owner)
        token = make_token(owner)
        db.session.commit()
        slug = tenant.slug
        db.session.remove()
        db.engine.dispose()
    return app, slug, token


@pytest.mark.live
@pytest.mark.parametrize("machine", ["same", "other"])
def test_a_change_committed_by_another_process_shows_in_the_next_answer(database_url, tmp_path, machine):
    """Another process of this machine (its data folder shared): seen by the very next read.
    Another machine (a data folder of its own; PostgreSQL only): seen once its notification
    arrives, which the read waits for no longer than a moment."""
    url = sibling_database(f"readcache_{machine}", tmp_path, migrated=True)
    if machine == "other" and not url.startswith("postgresql"):
        pytest.skip("SQLite: one machine")
    data_dir = tmp_path / "data"
    app, slug, token = _seed(url, data_dir)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/tenants/{slug}/members"
    for _ in range(3):
        kept = client.get(path, headers=headers)
    assert kept.headers["X-Taiji-Read-Cache"] == "hit"
    before = _emails(kept)
    email = f"late-{uuid.uuid4().hex[:6]}@example.com"
    writer_dir = data_dir if machine == "same" else tmp_path / "elsewhere"
    subprocess.run([sys.executable, "-c", WRITER, url, str(writer_dir), slug, email], cwd=ROOT, check=True,
                   timeout=120)
    if machine == "same":
        assert _emails(client.get(path, headers=headers)) == before | {email}
        return
    deadline = time.monotonic() + 10
    while email not in _emails(client.get(path, headers=headers)):
        assert time.monotonic() < deadline, "another machine's change never showed"
        time.sleep(0.05)
    with app.app_context():
        db.engine.dispose()


def test_answers_kept_by_one_process_stay_within_a_memory_budget(app, client, monkeypatch):
    """A caller varying the query string of a cached read makes a new answer each time; what a
    process keeps stays under the budget however many it asks."""
    from taiji.platform import readcache

    monkeypatch.setattr(readcache, "MAX_TOTAL_BYTES", 4096)
    owner = make_user()
    tenant = make_tenant(owner=owner)
    headers = {"Authorization": f"Bearer {make_token(owner)}"}
    path = f"/api/v1/tenants/{tenant.slug}/members"
    client.get(path, headers=headers)  # the token's last use
    cache = app.extensions["taiji"].read_cache
    for i in range(60):
        assert client.get(f"{path}?n={i}", headers=headers).status_code == 200
        kept = sum(len(answer.body) for answer in cache._answers.values())
        assert kept <= 4096
    assert cache._answers, "nothing kept at all"
