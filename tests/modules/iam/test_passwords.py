"""Passwords: stored as argon2 hashes, checked in constant shape, refused when weak."""

from __future__ import annotations

import pytest

from taiji.modules.iam import services as iam
from taiji.modules.iam.models import UserStatus
from taiji.platform.db import db
from taiji.platform.errors import Invalid
from tests.factories import PASSWORD, make_user


def test_password_is_stored_as_an_argon2_hash(app):
    user = make_user()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_right_password_signs_in_and_wrong_ones_do_not(app):
    user = make_user()
    assert iam.authenticate(user.email.upper(), PASSWORD).id == user.id
    assert iam.authenticate(user.email, PASSWORD + "x") is None
    assert iam.authenticate("nobody@example.com", PASSWORD) is None
    assert iam.authenticate("not an email", PASSWORD) is None


def test_disabled_user_cannot_sign_in(app):
    user = make_user()
    iam.set_user_status(user, UserStatus.DISABLED)
    db.session.commit()
    assert iam.authenticate(user.email, PASSWORD) is None


@pytest.mark.parametrize("weak", ["short", "aaaaaaaaaaaaaaa", "abababababab"])
def test_weak_passwords_are_refused(app, weak):
    with pytest.raises(Invalid) as raised:
        iam.check_password_policy(weak)
    assert "password" in raised.value.errors["json"]


def test_changing_the_password_ends_other_sessions(app):
    user = make_user()
    epoch = user.session_epoch
    iam.set_password(user, "a-new-long-password")
    assert user.session_epoch == epoch + 1
    assert iam.authenticate(user.email, "a-new-long-password") is not None
    assert iam.authenticate(user.email, PASSWORD) is None


def test_production_uses_argon2_defaults(app):
    from argon2 import PasswordHasher

    testing = app.config["TESTING"]
    app.config["TESTING"] = False
    try:
        assert iam._hasher().memory_cost == PasswordHasher().memory_cost
    finally:
        app.config["TESTING"] = testing


@pytest.mark.parametrize(("password", "email"), [
    ("password123", None), ("Qwertyuiop", None), ("1234567890", None),
    ("jane.doe2024", "jane.doe@example.com"), ("xyzxyzxyzxyz", None),
])
def test_common_and_patterned_passwords_are_refused(app, password, email):
    with pytest.raises(Invalid):
        iam.check_password_policy(password, email)


def test_a_long_unusual_password_is_accepted(app):
    iam.check_password_policy("tea-kettle-on-mars-7", "jane.doe@example.com")
