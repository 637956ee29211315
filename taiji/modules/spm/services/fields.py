"""Validation of the catalog's input fields, shared by products, components and imports.

Each check raises a 422 naming the field, so the API and the import report say which
value is wrong and why.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from taiji.platform.errors import field_error, msg

NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$")
LIFECYCLES = ("experimental", "production", "deprecated")
KINDS = ("service", "frontend", "library", "job", "database")
API_TYPES = ("rest", "grpc", "event")
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
RANGE_PATTERN = re.compile(r"^[0-9A-Za-z.*xX^~<>=!|, +-]{1,100}$")


def name(value: str, field: str = "name") -> str:
    value = (value or "").strip().lower()
    if not NAME_PATTERN.match(value):
        raise field_error(
            field,
            msg("Use 1-63 lowercase letters, digits, dots, dashes or underscores, starting and ending "
                "with a letter or digit."),
        )
    return value


def title(value: str, field: str = "name", limit: int = 100) -> str:
    value = (value or "").strip()
    if not value:
        raise field_error(field, msg("This cannot be empty."))
    if len(value) > limit:
        raise field_error(field, msg("Use at most %(limit)s characters.", limit=limit))
    return value


def choice(value: str, allowed, field: str) -> str:
    value = (value or "").strip().lower()
    if value not in allowed:
        raise field_error(field, msg("'%(value)s' is not one of %(allowed)s.",
                                     value=value, allowed=', '.join(allowed)))
    return value


def labels(values, field: str) -> list[str]:
    """Tags or owners: trimmed, lowercase, unique, in the order given."""
    out: list[str] = []
    for raw in values or []:
        value = str(raw).strip().lower()
        if not value:
            continue
        if "|" in value or len(value) > 100:
            raise field_error(field, msg("'%(value)s' is not allowed: at most 100 characters, no '|'.",
                                         value=value[:40]))
        if value not in out:
            out.append(value)
    if len(out) > 30:
        raise field_error(field, msg("At most 30 entries."))
    return out


def semver(value: str, field: str = "version") -> re.Match:
    match = SEMVER.match((value or "").strip())
    if not match:
        raise field_error(field, msg("'%(value)s' is not a semantic version such as 1.4.0 or 2.0.0-rc.1.",
                                     value=value))
    return match


def version_range(value: str | None, field: str = "version_range") -> str:
    value = (value or "*").strip()
    if not RANGE_PATTERN.match(value):
        raise field_error(field, msg("'%(value)s' is not a version range such as '>=1.2,<2' or '^1.4'.",
                                     value=value[:40]))
    return value


def purl(value: str | None, field: str = "purl") -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        PackageURL.from_string(value)
    except ValueError as exc:
        raise field_error(field, msg("Not a package URL: %(exc)s.", exc=exc)) from exc
    return value


def url(value: str | None, field: str = "repository_url") -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not re.match(r"^(https?|ssh|git)://\S+$|^git@\S+:\S+$", value) or len(value) > 500:
        raise field_error(field, msg("Use an http(s), ssh or git URL of at most 500 characters."))
    return value
