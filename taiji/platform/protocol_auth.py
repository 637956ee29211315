"""Authentication and tenancy for wire-protocol endpoints (git, PyPI, generic files; next the image
registry, the config server and trace ingest).

Their clients cannot follow a sign-in redirect or hold a console session: they send a token, as
HTTP Basic (any user name, ``token`` or ``__token__`` by custom, the token as the password) or as
``Authorization: Bearer``, and expect a ``WWW-Authenticate`` challenge when they sent none. Their
URLs take the tenant as ``<tenant_slug>``, not ``<tenant>``, so that the kernel's members-only gate
(which answers an anonymous caller with a sign-in page) does not run first: a public resource is
readable without signing in. ``authorize`` applies the same rules as that gate, in the same order,
for every such endpoint:

- credentials that were sent and are not valid: 401 with the challenge;
- no credentials, and the resource is not publicly readable: 401 with the challenge, the same
  whether or not the tenant or the resource exists;
- an unknown tenant or resource, or a caller who is not a member of the tenant (and the resource
  is not publicly readable): 404, so that another tenant's resources look like none at all;
- a suspended tenant: 403 (a platform administrator passes); its public resources are not served;
- a member without ``permission`` at the tenant (a role or a token's scopes lacking it): 403.

A view marks itself with ``auth.protocol(...)`` (naming the permissions it checks) and calls
``authorize``; a refusal is raised as ``Refusal`` and the module renders it in its protocol's
format (plain text for git, problem+json for PyPI), with ``refusal.headers`` on the answer.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import g, request, session
from flask_babel import gettext

from taiji.platform import auth, tenancy
from taiji.platform.errors import Msg, msg


class Refusal(Exception):
    """The request may not proceed: answer ``status`` with ``detail`` and ``headers``."""

    def __init__(self, status: int, detail: str, challenge: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = {"WWW-Authenticate": challenge} if challenge else {}


@dataclass(frozen=True)
class Granted:
    """Who is calling (None: anonymous reading a public resource), at which tenant, on what."""

    principal: auth.Principal | None
    tenant: object
    resource: object
    public_read: bool
    access: auth.Access | None

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.access.roles) if self.access is not None else ()


# The kernel's words for a protocol's refusals (a protocol may word its own).
BAD_CREDENTIALS = msg("The token is not valid (use a personal access token as the password).")
ANONYMOUS = msg("Sign in with a token to use this resource.")
SESSION_WRITE = msg("Writing needs a token (Bearer, or Basic with the token as password).")
NOT_FOUND = msg("Not found.")
SUSPENDED = msg("Tenant '%(tenant)s' is suspended.")
FORBIDDEN = msg("You need the permission %(permission)s for this.")


@dataclass(frozen=True)
class Protocol:
    """How one protocol speaks: its challenge and the words of its refusals.

    The words are marked with ``msg`` and read in the request's language (a token's request: its
    Accept-Language, else English), like a service's refusal."""

    realm: str = "taiji"
    scheme: str = "Basic"  # the challenge's scheme: what the protocol's clients answer
    # The console's session may read (a browser following a download link), never write: these
    # routes carry no CSRF token.
    session_reads: bool = False
    bad_credentials: Msg = BAD_CREDENTIALS
    anonymous: Msg = ANONYMOUS
    session_write: Msg = SESSION_WRITE
    not_found: Msg = NOT_FOUND
    # Messages may name the URL's arguments (%(tenant_slug)s, %(repo_name)s); %(tenant)s and
    # %(permission)s are filled in where they apply.
    suspended: Msg = SUSPENDED
    forbidden: Msg = FORBIDDEN

    @property
    def challenge(self) -> str:
        return f'{self.scheme} realm="{self.realm}"'

    def say(self, template: Msg | str, **names) -> str:
        """A message in the request's language, its ``%(placeholders)s`` filled from the URL's
        arguments and ``names`` (after translation: a value stays literal); one that names nothing
        known is left as written rather than failing the request."""
        text = gettext(template.msgid) if isinstance(template, Msg) else template
        try:
            return text % _Names({**(request.view_args or {}), **names})
        except (TypeError, ValueError):
            return text


