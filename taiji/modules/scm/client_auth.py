"""Who reads configuration: an access key of one environment, or a person's (or OAuth client's)
token holding ``scm:config:read``.

Clients send the access key (``tjc_<id>_<secret>``) the way their tools can: as the password of
HTTP Basic (any user name: a Spring Boot client's ``spring.cloud.config.password``), as
``X-Config-Token`` (``spring.cloud.config.token``), or as ``Authorization: Bearer``. Anything else
in Basic or Bearer is a personal or OAuth token, authorized by the kernel's protocol helper
(``taiji.platform.protocol_auth``) exactly as git and the package index are.

Refusals follow that helper's order for both kinds: no credentials, or ones that are not valid
(unknown, revoked) -> 401 with ``WWW-Authenticate: Basic realm="Taiji config"``; an unknown tenant,
another tenant's key, or a key of another environment -> 404, so that nothing tells what exists
elsewhere; a suspended tenant -> 403; a token without ``scm:config:read`` -> 403.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from flask import request

from taiji.platform import auth, protocol_auth, tenancy
from taiji.platform.errors import msg

from . import client_cache, services
from .permissions import Perm

KEY_PREFIX = "tjc_"
TOKEN_HEADER = "X-Config-Token"  # noqa: S105 - a header name

PROTOCOL = protocol_auth.Protocol(
    realm="Taiji config",
    bad_credentials=msg("The access key or token is not valid (it may have been revoked)."),
    anonymous=msg("Send a configuration access key (as the Basic password, X-Config-Token or Bearer) "
                  "or a token with scm:config:read."),
    not_found=msg("Not found."),
    forbidden=msg("You need the permission %(permission)s to read configuration."),
)


@dataclass(frozen=True)
class Reader:
    """A caller allowed to read the URL's tenant's configuration."""

    tenant_values: tuple  # tenancy.values_of(tenant): attached to a request's session without a query
    environment: str | None  # the one environment an access key reads; None: any (a token)
    who: str  # whose waiting clients count together: "scm-key:<id>" or "user:<id>"

    @property
    def tenant_id(self) -> int:
        return self.tenant_values[0]

    @property
    def tenant_slug(self) -> str:
        return self.tenant_values[1]

    def tenant(self):
        return tenancy.attach(self.tenant_values)


@dataclass(frozen=True)
class _Key:
    id: int
    environment: str
    tenant_values: tuple


def _basic_password() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None  # the protocol helper refuses it with its words
    return decoded.partition(":")[2].strip() or None


def _access_key_token() -> str | None:
    """The access key the request carries, if it carries one (else a token, or nothing)."""
    header = request.headers.get(TOKEN_HEADER)
    if header is not None:
        return header.strip()
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip()
        return token if token.startswith(KEY_PREFIX) else None
    password = _basic_password()
    return password if password and password.startswith(KEY_PREFIX) else None


def _load_key(token: str) -> _Key | None:
    key = services.authenticate_access_key(token)
    if key is None:
        return None
    found = tenancy.tenants_by_ids([key.tenant_id])
    if not found:
        return None
    return _Key(key.id, key.environment, tenancy.values_of(found[0]))


def _refuse(status: int, template, **names):
    challenge = PROTOCOL.challenge if status == 401 else None
    raise protocol_auth.Refusal(status, PROTOCOL.say(template, **names), challenge)


def reader(tenant_slug: str, environment: str | None) -> Reader:
    """The caller of a client endpoint of ``tenant_slug`` reading ``environment`` (None: one or
    more environments the view checks with ``may_read``), or ``protocol_auth.Refusal``."""
    token = _access_key_token()
    if token is not None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        key = client_cache.cached(("key", digest), client_cache.KEY_SLOTS, lambda: _load_key(token))
        if key is None:
            _refuse(401, PROTOCOL.bad_credentials)
        elsewhere = environment is not None and key.environment != environment
        if key.tenant_values[1] != tenant_slug or elsewhere:
            _refuse(404, PROTOCOL.not_found)
        auth.set_principal(None)  # a key is nobody: the kernel must not look it up as a person's token
        if key.tenant_values[3] != tenancy.TenantStatus.ACTIVE:
            _refuse(403, PROTOCOL.suspended, tenant=tenant_slug)
        services.note_key_use(key.id, digest)
        return Reader(key.tenant_values, key.environment, f"scm-key:{key.id}")
    granted = protocol_auth.authorize(PROTOCOL, Perm.CONFIG_READ, writing=False, tenant_slug=tenant_slug)
    return Reader(tenancy.values_of(granted.tenant), None, f"user:{granted.principal.user_id}")


def may_read(caller: Reader, environment: str) -> bool:
    return caller.environment is None or caller.environment == environment
