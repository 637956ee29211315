"""Registering external repositories through the API and the console; the webhook secret is
shown once, stored sealed, and can be replaced."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from taiji.modules.vcs import services
from taiji.modules.vcs.models_external import ExternalSource
from taiji.modules.vcs.services import external
from taiji.platform.db import db
from tests.factories import make_member

PUSH = (Path(__file__).parent / "fixtures" / "github_push.json").read_bytes()


def deliver(client, webhook_url: str, secret: str, delivery: str):
    path = "/hooks/vcs/" + webhook_url.rsplit("/", 1)[1]
    signature = "sha256=" + hmac.new(secret.encode(), PUSH, hashlib.sha256).hexdigest()
    return client.post(path, data=PUSH, headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                                                 "X-Hub-Signature-256": signature,
                                                 "Content-Type": "application/json"})


def test_the_api_registers_a_repository_and_answers_webhook_url_and_secret(api_as, admin, tenant, client):
    api = api_as(admin)
    response = api.post(f"/api/v1/tenants/{tenant.slug}/repositories", json={
        "name": "shop", "external": {"provider": "github", "url": "https://github.com/acme/shop.git"}})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["kind"] == "external"
    assert body["webhook_url"].startswith("http://taiji.test/hooks/vcs/")
    assert len(body["webhook_secret"]) >= 32
    source = db.session.execute(sa.select(ExternalSource)).scalar_one()
    assert body["webhook_secret"] not in source.webhook_secret  # sealed at rest
    assert "webhook_secret" not in api.get(f"/api/v1/tenants/{tenant.slug}/repositories/shop").json
    assert deliver(client, body["webhook_url"], body["webhook_secret"], "d-1").status_code == 200


@pytest.mark.parametrize(("spec", "field"), [
    ({"provider": "github", "url": "file:///etc"}, "url"),
    ({"provider": "github", "url": "https://ada:hunter2@github.com/acme/shop.git"}, "url"),
    ({"provider": "github", "url": "--upload-pack=touch /tmp/x"}, "url"),
    ({"provider": "github", "url": "https://"}, "url"),
    ({"provider": "git", "url": "ext::sh -c touch% /tmp/pwned"}, "url"),
])
def test_bad_external_urls_are_422_and_nothing_is_created(api_as, admin, tenant, spec, field):
    response = api_as(admin).post(f"/api/v1/tenants/{tenant.slug}/repositories",
                                  json={"name": "shop", "external": spec})
    assert response.status_code == 422, response.json
    assert field in json.dumps(response.json.get("errors", {}))
    assert services.find_repository(tenant, "shop") is None
    assert db.session.execute(sa.select(ExternalSource)).first() is None


def test_an_ssh_or_scp_like_url_is_accepted(api_as, admin, tenant):
    for name, url in (("a", "git@github.com:acme/shop.git"), ("b", "ssh://git@gitlab.example.com:2222/acme/shop.git")):
        response = api_as(admin).post(f"/api/v1/tenants/{tenant.slug}/repositories",
                                      json={"name": name, "external": {"provider": "git", "url": url}})
        assert response.status_code == 201, response.json


def test_the_console_registers_and_shows_the_secret_once(login, admin, tenant):
    console = login(admin)
    page = console.post(f"/t/{tenant.slug}/repositories", data={
        "name": "shop", "provider": "gitlab", "url": "https://gitlab.example.com/acme/shop.git"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="webhook-secret-once"' in html
    source = external.source_of(services.get_repository(tenant, "shop"))
    secret = external.webhook_secret(source)
    assert secret in html
    again = console.get(f"/t/{tenant.slug}/repositories/shop").get_data(as_text=True)
    assert secret not in again and external.webhook_url(source) in again


def test_the_console_explains_a_bad_url(login, admin, tenant):
    page = login(admin).post(f"/t/{tenant.slug}/repositories", data={
        "name": "shop", "provider": "github", "url": "file:///srv/git/other-tenant.git"})
    assert page.status_code == 422 and "http://, https:// or ssh://" in page.get_data(as_text=True)
    assert services.find_repository(tenant, "shop") is None


def test_rotating_the_secret_retires_the_old_one(client, login, admin, tenant):
    repo, answer = external.create_external(tenant, {"name": "shop", "external": {
        "provider": "github", "url": "https://github.com/acme/shop.git"}})
    db.session.commit()
    page = login(admin).post(f"/t/{tenant.slug}/repositories/shop/external/secret")
    assert page.status_code == 200
    new_secret = external.webhook_secret(external.source_of(repo))
    assert new_secret != answer["webhook_secret"] and new_secret in page.get_data(as_text=True)
    assert deliver(client, answer["webhook_url"], answer["webhook_secret"], "d-old").status_code == 401
    assert deliver(client, answer["webhook_url"], new_secret, "d-new").status_code == 200


def test_only_repository_administrators_rotate_the_secret(login, tenant):
    external.create_external(tenant, {"name": "shop", "external": {"provider": "github",
                                                                   "url": "https://github.com/acme/shop.git"}})
    db.session.commit()
    member = make_member(tenant, "member")
    before = external.webhook_secret(external.source_of(services.get_repository(tenant, "shop")))
    assert login(member).post(f"/t/{tenant.slug}/repositories/shop/external/secret").status_code == 403
    assert external.webhook_secret(external.source_of(services.get_repository(tenant, "shop"))) == before


def test_a_hosted_repository_has_no_secret_to_rotate(login, admin, tenant):
    services.create_repository(tenant, {"name": "hosted"})
    db.session.commit()
    assert login(admin).post(f"/t/{tenant.slug}/repositories/hosted/external/secret").status_code == 404
    assert login(admin).post(f"/t/{tenant.slug}/repositories/hosted/external/fetch").status_code == 404


def test_the_console_registers_a_mirror_with_credentials_sealed(login, admin, tenant):
    page = login(admin).post(f"/t/{tenant.slug}/repositories", data={
        "name": "billing", "provider": "gitea", "url": "https://gitea.example.com/acme/billing.git",
        "mirror": "y", "mirror_interval_s": "600", "username": "bot", "password": "gitea-token-123"})
    assert page.status_code == 200
    source = external.source_of(services.get_repository(tenant, "billing"))
    assert source.mirror and source.mirror_interval_s == 600
    assert "gitea-token-123" not in source.mirror_credentials
    assert "gitea-token-123" not in page.get_data(as_text=True)


def test_fetch_now_is_for_writers_of_mirrored_repositories(login, tenant):
    external.create_external(tenant, {"name": "shop", "external": {
        "provider": "git", "url": "https://git.example.com/shop.git", "mirror": True}})
    db.session.commit()
    writer, viewer = make_member(tenant, "member"), make_member(tenant, "viewer")
    response = login(writer).post(f"/t/{tenant.slug}/repositories/shop/external/fetch")
    assert response.status_code == 302
    assert login(viewer).post(f"/t/{tenant.slug}/repositories/shop/external/fetch").status_code == 403


def test_a_source_is_registered_once_and_only_on_an_external_repository(tenant):
    from taiji.platform.errors import Conflict, Invalid

    hosted = services.create_repository(tenant, {"name": "hosted"})
    spec = {"provider": "github", "url": "https://github.com/acme/shop.git"}
    with pytest.raises(Invalid):
        external.register(tenant, hosted, spec)
    repo, _ = external.create_external(tenant, {"name": "shop", "external": spec})
    with pytest.raises(Conflict):
        external.register(tenant, repo, spec)


def test_administrators_change_the_address_and_mirror_settings(login, admin, tenant):
    repo, _ = external.create_external(tenant, {"name": "shop", "external": {
        "provider": "github", "url": "https://github.com/acme/shop.git"}})
    db.session.commit()
    console = login(admin)
    saved = console.post(f"/t/{tenant.slug}/repositories/shop/external", data={
        "url": "https://github.com/acme/shop-renamed.git", "mirror": "y", "mirror_interval_s": "900",
        "username": "bot", "password": "ghp_new_token"})
    assert saved.status_code == 302
    source = external.source_of(repo)
    assert (source.url, source.mirror, source.mirror_interval_s) == (
        "https://github.com/acme/shop-renamed.git", True, 900)
    assert "ghp_new_token" not in source.mirror_credentials
    assert external.mirror_credentials(source)["username"] == "bot"
    kept = console.post(f"/t/{tenant.slug}/repositories/shop/external", data={
        "url": "https://github.com/acme/shop-renamed.git", "mirror": "y", "mirror_interval_s": "900"})
    assert kept.status_code == 302
    assert external.mirror_credentials(external.source_of(repo))["password"] == "ghp_new_token"
    bad = console.post(f"/t/{tenant.slug}/repositories/shop/external",
                       data={"url": "file:///etc", "mirror": "y"})
    assert bad.status_code == 422 and "http://, https://" in bad.get_data(as_text=True)
    assert external.source_of(repo).url == "https://github.com/acme/shop-renamed.git"
    forgot = console.post(f"/t/{tenant.slug}/repositories/shop/external", data={
        "url": "https://github.com/acme/shop-renamed.git", "forget_credentials": "y"})
    assert forgot.status_code == 302
    source = external.source_of(repo)
    assert source.mirror_credentials is None and source.mirror is False


def test_members_cannot_change_an_external_repository(login, tenant):
    repo, _ = external.create_external(tenant, {"name": "shop", "external": {
        "provider": "github", "url": "https://github.com/acme/shop.git"}})
    db.session.commit()
    member = make_member(tenant, "member")
    response = login(member).post(f"/t/{tenant.slug}/repositories/shop/external",
                                  data={"url": "https://evil.example.com/x.git"})
    assert response.status_code == 403
    assert external.source_of(repo).url == "https://github.com/acme/shop.git"
