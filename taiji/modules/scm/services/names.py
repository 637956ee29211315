"""The names SCM accepts: environments (profiles), namespaces, keys, layers and types."""

from __future__ import annotations

import re

from taiji.platform.errors import field_error, msg

from ..models import LAYERS, TYPES

ENVIRONMENT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
NAMESPACE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
DEFAULT_NAMESPACE = "application"


def environment(value, field: str = "environment") -> str:
    text = value if isinstance(value, str) else ""
    if not ENVIRONMENT.match(text):
        raise field_error(field, msg("An environment is a profile name of lower-case letters, digits and "
                                     "dashes (at most 32), such as dev or prod."))
    return text


def namespace(value, field: str = "namespace") -> str:
    text = DEFAULT_NAMESPACE if value is None or value == "" else value
    if not isinstance(text, str) or not NAMESPACE.match(text):
        raise field_error(field, msg("A namespace is a name of lower-case letters, digits and dashes "
                                     "(at most 63), such as application or db."))
    return text


def key(value, field: str = "key") -> str:
    if not isinstance(value, str) or not KEY.match(value):
        raise field_error(field, msg("A key is letters, digits, '_', '.' and '-' (at most 200), and does "
                                     "not start with '.' or '-'."))
    return value


def layer(value, field: str = "layer") -> str:
    text = value or "environment"
    if text not in LAYERS:
        raise field_error(field, msg("The layer is one of %(layers)s.", layers=", ".join(LAYERS)))
    return text


def value_type(value, field: str = "type") -> str:
    text = value or "string"
    if text not in TYPES:
        raise field_error(field, msg("The type is one of %(types)s.", types=", ".join(TYPES)))
    return text
