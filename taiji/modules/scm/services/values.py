"""Typed values: checked and converted by type, stored as JSON text, secrets sealed.

The API carries typed JSON values (``8``, ``true``, ``{"a": 1}``, ``"text"``); a text that spells
the type is accepted too (``"8"`` for an int, ``"true"`` for a bool, JSON text for a json key), so
that the command line and imports of ``.properties`` files can set them.
"""

from __future__ import annotations

import json
import math

from flask import current_app

from taiji.platform import crypto
from taiji.platform.errors import field_error, msg

PURPOSE = "scm.config.value"
MASK = "******"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _limit(kind: str) -> int:
    config = current_app.config
    if kind == "file":
        return int(config.get("SCM_MAX_FILE_BYTES", 262144))
    return int(config.get("SCM_MAX_VALUE_BYTES", 65536))


def coerce(kind: str, value, field: str = "value"):
    """``value`` as a value of type ``kind``, or a 422 naming ``field``."""
    if value is None:
        raise field_error(field, msg("Give a value."))
    if kind in ("string", "file"):
        if not isinstance(value, str):
            raise field_error(field, msg("A %(type)s value is a text.", type=kind))
        if "\x00" in value:
            raise field_error(field, msg("Must not contain the NUL character."))
        result = value
    elif kind == "int":
        result = _int(value, field)
    elif kind == "float":
        result = _float(value, field)
    elif kind == "bool":
        result = _bool(value, field)
    else:
        result = _json(value, field)
    size = len(encode(result).encode()) if kind not in ("string", "file") else len(result.encode())
    if size > _limit(kind):
        raise field_error(field, msg("The value is %(size)s bytes; a %(type)s value holds at most %(limit)s.",
                                     size=size, type=kind, limit=_limit(kind)))
    return result


def _int(value, field):
    if isinstance(value, bool):
        raise field_error(field, msg("An int value is a whole number."))
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value) < 40:
        result = int(value.strip())
    else:
        raise field_error(field, msg("An int value is a whole number."))
    if not -(2**63) <= result < 2**63:
        raise field_error(field, msg("An int value fits in 64 bits."))
    return result


def _float(value, field):
    if isinstance(value, bool):
        raise field_error(field, msg("A float value is a number."))
    try:
        result = float(value) if isinstance(value, (int, float, str)) else None
    except ValueError:
        result = None
    if result is None or not math.isfinite(result):
        raise field_error(field, msg("A float value is a finite number."))
    return result


def _bool(value, field):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise field_error(field, msg("A bool value is true or false."))


def _json(value, field):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as error:
            raise field_error(field, msg("Not valid JSON: %(error)s", error=str(error)[:200])) from None
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise field_error(field, msg("Not valid JSON.")) from None
    return value


def encode(value) -> str:
    """The stored text of a typed value (JSON)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False, separators=(",", ":"))


def decode(text: str):
    return json.loads(text)


def seal(text: str) -> str:
    return crypto.seal(text, PURPOSE)


def unseal(sealed: str) -> str:
    return crypto.unseal(sealed, PURPOSE).decode()


def reseal(sealed: str) -> str:
    return crypto.reseal(sealed, PURPOSE)


def stored(value, secret: bool) -> tuple[str | None, str | None]:
    """(value column, sealed column) for a typed value."""
    text = encode(value)
    return (None, seal(text)) if secret else (text, None)


def plain(value_text: str | None, sealed: str | None):
    """The typed value of stored columns (a secret unsealed)."""
    return decode(unseal(sealed) if sealed is not None else value_text)
