"""The provider's settings: ``app.config["OAUTH_…"]``, else ``TAIJI_OAUTH_…`` in the environment,
else the default below."""

from __future__ import annotations

import os

from flask import current_app

DEFAULTS: dict[str, str] = {
    # Lifetime of access tokens (JWTs verified offline, so kept short), seconds.
    "OAUTH_ACCESS_TOKEN_TTL": "600",
    "OAUTH_ID_TOKEN_TTL": "600",
    "OAUTH_REFRESH_TOKEN_TTL": str(30 * 24 * 3600),
    "OAUTH_CODE_TTL": "60",
    # How long a rotated-in key is published before it signs; empty means one access-token lifetime.
    "OAUTH_KEY_ACTIVATION_DELAY": "",
    # Allow plain-HTTP issuers other than loopback (development only).
    "OAUTH_INSECURE_TRANSPORT": "false",
}


def get(name: str) -> str:
    value = current_app.config.get(name)
    if value is None:
        value = os.environ.get(f"TAIJI_{name}")
    if value is None or value == "":
        value = DEFAULTS[name]
    return str(value)


def seconds(name: str) -> int:
    if name == "OAUTH_KEY_ACTIVATION_DELAY" and get(name) == "":
        return seconds("OAUTH_ACCESS_TOKEN_TTL")
    return int(get(name))


def flag(name: str) -> bool:
    return get(name).lower() in ("1", "true", "yes", "on")


def issuer() -> str:
    """The issuer identifier: TAIJI_BASE_URL, byte-equal in discovery and in every token."""
    return current_app.config["BASE_URL"].rstrip("/")


def api_resource() -> str:
    """The resource indicator (RFC 8707) of Taiji's own REST API: ask for it to call the API."""
    return issuer() + "/api"
