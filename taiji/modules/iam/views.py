"""IAM console pages: sign-in and sign-out, language, profile and tokens, user administration."""

from __future__ import annotations

import datetime as dt
import time
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

from taiji.platform import audit, auth, tenancy
from taiji.platform.api import api
from taiji.platform.errors import ServiceError
from taiji.platform.ratelimit import by_address, by_form_email, limiter

from . import mfa, services
from . import sessions as console_sessions
from .forms import LoginForm, MfaCodeForm, PasswordForm, ProfileForm, TokenForm, UserForm
from .mfa import views as mfa_views
from .models import UserStatus
from .permissions import Perm
from .sessions import lockout

bp = Blueprint("iam", __name__, template_folder="templates")
# Session keys of a sign-in waiting for its second factor, and how long it may wait.
MFA_PENDING, MFA_PENDING_AT = "mfa_uid", "mfa_at"
MFA_STEP_SECONDS = 300


@bp.before_app_request
def _tenant_requires_mfa():
    """A tenant that requires MFA sends console members without it to enrolment."""
    slug = (request.view_args or {}).get("tenant")
    if slug is None or request.path.startswith("/api/"):
        return None
    principal = auth.current_principal()
    if principal is None or principal.via != "session":
        return None
    tenant = tenancy.current() or tenancy.tenant_by_slug(slug)
    if tenant is None or not tenant.mfa_required:
        return None
    user = services.get_user(principal.user_id)
    if user is None or user.mfa_enabled:
        return None
    flash(_("The tenant %(name)s requires two-factor authentication. Turn it on to continue.",
            name=tenant.name), "warning")
    return redirect(url_for("iam.mfa", next=request.full_path.rstrip("?")))


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
        email = (form.email.data or "").lower()[:255]
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except lockout.Locked as exc:
            audit.record("iam.login.failed", "user", email, details={"reason": "locked"})
            g.commit_on_error = True
            return render_template("iam/login.html", form=form, locked_until=exc.until), 429
        if user is not None and user.mfa_enabled:
            # Password right: the second step comes next. Nothing here signs anyone in yet.
            locale = session.get("locale")
            session.clear()
            session.update({MFA_PENDING: user.id, MFA_PENDING_AT: int(time.time())})
            if locale:
                session["locale"] = locale
            return redirect(url_for("iam.login_mfa", next=request.args.get("next")))
        if user is not None:
            services.start_session(user)
            audit.record("iam.login.succeeded", "user", user.email, actor=user)
            return redirect(_safe_next(request.args.get("next")))
        audit.record("iam.login.failed", "user", email)
        g.commit_on_error = True
        flash(_("The email or password is not right."), "error")
        return render_template("iam/login.html", form=form), 401
    return render_template("iam/login.html", form=form)


@bp.route("/login/mfa", methods=["GET", "POST"])
@limiter.limit(_login_limit, key_func=by_address, methods=["POST"], error_message=_too_many_from_address)
def login_mfa():
    """Second step of sign-in: a code from the authenticator app or a recovery code."""
    started = session.get(MFA_PENDING_AT) or 0
    user = services.get_user(session[MFA_PENDING]) if session.get(MFA_PENDING) else None
    if (user is None or not user.is_active or not user.mfa_enabled
            or time.time() - started > MFA_STEP_SECONDS):
        session.pop(MFA_PENDING, None)
        flash(_("Sign in again to continue."), "error")
        return redirect(url_for("iam.login", next=request.args.get("next")))
    form = MfaCodeForm()
    if form.validate_on_submit():
        until = lockout.locked_until(user.email)
        if until is None and mfa.verify(user, form.code.data):
            lockout.clear(user.email)
            services.start_session(user)
            audit.record("iam.login.succeeded", "user", user.email, actor=user, details={"mfa": True})
            return redirect(_safe_next(request.args.get("next")))
        audit.record("iam.login.failed", "user", user.email, actor=user, details={"reason": "mfa"})
        g.commit_on_error = True
        until = until or lockout.register_failure(user.email)
        if until is not None:
            session.pop(MFA_PENDING, None)
            return render_template("iam/login.html", form=LoginForm(formdata=None), locked_until=until), 429
        form.code.errors.append(_("The code is not right. Codes change every 30 seconds."))
        return render_template("iam/login_mfa.html", form=form), 401
    return render_template("iam/login_mfa.html", form=form)


@bp.post("/logout")
def logout():
    principal = auth.current_principal()
    # The sign-in page that follows stays in the language the user was using.
    locale = getattr(principal, "locale", None) or session.get("locale")
    if principal is not None:
        audit.record("iam.logout", "user", principal.email)
    console_sessions.end_current_session()
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
    status = 422 if form.errors else 200
    return render_template("iam/profile.html", user=user, form=form,
                           password_form=PasswordForm(formdata=None)), status


@bp.post("/profile/password")
@auth.require_login
def change_password():
    """A new password ends every other session; this browser stays signed in with a fresh one."""
    user = services.get_user(auth.current_principal().user_id)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            right = services.authenticate(user.email, form.current.data)
        except lockout.Locked:
            right = None
        if right is None or right.id != user.id:
            g.commit_on_error = True  # the failure counts towards the lockout
            form.current.errors.append(_("The current password is not right."))
        else:
            try:
                services.set_password(user, form.new.data)
            except ServiceError:
                form.new.errors.append(mfa_views.password_message(form.new.data, user.email))
            else:
                console_sessions.revoke_all(user)
                services.start_session(user)
                flash(_("Password changed. Your other sessions have ended."), "success")
                return redirect(url_for("iam.profile"))
    return render_template("iam/profile.html", user=user, form=ProfileForm(obj=user), password_form=form), 422


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
    return render_template("iam/users.html", page=page, form=UserForm(),
                           locks=lockout.locks_for(u.email for u in page.items))


@bp.post("/admin/users")
@auth.require(Perm.USER_WRITE, tenant_scoped=False)
def create_user():
    form = UserForm()
    if form.validate_on_submit():
        try:
            services.create_user(form.email.data, form.name.data, form.password.data, admin=form.admin.data)
        except ServiceError as exc:
            if "password" in str(exc.errors):
                form.password.errors.append(mfa_views.password_message(form.password.data, form.email.data))
            elif exc.status == 409:
                form.email.errors.append(_("A user with this email already exists."))
            else:
                form.email.errors.append(_("Enter a valid email address."))
        else:
            flash(_("User %(email)s created.", email=form.email.data), "success")
            return redirect(url_for("iam.users"))
    page = services.list_users(page=1)
    return render_template("iam/users.html", page=page, form=form, show_form=True,
                           locks=lockout.locks_for(u.email for u in page.items)), 422


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


# -- the user's own sessions -------------------------------------------------------------------


@bp.get("/profile/sessions")
@auth.require_login
def sessions():
    user = services.get_user(auth.current_principal().user_id)
    return render_template("iam/sessions.html", sessions=console_sessions.list_sessions(user),
                           current=console_sessions.current_session_id(session))


@bp.post("/profile/sessions/<int:session_id>/revoke")
@auth.require_login
def revoke_session(session_id):
    user = services.get_user(auth.current_principal().user_id)
    mine = session_id == console_sessions.current_session_id(session)
    console_sessions.revoke_session(user, session_id)
    if mine:
        session.clear()
        auth.set_principal(None)
        flash(_("You have signed out."), "success")
        return redirect(url_for("iam.login"))
    flash(_("Session ended. That browser is signed out."), "success")
    return redirect(url_for("iam.sessions"))


mfa_views.register(bp)
