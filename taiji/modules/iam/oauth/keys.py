"""The platform's signing keys: creation, rotation, the key that signs now, and the published JWKS.

Private keys are sealed at rest with ``taiji.platform.crypto`` (keys derived from
``TAIJI_SECRET_KEY``; after changing it, list the old one in ``TAIJI_PREVIOUS_SECRET_KEYS``).

Lifecycle of a key: created and published in JWKS at once; signs from ``activates_at`` (a delay
after creation, so relying parties that cache JWKS learn it first); once a newer key activates it
stays published for the longest token lifetime, so tokens it signed remain verifiable; then it
drops out of JWKS.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, g, has_request_context
from joserfc.jwk import KeySet, RSAKey

from taiji.platform import crypto
from taiji.platform.crypto import InvalidToken
from taiji.platform.db import db, utcnow

from . import settings
from .models import SigningKey

ALG = "RS256"
_CACHE_SECONDS = 10
_lock = threading.Lock()


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    public_jwk: dict
    private_key_encrypted: str
    activates_at: dt.datetime
    retired_at: dt.datetime | None


_PURPOSE = "iam.oauth.signing-key"


def _state() -> dict:
    return current_app.extensions.setdefault("taiji_oauth_keys", {"rows": None, "loaded": 0.0, "private": {}})


def invalidate_cache() -> None:
    state = _state()
    state["rows"], state["loaded"] = None, 0.0


def create_key(activates_at: dt.datetime | None = None) -> SigningKey:
    """Generate a key pair; it is published at once and signs from ``activates_at`` (default now)."""
    key = RSAKey.generate_key(2048, parameters={"alg": ALG, "use": "sig"}, private=True, auto_kid=True)
    row = SigningKey(
        kid=key.kid,
        alg=ALG,
        public_jwk=key.as_dict(private=False),
        private_key_encrypted=crypto.seal(key.as_pem(private=True), _PURPOSE),
        activates_at=activates_at or utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    invalidate_cache()
    return row


def rotate(delay: int | None = None) -> SigningKey:
    """Publish a new key that starts signing after ``delay`` seconds (the configured default if None)."""
    if delay is None:
        delay = settings.seconds("OAUTH_KEY_ACTIVATION_DELAY")
    now = utcnow()
    _prune_retired(now)
    return create_key(now + dt.timedelta(seconds=max(0, delay)))


def retention() -> dt.timedelta:
    """How long a superseded key stays published: the longest lifetime of a token it signed."""
    return dt.timedelta(
        seconds=max(settings.seconds("OAUTH_ACCESS_TOKEN_TTL"), settings.seconds("OAUTH_ID_TOKEN_TTL"))
    )


def _load() -> list[KeyInfo]:
    state = _state()
    if state["rows"] is not None and time.monotonic() - state["loaded"] < _CACHE_SECONDS:
        return state["rows"]
    rows = db.session.execute(
        sa.select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.activates_at, SigningKey.id)
    ).scalars()
    infos = [
        KeyInfo(r.kid, r.public_jwk, r.private_key_encrypted, r.activates_at, r.retired_at) for r in rows
    ]
    state["rows"], state["loaded"] = infos, time.monotonic()
    return infos


def _classify(infos: list[KeyInfo], now: dt.datetime) -> tuple[KeyInfo | None, list[KeyInfo]]:
    """(the signing key, the published keys) at ``now``."""
    active = [k for k in infos if k.activates_at <= now]
    signer = active[-1] if active else None
    keep = retention()
    published = []
    for index, info in enumerate(active):
        superseded_at = active[index + 1].activates_at if index + 1 < len(active) else None
        if superseded_at is None or now < superseded_at + keep:
            published.append(info)
    published.extend(k for k in infos if k.activates_at > now)
    return signer, published


def signing_key() -> RSAKey:
    """The private key that signs now; the first one is created on first use.

    Within one request the same key signs everything (id_token and access token agree on ``kid``).
    """
    if has_request_context() and "oauth_signing_key" in g:
        return g.oauth_signing_key
    key = _signing_key()
    if has_request_context():
        g.oauth_signing_key = key
    return key


def _signing_key() -> RSAKey:
    signer, _ = _classify(_load(), utcnow())
    if signer is None:
        with _lock:
            signer, _ = _classify(_load(), utcnow())
            if signer is None:
                create_key()
                signer, _ = _classify(_load(), utcnow())
    cache = _state()["private"]
    if signer.kid not in cache:
        try:
            pem = crypto.unseal(signer.private_key_encrypted, _PURPOSE)
        except InvalidToken as exc:
            raise RuntimeError(
                "The OAuth signing key cannot be decrypted: SECRET_KEY changed since it was created. "
                "Run `taiji keys rotate --now` to create a new one."
            ) from exc
        cache[signer.kid] = RSAKey.import_key(pem, parameters={"kid": signer.kid, "alg": ALG, "use": "sig"})
    return cache[signer.kid]


def public_jwks() -> dict:
    """The JWKS document: every key that signs, will sign, or signed a token still alive."""
    infos = _load()
    if not infos:
        signing_key()
        infos = _load()
    _, published = _classify(infos, utcnow())
    return {"keys": [dict(k.public_jwk) for k in published]}


def verification_keys() -> KeySet:
    """The published keys as a KeySet, built once per set of keys (RSA imports cost CPU)."""
    jwks = public_jwks()
    kids = tuple(k["kid"] for k in jwks["keys"])
    state = _state()
    cached = state.get("keyset")
    if cached is None or cached[0] != kids:
        cached = state["keyset"] = (kids, KeySet.import_key_set(jwks))
    return cached[1]


def _prune_retired(now: dt.datetime) -> None:
    """Mark keys that left JWKS as retired; their private halves are erased."""
    infos = _load()
    _, published = _classify(infos, now)
    gone = {k.kid for k in infos} - {k.kid for k in published}
    if gone:
        db.session.execute(
            sa.update(SigningKey)
            .where(SigningKey.kid.in_(gone))
            .values(retired_at=now, private_key_encrypted="")
        )
