"""Pushes to a mirrored external repository are announced once the mirror has their commit: the
webhook keeps them, the fetch that brings the commit publishes them, in order; a commit gone from
the forge before the mirror looked is not announced (issue 12, finding 19)."""

from __future__ import annotations

import json

import git
import pytest
import sqlalchemy as sa

from taiji.modules.vcs.models_external import ExternalSource
from taiji.modules.vcs.services import external, mirrors
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from tests.factories import system_principal

from .fixtures import forge_payloads as forges
from .fixtures.forge import Forge
from .fixtures.gitdata import commit_files, seed_shop

PASSWORD = "forge-token-5e2c"
ZERO = "0" * 40


@pytest.fixture
def forge(tmp_path, app, monkeypatch):
    monkeypatch.setitem(app.config, "VCS_MIRROR_ALLOWED_HOSTS", ("127.0.0.1",))
    forge = Forge(tmp_path / "forge", "mirror-bot", PASSWORD).start()
    yield forge
    forge.stop()


@pytest.fixture
def shop(tenant, forge):
    upstream = forge.create("shop")
    shas = seed_shop(upstream)
    repo, answer = external.create_external(tenant, {"name": "shop", "external": {
        "provider": "github", "url": f"{forge.url}/shop.git", "mirror": True,
        "mirror_credentials": {"username": "mirror-bot", "password": PASSWORD}}}, actor=system_principal())
    db.session.commit()
    # Failed once in a SQLite run of the whole suite (git's first request answered 401, and no
    # second one came); not reproduced: the recorded error says why if it comes back.
    assert mirrors.fetch_mirror(repo.id), db.session.execute(
        sa.select(ExternalSource.last_error).where(ExternalSource.repository_id == repo.id)).scalar_one()
    db.session.commit()
    hook_id = answer["webhook_url"].rsplit("/", 1)[1]
    return {"repo": repo, "upstream": upstream, "path": f"/hooks/vcs/{hook_id}",
            "secret": answer["webhook_secret"], **shas}


def events(tenant) -> list[dict]:
    stmt = sa.select(OutboxEvent).where(OutboxEvent.name == "vcs.push", OutboxEvent.tenant_id == tenant.id)
    rows = db.session.execute(stmt.order_by(OutboxEvent.created_at, OutboxEvent.id)).scalars()
    return [r.payload for r in rows]


def deliver(client, shop, before: str, after: str, delivery: str, ref="refs/heads/main"):
    payload = forges.github()
    payload.update(ref=ref, before=before, after=after, commits=[{"id": after, "message": "m",
                                                                    "timestamp": "2026-12-06T10:00:00Z"}])
    body = json.dumps(payload).encode()
    response = client.post(shop["path"], data=body, headers=forges.headers("github", shop["secret"], body,
                                                                           delivery=delivery))
    assert response.status_code == 200 and response.json["status"] == "accepted"


def outcomes(shop) -> dict[str, str]:
    return {d.delivery_id: d.outcome for d in external.recent_deliveries(external.source_of(shop["repo"]))}


def test_a_push_is_announced_by_the_fetch_that_brings_its_commit_not_before(client, tenant, shop):
    newer = commit_files(shop["upstream"], {".taiji.yml": "jobs: {build: {script: [make]}}\n"}, "CI")
    deliver(client, shop, shop["third"], newer, "d-1")
    assert events(tenant) == []  # the mirror has not got it: nothing may read it yet
    assert outcomes(shop)["d-1"] == "awaiting mirror"

    assert mirrors.fetch_mirror(shop["repo"].id)
    db.session.commit()
    [event] = events(tenant)
    assert (event["ref"], event["before"], event["after"]) == ("refs/heads/main", shop["third"], newer)
    assert outcomes(shop)["d-1"] == "published"
    assert mirrors.fetch_mirror(shop["repo"].id)  # a later fetch announces nothing twice
    db.session.commit()
    assert len(events(tenant)) == 1


def test_pushes_are_announced_in_the_order_their_webhooks_came(client, tenant, shop):
    one = commit_files(shop["upstream"], {"a": "1\n"}, "one")
    two = commit_files(shop["upstream"], {"a": "2\n"}, "two")
    deliver(client, shop, shop["third"], one, "d-1")
    # The mirror gets both commits before the second webhook: the second still waits its turn.
    assert mirrors.fetch_mirror(shop["repo"].id)
    db.session.commit()
    deliver(client, shop, one, two, "d-2")
    deliver(client, shop, shop["feature"], ZERO, "d-3", ref="refs/heads/feature/login")
    assert mirrors.fetch_mirror(shop["repo"].id)
    db.session.commit()
    assert [(e["ref"], e["after"]) for e in events(tenant)] == [
        ("refs/heads/main", one), ("refs/heads/main", two), ("refs/heads/feature/login", ZERO)]


def test_a_push_whose_commit_left_the_forge_before_the_fetch_is_not_announced(client, tenant, shop):
    lost = commit_files(shop["upstream"], {"a": "lost\n"}, "soon force-pushed away")
    deliver(client, shop, shop["third"], lost, "d-1")
    git.Repo(str(shop["upstream"])).git.update_ref("refs/heads/main", shop["third"])  # force-push back
    git.Repo(str(shop["upstream"])).git.gc("--prune=now", "--quiet")
    assert mirrors.fetch_mirror(shop["repo"].id)
    db.session.commit()
    assert events(tenant) == []
    assert outcomes(shop)["d-1"] == "gone upstream"


def test_a_push_the_mirror_already_has_is_announced_at_once(client, tenant, shop):
    # The scheduled fetch came first: nothing to wait for.
    newer = commit_files(shop["upstream"], {"b": "1\n"}, "fetched by the schedule")
    assert mirrors.fetch_mirror(shop["repo"].id)
    db.session.commit()
    deliver(client, shop, shop["third"], newer, "d-1")
    assert [e["after"] for e in events(tenant)] == [newer]
    assert outcomes(shop)["d-1"] == "published"
