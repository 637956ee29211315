"""Failed sign-ins throttle the client that fails, not the account (issue 12, finding 14).

An outsider hammering the administrator's email must not keep the administrator out: the owner
still gets in from another address, from a browser that signed in before, with the password and
an authenticator code together, or through a sign-in link sent by email (a real SMTP server on
loopback).
"""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import sqlalchemy as sa

from taiji.modules.iam import mfa
from taiji.modules.iam.sessions import SignInLock, lockout
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db, utcnow
from tests.conftest import complete_sign_in
from tests.factories import PASSWORD, make_user
from tests.smtpserver import SmtpServer

ATTACKER = "203.0.113.66"
assert lockout.ACCOUNT_THRESHOLD <= 20  # _hammer_from_many_addresses fails 20 times
OWNER = "198.51.100.7"


def _post(client, email, password, address, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra},
                       environ_base={"REMOTE_ADDR": address})


def _fail(client, email, times, address=ATTACKER):
    return [_post(client, email, "wrong-password-x", address).status_code for _ in range(times)]


def _signs_in(client, email, password=PASSWORD, address=OWNER, **extra) -> bool:
    response = complete_sign_in(client, _post(client, email, password, address, **extra))
    ok = response.status_code == 302 and not response.headers["Location"].startswith("/login")
    client.post("/logout")
    return ok


def _hammer_from_many_addresses(app, client, email, monkeypatch):
    """Enough failures from enough addresses to throttle the account for untrusted clients."""
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")
    for n in range(20):  # lockout.ACCOUNT_THRESHOLD
        _post(client, email, "wrong-password-x", f"203.0.113.{n + 1}")


def test_hammering_from_one_address_throttles_that_address_not_the_owner(app, client, admin):
    assert _fail(client, admin.email, 5) == [401, 401, 401, 401, 429]
    throttled = _post(client, admin.email, PASSWORD, ATTACKER)
    assert throttled.status_code == 429 and 'data-testid="login-locked"' in throttled.text
    # The administrator, from another address, is not held back at all.
    assert _signs_in(client, admin.email, address=OWNER)
    locked = db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "iam.login.locked")).scalar_one()
    assert locked.address == ATTACKER and locked.details["client"] == f"addr:{ATTACKER}"


def test_an_attack_spread_over_many_addresses_asks_new_browsers_for_more(app, client, admin, monkeypatch):
    _hammer_from_many_addresses(app, client, admin.email, monkeypatch)
    # A browser the account has never seen, with the right password: not enough now, and the
    # page says what is (no mail server here: it says that too).
    refused = _post(client, admin.email, PASSWORD, OWNER)
    assert refused.status_code == 429
    page = refused.text
    assert 'data-testid="login-account-throttled"' in page and 'data-testid="login-code"' in page
    assert 'data-testid="login-no-mail"' in page
    # A wrong password gives the very same answer: the throttle is no oracle for the password.
    wrong = _post(client, admin.email, "still-wrong-x", "192.0.2.50")
    assert wrong.status_code == 429 and 'data-testid="login-account-throttled"' in wrong.text


def test_the_owner_gets_past_the_account_throttle_with_password_and_totp(app, client, monkeypatch):
    user = make_user()
    secret = mfa.new_secret()
    recovery = mfa.enable(user, secret, pyotp.TOTP(secret).now())
    db.session.commit()
    _hammer_from_many_addresses(app, client, user.email, monkeypatch)
    later = pyotp.TOTP(secret).at(utcnow() + dt.timedelta(seconds=30))  # a step not used yet
    assert not _signs_in(client, user.email, code="000000")
    assert _signs_in(client, user.email, code=later)
    # A code goes with the password, not instead of it (here a recovery code).
    assert not _signs_in(client, user.email, password="wrong-password-x", code=recovery[0])
    assert _signs_in(client, user.email, code=recovery[1])
    entries = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "iam.login.succeeded",
                                                             AuditEntry.target == user.email)).scalars().all()
    assert [e.details for e in entries] == [{"mfa": True}, {"mfa": True}]


def test_a_browser_that_signed_in_before_is_not_held_back(app, client, admin, monkeypatch):
    assert _signs_in(client, admin.email)  # this browser now carries the account's trust
    _hammer_from_many_addresses(app, client.application.test_client(), admin.email, monkeypatch)
    assert _signs_in(client, admin.email, address="192.0.2.99")
    # Another browser, same password, is asked for more.
    stranger = client.application.test_client()
    assert _post(stranger, admin.email, PASSWORD, "192.0.2.99").status_code == 429


