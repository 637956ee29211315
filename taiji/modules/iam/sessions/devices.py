"""Browsers an account trusts: those it has signed in from, or opened an emailed link in.

A signed, long-lived cookie holds a random id for the browser and, for each account signed in
from it (at most ``MAX_ACCOUNTS``), a keyed hash of the account's email — never the email. The
sign-in throttle (``lockout.py``) counts a trusted browser's failures under its own id and
spares it the account-wide throttle that failures from elsewhere can raise.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import after_this_request, current_app, has_request_context, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .lockout import Client

COOKIE = "taiji_device"
MAX_ACCOUNTS = 5
LIFETIME_DAYS = 180
_SALT = "iam.trusted-device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)


def _tag(email: str) -> str:
    key = hashlib.sha256((current_app.secret_key or "").encode() + b"|" + _SALT.encode()).digest()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


def _read() -> dict | None:
    raw = request.cookies.get(COOKIE) if has_request_context() else None
    if not raw:
        return None
    try:
        data = _serializer().loads(raw, max_age=LIFETIME_DAYS * 86400)
    except BadSignature:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("d"), str) and isinstance(data.get("a"), list)):
        return None
    return data


def client_for(email: str) -> Client:
    """The client signing in to ``email`` in this request: its trusted id, or its address."""
    data = _read()
    if data is not None and _tag(email) in data["a"]:
        return Client(key=f"device:{data['d'][:40]}", trusted=True)
    address = request.remote_addr if has_request_context() else None
    return Client(key=f"addr:{address or '-'}")


def trust(email: str) -> None:
    """Remember, in this browser, that ``email`` signed in here (set on the response)."""
    data = _read() or {"d": secrets.token_urlsafe(16), "a": []}
    tag = _tag(email)
    accounts = [*[a for a in data["a"] if a != tag][-(MAX_ACCOUNTS - 1):], tag]
    value = _serializer().dumps({"d": data["d"], "a": accounts})

    @after_this_request
    def set_cookie(response):
        response.set_cookie(COOKIE, value, max_age=LIFETIME_DAYS * 86400, httponly=True, samesite="Lax",
                            secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
        return response
