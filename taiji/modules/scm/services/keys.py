"""Access keys: a client credential reading every component's configuration of one environment of
the tenant. The token ``tjc_<id>_<secret>`` is shown once; its SHA-256 is kept."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
import threading
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from taiji.platform import audit, authcache, readcache
from taiji.platform.db import after_commit, db, utcnow
from taiji.platform.errors import NotFound, field_error, msg

from ..models import AccessKey
from . import names
from .history import actor_name

PREFIX = "tjc_"
_TOKEN = re.compile(r"^tjc_([0-9]{1,19})_([A-Za-z0-9_-]{20,100})$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A key's last use is written at most once a minute per process: a fleet polling with one key must
# not turn every configuration read into a write. The write is a bookkeeping one (``UNCHANGED`` of
# the auth and read caches): it does not mark the key table changed, so no process drops its cached
# keys or answers for it (the list of keys shows it once its cached answer lapses).
USE_RECORD_SECONDS = 60
_recorded: dict[bytes, float] = {}  # by the token's digest: a key id may come back in a new database
_recorded_lock = threading.Lock()


def note_key_use(key_id: int, digest: bytes) -> None:
    """Record, after the request's work commits, that the key ``key_id`` (whose token hashes to
    ``digest``) was used now: at most once a minute per process; the stored time only moves forward."""
    moment = time.monotonic()
    with _recorded_lock:
        last = _recorded.get(digest)
        if last is not None and moment - last < USE_RECORD_SECONDS:
            return
        if len(_recorded) > 100_000:
            _recorded.clear()
        _recorded[digest] = moment
    after_commit(functools.partial(_record_key_use, key_id, utcnow()))


def _record_key_use(key_id: int, now: dt.datetime) -> None:
    k = AccessKey
    with Session(db.engine) as session, session.begin():
        stale = sa.or_(k.last_used_at.is_(None), k.last_used_at < now)
        session.execute(sa.update(k).where(k.id == key_id, stale).values(last_used_at=now),
                        execution_options={**authcache.UNCHANGED, **readcache.UNCHANGED})


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
