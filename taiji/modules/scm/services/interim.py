"""Label selectors, stable gray buckets and the four output formats, as SCM's services use them.

The real implementations are ``taiji.modules.scm.gray`` and ``taiji.modules.scm.formats`` (pure
modules written beside this package); until they are present this file answers with small
equivalents of its own, so the services work either way. Everything here raises ``Invalid``
(a 422 with the field) on bad input.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex

from taiji.platform.errors import field_error, msg

try:  # pragma: no cover - whichever is present
    from .. import gray as _gray
except ImportError:  # pragma: no cover
    _gray = None
try:  # pragma: no cover
    from .. import formats as _formats
except ImportError:  # pragma: no cover
    _formats = None

FORMATS = ("env", "json", "yaml", "properties")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}$")
_VALUE = re.compile(r"^[A-Za-z0-9_.\-]{0,63}$")
_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9][A-Za-z0-9_.\-/]*)\s*(?:(=|==|!=)\s*([A-Za-z0-9_.\-]*)"
                   r"|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


class _Selector:
    def __init__(self, terms: list, text: str):
        self.terms, self.text = terms, text

    def matches(self, labels: dict) -> bool:
        for negated, name, op, values in self.terms:
            have = name in labels
            if op is None:
                if have == negated:
                    return False
            elif (labels.get(name) in values) != (op == "="):
                return False
        return True


def _split_terms(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _parse_selector(text: str):
    terms = []
    for part in _split_terms(text):
        match = _TERM.match(part)
        if not match or (match.group(1) and (match.group(3) or match.group(5))):
            raise ValueError(part.strip() or text)
        negated, name, eq, eq_value, set_op, set_values = match.groups()
        if eq:
            terms.append((False, name, "=" if eq != "!=" else "!=", {eq_value}))
        elif set_op:
            values = {v.strip() for v in set_values.split(",") if v.strip()}
            if not values:
                raise ValueError(part.strip())
            terms.append((False, name, "=" if set_op == "in" else "!=", values))
        else:
            terms.append((bool(negated), name, None, set()))
    return _Selector(terms, text)


def selector(text, field: str = "selector"):
    """A parsed label selector (``zone=bj,tier in (gold,silver)``), or a 422 naming ``field``."""
    if not isinstance(text, str) or not text.strip() or len(text) > 255:
        raise field_error(field, msg("Give a label selector such as zone=bj or tier in (gold,silver)."))
    try:
        if _gray is not None:
            return _gray.parse_selector(text.strip())
        return _parse_selector(text.strip())
    except ValueError as error:
        raise field_error(field, msg("Malformed label selector near '%(part)s'.",
                                     part=str(error)[:80])) from None


def labels(text, field: str = "labels") -> dict:
    """``k=v,k2=v2`` as a dict, or a 422 naming ``field``."""
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        pairs = text.items()
    else:
        if _gray is not None:
            try:
                return dict(_gray.parse_labels(text))
            except ValueError as error:
                raise field_error(field, msg("Malformed labels: %(error)s", error=str(error)[:120])) from None
        pairs = []
        for part in str(text).split(","):
            name, sep, value = part.partition("=")
            pairs.append((name.strip(), value.strip() if sep else None))
    out = {}
    for name, value in pairs:
        if not _LABEL.match(str(name)) or value is None or not _VALUE.match(str(value)):
            raise field_error(field, msg("Labels are written k=v,k2=v2 with names and values of letters, "
                                         "digits, '_', '.' and '-'."))
        out[str(name)] = str(value)
    return out


def bucket(component_id: int, environment: str, instance: str) -> int:
    """A stable number in 0..9999 for an instance of a component in an environment."""
    if _gray is not None:
        return _gray.bucket(component_id, environment, instance)
    digest = hashlib.sha256(f"{component_id}/{environment}/{instance}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def in_percentage(number: int, percentage: float) -> bool:
    if _gray is not None:
        return _gray.in_percentage(number, percentage)
    return number < round(percentage * 100)


def dump(values: dict, fmt: str) -> str:
    if _formats is not None:
        return _formats.dump(values, fmt)
    if fmt == "json":
        return json.dumps(values, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    lines = []
    for name, value in sorted(values.items()):
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if fmt == "env":
            lines.append(f"{re.sub(r'[.-]', '_', name).upper()}={shlex.quote(text)}")
        elif fmt == "properties":
            escaped = text.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")
            lines.append(f"{name}={escaped}")
        else:  # yaml: one flat mapping, each value as a JSON scalar (JSON is YAML)
            lines.append(f"{json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + ("\n" if lines else "")


def load(text: str, fmt: str) -> dict:
    """Parsed values; ``ValueError`` with a message on malformed input."""
    if _formats is not None:
        return _formats.load(text, fmt)
    if fmt == "json":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the document is not an object")
        return data
    if fmt == "properties":
        out = {}
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped[0] in "#!":
                continue
            name, sep, value = stripped.partition("=")
            if not sep:
                raise ValueError(f"line {number}: expected key=value")
            out[name.strip()] = value.strip()
        return out
    raise ValueError(f"format {fmt} is not available yet")


def render_template(text: str, values: dict) -> tuple[str, list[str]]:
    if _formats is not None:
        return _formats.render_template(text, values)
    missing: list[str] = []

    def replace(match):
        if match.group(0).startswith("$$"):
            return match.group(0)[1:]
        name, _, default = match.group(1).partition(":")
        if name in values:
            value = values[name]
            return value if isinstance(value, str) else json.dumps(value)
        if ":" in match.group(1):
            return default
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return re.sub(r"\$?\$\{([^}]*)\}", replace, text), missing
