"""IAM console pages: sign-in and sign-out, language, profile and tokens, user administration."""

from __future__ import annotations

import datetime as dt

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

from taiji.platform import auth, mail
from taiji.platform.db import utcnow
from taiji.platform.errors import Forbidden
from taiji.platform.web.console import field_errors, page_arg, refusals

from . import passwordreset_views, services, signin, verification
from . import sessions as console_sessions
from .forms import PasswordForm, ProfileForm, TokenForm, UserForm
from .mfa import views as mfa_views
from .models import UserStatus
from .oauth import consents
from .permissions import Perm
from .sessions import lockout

bp = Blueprint("iam", __name__, template_folder="templates")
DEFAULT_TOKEN_DAYS = 30  # the expiry the new-token form proposes


@bp.before_app_request
def _tenant_requires_mfa():
    """A tenant that requires MFA sends console members without it to enrolment."""
    if "tenant" not in (request.view_args or {}) or request.path.startswith("/api/"):
        return None
    principal = auth.current_principal()
    if principal is None or principal.via != "session":
        return None
    # This hook may run before the kernel's membership check: ask the kernel for the tenant, so that
    # one the caller may not open is a 404 here too, never a hint that it exists.
    tenant = auth.url_tenant()
    if tenant is None or not tenant.mfa_required:
        return None
    user = services.get_user(principal.user_id)
    if user is None or user.mfa_enabled:
        return None
    flash(_("The tenant %(name)s requires two-factor authentication. Turn it on to continue.",
            name=tenant.name), "warning")
    return redirect(url_for("iam.mfa", next=request.full_path.rstrip("?")))


@bp.post("/locale")
@auth.public
def set_locale():
    locale = request.form.get("locale")
    if locale in current_app.config["LANGUAGES"]:
        session["locale"] = locale
        principal = auth.current_principal()
        if principal is not None:
            services.set_locale(principal.user_id, locale)
    return redirect(signin.safe_next(request.form.get("next")))


@bp.route("/profile", methods=["GET", "POST"])
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
def profile():
    user = services.get_user(auth.current_principal().user_id)
    form = ProfileForm(obj=user)
    if form.validate_on_submit():
        with refusals(form, "name", message=lambda error: _("A name is required.")) as outcome:
            services.update_profile(user, form.name.data)
        if outcome.ok:
            flash(_("Profile saved."), "success")
            return redirect(url_for("iam.profile"))
    status = 422 if form.errors else 200
    return render_template("iam/profile.html", user=user, form=form, consents=consents.list_for(user),
                           password_form=PasswordForm(formdata=None),
                           mail_available=mail.configured()), status


# -- proving the email is one's own (verification.py) ------------------------------------------


def _verification_problem(error: Exception) -> str | None:
    if isinstance(error, verification.AlreadyVerified):
        return _("Your email address is already verified.")
    if isinstance(error, verification.NoMail):
        return _("This server sends no mail, so a platform administrator must verify your email address.")
    if isinstance(error, verification.TooManyMails):
        return _("Several verification mails were sent in the last hour. Use the latest one, or try again "
                 "later.")
    return None


@bp.post("/profile/email/verification")
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
def request_email_verification():
    user = services.get_user(auth.current_principal().user_id)
    with refusals(quiet=True) as outcome:
        services.send_email_verification(user)
    if outcome.ok:
        flash(_("A verification link is on its way to %(email)s. Open it in this browser within 24 hours.",
                email=user.email), "success")
    else:  # nothing to do (already verified: good news), or what to do instead
        done = isinstance(outcome.error, verification.AlreadyVerified)
        flash(_verification_problem(outcome.error) or outcome.message, "success" if done else "warning")
    return redirect(signin.safe_next(request.form.get("next") or url_for("iam.profile")))


@bp.route("/profile/email/verify/<token>", methods=["GET", "POST"])
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
def verify_email(token):
    """A mailed verification link, opened signed in to the account that asked for it: confirm
    (a POST, so a mail scanner's fetch spends nothing), and the address is verified."""
    user = services.get_user(auth.current_principal().user_id)
    # The service says why a link is refused (used, too old, another account's), in the reader's words.
    with refusals(quiet=True) as outcome:
        if request.method == "POST":
            verification.confirm(token, user)
        else:
            verification.pending(token, user)
    if not outcome.ok:
        return render_template("iam/verify_email.html", user=user, problem=outcome.message), outcome.status
    if request.method == "GET":
        return render_template("iam/verify_email.html", user=user, problem=None)
    flash(_("Your email address %(email)s is verified.", email=user.email), "success")
    return redirect(url_for("tm.home"))


@bp.post("/profile/consents/<int:consent_id>/revoke")
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
def revoke_consent(consent_id):
    """Forget an application's consent; it asks again, and its refresh tokens for this user end."""
    consents.revoke(services.get_user(auth.current_principal().user_id), consent_id)
    flash(_("Access revoked. The application will ask again next time."), "success")
    return redirect(url_for("iam.profile"))


@bp.post("/profile/password")
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
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
            weak = lambda error: mfa_views.password_message(form.new.data, user.email)  # noqa: E731
            with refusals(form, "new", message=weak) as outcome:
                services.set_password(user, form.new.data)
            if outcome.ok:
                console_sessions.revoke_all(user)
                services.start_session(user)
                flash(_("Password changed. Your other sessions have ended."), "success")
                return redirect(url_for("iam.profile"))
    return render_template("iam/profile.html", user=user, form=ProfileForm(obj=user), password_form=form,
                           consents=consents.list_for(user), mail_available=mail.configured()), 422


