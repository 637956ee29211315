"""IAM console pages: sign-in and sign-out, language, profile and tokens, user administration."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from taiji.platform import audit, auth
from taiji.platform.api import api
from taiji.platform.errors import ServiceError
from taiji.platform.ratelimit import by_address, by_form_email, limiter
from taiji.platform.web.messages import password_problem

from . import services
from .forms import LoginForm, ProfileForm, TokenForm, UserForm
from .models import UserStatus
from .permissions import Perm

bp = Blueprint("iam", __name__, template_folder="templates")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    """Only same-site paths; anything else would be an open redirect."""
    # Browsers read "/\host" as "//host", so backslashes and control characters are refused too.
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable() and not urlsplit(target).netloc):
        return target
    return url_for("tm.home")


def _too_many_from_address() -> str:
    return _("Too many sign-in attempts from this address. Wait a minute and try again.")


def _too_many_for_account() -> str:
    return _("Too many sign-in attempts for this account. Wait a minute and try again.")


@bp.errorhandler(429)
def _login_throttled(error):
    """Answer a throttled sign-in on the sign-in page itself, with the reason, not an error page."""
    if request.endpoint != "iam.login":
        return api.handle_http_exception(error)
    return render_template("iam/login.html", form=LoginForm(), throttled=error.description), 429


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, key_func=by_address, methods=["POST"], error_message=_too_many_from_address)
@limiter.limit(_login_limit, key_func=by_form_email, methods=["POST"], error_message=_too_many_for_account)
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
    # The sign-in page that follows stays in the language the user was using.
    locale = getattr(principal, "locale", None) or session.get("locale")
    if principal is not None:
        audit.record("iam.logout", "user", principal.email)
    session.clear()
    if locale:
        session["locale"] = locale
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
        try:
            services.update_profile(user, form.name.data)
        except ServiceError:
            form.name.errors.append(_("A name is required."))
        else:
            flash(_("Profile saved."), "success")
            return redirect(url_for("iam.profile"))
    return render_template("iam/profile.html", user=user, form=form), 422 if form.errors else 200


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
            _row, created = services.create_token(user, form.name.data, expires_at=expires)
        except ServiceError as exc:
            if "expires_at" in str(exc.errors):
                form.expires_on.errors.append(_("Choose a date in the future."))
            else:
                form.name.errors.append(_("Give the token a name that says where it is used."))
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
            if "password" in str(exc.errors):
                form.password.errors.append(password_problem(form.password.data))
            elif exc.status == 409:
                form.email.errors.append(_("A user with this email already exists."))
            else:
                form.email.errors.append(_("Enter a valid email address."))
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
        abort(400, description=_("Unknown account status."))
    wanted = UserStatus(request.form["status"])
    services.set_user_status(user, wanted)
    flash(_("Account updated."), "success")
    return redirect(url_for("iam.users"))
