"""TOTP second factor (RFC 6238) with single-use recovery codes.

Enrolment is two steps: a secret is proposed (kept in the browser's signed session, not in the
database) and becomes the user's only once a code computed from it is typed back.
"""

from __future__ import annotations

import hashlib
import secrets

import pyotp
import segno
import sqlalchemy as sa

from taiji.platform import audit, crypto
from taiji.platform.db import db, utcnow
from taiji.platform.errors import field_error, msg

from .models import RecoveryCode

__all__ = ["RecoveryCode", "disable", "enable", "new_secret", "provisioning_uri", "qr_svg",
           "recovery_codes_left", "reset", "verify"]

ISSUER = "Taiji"
RECOVERY_CODES = 10
# TOTP seeds are secrets at rest: sealed, never stored readable.
_PURPOSE = "iam.mfa.totp"
# One step (30 s) either side: tolerates a phone clock a little off without widening much.
_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(email: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no external request, no script)."""
    return segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#1d273b")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalize(code: str | None) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


def _totp_step(secret: str, code: str) -> int | None:
    """The time step at which ``code`` is valid for ``secret`` (within the window), or None."""
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = int(utcnow().timestamp())
    for offset in range(-_WINDOW, _WINDOW + 1):
        at = now + offset * totp.interval
        if secrets.compare_digest(totp.at(at), code):
            return at // totp.interval
    return None


def _new_recovery_codes(user) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(_normalize(c))) for c in codes)
    return codes


def enable(user, secret: str, code: str) -> list[str]:
    """Confirm enrolment with a code from the authenticator; returns the recovery codes, shown once."""
    step = _totp_step(secret, _normalize(code))
    if step is None:
        raise field_error("code", msg("The code does not match; check the time on your device and try "
                                      "again."))
    user.mfa_secret = crypto.seal(secret, _PURPOSE)
    user.mfa_enabled_at, user.mfa_last_step = utcnow(), step
    codes = _new_recovery_codes(user)
    audit.record("iam.mfa.enabled", "user", user.email)
    db.session.flush()
    return codes


def verify(user, code: str) -> bool:
    """Check a TOTP code (each accepted once) or burn a recovery code."""
    if not user.mfa_enabled:
        return False
    code = _normalize(code)
    step = _totp_step(crypto.unseal(user.mfa_secret, _PURPOSE).decode(), code)
    if step is not None:
        if user.mfa_last_step is not None and step <= user.mfa_last_step:
            return False  # replay of a code already used
        user.mfa_last_step = step
        db.session.flush()
        return True
    row = db.session.execute(
        sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code),
                                      RecoveryCode.used_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        return False
    row.used_at = utcnow()
    audit.record("iam.mfa.recovery_code_used", "user", user.email,
                 details={"left": recovery_codes_left(user) - 1})
    db.session.flush()
    return True


def recovery_codes_left(user) -> int:
    return db.session.execute(
        sa.select(sa.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id,
                                                        RecoveryCode.used_at.is_(None))
    ).scalar_one()


def _clear(user) -> None:
    user.mfa_secret = user.mfa_enabled_at = user.mfa_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def disable(user, code: str) -> None:
    """The user turns MFA off; a current code (or a recovery code) proves it is them."""
    if not verify(user, code):
        raise field_error("code", msg("The code is not right."))
    _clear(user)
    audit.record("iam.mfa.disabled", "user", user.email)
    db.session.flush()


def reset(user) -> None:
    """An administrator removes a user's second factor (lost phone); the user enrols again."""
    if not user.mfa_enabled:
        return
    _clear(user)
    audit.record("iam.mfa.reset", "user", user.email)
    db.session.flush()