def _scope_choices() -> list[tuple[str, str]]:
    return [(name, str(label)) for name, label in sorted(auth.catalog.permissions.items())]


def _scope_groups(choices: list[tuple[str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The scopes by module (a permission is named ``<module code>:…``), titled with the module's
    title, in the order of the modules' titles."""
    titles = {m.code: str(m.title) for m in current_app.extensions["taiji_modules"]}
    groups: dict[str, list] = {}
    for value, label in choices:
        groups.setdefault(value.split(":", 1)[0], []).append((value, label))
    return sorted(((titles.get(code, code), items) for code, items in groups.items()),
                  key=lambda group: group[0].casefold())


def _tokens_page(form, user, created=None, status=200):
    return render_template("iam/tokens.html", form=form, tokens=services.list_tokens(user), created=created,
                           scope_groups=_scope_groups(form.scopes.choices)), status


def _token_problem(error: Exception) -> str | None:
    """A refused token in the console's words, where they say more than the service's."""
    fields = field_errors(error)
    if "expires_at" in fields:
        return (_("Choose a date no later than the expiry of the token you are using.")
                if "no later" in error.english else _("Choose a date in the future."))
    if isinstance(error, Forbidden) and "scopes" in fields:
        return " ".join([error.detail, *fields["scopes"]])  # which scopes are too many, and which may be
    if isinstance(error, Forbidden):
        return _("Personal access tokens cannot be managed with this kind of access.")
    return None


def _token_field(error: Exception) -> str:
    fields = field_errors(error)
    return "expires_on" if "expires_at" in fields else "scopes" if "scopes" in fields else "name"


@bp.route("/profile/tokens", methods=["GET", "POST"])
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
def tokens():
    principal = auth.current_principal()
    services.check_token_management(principal)
    user = services.get_user(principal.user_id)
    form = TokenForm()
    form.scopes.choices = _scope_choices()
    created = None
    if form.validate_on_submit():
        expires = None
        if form.expires_on.data:
            expires = dt.datetime.combine(form.expires_on.data, dt.time(23, 59, 59), tzinfo=dt.UTC)
        with refusals(form, _token_field, message=_token_problem,
                      names={"expires_at": "expires_on"}) as outcome:
            _row, created = services.create_token(user, form.name.data, scopes=form.scopes.data or None,
                                                  expires_at=expires, caller=principal)
        if not outcome.ok:
            return _tokens_page(form, user, status=422)
        flash(_("Token created. Copy it now: it will not be shown again."), "success")
        form = TokenForm(formdata=None)
        form.scopes.choices = _scope_choices()
    if request.method == "GET" or created:  # a proposed expiry, which the person may change or clear
        form.expires_on.data = utcnow().date() + dt.timedelta(days=DEFAULT_TOKEN_DAYS)
    return _tokens_page(form, user, created, 422 if form.errors else 200)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
def revoke_token(token_id):
    principal = auth.current_principal()
    services.check_token_management(principal)
    services.revoke_token(services.get_user(principal.user_id), token_id)
    flash(_("Token revoked."), "success")
    return redirect(url_for("iam.tokens"))


@bp.get("/admin/users")
@auth.require(Perm.USER_READ, tenant_scoped=False)
def users():
    page = services.list_users(search=request.args.get("q"), page=page_arg())
    return render_template("iam/users.html", page=page, form=UserForm(),
                           locks=lockout.locks_for(u.email for u in page.items))


def _user_problem(form: UserForm):
    """A refused new user in the console's words: the password's rule, a taken or malformed address
    (None: the service's own message under its field, e.g. the name)."""
    def wording(error: Exception) -> str | None:
        fields = field_errors(error)
        if "password" in fields:
            return mfa_views.password_message(form.password.data, form.email.data)
        if "email" in fields and getattr(error, "status", None) == 409:
            return _("A user with this email already exists.")
        if "email" in fields:
            return _("Enter a valid email address.")
        return None
    return wording


@bp.post("/admin/users")
@auth.require(Perm.USER_WRITE, tenant_scoped=False)
def create_user():
    form = UserForm()
    if form.validate_on_submit():
        with refusals(form, lambda error: "password" if "password" in field_errors(error) else "email",
                      message=_user_problem(form)) as outcome:
            services.create_user(form.email.data, form.name.data, form.password.data, admin=form.admin.data,
                                 email_verified=True)
        if outcome.ok:
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


@bp.post("/admin/users/<int:user_id>/email-verified")
@auth.require(Perm.USER_WRITE, tenant_scoped=False)
def user_email_verified(user_id):
    """A platform administrator vouches for a user's address (audited)."""
    user = services.get_user(user_id)
    if user is None:
        abort(404)
    services.mark_email_verified(user, "admin")
    flash(_("The email address %(email)s is marked verified.", email=user.email), "success")
    return redirect(url_for("iam.users", q=request.form.get("q") or None))


# -- the user's own sessions -------------------------------------------------------------------


@bp.get("/profile/sessions")
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
def sessions():
    user = services.get_user(auth.current_principal().user_id)
    return render_template("iam/sessions.html", sessions=console_sessions.list_sessions(user),
                           current=console_sessions.current_session_id(session))


@bp.post("/profile/sessions/<int:session_id>/revoke")
@auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
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
signin.register(bp)
passwordreset_views.register(bp)