class _Names(dict):
    def __missing__(self, key: str) -> str:
        return "%(" + key + ")s"


def _token() -> tuple[str | None, bool]:
    """(the token the request carries or None, whether an Authorization header was sent that
    carries no usable token: malformed Basic, an empty password, an unknown scheme is ignored)."""
    header = request.headers.get("Authorization", "")
    kind, _, value = header.partition(" ")
    kind = kind.lower()
    if kind == "bearer":
        token = value.strip()
        return (token or None), not token
    if kind != "basic":
        return None, False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None, True
    _user, _, password = decoded.partition(":")  # the user name is not checked: the token is who
    password = password.strip()
    return (password or None), not password


def authenticate(protocol: Protocol, *, writing: bool) -> auth.Principal | None:
    """The caller, from a token (Basic or Bearer) or, for reads where allowed, the console session;
    None when the request carries no credentials. Sent and refused credentials: ``Refusal(401)``."""
    token, malformed = _token()
    if malformed:
        auth.set_principal(None)
        raise Refusal(401, protocol.say(protocol.bad_credentials), protocol.challenge)
    if token is not None:
        principal = auth.bearer_principal(token)
        g.auth_attempted = True
        auth.set_principal(principal)
        if principal is None:
            raise Refusal(401, protocol.say(protocol.bad_credentials), protocol.challenge)
        return principal
    principal = None
    if protocol.session_reads and auth.registry.session_loader is not None:
        principal = auth.registry.session_loader(session)
        if principal is not None and writing:
            auth.set_principal(None)
            raise Refusal(401, protocol.say(protocol.session_write), protocol.challenge)
    auth.set_principal(principal)
    return principal


def authorize(
    protocol: Protocol,
    permission: str,
    *,
    writing: bool,
    tenant=None,
    tenant_slug: str | None = None,
    find: Callable[[object], object | None] | None = None,
    is_public: Callable[[object], bool] | None = None,
) -> Granted:
    """Authenticate the caller and authorize ``permission`` at the tenant, or raise ``Refusal``.

    The tenant is given, or named by ``tenant_slug`` (default: the URL's ``tenant_slug``
    argument). ``find(tenant)`` looks the resource up (None: it does not exist); without it the
    tenant is the resource. ``is_public(resource)`` says whether anyone may read it; ``writing``
    requests never read publicly.
    """
    caller = authenticate(protocol, writing=writing)
    if tenant is None:
        slug = tenant_slug if tenant_slug is not None else (request.view_args or {}).get("tenant_slug", "")
        tenant = tenancy.tenant_by_slug(slug) if re.fullmatch(tenancy.SLUG_PATTERN, slug or "") else None
    resource = (find(tenant) if find is not None else tenant) if tenant is not None else None
    public_read = (
        not writing
        and resource is not None
        and is_public is not None
        and bool(is_public(resource))
        and tenant.is_active
    )
    if caller is None:
        if public_read:
            return Granted(None, tenant, resource, True, None)
        # Before anything about the tenant is told: the same answer whether it exists or not.
        raise Refusal(401, protocol.say(protocol.anonymous), protocol.challenge)
    standing = auth.access(tenant) if tenant is not None else None
    member = standing is not None and (standing.member or caller.is_admin)
    if resource is None or (not member and not public_read):
        raise Refusal(404, protocol.say(protocol.not_found))
    g.tenant = tenant
    if public_read and not member:
        return Granted(caller, tenant, resource, True, standing)
    if not tenant.is_active and not caller.is_admin:
        raise Refusal(403, protocol.say(protocol.suspended, tenant=tenant.slug))
    if not public_read and not auth.can(permission, tenant):
        raise Refusal(403, protocol.say(protocol.forbidden, permission=permission))
    return Granted(caller, tenant, resource, public_read, standing)
