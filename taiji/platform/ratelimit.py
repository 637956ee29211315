"""Rate limits (Flask-Limiter): Redis storage when TAIJI_REDIS_URL is set, memory otherwise."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


class _Limiter(Limiter):
    """Flask-Limiter with ``Retry-After`` only where HTTP gives it a meaning.

    With RATELIMIT_HEADERS_ENABLED it puts ``Retry-After`` on every answer of a limited route, a
    200 included; clients that honour the header (RFC 9110 §10.2.3) would then wait after each
    success. The X-RateLimit-* headers stay on every answer.
    """

    def init_app(self, app, *args, **kwargs):
        # Registered first, so Flask runs it after the hook init_app adds (they run in reverse).
        app.after_request(_retry_after_only_when_throttled)
        super().init_app(app, *args, **kwargs)


def _retry_after_only_when_throttled(response):
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


limiter = _Limiter(key_func=get_remote_address, default_limits=[])


def by_address() -> str:
    return f"addr:{get_remote_address()}"


def by_form_email() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()


def by_oauth_client() -> str:
    """The client an OAuth endpoint call names (HTTP Basic or the form), authenticated or not."""
    auth = request.authorization
    client_id = auth.username if auth is not None and auth.username else None
    client_id = client_id or request.form.get("client_id")
    return "client:" + (client_id or "-")[:100]