def test_an_emailed_link_lets_the_owner_in_from_a_new_browser(app, client, admin, monkeypatch):
    _hammer_from_many_addresses(app, client, admin.email, monkeypatch)
    with SmtpServer() as smtp:
        monkeypatch.setitem(app.config, "SMTP_URL", smtp.url)
        page = _post(client, admin.email, PASSWORD, OWNER).text
        assert 'data-testid="login-link-form"' in page
        asked = client.post("/login/link", data={"link-email": admin.email},
                            environ_base={"REMOTE_ADDR": OWNER})
        assert asked.status_code == 302
        # Asking for an unknown email answers the same, and sends nothing.
        unknown = client.post("/login/link", data={"link-email": "nobody@example.com"},
                              environ_base={"REMOTE_ADDR": OWNER})
        assert unknown.status_code == 302 and unknown.headers["Location"] == asked.headers["Location"]
        inbox = smtp.wait_for(1)
        assert len(inbox) == 1 and inbox[0][1] == [admin.email]
        body = inbox[0][2].get_content()
    link = re.search(r"http://taiji\.test(/login/link/[\w-]+)", body).group(1)
    stored = db.session.execute(sa.text("SELECT token_hash FROM iam_sign_in_link")).scalars().all()
    assert len(stored) == 1 and link.split("/")[-1] not in stored[0]  # only the hash is kept
    confirm = client.get(link)
    assert confirm.status_code == 200 and 'data-testid="login-link-trust"' in confirm.text
    assert client.post(link, environ_base={"REMOTE_ADDR": OWNER}).status_code == 302
    assert _signs_in(client, admin.email, address=OWNER)
    # The link works once.
    assert client.post(link).status_code == 410


def test_unknown_email_is_throttled_the_same_way(client):
    assert _fail(client, "nobody-here@example.com", 5)[-1] == 429
    response = _post(client, "nobody-here@example.com", PASSWORD, ATTACKER)
    assert 'data-testid="login-locked"' in response.text


def test_back_off_grows_with_each_lockout(app):
    email = "backoff@example.com"
    client = lockout.Client("addr:192.0.2.1")
    lengths = []
    for _ in range(3):
        for _ in range(lockout.THRESHOLD - 1):
            assert lockout.register_failure(email, client) is None
        until = lockout.register_failure(email, client)
        lengths.append(round((until - utcnow()).total_seconds() / 60))
        # let the throttle run out so the next round counts afresh
        row = db.session.execute(sa.select(SignInLock).where(SignInLock.email == email,
                                                             SignInLock.client == client.key)).scalar_one()
        row.locked_until = utcnow() - dt.timedelta(seconds=1)
    assert lengths == [1, 5, 15]


def test_success_forgets_this_clients_failures(client):
    user = make_user()
    _fail(client, user.email, 4)
    assert _signs_in(client, user.email, address=ATTACKER)
    assert _fail(client, user.email, 4) == [401] * 4


def test_administrator_sees_the_throttle_and_lifts_it(client, admin, login):
    user = make_user()
    _fail(client, user.email, 5)
    login(admin)

    def users_page():
        return client.get(f"/admin/users?q={user.email}").text

    assert 'data-testid="user-locked"' in users_page()
    assert client.post(f"/admin/users/{user.id}/unlock").status_code == 302
    assert 'data-testid="user-locked"' not in users_page()
    assert db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "iam.user.unlocked",
                                                          AuditEntry.target == user.email)).first()
    client.post("/logout")
    assert _signs_in(client, user.email, address=ATTACKER)


def test_a_member_cannot_unlock(client, login):
    user, other = make_user(), make_user()
    login(other)
    assert client.post(f"/admin/users/{user.id}/unlock").status_code == 403


def test_the_throttled_page_in_chinese(app, client, admin, monkeypatch):
    _hammer_from_many_addresses(app, client, admin.email, monkeypatch)
    client.post("/locale", data={"locale": "zh_Hans", "next": "/login"})
    page = _post(client, admin.email, PASSWORD, OWNER).text
    assert "验证器应用中的代码" in page and "未配置邮件服务器" in page
