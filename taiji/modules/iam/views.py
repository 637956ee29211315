"""IAM console pages: sign-in and sign-out, language, profile and tokens, user administration."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from taiji.platform import audit, auth
from taiji.platform.errors import ServiceError
from taiji.platform.ratelimit import by_address, by_form_email, limiter

from . import services
from .forms import LoginForm, ProfileForm, TokenForm, UserForm
from .models import UserStatus
from .permissions import Perm

bp = Blueprint("iam", __name__, template_folder="templates")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    """Only same-site paths; anything else would be an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("tm.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, key_func=by_address, methods=["POST"],
               error_message="Too many sign-in attempts from this address; wait a minute and try again.")
@limiter.limit(_login_limit, key_func=by_form_email, methods=["POST"],
               error_message="Too many sign-in attempts for this account; wait a minute and try again.")
def login():
    form = LoginForm()
    if auth.current_principal() is not None and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            services.start_session(user)
            audit.record("iam.login.succeeded", "user", user.email, actor=user)
            return redirect(_safe_next(request.args.get("next")))
        audit.record("iam.login.failed", "user", (form.email.data or "").lower()[:255])
        g.commit_on_error = True
        flash(_("The email or password is not right."), "error")
        return render_template("iam/login.html", form=form), 401
    return render_template("iam/login.html", form=form)


@bp.post("/logout")
def logout():
    principal = auth.current_principal()
    if principal is not None:
        audit.record("iam.logout", "user", principal.email)
    session.clear()
    auth.set_principal(None)
    flash(_("You have signed out."), "success")
    return redirect(url_for("iam.login"))


@bp.post("/locale")
def set_locale():
    locale = request.form.get("locale")
    if locale in current_app.config["LANGUAGES"]:
        session["locale"] = locale
        principal = auth.current_principal()
        if principal is not None:
            services.set_locale(principal.user_id, locale)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/profile", methods=["GET", "POST"])
@auth.require_login
def profile():
    user = services.get_user(auth.current_principal().user_id)
    form = ProfileForm(obj=user)
    if form.validate_on_submit():
        services.update_profile(user, form.name.data)
        flash(_("Profile saved."), "success")
        return redirect(url_for("iam.profile"))
    return render_template("iam/profile.html", user=user, form=form)


@bp.route("/profile/tokens", methods=["GET", "POST"])
@auth.require_login
def tokens():
    user = services.get_user(auth.current_principal().user_id)
    form = TokenForm()
    created = None
    if form.validate_on_submit():
        expires = None
        if form.expires_on.data:
            expires = dt.datetime.combine(form.expires_on.data, dt.time(23, 59, 59), tzinfo=dt.UTC)
        try:
            row, created = services.create_token(user, form.name.data, expires_at=expires)
        except ServiceError as exc:
            form.name.errors.append(exc.detail)
            return render_template("iam/tokens.html", form=form, tokens=services.list_tokens(user)), 422
        flash(_("Token created. Copy it now: it will not be shown again."), "success")
        form = TokenForm(formdata=None)
    return render_template("iam/tokens.html", form=form, tokens=services.list_tokens(user), created=created)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@auth.require_login
def revoke_token(token_id):
    services.revoke_token(services.get_user(auth.current_principal().user_id), token_id)
    flash(_("Token revoked."), "success")
    return redirect(url_for("iam.tokens"))


@bp.get("/admin/users")
@auth.require(Perm.USER_READ, tenant_scoped=False)
def users():
    page = services.list_users(search=request.args.get("q"), page=request.args.get("page", 1, type=int))
    return render_template("iam/users.html", page=page, form=UserForm())


@bp.post("/admin/users")
@auth.require(Perm.USER_WRITE, tenant_scoped=False)
def create_user():
    form = UserForm()
    if form.validate_on_submit():
        try:
            services.create_user(form.email.data, form.name.data, form.password.data, admin=form.admin.data)
        except ServiceError as exc:
            target = form.password if "password" in str(exc.errors) else form.email
            target.errors.append(exc.detail)
        else:
            flash(_("User %(email)s created.", email=form.email.data), "success")
            return redirect(url_for("iam.users"))
    page = services.list_users(page=1)
    return render_template("iam/users.html", page=page, form=form, show_form=True), 422


@bp.post("/admin/users/<int:user_id>/status")
@auth.require(Perm.USER_WRITE, tenant_scoped=False)
def user_status(user_id):
    user = services.get_user(user_id)
    if user is None:
        abort(404)
    if user.id == auth.current_principal().user_id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("iam.users"))
    if request.form.get("status") not in {s.value for s in UserStatus}:
        abort(400, description="status must be 'active' or 'disabled'.")
    wanted = UserStatus(request.form["status"])
    services.set_user_status(user, wanted)
    flash(_("Account updated."), "success")
    return redirect(url_for("iam.users"))
