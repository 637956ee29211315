"""Mirrors of external repositories, fetched from a local forge (``git http-backend`` behind
HTTP Basic auth): the first clone, later fetches with pruning, failures recorded without the
credentials, and the schedule that picks due mirrors."""

from __future__ import annotations

import datetime as dt

import pytest

from taiji.modules.vcs import services
from taiji.modules.vcs.services import browse, external, mirrors
from taiji.platform.db import db, utcnow
from tests.factories import system_principal

from .fixtures.forge import Forge
from .fixtures.gitdata import commit_files, seed_shop

PASSWORD = "s3cr3t-forge-token-9f8e7d"


@pytest.fixture
def forge(tmp_path, app, monkeypatch):
    # The forge listens on loopback, which mirrors may fetch from only when an operator allows it.
    monkeypatch.setitem(app.config, "VCS_MIRROR_ALLOWED_HOSTS", ("127.0.0.1",))
    forge = Forge(tmp_path / "forge", "mirror-bot", PASSWORD).start()
    (tmp_path / "forge").mkdir(exist_ok=True)
    yield forge
    forge.stop()


def mirrored(tenant, forge, password=PASSWORD, name="shop"):
    repo, _ = external.create_external(tenant, {"name": name, "external": {
        "provider": "git", "url": f"{forge.url}/{name}.git", "mirror": True,
        "mirror_credentials": {"username": "mirror-bot", "password": password}}}, actor=system_principal())
    db.session.commit()
    return repo


def test_the_first_fetch_clones_and_later_ones_bring_new_commits_and_prune(tenant, forge, login, admin):
    upstream = forge.create("shop")
    shas = seed_shop(upstream)
    repo = mirrored(tenant, forge)
    assert mirrors.fetch_mirror(repo.id) is True
    db.session.commit()
    source = external.source_of(repo)
    assert source.last_error is None and source.last_fetched_at is not None
    assert browse.resolve(repo, "feature/login").hexsha == shas["feature"]
    assert repo.size_bytes > 0

    newer = commit_files(upstream, {"CHANGELOG.md": "1.1: faster\n"}, "Changelog")
    import git

    git.Repo(str(upstream)).git.update_ref("-d", "refs/heads/feature/login")
    assert mirrors.fetch_mirror(repo.id) is True
    db.session.commit()
    assert browse.resolve(repo, "main").hexsha == newer
    assert "feature/login" not in {b.name for b in browse.refs(repo)["branches"]}
    page = login(admin).get(f"/t/{tenant.slug}/repositories/shop/blob/main/CHANGELOG.md")
    assert page.status_code == 200 and "1.1: faster" in page.get_data(as_text=True)
    assert any(h.startswith("Basic ") for h in forge.requests)  # the credentials reached the forge


def test_credentials_stay_out_of_the_mirror_and_the_database_in_clear(tenant, forge):
    seed_shop(forge.create("shop"))
    repo = mirrored(tenant, forge)
    mirrors.fetch_mirror(repo.id)
    mirror = external.mirror_dir(repo)
    for path in mirror.rglob("*"):
        if path.is_file() and path.stat().st_size < 1_000_000:
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in (external.source_of(repo).mirror_credentials or "")
    assert external.remote_url(repo) == f"{forge.url}/shop.git"


def test_a_failed_fetch_is_recorded_without_the_credentials_and_shown(tenant, forge, login, admin):
    seed_shop(forge.create("shop"))
    repo = mirrored(tenant, forge, password="wrong-" + PASSWORD)
    assert mirrors.fetch_mirror(repo.id) is False
    db.session.commit()
    source = external.source_of(repo)
    assert source.last_error and source.last_fetched_at is None and source.last_attempt_at is not None
    assert PASSWORD not in source.last_error and "mirror-bot:" not in source.last_error
    assert "401" in source.last_error or "Authentication failed" in source.last_error
    page = login(admin).get(f"/t/{tenant.slug}/repositories/shop").get_data(as_text=True)
    assert 'data-testid="mirror-error"' in page and PASSWORD not in page


def test_a_missing_upstream_repository_is_a_recorded_error(tenant, forge):
    repo = mirrored(tenant, forge, name="ghost")
    assert mirrors.fetch_mirror(repo.id) is False
    assert "ghost" in external.source_of(repo).last_error


