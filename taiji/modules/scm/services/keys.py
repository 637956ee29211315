"""Access keys: a client credential reading every component's configuration of one environment of
the tenant. The token ``tjc_<id>_<secret>`` is shown once; its SHA-256 is kept."""

from __future__ import annotations

import hashlib
import re
import secrets

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import NotFound, field_error, msg

from ..models import AccessKey
from . import names
from .history import actor_name

PREFIX = "tjc_"
_TOKEN = re.compile(r"^tjc_([0-9]{1,19})_([A-Za-z0-9_-]{20,100})$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_access_key(tenant, actor, environment, description="") -> tuple[AccessKey, str]:
    environment = names.environment(environment)
    description = (description or "").strip()
    if len(description) > 255 or "\x00" in description:
        raise field_error("description", msg("A description is a text of at most 255 characters."))
    key = AccessKey(tenant_id=tenant.id, environment=environment, description=description,
                    token_hash=_hash(secrets.token_hex(16)), created_by=actor_name(actor))
    db.session.add(key)
    db.session.flush()  # the id is part of the token
    token = f"{PREFIX}{key.id}_{secrets.token_urlsafe(32)}"
    key.token_hash = _hash(token)
    db.session.flush()
    audit.record("scm.access_key.created", "config-key", f"{environment}#{key.id}", tenant=tenant,
                 actor=actor, details={"environment": environment, "description": description})
    return key, token


def list_access_keys(tenant, *, include_revoked: bool = False) -> list[AccessKey]:
    stmt = sa.select(AccessKey).where(AccessKey.tenant_id == tenant.id)
    if not include_revoked:
        stmt = stmt.where(AccessKey.revoked_at.is_(None))
    return list(db.session.execute(stmt.order_by(AccessKey.environment, AccessKey.id)).scalars())


def get_access_key(tenant, key_id: int) -> AccessKey:
    key = db.session.execute(
        sa.select(AccessKey).where(AccessKey.tenant_id == tenant.id, AccessKey.id == key_id)
    ).scalar_one_or_none()
    if key is None or key.revoked_at is not None:
        raise NotFound(msg("No access key #%(id)s.", id=key_id))
    return key


def revoke_access_key(tenant, actor, key: AccessKey) -> None:
    if key.revoked_at is not None:
        return
    key.revoked_at = utcnow()
    db.session.flush()
    audit.record("scm.access_key.revoked", "config-key", f"{key.environment}#{key.id}", tenant=tenant,
                 actor=actor, details={"environment": key.environment})


def authenticate_access_key(token) -> AccessKey | None:
    """The active key ``token`` is, or None (its ``tenant_id`` and ``environment`` say what it reads)."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        return None
    key_id = int(_TOKEN.match(token).group(1))
    if key_id >= 2**63:
        return None
    key = db.session.execute(
        sa.select(AccessKey).where(AccessKey.id == key_id, AccessKey.revoked_at.is_(None))
    ).scalar_one_or_none()
    if key is None or not secrets.compare_digest(key.token_hash, _hash(token)):
        return None
    return key
