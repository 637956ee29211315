"""Signing in and out of the console, through Taiji's own OpenID Connect provider.

Two roles meet on these pages. The identity provider's sign-in page (``/login`` with a ``next``
that is an authorization request, and ``/login/mfa``) checks the password, the second factor and
upstream directories, and opens the IdP session. The console is a relying party like any other:
``/login`` starts its authorization-code flow (PKCE S256, state, nonce), ``/login/callback``
exchanges the code, validates the id_token and opens the console session, and ``/logout`` is an
RP-initiated logout that ends both sessions and revokes the session's refresh tokens.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from taiji.platform import audit, auth
from taiji.platform.api import api
from taiji.platform.ratelimit import by_address, by_form_email, limiter

from . import mfa, services
from . import sessions as console_sessions
from .forms import LoginForm, MfaCodeForm
from .oauth import console
from .sessions import lockout

# Session keys of a sign-in waiting for its second factor, and how long it may wait.
MFA_PENDING, MFA_PENDING_AT = "mfa_uid", "mfa_at"
MFA_STEP_SECONDS = 300
_AUTHORIZE = "/oauth/authorize?"


def safe_next(target: str | None) -> str:
    """Only same-site paths; anything else would be an open redirect."""
    # Browsers read "/\host" as "//host", so backslashes and control characters are refused too.
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable() and not urlsplit(target).netloc):
        return target
    return url_for("tm.home")


def _authorizing(target: str | None) -> bool:
    """Is ``next`` an authorization request waiting for this sign-in (the console's or a tool's)?"""
    return bool(target) and safe_next(target) == target and target.startswith(_AUTHORIZE)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _too_many_from_address() -> str:
    return _("Too many sign-in attempts from this address. Wait a minute and try again.")


def _too_many_for_account() -> str:
    return _("Too many sign-in attempts for this account. Wait a minute and try again.")


def _login_throttled(error):
    """Answer a throttled sign-in on the sign-in page itself, with the reason, not an error page."""
    if request.endpoint not in ("iam.login", "iam.login_mfa"):
        return api.handle_http_exception(error)
    response = current_app.make_response(
        (render_template("iam/login.html", form=LoginForm(formdata=None), throttled=error.description), 429))
    retry = getattr(error, "retry_after", None)
    if retry:
        response.headers["Retry-After"] = str(int(retry))
    return response


def _continue(user, target: str | None):
    """After the IdP sign-in: back to the waiting authorization, or start the console's own."""
    console_sessions.start_idp_session(user)
    if _authorizing(target):
        return redirect(target)
    return redirect(console.begin(session, safe_next(target)))


def login():
    target = request.args.get("next")
    if request.method == "GET":
        if auth.current_principal() is not None:
            return redirect(safe_next(target))
        if _authorizing(target):
            return render_template("iam/login.html", form=LoginForm())
        # The console's sign-in is an authorization request. Nobody is signed in at the provider,
        # so its form is shown here at once, posting straight on to that request: one round trip
        # less than sending the browser to /oauth/authorize only to be sent back to this form.
        authorize = console.begin(session, safe_next(target))
        if console_sessions.idp_user() is not None:
            return redirect(authorize)
        return render_template("iam/login.html", form=LoginForm(),
                               action=url_for("iam.login", next=authorize))
    form = LoginForm()
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
            kept = {k: session[k] for k in ("locale", console.FLOW_KEY) if k in session}
            session.clear()
            session.update(kept)
            session.update({MFA_PENDING: user.id, MFA_PENDING_AT: int(time.time())})
            return redirect(url_for("iam.login_mfa", next=target))
        if user is not None:
            audit.record("iam.login.succeeded", "user", user.email, actor=user)
            return _continue(user, target)
        audit.record("iam.login.failed", "user", email)
        g.commit_on_error = True
        flash(_("The email or password is not right."), "error")
        return render_template("iam/login.html", form=form), 401
    return render_template("iam/login.html", form=form)