def test_scrub_removes_user_info_and_passwords():
    text = f"fatal: unable to access 'https://bot:{PASSWORD}@forge/x.git/': {PASSWORD} rejected"
    scrubbed = external.scrub(text, {"username": "bot", "password": PASSWORD})
    assert PASSWORD not in scrubbed and "bot:" not in scrubbed and "https://***@forge/x.git" in scrubbed


def test_due_mirrors_are_claimed_once_per_interval(tenant, forge):
    repo = mirrored(tenant, forge)
    not_mirrored, _ = external.create_external(tenant, {"name": "plain", "external": {
        "provider": "github", "url": "https://github.com/acme/plain.git"}})
    db.session.commit()
    now = utcnow()
    assert mirrors.claim_due_mirrors(now) == [repo.id]
    assert mirrors.claim_due_mirrors(now + dt.timedelta(seconds=30)) == []
    assert mirrors.claim_due_mirrors(now + dt.timedelta(seconds=301)) == [repo.id]
    assert not_mirrored.id not in mirrors.claim_due_mirrors(now + dt.timedelta(days=1))


def test_a_deleted_repository_is_not_fetched(tenant, forge):
    seed_shop(forge.create("shop"))
    repo = mirrored(tenant, forge)
    services.delete_repository(tenant, repo, actor=system_principal())
    db.session.commit()
    assert mirrors.fetch_mirror(repo.id) is False
    assert mirrors.claim_due_mirrors(utcnow()) == []


def test_the_mirror_interval_is_bounded(tenant):
    from taiji.platform.errors import Invalid

    with pytest.raises(Invalid):
        external.create_external(tenant, {"name": "fast", "external": {
            "provider": "git", "url": "https://example.com/x.git", "mirror": True, "mirror_interval_s": 5}})


def test_a_push_webhook_fetches_the_mirror(tenant, forge, client, monkeypatch):
    import hashlib
    import hmac
    import json

    from flask import current_app

    from taiji.platform.tasks import celery

    upstream = forge.create("shop")
    seed_shop(upstream)
    repo, answer = external.create_external(tenant, {"name": "shop", "external": {
        "provider": "github", "url": f"{forge.url}/shop.git", "mirror": True,
        "mirror_credentials": {"username": "mirror-bot", "password": PASSWORD}}})
    db.session.commit()
    mirrors.fetch_mirror(repo.id)
    db.session.commit()
    newer = commit_files(upstream, {"NEWS": "pushed\n"}, "News")
    # Tasks run where they are sent: the fetch the webhook queues happens before the answer returns.
    monkeypatch.setitem(celery.conf, "task_always_eager", True)
    # Tasks run in the app Celery was last pointed at ("the last Flask app created wins"). With
    # the whole folder, that is the live git server's app on its own database, where this
    # repository does not exist: the fetch found nothing and the test failed only then.
    monkeypatch.setattr(celery, "flask_app", current_app._get_current_object())
    body = json.dumps({"ref": "refs/heads/main", "before": "1" * 40, "after": newer,
                       "commits": [{"id": newer, "message": "News"}], "pusher": {"name": "ada"}}).encode()
    signature = "sha256=" + hmac.new(answer["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
    response = client.post("/hooks/vcs/" + answer["webhook_url"].rsplit("/", 1)[1], data=body, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "fetch-1", "X-Hub-Signature-256": signature})
    assert response.status_code == 200
    assert browse.resolve(repo, "main").hexsha == newer


def test_purging_a_deleted_external_repository_removes_its_mirror_and_source(tenant, forge):
    import sqlalchemy as sa

    from taiji.modules.vcs.models_external import ExternalSource, WebhookDelivery

    seed_shop(forge.create("shop"))
    repo = mirrored(tenant, forge)
    assert mirrors.fetch_mirror(repo.id)
    source = external.source_of(repo)
    assert external.record_delivery(source, "d-1", "push", "published")
    db.session.commit()
    path = external.mirror_dir(repo)
    assert (path / "HEAD").exists()
    services.delete_repository(tenant, repo)
    db.session.commit()
    assert services.purge_due_repositories() == 0 and path.exists()  # restorable for seven days
    repo.deleted_at = repo.deleted_at - dt.timedelta(days=8)
    db.session.commit()
    assert services.purge_due_repositories() == 1
    db.session.commit()
    assert not path.exists()
    assert db.session.execute(sa.select(ExternalSource)).first() is None
    assert db.session.execute(sa.select(WebhookDelivery)).first() is None
    assert services.find_repository(tenant, "shop", include_deleted=True) is None
