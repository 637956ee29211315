"""The "forgot password" pages: ask for a link (``/login/forgot``), then choose a new password
(``/login/reset/<token>``). The logic is in ``passwordreset.py``."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from taiji.platform import auth, mail
from taiji.platform.web.console import refusals

from . import passwordreset
from .forms import ForgotPasswordForm, ResetPasswordForm
from .mfa import views as mfa_views


def forgot():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        passwordreset.request_reset(form.email.data)
        # The same answer for every address: whether an account uses it is nobody's business here.
        flash(_("If an account uses %(email)s, a link to set a new password is on its way to it. It works "
                "once, within %(minutes)s minutes.", email=form.email.data.strip().lower(),
                minutes=int(passwordreset.ttl().total_seconds() // 60)), "success")
        return redirect(url_for("iam.login"))
    return render_template("iam/forgot.html", form=form, mail_available=mail.configured()), \
        422 if form.errors else 200


def reset(token):
    try:
        user = passwordreset.pending(token)
    except passwordreset.InvalidLink:
        return render_template("iam/reset.html", form=None), 410
    form = ResetPasswordForm()
    if form.validate_on_submit():
        weak = lambda error: mfa_views.password_message(form.new.data, user.email)  # noqa: E731
        with refusals(form, "new", message=weak, passes=(passwordreset.InvalidLink,)) as outcome:
            passwordreset.reset(token, form.new.data)
        if outcome.ok:
            flash(_("Your new password is set and you are signed out everywhere. Sign in with it."),
                  "success")
            return redirect(url_for("iam.login"))
    return render_template("iam/reset.html", form=form, email=user.email), 422 if form.errors else 200


def register(bp) -> None:
    bp.add_url_rule("/login/forgot", "forgot_password", auth.public(forgot), methods=["GET", "POST"])
    bp.add_url_rule("/login/reset/<token>", "reset_password", auth.public(reset), methods=["GET", "POST"])
