"""Console pages of sign-in security: the user's second factor, and administrators' unlock and reset.

Registered on IAM's blueprint by ``register`` so the URLs stay under the ``iam.`` endpoint names.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.web.console import refusals

from .. import mfa, services
from ..forms import MfaCodeForm
from ..permissions import Perm
from ..sessions import lockout, passwords

SETUP_KEY = "mfa_setup"  # the proposed secret waits in the signed session until confirmed


def password_message(password: str | None, email: str | None = None) -> str:
    """Why a password was refused, in the user's language."""
    why = passwords.problem(password or "", email)
    if why == "length":
        return _("Use at least %(count)d characters.", count=passwords.MIN_LENGTH)
    if why == "common":
        return _("This password is on the list of the most common passwords; choose another.")
    if why == "email":
        return _("Do not build the password from your email address.")
    if why == "sequence":
        return _("Keyboard rows and counting sequences are guessed first; choose another.")
    return _("This password is too easy to guess; mix more kinds of characters.")


def _me():
    return services.get_user(auth.current_principal().user_id)


def _setup_page(user, form, status=200):
    secret = session.get(SETUP_KEY)
    if not secret:
        secret = session[SETUP_KEY] = mfa.new_secret()
    uri = mfa.provisioning_uri(user.email, secret)
    return render_template("iam/mfa.html", user=user, form=form, secret=secret, qr=mfa.qr_svg(uri)), status


def mfa_page():
    user = _me()
    if user.mfa_enabled:
        return render_template("iam/mfa.html", user=user, form=MfaCodeForm(),
                               left=mfa.recovery_codes_left(user))
    return _setup_page(user, MfaCodeForm())


def mfa_enable():
    user = _me()
    form = MfaCodeForm()
    if user.mfa_enabled:
        return redirect(url_for("iam.mfa"))
    if not form.validate_on_submit() or not session.get(SETUP_KEY):
        return _setup_page(user, form, 422)
    with refusals(form, "code") as outcome:  # the service says why, under the code
        codes = mfa.enable(user, session[SETUP_KEY], form.code.data)
    if not outcome.ok:
        return _setup_page(user, form, 422)
    session.pop(SETUP_KEY, None)
    flash(_("Two-factor authentication is on."), "success")
    # Rendered, not redirected: the recovery codes exist in plain text only in this response.
    return render_template("iam/mfa_codes.html", codes=codes)


def mfa_disable():
    user = _me()
    form = MfaCodeForm()
    if not user.mfa_enabled:
        return redirect(url_for("iam.mfa"))
    if form.validate_on_submit():
        with refusals(form, "code") as outcome:
            mfa.disable(user, form.code.data)
        if outcome.ok:
            flash(_("Two-factor authentication is off."), "success")
            return redirect(url_for("iam.mfa"))
    return render_template("iam/mfa.html", user=user, form=form, left=mfa.recovery_codes_left(user)), 422


def user_unlock(user_id):
    user = services.get_user(user_id)
    if user is None:
        abort(404)
    if lockout.unlock(user.email):
        flash(_("Account %(email)s unlocked.", email=user.email), "success")
    return redirect(url_for("iam.users"))


def user_mfa_reset(user_id):
    user = services.get_user(user_id)
    if user is None:
        abort(404)
    mfa.reset(user)
    flash(_("Two-factor authentication of %(email)s was reset.", email=user.email), "success")
    return redirect(url_for("iam.users"))


def register(bp) -> None:
    account = auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
    bp.add_url_rule("/profile/mfa", "mfa", account(mfa_page), methods=["GET"])
    bp.add_url_rule("/profile/mfa/enable", "mfa_enable", account(mfa_enable), methods=["POST"])
    bp.add_url_rule("/profile/mfa/disable", "mfa_disable", account(mfa_disable), methods=["POST"])
    admin = auth.require(Perm.USER_WRITE, tenant_scoped=False)
    bp.add_url_rule("/admin/users/<int:user_id>/unlock", "user_unlock", admin(user_unlock), methods=["POST"])
    bp.add_url_rule("/admin/users/<int:user_id>/mfa/reset", "user_mfa_reset", admin(user_mfa_reset),
                    methods=["POST"])
