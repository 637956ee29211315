"""A participant's answer in words, for the console's timeline: the HTTP status with its reason
("409 Conflict"), then what the body says (a problem+json ``title``/``detail``, a JSON ``message``
or ``error``, the first line of a plain text body) or the call's own error (a local step's
exception, a refused or failed connection). The body as recorded stays available to unfold,
pretty-printed when it is JSON. All of it is the participant's text: the templates escape it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http import HTTPStatus

from taiji.platform.tx.protocol import SUMMARY_LIMIT

WORDS_LIMIT = 240  # characters of the body's words on the line; the whole body unfolds below
_MESSAGE_KEYS = ("detail", "message", "error_description", "error", "reason", "description")


@dataclass(frozen=True)
class Answer:
    words: str | None  # "409 Conflict — Not enough stock for order 17"
    raw: str | None  # the body as recorded (JSON indented), to unfold
    cut: bool  # the body was longer than the SUMMARY_LIMIT characters recorded
    limit: int = SUMMARY_LIMIT


def status_words(code: int | None) -> str | None:
    if not code:
        return None
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _shorten(text: str, limit: int = WORDS_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _field_errors(value, path: str = "") -> list[str]:
    """``{"json": {"qty": ["Must be positive."]}}`` -> ["qty: Must be positive."] (webargs' shape)."""
    if isinstance(value, str):
        return [f"{path}: {value}" if path else value]
    if isinstance(value, list):
        return [line for item in value for line in _field_errors(item, path)]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            where = path if key in ("json", "query", "form") else (f"{path}.{key}" if path else str(key))
            found += _field_errors(item, where)
        return found
    return []


def _json_words(body: dict, status: str | None) -> str | None:
    title = body.get("title") if isinstance(body.get("title"), str) else None
    message = next((body[k] for k in _MESSAGE_KEYS if isinstance(body.get(k), str) and body[k].strip()), None)
    if message is None and isinstance(body.get("error"), dict):  # {"error": {"message": ...}}
        inner = body["error"]
        message = next((inner[k] for k in ("message", "detail") if isinstance(inner.get(k), str)), None)
    errors = _field_errors(body.get("errors")) if body.get("errors") else []
    parts = []
    # A title that only repeats the status's reason says nothing more.
    reason = status.split(" ", 1)[-1].lower() if status else None
    if title and title.strip() and title.strip().lower() != reason:
        parts.append(title.strip())
    if message:
        parts.append(message.strip())
    listed = "; ".join(errors[:3]) + (" …" if len(errors) > 3 else "") if errors else None
    if not parts:
        return listed
    return ": ".join(parts) + (f" ({listed})" if listed else "")


_JSON_FIELD = re.compile(r'"(detail|message|title|error)"\s*:\s*("(?:[^"\\]|\\.)*")')


def _cut_json_words(body: str) -> str | None:
    """The words of a JSON body cut short when recorded (no longer parseable): its first message
    field's string, if that string was kept whole."""
    found = {}
    for key, quoted in _JSON_FIELD.findall(body):
        try:
            found.setdefault(key, json.loads(quoted))
        except ValueError:
            continue
    return next((found[k] for k in ("detail", "message", "error", "title") if found.get(k)), None)


def _text_words(body: str) -> str | None:
    text = body.strip()
    if not text or text.startswith("<"):  # an HTML page: nothing to read on one line
        return None
    return text.splitlines()[0]


def _local_error(error: str) -> str:
    # A local step's refusal is recorded as "refused: <its message>"; the result badge says FAIL.
    return error[len("refused: "):] if error.startswith("refused: ") else error


def describe(status_code: int | None, body: str | None, error: str | None = None) -> Answer:
    """The answer of one call in words, with its body to unfold."""
    status = status_words(status_code)
    said, raw = None, None
    if body:
        raw = body
        parsed = None
        if body[:1] in "{[":
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        if isinstance(parsed, dict):
            said = _json_words(parsed, status)
            raw = json.dumps(parsed, indent=2, ensure_ascii=False, sort_keys=False)
        elif parsed is None:
            said = _cut_json_words(body) if body[:1] in "{[" else _text_words(body)
    if error:
        said = _local_error(error) if said is None else f"{_local_error(error)} ({said})"
    parts = [part for part in (status, _shorten(said) if said else None) if part]
    cut = bool(body) and len(body) >= SUMMARY_LIMIT and body.endswith("…")
    return Answer(" — ".join(parts) or None, raw, cut)


def describe_call(call) -> Answer:
    """``describe`` for a row of the timeline (a tx Call) or a notification's attempt."""
    return describe(getattr(call, "status_code", None), getattr(call, "response_summary", None),
                    getattr(call, "error", None))


_LAST_ERROR = re.compile(r"^(?P<head>.*?: (?:OK|FAIL|UNKNOWN)) \((?P<detail>[\[{].*)\)$", re.S)


def last_error_words(text: str | None) -> str | None:
    """A transaction's ``last_error`` ("charge action: FAIL ({...})") with the answer in it in words."""
    if not text:
        return text
    match = _LAST_ERROR.match(text)
    if match is None:
        return text
    words = describe(None, match["detail"]).words
    return f"{match['head']} — {words}" if words else match["head"]
