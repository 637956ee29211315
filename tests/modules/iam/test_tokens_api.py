"""Personal access tokens: shown once, stored hashed, revocable, expiring, scoped."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from taiji.modules.iam import services as iam
from taiji.modules.iam.models import PersonalAccessToken, UserStatus
from taiji.platform.db import db
from tests.conftest import ApiClient
from tests.factories import database_state, make_member, make_user


def test_token_is_shown_once_and_stored_hashed(api_as, client):
    user = make_user()
    api = api_as(user)
    response = api.post("/api/v1/me/tokens", json={"name": "ci"})
    assert response.status_code == 201
    token = response.json["token"]
    assert token.startswith("tj_pat_") and response.json["prefix"] == token[:12]

    listed = api.get("/api/v1/me/tokens").json
    assert "ci" in [t["name"] for t in listed]
    assert all("token" not in t for t in listed)

    row = db.session.get(PersonalAccessToken, response.json["id"])
    stored = [
        str(v)
        for v in db.session.execute(
            sa.select(PersonalAccessToken.__table__).where(PersonalAccessToken.id == row.id)
        ).one()
    ]
    assert not any(token in value for value in stored)
    assert row.token_hash != token

    assert ApiClient(client, token).get("/api/v1/me").json["email"] == user.email


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {},
        {"name": "x", "scopes": ["tm:everything"]},
        {"name": "x", "expires_at": "2001-01-01T00:00:00+00:00"},
        {"name": "x", "expires_at": "2030-01-01T00:00:00"},
        {"name": "x", "scopes": "tm:member:read"},
    ],
)
def test_bad_token_request_creates_nothing(api_as, body):
    api = api_as(make_user())
    api.get("/api/v1/me")
    before = database_state()
    response = api.post("/api/v1/me/tokens", json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert database_state() == before


def test_revoked_token_is_401(api_as, client):
    user = make_user()
    api = api_as(user)
    created = api.post("/api/v1/me/tokens", json={"name": "short-lived"}).json
    assert api.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 204
    response = ApiClient(client, created["token"]).get("/api/v1/me")
    assert response.status_code == 401
    assert api.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 404


def test_cannot_revoke_someone_elses_token(api_as, client):
    owner, other = make_user(), make_user()
    created = api_as(owner).post("/api/v1/me/tokens", json={"name": "mine"}).json
    assert api_as(other).delete(f"/api/v1/me/tokens/{created['id']}").status_code == 404
    assert ApiClient(client, created["token"]).get("/api/v1/me").status_code == 200


def test_expired_token_is_401(api_as, client):
    user = make_user()
    created = api_as(user).post("/api/v1/me/tokens", json={"name": "old"}).json
    db.session.get(PersonalAccessToken, created["id"]).expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(
        seconds=1
    )
    db.session.commit()
    assert ApiClient(client, created["token"]).get("/api/v1/me").status_code == 401


def test_disabled_users_token_is_401(api_as):
    user = make_user()
    api = api_as(user)
    assert api.get("/api/v1/me").status_code == 200
    iam.set_user_status(user, UserStatus.DISABLED)
    db.session.commit()
    assert api.get("/api/v1/me").status_code == 401


def test_scopes_limit_what_a_token_may_do(api_as, tenant):
    owner = make_member(tenant, "owner")
    api = api_as(owner, scopes=["tm:member:read"])
    assert api.get(f"/api/v1/tenants/{tenant.slug}/members").status_code == 200
    response = api.post(f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": "x@example.com"})
    assert response.status_code == 403
    assert "tm:member:write" in response.json["detail"]


def test_a_token_cannot_grant_more_than_its_user_has(api_as, tenant):
    viewer = make_member(tenant, "viewer")
    api = api_as(viewer, scopes=["tm:member:read", "tm:member:write"])
    response = api.post(f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": "x@example.com"})
    assert response.status_code == 403


def test_token_with_expiry_in_the_future_works(api_as, client):
    user = make_user()
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    created = api_as(user).post("/api/v1/me/tokens", json={"name": "day", "expires_at": expires}).json
    assert ApiClient(client, created["token"]).get("/api/v1/me").status_code == 200


def test_malformed_authorization_is_401(anon_api):
    for header in ["Bearer", "Bearer ", "Basic abc", "Bearer tj_pat_" + "x" * 5000, "Bearer \u00e9\u00e9"]:
        response = anon_api.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_a_tokens_last_use_is_recorded_after_the_request_and_at_most_once_a_minute(api_as):
    user = make_user()
    api = api_as(user)
    token_id = api.get("/api/v1/me/tokens").json[0]["id"]

    def last_used():
        db.session.expire_all()
        return db.session.get(PersonalAccessToken, token_id).last_used_at

    first = last_used()
    assert first is not None  # the listing above was the token's first use
    assert api.get("/api/v1/me").status_code == 200
    assert last_used() == first  # used again within the minute: no write

    # A minute later the next use is written again.
    db.session.execute(sa.update(PersonalAccessToken).where(PersonalAccessToken.id == token_id)
                       .values(last_used_at=first - dt.timedelta(minutes=5)))
    db.session.commit()
    assert api.get("/api/v1/me").status_code == 200
    assert last_used() > first - dt.timedelta(minutes=5)
