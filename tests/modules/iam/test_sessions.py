"""Server-side console sessions: listed, revocable, ended by sign-out, disabling and OIDC logout."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from taiji.modules.iam import services as iam
from taiji.modules.iam.sessions import ConsoleSession
from taiji.platform.db import db
from tests.conftest import complete_sign_in
from tests.factories import PASSWORD, make_user


def _second_browser(app) -> FlaskClient:
    return app.test_client()


def _rows(*where):
    return db.session.execute(sa.select(ConsoleSession).where(*where)).scalars().all()


def _sign_in(client, user, agent="Browser/1"):
    form = {"email": user.email, "password": PASSWORD}
    response = complete_sign_in(client, client.post("/login", data=form, headers={"User-Agent": agent}))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return client


def test_my_sessions_lists_each_browser_with_its_agent(app, client):
    user = make_user()
    _sign_in(client, user, "Firefox/130")
    _sign_in(_second_browser(app), user, "Chromium/128")
    body = client.get("/profile/sessions").get_data(as_text=True)
    assert "Firefox/130" in body and "Chromium/128" in body
    assert "this browser" in body


def test_revoking_a_session_signs_that_browser_out_at_once(app, client):
    user = make_user()
    _sign_in(client, user)
    other = _sign_in(_second_browser(app), user, "Other/1")
    assert other.get("/profile").status_code == 200
    [row] = _rows(ConsoleSession.user_agent == "Other/1")
    response = client.post(f"/profile/sessions/{row.id}/revoke")
    assert response.status_code == 302
    assert other.get("/profile").headers["Location"].startswith("/login")
    assert client.get("/profile").status_code == 200


def test_revoking_someone_elses_session_is_not_found(app, client):
    victim = make_user()
    _sign_in(_second_browser(app), victim, "Victim/1")
    [row] = _rows(ConsoleSession.user_agent == "Victim/1")
    _sign_in(client, make_user())
    assert client.post(f"/profile/sessions/{row.id}/revoke").status_code == 404
    assert db.session.get(ConsoleSession, row.id).revoked_at is None


def test_sign_out_ends_the_record_and_a_copied_cookie_stops_working(app, client):
    user = make_user()
    _sign_in(client, user)
    cookie = client.get_cookie("taiji_session").value
    client.post("/logout")
    thief = _second_browser(app)
    thief.set_cookie("taiji_session", cookie)
    assert thief.get("/profile").headers["Location"].startswith("/login")


def test_each_sign_in_gets_a_new_session_id(app, client):
    user = make_user()
    _sign_in(client, user)
    _sign_in(client, user)
    rows = _rows(ConsoleSession.user_id == user.id)
    # Each sign-in: a provider session and the console session made under it, all ids fresh.
    assert len({r.id_hash for r in rows}) == 4
    assert sorted(r.kind for r in rows) == ["console", "console", "idp", "idp"]
    assert all(r.parent_id in {p.id for p in rows if p.kind == "idp"} for r in rows if r.kind == "console")


def test_disabling_a_user_revokes_every_session_record(app, client):
    user = make_user()
    _sign_in(client, user)
    iam.set_user_status(user, iam.UserStatus.DISABLED)
    rows = _rows(ConsoleSession.user_id == user.id)
    assert rows and all(r.revoked_at is not None for r in rows)
    assert client.get("/profile").headers["Location"].startswith("/login")


def test_rp_initiated_logout_ends_the_session_record(app, client, monkeypatch):
    user = make_user()
    from taiji.modules.iam.oauth import services as oauth

    portal, _secret = oauth.create_client("Portal", ["https://portal.example.com/cb"], trusted=True)
    _sign_in(client, user, "Portal/1")
    monkeypatch.setitem(app.config, "OAUTH_INSECURE_TRANSPORT", "true")  # the test client speaks plain HTTP
    response = client.post("/oauth/logout", data={"client_id": portal.client_id})
    assert response.status_code in (200, 302)
    [row] = _rows(ConsoleSession.user_agent == "Portal/1")
    assert row.revoked_at is not None
    assert client.get("/profile").headers["Location"].startswith("/login")
