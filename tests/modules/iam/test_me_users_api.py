"""/api/v1/me, /api/v1/users and /api/v1/users/<id>."""

from __future__ import annotations

import pytest

from taiji.modules.iam import services as iam
from tests.factories import database_state, make_member, make_user


def _ready(api):
    api.get("/api/v1/me")  # a token's first use records itself; not the change under test
    return api


def test_me_shows_profile_and_tenants(api_as, tenant):
    member = make_member(tenant, "viewer")
    body = api_as(member).get("/api/v1/me").json
    assert body["email"] == member.email and body["is_admin"] is False
    assert body["tenants"] == [
        {"slug": tenant.slug, "name": tenant.name, "role": "viewer", "status": "active"}
    ]


def test_me_changes_name_and_language(api_as):
    user = make_user()
    response = api_as(user).patch("/api/v1/me", json={"name": "New Name", "locale": "zh_Hans"})
    assert response.status_code == 200
    assert response.json["name"] == "New Name" and response.json["locale"] == "zh_Hans"
    assert iam.get_user(user.id).locale == "zh_Hans"


@pytest.mark.parametrize(
    "body",
    [{"locale": "klingon"}, {"name": ""}, {"name": "   "}, {"email": "new@example.com"}, {"name": "a\x00b"}],
)
def test_bad_profile_change_changes_nothing(api_as, body):
    api = _ready(api_as(make_user()))
    before = database_state()
    response = api.patch("/api/v1/me", json=body)
    assert response.status_code == 422
    assert database_state() == before


def test_users_are_for_administrators(api_as):
    user = make_user()
    api = api_as(user)
    assert api.get("/api/v1/users").status_code == 403
    assert api.get(f"/api/v1/users/{user.id}").status_code == 403
    assert (
        api.post(
            "/api/v1/users", json={"email": "made@example.com", "password": "long-password-1"}
        ).status_code
        == 403
    )
    assert iam.get_user_by_email("made@example.com") is None


def test_administrator_lists_finds_and_creates_users(api_as, admin):
    target = make_user(name="Findable Person")
    api = api_as(admin)
    assert [u["id"] for u in api.get("/api/v1/users?q=findable").json] == [target.id]
    assert api.get(f"/api/v1/users/{target.id}").json["email"] == target.email
    assert api.get("/api/v1/users/999999").status_code == 404
    created = api.post("/api/v1/users", json={"email": "Made@Example.com", "password": "long-password-1"})
    assert created.status_code == 201 and created.json["email"] == "made@example.com"
    assert "password" not in created.json
    assert iam.authenticate("made@example.com", "long-password-1") is not None


@pytest.mark.parametrize(
    "body, status",
    [
        ({"email": "weak@example.com", "password": "short"}, 422),
        ({"email": "weak@example.com", "password": "aaaaaaaaaaaa"}, 422),
        ({"email": "not-an-email", "password": "long-password-1"}, 422),
        ({"password": "long-password-1"}, 422),
        ({"email": "weak@example.com", "admin": "yes please"}, 422),
    ],
)
def test_bad_user_input_creates_nothing(api_as, admin, body, status):
    api = _ready(api_as(admin))
    before = database_state()
    response = api.post("/api/v1/users", json=body)
    assert response.status_code == status
    assert database_state() == before


def test_duplicate_email_is_409(api_as, admin):
    existing = make_user()
    api = _ready(api_as(admin))
    before = database_state()
    response = api.post(
        "/api/v1/users", json={"email": existing.email.upper(), "password": "long-password-1"}
    )
    assert response.status_code == 409
    assert response.json["errors"]["json"]["email"]
    assert database_state() == before
