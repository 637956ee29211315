"""``gray`` and ``formats`` (the pure modules beside this package) as the services use them: their
errors become 422 problems naming the field."""

from __future__ import annotations

from functools import lru_cache

from taiji.platform.errors import field_error, msg

from .. import formats, gray

FORMATS = formats.FORMATS
IMPORT_FORMATS = formats.LOADABLE


@lru_cache(maxsize=1024)
def _parsed(text: str) -> gray.Selector:
    return gray.parse_selector(text)


def selector(text, field: str = "selector") -> gray.Selector:
    """A parsed label selector (``zone=bj,tier in (gold,silver)``), or a 422 naming ``field``."""
    if not isinstance(text, str) or not text.strip():
        raise field_error(field, msg("Give a label selector such as zone=bj or tier in (gold,silver)."))
    try:
        return _parsed(text.strip())
    except gray.SelectorError as error:
        raise field_error(field, msg("Malformed label selector: %(error)s", error=str(error)[:200])) from None


def labels(text, field: str = "labels") -> dict:
    """An instance's labels from ``k=v,k2=v2`` (or a dict of them), or a 422 naming ``field``."""
    if isinstance(text, dict):
        text = gray.format_labels({str(k): str(v) for k, v in text.items()}) if text else ""
    try:
        return gray.parse_labels(text)
    except gray.SelectorError as error:
        raise field_error(field, msg("Malformed labels: %(error)s", error=str(error)[:200])) from None


def percentage(value, field: str = "gray.percentage") -> float:
    try:
        return gray.check_percentage(value)
    except gray.SelectorError as error:
        raise field_error(field, msg("Bad percentage: %(error)s", error=str(error)[:200])) from None


def in_gray(component_id: int, environment: str, instance: str, share: float) -> bool:
    """Whether ``instance`` falls in the first ``share`` % (stable sha256 bucket of the component's id,
    the environment and the instance id)."""
    return gray.in_percentage(gray.bucket(component_id, environment, instance), share)


def dump(values: dict, fmt: str) -> str:
    return formats.dump(values, fmt)


def load(text: str, fmt: str) -> dict:
    """Parsed values; ``ValueError`` (``formats.FormatError``) with the line on malformed input."""
    return formats.load(text, fmt)


def render_template(text: str, values: dict) -> tuple[str, list[str]]:
    return formats.render_template(text, values)
