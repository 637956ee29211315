"""TOTP second factor: enrol with a QR code, recovery codes, the sign-in second step, disable, reset."""

from __future__ import annotations

import re

import pyotp
import sqlalchemy as sa

from taiji.modules.iam import services as iam
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.conftest import complete_sign_in
from tests.factories import PASSWORD, make_user


def _enrol(client) -> tuple[str, list[str]]:
    page = client.get("/profile/mfa").get_data(as_text=True)
    assert "<svg" in page
    secret = re.search(r'data-testid="mfa-secret">([A-Z2-7]+)<', page).group(1)
    response = client.post("/profile/mfa/enable", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    codes = re.findall(r"<li>([0-9a-f]{6}-[0-9a-f]{6})</li>", response.get_data(as_text=True))
    return secret, codes


def _audited(email, action) -> bool:
    return db.session.execute(sa.select(AuditEntry.id).where(AuditEntry.action == action,
                                                             AuditEntry.target == email)).first() is not None


def test_enrolment_shows_ten_recovery_codes_once_and_stores_them_hashed(client, login):
    user = login_user = make_user()
    login(login_user)
    secret, codes = _enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert iam.get_user(user.id).mfa_enabled
    stored = db.session.execute(sa.text("SELECT code_hash FROM iam_recovery_code")).scalars().all()
    assert not set(codes) & set(stored)
    assert secret not in client.get("/profile/mfa").get_data(as_text=True)
    assert _audited(user.email, "iam.mfa.enabled")
    # The TOTP seed is a secret at rest: the column holds it sealed, never readable.
    column = db.session.execute(sa.text("SELECT mfa_secret FROM iam_user WHERE id = :id"),
                                {"id": user.id}).scalar_one()
    assert secret not in column


def test_a_wrong_confirmation_code_keeps_mfa_off(client, login):
    user = make_user()
    login(user)
    client.get("/profile/mfa")
    response = client.post("/profile/mfa/enable", data={"code": "000000"})
    assert response.status_code == 422
    assert not iam.get_user(user.id).mfa_enabled


def test_sign_in_asks_for_the_code_and_a_code_cannot_be_replayed(app, client, login):
    user = make_user()
    login(user)
    secret, _codes = _enrol(client)
    client.post("/logout")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"].startswith("/login/mfa")
    assert client.get("/profile").headers["Location"].startswith("/login")  # not signed in yet
    # the code used to enrol is spent: the same window's code is refused
    assert client.post("/login/mfa", data={"code": pyotp.TOTP(secret).now()}).status_code == 401
    assert _audited(user.email, "iam.login.failed")


def test_a_recovery_code_signs_in_once(app, client, login):
    user = make_user()
    login(user)
    _secret, codes = _enrol(client)
    client.post("/logout")
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    response = complete_sign_in(client, client.post("/login/mfa", data={"code": codes[0].upper()}))
    assert response.status_code == 302
    assert client.get("/profile").status_code == 200
    client.post("/logout")
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert client.post("/login/mfa", data={"code": codes[0]}).status_code == 401


def test_second_step_without_a_password_goes_back_to_sign_in(client):
    response = client.get("/login/mfa")
    assert response.headers["Location"].startswith("/login")


def test_failed_codes_count_towards_lockout(client, login):
    user = make_user()
    login(user)
    _enrol(client)
    client.post("/logout")
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    statuses = [client.post("/login/mfa", data={"code": "123456"}).status_code for _ in range(5)]
    assert statuses[-1] == 429


def test_disabling_needs_a_code(client, login):
    user = make_user()
    login(user)
    _secret, codes = _enrol(client)
    assert client.post("/profile/mfa/disable", data={"code": "999999"}).status_code == 422
    assert iam.get_user(user.id).mfa_enabled
    assert client.post("/profile/mfa/disable", data={"code": codes[1]}).status_code == 302
    assert not iam.get_user(user.id).mfa_enabled
    assert _audited(user.email, "iam.mfa.disabled")


def test_administrator_resets_a_users_mfa(app, client, admin, login):
    user = make_user()
    login(user)
    _enrol(client)
    client.post("/logout")
    login(admin)
    assert client.post(f"/admin/users/{user.id}/mfa/reset").status_code == 302
    assert not iam.get_user(user.id).mfa_enabled
    assert _audited(user.email, "iam.mfa.reset")
    client.post("/logout")
    form = {"email": user.email, "password": PASSWORD}
    response = complete_sign_in(client, client.post("/login", data=form))
    assert response.headers["Location"] == "/"


def test_a_fresh_code_completes_sign_in_and_lands_on_next(client, login):
    import time

    user = make_user()
    login(user)
    secret, _codes = _enrol(client)
    client.post("/logout")
    client.post("/login?next=/profile", data={"email": user.email, "password": PASSWORD})
    # The enrolment spent this 30-second step; the next step's code is within the accepted window.
    code = pyotp.TOTP(secret).at(time.time() + 30)
    response = complete_sign_in(client, client.post("/login/mfa?next=/profile", data={"code": code}))
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert client.get("/profile").status_code == 200


def test_a_tenant_that_requires_mfa_sends_members_without_it_to_enrolment(client, login, tenant):
    from taiji.modules.tm import services as tm
    from tests.factories import make_member

    member = make_member(tenant, "member")
    tm.set_mfa_required(tenant, True)
    login(member)
    response = client.get(f"/t/{tenant.slug}/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/profile/mfa")
    assert client.get("/profile").status_code == 200  # pages outside the tenant stay open
    _enrol(client)
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
    assert _audited(tenant.slug, "tm.tenant.mfa_required")


def test_tenants_without_the_flag_do_not_ask(client, login, tenant):
    from tests.factories import make_member

    login(make_member(tenant, "member"))
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
