"""Resource indicators (RFC 8707): which API an access token is for, carried as its ``aud``.

A resource server registers as a confidential client with its ``resource`` (an absolute URI);
Taiji's own API is ``<base URL>/api``. A client names the API it wants with ``resource`` at the
authorization endpoint (the grant is then limited to those) and at the token endpoint (each
token is for those; within the grant's, if it was limited). Without ``resource`` the audience
stays the client itself, as before. Unknown or malformed indicators are ``invalid_target``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from authlib.oauth2 import OAuth2Error

from taiji.platform.db import db

from . import settings
from .models import OAuthClient
from .scopes import printable

MAX_LENGTH = 2000


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown, or not allowed for this grant."""

    error = "invalid_target"
    status_code = 400


def problem(uri: str) -> str | None:
    """Why ``uri`` is not a usable resource indicator, or None."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an absolute http(s) URI"
    if "#" in uri:
        return "must not contain a fragment"
    if len(uri) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    return None


def _known(uris: list[str]) -> set[str]:
    found = set(db.session.execute(
        sa.select(OAuthClient.resource).where(OAuthClient.resource.in_(uris), OAuthClient.enabled.is_(True))
    ).scalars())
    if settings.api_resource() in uris:
        found.add(settings.api_resource())
    return found


def requested(payload) -> list[str]:
    """The ``resource`` parameters of a request, in order, each once."""
    return list(dict.fromkeys(payload.datalist.get("resource", [])))


def check(uris: list[str]) -> list[str]:
    """Refuse malformed and unregistered indicators; returns them unchanged."""
    for uri in uris:
        why = problem(uri)
        if why:
            raise InvalidTargetError(f"The resource '{printable(uri)}' {why}.")
    known = _known(uris) if uris else set()
    unknown = [u for u in uris if u not in known]
    if unknown:
        raise InvalidTargetError(f"No resource server is registered for {printable(', '.join(unknown))}.")
    return uris


def for_token(asked: list[str], granted: list[str] | None) -> list[str]:
    """The audience of a new token: what the token request asks, within what the grant allows."""
    check(asked)
    if granted and not set(asked) <= set(granted):
        outside = [u for u in asked if u not in granted]
        raise InvalidTargetError(f"The authorization does not cover {printable(', '.join(outside))}.")
    return asked or list(granted or [])
