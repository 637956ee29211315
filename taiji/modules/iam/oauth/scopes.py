"""Scopes the provider knows, and how a token's scope turns into API permissions.

The rule, also in docs/sso.md:

- ``openid``, ``profile``, ``email``, ``offline_access`` are the OpenID Connect scopes; alone they
  do not let a token call the Taiji REST API.
- ``taiji:api`` lets the token act with every permission its user holds.
- A scope named like a permission (``iam:user:read``) lets the token use that permission only.
- In every case the user's roles at the tenant of the URL still bound what the token can do.
"""

from __future__ import annotations

import hashlib

from taiji.platform.auth import catalog

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
API_SCOPE = "taiji:api"
DEFAULT_CLIENT_SCOPE = "openid profile email"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_list(scope: str | None) -> list[str]:
    seen: list[str] = []
    for item in (scope or "").split():
        if item not in seen:
            seen.append(item)
    return seen


def known_scopes() -> list[str]:
    return [*OIDC_SCOPES, API_SCOPE, *sorted(catalog.permissions)]


def unknown_scopes(scope: str | None) -> list[str]:
    known = set(known_scopes())
    return [s for s in scope_list(scope) if s not in known]


def api_permissions(scope: str | None) -> frozenset[str] | bool | None:
    """What a token with ``scope`` may do on the REST API.

    ``None``: every permission of the user; a set: those permissions; ``False``: no API access.
    """
    scopes = set(scope_list(scope))
    if API_SCOPE in scopes:
        return None
    perms = frozenset(scopes & set(catalog.permissions))
    return perms if perms else False


def printable(text: str, limit: int = 200) -> str:
    """``text`` as an OAuth ``error_description`` may carry it (RFC 6749 §5.2: %x20-21 / %x23-5B /
    %x5D-7E): a client's own input quoted back must not turn a 400 into a 500."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text[:limit])
