"""Profile, personal access tokens and user administration in the console."""

from __future__ import annotations

import re

import pytest

from taiji.modules.iam import services as iam
from tests.factories import make_user


@pytest.mark.parametrize("path", ["/profile", "/profile/tokens", "/admin/users"])
def test_account_pages_send_anonymous_visitors_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_profile_renames_the_user(login, client):
    user = make_user(name="Old Name")
    login(user)
    assert "Old Name" in client.get("/profile").get_data(as_text=True)
    response = client.post("/profile", data={"name": "New Name"})
    assert response.status_code == 302
    assert iam.get_user(user.id).name == "New Name"
    assert "Profile saved." in client.get("/profile").get_data(as_text=True)


def test_profile_with_empty_name_shows_inline_error_and_changes_nothing(login, client):
    user = make_user(name="Kept")
    login(user)
    response = client.post("/profile", data={"name": "   "})
    assert response.status_code == 422
    assert "is-invalid" in response.get_data(as_text=True)
    assert iam.get_user(user.id).name == "Kept"


def test_new_token_is_shown_once_and_works_on_the_api(login, client):
    user = make_user()
    login(user)
    response = client.post("/profile/tokens", data={"name": "laptop"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    token = re.search(r'data-testid="new-token">([^<]+)<', body).group(1)
    assert token.startswith("tj_pat_")
    again = client.get("/profile/tokens").get_data(as_text=True)
    assert token not in again
    assert "laptop" in again
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


def test_token_without_name_shows_inline_error(login, client):
    user = make_user()
    login(user)
    response = client.post("/profile/tokens", data={"name": ""})
    assert "invalid-feedback" in response.get_data(as_text=True)
    assert iam.list_tokens(user) == []


def test_token_expiring_in_the_past_is_refused(login, client):
    user = make_user()
    login(user)
    response = client.post("/profile/tokens", data={"name": "old", "expires_on": "2000-01-01"})
    assert response.status_code == 422
    assert "Choose a date in the future." in response.get_data(as_text=True)
    assert iam.list_tokens(user) == []


def test_revoked_token_stops_working(login, client):
    user = make_user()
    row, token = iam.create_token(user, "ci")
    login(user)
    response = client.post(f"/profile/tokens/{row.id}/revoke")
    assert response.status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_someone_elses_token_cannot_be_revoked(login, client):
    owner = make_user()
    row, _token = iam.create_token(owner, "theirs")
    login(make_user())
    assert client.post(f"/profile/tokens/{row.id}/revoke").status_code == 404
    assert iam.list_tokens(owner)[0].revoked_at is None


def test_user_administration_is_403_for_plain_users(login, client):
    login(make_user())
    assert client.get("/admin/users").status_code == 403
    refused = client.post("/admin/users", data={"email": "x@example.com", "password": "long-enough-pw"})
    assert refused.status_code == 403
    assert iam.get_user_by_email("x@example.com") is None


def test_administrator_lists_and_searches_users(login, client, admin):
    make_user(email="findme@example.com")
    login(admin)
    body = client.get("/admin/users", query_string={"q": "findme"}).get_data(as_text=True)
    assert "findme@example.com" in body
    assert admin.email not in body.split("<tbody>")[1]


def test_administrator_creates_a_user(login, client, admin):
    login(admin)
    response = client.post("/admin/users", data={"email": "new@example.com", "name": "New",
                                                 "password": "a-long-password"})
    assert response.status_code == 302
    assert iam.get_user_by_email("new@example.com") is not None


@pytest.mark.parametrize(("data", "message"), [
    ({"email": "not-an-email", "password": "a-long-password"}, "Invalid email address."),
    ({"email": "short@example.com", "password": "short"}, "Field must be at least 10 characters long."),
    ({"email": "weak@example.com", "password": "aaaaaaaaaaaa"}, "too easy to guess"),
])
def test_bad_new_user_shows_inline_error_and_creates_nothing(login, client, admin, data, message):
    login(admin)
    response = client.post("/admin/users", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert iam.get_user_by_email(data["email"]) is None


def test_duplicate_user_email_is_an_inline_error(login, client, admin):
    login(admin)
    response = client.post("/admin/users", data={"email": admin.email, "password": "a-long-password"})
    assert response.status_code == 422
    assert "A user with this email already exists." in response.get_data(as_text=True)


def test_administrator_disables_and_enables_an_account(login, client, admin):
    user = make_user()
    login(admin)
    client.post(f"/admin/users/{user.id}/status", data={"status": "disabled"})
    assert not iam.get_user(user.id).is_active
    client.post(f"/admin/users/{user.id}/status", data={"status": "active"})
    assert iam.get_user(user.id).is_active


def test_administrator_cannot_disable_own_account(login, client, admin):
    login(admin)
    client.post(f"/admin/users/{admin.id}/status", data={"status": "disabled"})
    assert iam.get_user(admin.id).is_active
    assert "You cannot disable your own account." in client.get("/admin/users").get_data(as_text=True)


def test_unknown_account_status_is_400(login, client, admin):
    user = make_user()
    login(admin)
    assert client.post(f"/admin/users/{user.id}/status", data={"status": "deleted"}).status_code == 400
    assert client.post("/admin/users/999999/status", data={"status": "active"}).status_code == 404


def test_changing_the_password_keeps_this_browser_and_ends_the_others(app, client, login):
    from tests.factories import PASSWORD, make_user

    user = make_user()
    other = app.test_client()
    other.post("/login", data={"email": user.email, "password": PASSWORD})
    login(user)
    weak = client.post("/profile/password", data={"current": PASSWORD, "new": "password123"})
    assert weak.status_code == 422 and "most common passwords" in weak.get_data(as_text=True)
    wrong = client.post("/profile/password", data={"current": "not-it-at-all", "new": "tea-kettle-on-mars-7"})
    assert wrong.status_code == 422
    response = client.post("/profile/password", data={"current": PASSWORD, "new": "tea-kettle-on-mars-7"})
    assert response.status_code == 302
    assert client.get("/profile").status_code == 200
    assert other.get("/profile").headers["Location"].startswith("/login")
