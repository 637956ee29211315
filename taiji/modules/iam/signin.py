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

from taiji.platform import audit, auth, mail
from taiji.platform.api import api
from taiji.platform.errors import Invalid
from taiji.platform.ratelimit import by_address, limiter

from . import mfa, services
from . import sessions as console_sessions
from .directory import services as directories
from .forms import LoginForm, MfaCodeForm, SignInLinkForm
from .oauth import console
from .sessions import devices, links, lockout

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


def _login_throttled(error):
    """Answer a throttled sign-in on the sign-in page itself, with the reason, not an error page."""
    if request.endpoint not in ("iam.login", "iam.login_mfa", "iam.request_link", "iam.open_link"):
        return api.handle_http_exception(error)
    response = current_app.make_response(_page(LoginForm(formdata=None), 429, throttled=error.description))
    retry = getattr(error, "retry_after", None)
    if retry:
        response.headers["Retry-After"] = str(int(retry))
    return response


def _link_form(**kwargs) -> SignInLinkForm:
    # Its own prefix: the page shows it beside the sign-in form, which has an email field too.
    return SignInLinkForm(prefix="link", **kwargs)


def _page(form, status: int = 200, **context):
    """The sign-in page; ``mail_available`` tells it whether to offer an emailed sign-in link, and
    the organisation field shows where a tenant signs in through a directory (or a link named one)."""
    organisation = bool(form.organisation.data) or directories.has_directories()
    return render_template("iam/login.html", form=form, mail_available=mail.configured(),
                           show_organisation=organisation,
                           link_form=context.pop("link_form", None) or _link_form(formdata=None),
                           **context), status


def _continue(user, target: str | None):
    """After the IdP sign-in: back to the waiting authorization, or start the console's own.

    The browser becomes one this account trusts: others' failed attempts do not hold it back.
    """
    devices.trust(user.email)
    console_sessions.start_idp_session(user)
    if _authorizing(target):
        return redirect(target)
    return redirect(console.begin(session, safe_next(target)))


def _login_form() -> LoginForm:
    """The form, with the organisation of a ``?tenant=`` link filled in (as Keycloak's realm URL)."""
    chosen = (request.args.get("tenant") or "").strip()[:40]
    return LoginForm(organisation=chosen) if chosen and request.method == "GET" else LoginForm()


def login():
    target = request.args.get("next")
    if request.method == "GET":
        if auth.current_principal() is not None:
            return redirect(safe_next(target))
        if _authorizing(target):
            return _page(_login_form())
        # The console's sign-in is an authorization request. Nobody is signed in at the provider,
        # so its form is shown here at once, posting straight on to that request: one round trip
        # less than sending the browser to /oauth/authorize only to be sent back to this form.
        authorize = console.begin(session, safe_next(target))
        if console_sessions.idp_user() is not None:
            return redirect(authorize)
        return _page(_login_form(), action=url_for("iam.login", next=authorize))
    form = LoginForm()
    if form.validate_on_submit():
        email = (form.email.data or "").lower()[:255]
        code = (form.code.data or "").strip() or None
        try:
            user = services.authenticate(form.email.data, form.password.data,
                                         organisation=(form.organisation.data or "").strip().lower() or None,
                                         code=code)
        except lockout.Locked as exc:
            reason = "throttled for untrusted clients" if exc.account else "throttled"
            audit.record("iam.login.failed", "user", email, details={"reason": reason})
            g.commit_on_error = True
            return _page(form, 429, locked_until=exc.until, account_throttled=exc.account,
                         link_form=_link_form(formdata=None, email=form.email.data))
        if user is not None and user.mfa_enabled and not code:
            # Password right: the second step comes next. Nothing here signs anyone in yet.
            kept = {k: session[k] for k in ("locale", console.FLOW_KEY) if k in session}
            session.clear()
            session.update(kept)
            session.update({MFA_PENDING: user.id, MFA_PENDING_AT: int(time.time())})
            return redirect(url_for("iam.login_mfa", next=target))
        if user is not None:
            audit.record("iam.login.succeeded", "user", user.email, actor=user, details={"mfa": bool(code)})
            return _continue(user, target)
        audit.record("iam.login.failed", "user", email)
        g.commit_on_error = True
        if form.organisation.data:
            flash(_("The email, password or organisation is not right."), "error")
        else:
            flash(_("The email or password is not right."), "error")
        return _page(form, 401)
    return _page(form)


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
        client = devices.client_for(user.email)
        try:
            lockout.check(user.email, client)
        except lockout.Locked as exc:
            session.pop(MFA_PENDING, None)
            return _page(LoginForm(formdata=None), 429, locked_until=exc.until)
        if mfa.verify(user, form.code.data):
            lockout.clear(user.email, client)
            audit.record("iam.login.succeeded", "user", user.email, actor=user, details={"mfa": True})
            return _continue(user, target)
        audit.record("iam.login.failed", "user", user.email, actor=user, details={"reason": "mfa"})
        g.commit_on_error = True
        until = lockout.register_failure(user.email, client)
        if until is not None:
            session.pop(MFA_PENDING, None)
            return _page(LoginForm(formdata=None), 429, locked_until=until)
        form.code.errors.append(_("The code is not right. Codes change every 30 seconds."))
        return render_template("iam/login_mfa.html", form=form), 401
    return render_template("iam/login_mfa.html", form=form)


