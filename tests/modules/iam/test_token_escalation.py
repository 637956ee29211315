"""A token cannot make a stronger one, nor manage the account it belongs to without the scope.

Each test is the attack of issue 12, finding 3: a read-only token (leaked from a CI log, say)
used to mint a full-power, non-expiring token, or to list, revoke and rename.
"""

from __future__ import annotations

import datetime as dt

from taiji.modules.iam import services as iam
from taiji.modules.iam.models import PersonalAccessToken
from taiji.platform.db import db
from tests.conftest import ApiClient
from tests.factories import database_state, make_member, make_user

ACCOUNT = "iam:account:write"


def _token(user, scopes=None, expires_in: dt.timedelta | None = None) -> str:
    expires = dt.datetime.now(dt.UTC) + expires_in if expires_in else None
    _, plaintext = iam.create_token(user, "leaked", scopes=scopes, expires_at=expires)
    db.session.commit()
    return plaintext


def _warm(api):
    api.get("/api/v1/me")  # a token's first use records itself; not the change under test
    return api


def test_a_read_only_token_cannot_mint_a_full_token(client, tenant):
    owner = make_member(tenant, "owner")
    reader = _warm(ApiClient(client, _token(owner, scopes=["tm:member:read"])))
    before = database_state()

    full = reader.post("/api/v1/me/tokens", json={"name": "escalated"})
    same = reader.post("/api/v1/me/tokens", json={"name": "copy", "scopes": ["tm:member:read"]})

    assert full.status_code == 403 and ACCOUNT in full.json["detail"]
    assert same.status_code == 403
    assert database_state() == before


def test_a_read_only_token_cannot_list_revoke_or_rename(client, tenant):
    owner = make_member(tenant, "owner", name="Original Name")
    other = _token(owner)
    other_id = db.session.query(PersonalAccessToken.id).filter_by(user_id=owner.id).one()[0]
    reader = _warm(ApiClient(client, _token(owner, scopes=["tm:member:read"])))

    assert reader.get("/api/v1/me/tokens").status_code == 403
    assert reader.delete(f"/api/v1/me/tokens/{other_id}").status_code == 403
    renamed = reader.patch("/api/v1/me", json={"name": "Owned"})
    assert renamed.status_code == 403 and ACCOUNT in renamed.json["detail"]

    assert ApiClient(client, other).get("/api/v1/me").json["name"] == "Original Name"
    # What the token was made for still works.
    assert reader.get(f"/api/v1/tenants/{tenant.slug}/members").status_code == 200
    assert reader.get("/api/v1/me").status_code == 200


def test_a_scoped_token_can_only_mint_within_its_scopes(client, tenant):
    owner = make_member(tenant, "owner")
    manager = _warm(ApiClient(client, _token(owner, scopes=[ACCOUNT, "tm:member:read"])))
    before = database_state()

    wider = manager.post("/api/v1/me/tokens", json={"name": "w", "scopes": ["tm:member:write"]})
    assert wider.status_code == 403 and "tm:member:write" in wider.json["detail"]
    everything = manager.post("/api/v1/me/tokens", json={"name": "all"})
    assert everything.status_code == 403
    assert database_state() == before

    narrower = manager.post("/api/v1/me/tokens", json={"name": "n", "scopes": ["tm:member:read"]})
    assert narrower.status_code == 201 and narrower.json["scopes"] == ["tm:member:read"]
    minted = ApiClient(client, narrower.json["token"])
    assert minted.get(f"/api/v1/tenants/{tenant.slug}/members").status_code == 200
    assert minted.post(f"/api/v1/tenants/{tenant.slug}/invitations",
                       json={"email": "x@example.com"}).status_code == 403


def test_a_token_cannot_mint_one_that_outlives_it(client):
    user = make_user()
    day = _warm(ApiClient(client, _token(user, expires_in=dt.timedelta(days=1))))
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    before = database_state()

    forever = day.post("/api/v1/me/tokens", json={"name": "forever"})
    month = day.post("/api/v1/me/tokens", json={"name": "month", "expires_at": later})
    for refused in (forever, month):
        assert refused.status_code == 422, refused.json
        assert refused.mimetype == "application/problem+json"
        assert "expires_at" in refused.json["errors"]["json"]
    assert database_state() == before

    sooner = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)).isoformat()
    assert day.post("/api/v1/me/tokens", json={"name": "six hours", "expires_at": sooner}).status_code == 201


def test_an_unscoped_token_still_manages_the_account(client):
    user = make_user()
    full = _warm(ApiClient(client, _token(user)))
    created = full.post("/api/v1/me/tokens", json={"name": "ci", "scopes": ["tm:member:read"]})
    assert created.status_code == 201
    assert full.patch("/api/v1/me", json={"name": "Renamed"}).json["name"] == "Renamed"
    assert full.delete(f"/api/v1/me/tokens/{created.json['id']}").status_code == 204


def test_the_account_scope_alone_lets_a_token_manage_tokens(client):
    user = make_user()
    manager = _warm(ApiClient(client, _token(user, scopes=[ACCOUNT])))
    assert manager.get("/api/v1/me/tokens").status_code == 200
    assert manager.post("/api/v1/me/tokens", json={"name": "m", "scopes": [ACCOUNT]}).status_code == 201


def test_a_read_only_token_cannot_use_the_console_token_page(client, tenant):
    owner = make_member(tenant, "owner")
    bearer = {"Authorization": f"Bearer {_token(owner, scopes=['tm:member:read'])}"}
    assert client.get("/profile/tokens", headers=bearer).status_code == 403
    posted = client.post("/profile/tokens", headers=bearer, data={"name": "escalated"})
    assert posted.status_code == 403
    assert client.post("/profile", headers=bearer, data={"name": "Owned"}).status_code == 403
    assert db.session.query(PersonalAccessToken).filter_by(user_id=owner.id).count() == 1


def test_the_console_creates_a_scoped_token_and_offers_the_account_scope(client, login):
    user = make_user()
    login(user)
    page = client.get("/profile/tokens").get_data(as_text=True)
    assert f'value="{ACCOUNT}"' in page and 'value="tm:member:read"' in page

    response = client.post("/profile/tokens", data={"name": "reader", "scopes": ["tm:member:read"]})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    token = body.split('data-testid="new-token">')[1].split("<")[0]
    assert ApiClient(client, token).post("/api/v1/me/tokens", json={"name": "x"}).status_code == 403
    row = db.session.query(PersonalAccessToken).filter_by(user_id=user.id, name="reader").one()
    assert row.scopes == ["tm:member:read"]

    refused = client.post("/profile/tokens", data={"name": "bad", "scopes": ["tm:everything"]})
    assert refused.status_code == 422
