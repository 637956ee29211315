"""Secrets at rest (signing keys, bind passwords, TOTP seeds, later kubeconfigs and SSH keys).

Each value is sealed with Fernet under a key derived by HKDF from ``TAIJI_SECRET_KEY`` and the
value's *purpose*, so one leaked derived key opens one kind of secret only. Rotation: set the
new ``TAIJI_SECRET_KEY`` and list the old one in ``TAIJI_PREVIOUS_SECRET_KEYS``; values sealed
under an old key still open, and ``reseal`` moves one to the current key.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

__all__ = ["InvalidToken", "reseal", "seal", "unseal"]


@lru_cache(maxsize=64)
def _derive(secret: str, purpose: str) -> Fernet:
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=b"taiji-secrets-at-rest", info=purpose.encode())
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret.encode())))


def _keys(purpose: str) -> MultiFernet:
    secrets = [current_app.config["SECRET_KEY"], *current_app.config.get("PREVIOUS_SECRET_KEYS", ())]
    return MultiFernet([_derive(secret, purpose) for secret in secrets])


def seal(value: str | bytes, purpose: str) -> str:
    """Encrypt ``value`` for storage; ``purpose`` names the kind of secret (e.g. "iam.mfa.totp")."""
    data = value.encode() if isinstance(value, str) else value
    return _keys(purpose).encrypt(data).decode()


def unseal(token: str, purpose: str) -> bytes:
    """Decrypt a sealed value; raises ``InvalidToken`` if no current or previous key opens it."""
    return _keys(purpose).decrypt(token.encode())


def reseal(token: str, purpose: str) -> str:
    """The same value sealed under the current key (after a key rotation)."""
    return _keys(purpose).rotate(token.encode()).decode()