def request_link():
    """Mail a sign-in link; the answer is the same whether or not the email has an account."""
    form = _link_form()
    if not form.validate_on_submit():
        return _page(LoginForm(formdata=None), 422, link_form=form, account_throttled=True)
    if not mail.configured():
        flash(_("This server cannot send mail (no mail server is configured), so it cannot send sign-in "
                "links. Ask a platform administrator to lift the throttle, or wait for it to end."),
              "warning")
        return redirect(url_for("iam.login"))
    try:
        email = services.normalize_email(form.email.data)
    except Invalid:
        email = (form.email.data or "").strip().lower()[:255]
    links.send_link(services.get_user_by_email(email), email)
    flash(_("If an account uses %(email)s, a sign-in link is on its way to it. Open the link in this "
            "browser within 15 minutes.", email=email), "success")
    return redirect(url_for("iam.login"))


def open_link(token):
    """An emailed sign-in link: confirm (a POST, so a mail scanner's fetch spends nothing), and
    this browser becomes one the account trusts."""
    if request.method == "GET":
        row = links.find(token)
        user = services.get_user(row.user_id) if row is not None else None
        return render_template("iam/login_link.html", user=user), 200 if user is not None else 410
    user_id = links.use(token)
    user = services.get_user(user_id) if user_id is not None else None
    if user is None or not user.is_active:
        return render_template("iam/login_link.html", user=None), 410
    devices.trust(user.email)
    audit.record("iam.login.link_used", "user", user.email)
    flash(_("This browser is now trusted for %(email)s. Sign in with your password.", email=user.email),
          "success")
    return redirect(url_for("iam.login"))


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
        return _page(LoginForm(formdata=None), 400,
                     failed=_("Sign-in did not complete (%(reason)s). Please sign in again.",
                              reason=str(exc)))
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
    # Per address only: a limit per account would let anyone keep its owner out (lockout.py
    # throttles per account and client instead).
    address = limiter.limit(_login_limit, key_func=by_address, methods=["POST"],
                            error_message=_too_many_from_address)
    # Signing in and out is for anyone: these pages are public (auth.public).
    bp.add_url_rule("/login", "login", auth.public(address(login)), methods=["GET", "POST"])
    bp.add_url_rule("/login/mfa", "login_mfa", auth.public(address(login_mfa)), methods=["GET", "POST"])
    bp.add_url_rule("/login/link", "request_link", auth.public(address(request_link)), methods=["POST"])
    bp.add_url_rule("/login/link/<token>", "open_link", auth.public(address(open_link)),
                    methods=["GET", "POST"])
    bp.add_url_rule("/login/callback", "login_callback", auth.public(login_callback), methods=["GET"])
    bp.add_url_rule("/logout", "logout", auth.public(logout), methods=["POST"])
    bp.register_error_handler(429, _login_throttled)
