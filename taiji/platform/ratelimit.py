"""Rate limits (Flask-Limiter): Redis storage when TAIJI_REDIS_URL is set, memory otherwise."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[])


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
