"""Lockout after repeated failed sign-ins: back-off, same answer for unknown emails, unlock, audit."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from taiji.modules.iam.sessions import SignInLock, lockout
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db, utcnow
from tests.factories import PASSWORD, make_user


def _fail(client, email, times):
    return [client.post("/login", data={"email": email, "password": "wrong-password-x"}).status_code
            for _ in range(times)]


def test_fifth_failure_locks_and_even_the_right_password_is_refused(client):
    user = make_user()
    assert _fail(client, user.email, 5) == [401, 401, 401, 401, 429]
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert 'data-testid="login-locked"' in response.get_data(as_text=True)
    actions = [a for (a,) in db.session.execute(
        sa.select(AuditEntry.action).where(AuditEntry.target == user.email))]
    assert actions.count("iam.login.failed") == 6 and actions.count("iam.login.locked") == 1
    locked = db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "iam.login.locked")).scalar_one()
    assert locked.address == "127.0.0.1" and locked.user_agent


def test_unknown_email_is_locked_the_same_way(client):
    assert _fail(client, "nobody-here@example.com", 5)[-1] == 429
    response = client.post("/login", data={"email": "nobody-here@example.com", "password": PASSWORD})
    assert 'data-testid="login-locked"' in response.get_data(as_text=True)


def test_back_off_grows_with_each_lockout(app):
    email = "backoff@example.com"
    lengths = []
    for _ in range(3):
        for _ in range(lockout.THRESHOLD - 1):
            assert lockout.register_failure(email) is None
        until = lockout.register_failure(email)
        lengths.append(round((until - utcnow()).total_seconds() / 60))
        # let the lock run out so the next round counts afresh
        row = db.session.execute(sa.select(SignInLock).where(SignInLock.email == email)).scalar_one()
        row.locked_until = utcnow() - dt.timedelta(seconds=1)
    assert lengths == [1, 5, 15]


def test_success_forgets_earlier_failures(client):
    user = make_user()
    _fail(client, user.email, 4)
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    client.post("/logout")
    assert _fail(client, user.email, 4) == [401] * 4


def test_administrator_sees_the_lock_and_unlocks(client, admin, login):
    user = make_user()
    _fail(client, user.email, 5)
    login(admin)
    def users_page():
        return client.get(f"/admin/users?q={user.email}").get_data(as_text=True)

    assert 'data-testid="user-locked"' in users_page()
    assert client.post(f"/admin/users/{user.id}/unlock").status_code == 302
    assert 'data-testid="user-locked"' not in users_page()
    assert db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "iam.user.unlocked",
                                                          AuditEntry.target == user.email)).first()
    client.post("/logout")
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302


def test_a_member_cannot_unlock(client, login):
    user, other = make_user(), make_user()
    login(other)
    assert client.post(f"/admin/users/{user.id}/unlock").status_code == 403
