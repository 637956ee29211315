"""The REST face of external repositories: their ``external`` block, changing the source, and
rotating the webhook secret — with the 401/404/403/422 answers of every endpoint."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from taiji.modules.vcs import services
from taiji.modules.vcs.models_external import ExternalSource
from taiji.platform import crypto
from taiji.platform.db import db
from tests.factories import make_member, make_tenant

from .test_external import deliver

URL = "https://github.com/acme/shop.git"


def base(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/repositories"


def register(api, tenant, **external):
    response = api.post(base(tenant), json={"name": "shop", "external": {
        "provider": "github", "url": URL, **external}})
    assert response.status_code == 201, response.json
    return response.json


def test_the_repository_shows_its_external_block_without_secrets(api_as, admin, tenant):
    api = api_as(admin)
    created = register(api, tenant, mirror=True, mirror_interval_s=600, username="bot",
                       password="forge-token-123456")
    assert created["external"]["mirror_interval_s"] == 600
    body = api.get(base(tenant) + "/shop").json
    block = body["external"]
    assert block == {"provider": "github", "url": URL, "mirror": True, "mirror_interval_s": 600,
                     "last_fetched_at": None, "last_error": None, "webhook_url": created["webhook_url"]}
    text = json.dumps(body)
    assert created["webhook_secret"] not in text and "forge-token-123456" not in text
    listed = api.get(base(tenant) + "?kind=external").json
    assert listed[0]["external"]["url"] == URL
    api.post(base(tenant), json={"name": "app"})
    assert api.get(base(tenant) + "/app").json["external"] is None


@pytest.mark.parametrize("interval", [59, 604801, "300", 1.5, True])
def test_the_mirror_interval_is_an_integer_between_a_minute_and_a_week(api_as, admin, tenant, interval):
    response = api_as(admin).post(base(tenant), json={"name": "shop", "external": {
        "provider": "github", "url": URL, "mirror": True, "mirror_interval_s": interval}})
    assert response.status_code == 422, response.json
    assert "mirror_interval_s" in json.dumps(response.json)
    assert services.find_repository(tenant, "shop") is None


def test_rotating_the_secret_answers_a_new_one_and_retires_the_old(api_as, admin, tenant, client):
    api = api_as(admin)
    created = register(api, tenant)
    response = api.post(base(tenant) + "/shop/webhook-secret")
    assert response.status_code == 200, response.json
    assert set(response.json) == {"webhook_url", "webhook_secret"}
    assert response.json["webhook_url"] == created["webhook_url"]
    assert response.json["webhook_secret"] != created["webhook_secret"]
    db.session.commit()
    assert deliver(client, created["webhook_url"], created["webhook_secret"], "old").status_code == 401
    assert deliver(client, created["webhook_url"], response.json["webhook_secret"], "new").status_code == 200


def test_changing_the_source_updates_address_and_mirror_and_keeps_the_rest(api_as, admin, tenant):
    api = api_as(admin)
    register(api, tenant, username="bot", password="first-token-1234")
    response = api.patch(base(tenant) + "/shop/external", json={
        "url": "https://gitlab.example.com/acme/shop.git", "provider": "gitlab", "mirror_interval_s": 3600})
    assert response.status_code == 200, response.json
    assert response.json["url"] == "https://gitlab.example.com/acme/shop.git"
    assert response.json["provider"] == "gitlab" and response.json["mirror_interval_s"] == 3600
    assert response.json["mirror"] is False
    source = db.session.execute(sa.select(ExternalSource)).scalar_one()
    assert "first-token-1234" in crypto.unseal(source.mirror_credentials, "vcs.mirror").decode()

    assert api.patch(base(tenant) + "/shop/external",
                     json={"username": "bot", "password": "second-token-5678"}).status_code == 200
    assert "second-token-5678" in crypto.unseal(source.mirror_credentials, "vcs.mirror").decode()
    assert api.patch(base(tenant) + "/shop/external", json={"clear_credentials": True}).status_code == 200
    assert source.mirror_credentials is None
    assert api.get(base(tenant) + "/shop").json["external"]["provider"] == "gitlab"


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "file:///etc/passwd"}, "url"),
    ({"url": "https://ada:pw@example.com/x.git"}, "url"),
    ({"mirror_interval_s": 10}, "mirror_interval_s"),
    ({"provider": "svn"}, "provider"),
    ({"username": "bot"}, "password"),
    ({"mirror": "sometimes"}, "mirror"),
])
def test_bad_changes_are_422_and_change_nothing(api_as, admin, tenant, body, field):
    api = api_as(admin)
    register(api, tenant)
    response = api.patch(base(tenant) + "/shop/external", json=body)
    assert response.status_code == 422, response.json
    assert field in json.dumps(response.json)
    db.session.expire_all()
    assert api.get(base(tenant) + "/shop").json["external"]["url"] == URL


def test_a_hosted_repository_has_no_source_to_change_or_secret_to_rotate(api_as, admin, tenant):
    api = api_as(admin)
    api.post(base(tenant), json={"name": "app"})
    assert api.post(base(tenant) + "/app/webhook-secret").status_code == 422
    assert api.patch(base(tenant) + "/app/external", json={"mirror": True}).status_code == 422


def test_anonymous_other_tenants_and_members_are_refused(api_as, anon_api, admin, tenant):
    register(api_as(admin), tenant)
    db.session.commit()
    calls = (("post", "/shop/webhook-secret", None), ("patch", "/shop/external", {"mirror": True}))
    for method, path, body in calls:
        assert getattr(anon_api, method)(base(tenant) + path, json=body).status_code == 401
        outsider_tenant = make_tenant()
        outsider = make_member(outsider_tenant, "owner")
        assert getattr(api_as(outsider), method)(base(tenant) + path, json=body).status_code == 404
        assert getattr(api_as(admin), method)(base(tenant) + "/nope" + path[5:], json=body).status_code == 404
        member = make_member(tenant, "member")
        response = getattr(api_as(member), method)(base(tenant) + path, json=body)
        assert response.status_code == 403, response.json
    source = db.session.execute(sa.select(ExternalSource)).scalar_one()
    assert source.mirror is False


def test_the_openapi_document_describes_the_new_routes(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    assert "post" in paths["/api/v1/tenants/{tenant}/repositories/{repo}/webhook-secret"]
    assert "patch" in paths["/api/v1/tenants/{tenant}/repositories/{repo}/external"]
    schemas = json.dumps(spec["components"]["schemas"])
    assert "mirror_interval_s" in schemas and "clear_credentials" in schemas