def login_mfa():
    """Second step of sign-in: a code from the authenticator app or a recovery code."""
    target = request.args.get("next")
    started = session.get(MFA_PENDING_AT) or 0
    user = services.get_user(session[MFA_PENDING]) if session.get(MFA_PENDING) else None
    if (user is None or not user.is_active or not user.mfa_enabled
            or time.time() - started > MFA_STEP_SECONDS):
        session.pop(MFA_PENDING, None)
        flash(_("Sign in again to continue."), "error")
        return redirect(url_for("iam.login", next=target))
    form = MfaCodeForm()
    if form.validate_on_submit():
        until = lockout.locked_until(user.email)
        if until is None and mfa.verify(user, form.code.data):
            lockout.clear(user.email)
            audit.record("iam.login.succeeded", "user", user.email, actor=user, details={"mfa": True})
            return _continue(user, target)
        audit.record("iam.login.failed", "user", user.email, actor=user, details={"reason": "mfa"})
        g.commit_on_error = True
        until = until or lockout.register_failure(user.email)
        if until is not None:
            session.pop(MFA_PENDING, None)
            return render_template("iam/login.html", form=LoginForm(formdata=None), locked_until=until), 429
        form.code.errors.append(_("The code is not right. Codes change every 30 seconds."))
        return render_template("iam/login_mfa.html", form=form), 401
    return render_template("iam/login_mfa.html", form=form)


def login_callback():
    """The console's redirect URI: exchange the code, validate the id_token, open the console session."""
    try:
        claims, id_token, target = console.finish(
            session, request.args, request.remote_addr, request.user_agent.string)
        user = services.get_user(int(claims["sub"]))
        idp_user = console_sessions.idp_user()
        if user is None or not user.is_active or idp_user is None or idp_user.id != user.id:
            raise console.SignInFailed("the account is not signed in here any more")
    except console.SignInFailed as exc:
        audit.record("iam.login.failed", "oauth_client", console.CLIENT_ID,
                     details={"reason": "console callback", "error": str(exc)[:200]})
        g.commit_on_error = True
        # Rendered, not redirected: a failure that repeats must not loop through /login.
        return render_template("iam/login.html", form=LoginForm(formdata=None),
                               failed=_("Sign-in did not complete (%(reason)s). Please sign in again.",
                                        reason=str(exc))), 400
    services.start_session(user, id_token=id_token, idp=False)
    return redirect(safe_next(target))


def logout():
    """Sign out everywhere: the console session now, then the provider's end-session endpoint."""
    principal = auth.current_principal()
    if principal is not None:
        audit.record("iam.logout", "user", principal.email, details={"via": "console"})
    id_token = session.get("id_token")
    console_sessions.end_current_session(idp=False)
    console_sessions.drop_console_keys()
    auth.set_principal(None)
    if id_token:
        return redirect("/oauth/logout?" + urlencode(
            {"id_token_hint": id_token, "post_logout_redirect_uri": console.post_logout_uri()}))
    # A console session made without a code exchange (older cookie): end the IdP session here.
    locale = session.get("locale")
    console_sessions.end_current_session()
    session.clear()
    if locale:
        session["locale"] = locale
    flash(_("You have signed out."), "success")
    return redirect(url_for("iam.login"))


def register(bp) -> None:
    address = limiter.limit(_login_limit, key_func=by_address, methods=["POST"],
                            error_message=_too_many_from_address)
    account = limiter.limit(_login_limit, key_func=by_form_email, methods=["POST"],
                            error_message=_too_many_for_account)
    bp.add_url_rule("/login", "login", address(account(login)), methods=["GET", "POST"])
    bp.add_url_rule("/login/mfa", "login_mfa", address(login_mfa), methods=["GET", "POST"])
    bp.add_url_rule("/login/callback", "login_callback", login_callback, methods=["GET"])
    bp.add_url_rule("/logout", "logout", logout, methods=["POST"])
    bp.register_error_handler(429, _login_throttled)
