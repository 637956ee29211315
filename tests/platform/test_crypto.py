"""Secrets at rest: sealed values open with the current or a previous key, and only for their purpose."""

from __future__ import annotations

import pytest

from taiji.platform import crypto


def test_sealed_value_is_not_readable_and_opens_again(app):
    with app.app_context():
        token = crypto.seal("ldap-bind-password", "test.purpose")
        assert "ldap-bind-password" not in token
        assert crypto.unseal(token, "test.purpose") == b"ldap-bind-password"


def test_a_value_sealed_for_one_purpose_does_not_open_for_another(app):
    with app.app_context():
        token = crypto.seal("secret", "iam.mfa.totp")
        with pytest.raises(crypto.InvalidToken):
            crypto.unseal(token, "iam.directory.bind-password")


def test_after_rotating_the_secret_key_old_values_open_and_reseal_under_the_new_key(app):
    with app.app_context():
        old_key = app.config["SECRET_KEY"]
        token = crypto.seal("kubeconfig", "sem.kubeconfig")
        try:
            app.config["SECRET_KEY"] = "a-brand-new-secret-key-for-this-test"
            app.config["PREVIOUS_SECRET_KEYS"] = (old_key,)
            assert crypto.unseal(token, "sem.kubeconfig") == b"kubeconfig"
            fresh = crypto.reseal(token, "sem.kubeconfig")
            app.config["PREVIOUS_SECRET_KEYS"] = ()
            assert crypto.unseal(fresh, "sem.kubeconfig") == b"kubeconfig"
            with pytest.raises(crypto.InvalidToken):
                crypto.unseal(token, "sem.kubeconfig")
        finally:
            app.config["SECRET_KEY"] = old_key
            app.config["PREVIOUS_SECRET_KEYS"] = ()
