"""The provider's settings: ``app.config["OAUTH_…"]``, read from ``TAIJI_OAUTH_…`` at start
(IAM's settings.py declares them, with their defaults), the declared default when left empty."""

from __future__ import annotations

from flask import current_app

from ..settings import SETTINGS

# Each OAUTH_* setting's declared default, parsed (KEY_ACTIVATION_DELAY's is "": one access-token lifetime).
DEFAULTS: dict[str, object] = {
    setting.config_key: setting.parse(setting.name, setting.default) if setting.parse else setting.default
    for setting in SETTINGS if setting.config_key.startswith("OAUTH_")
}


def get(name: str) -> str:
    value = current_app.config.get(name)
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
