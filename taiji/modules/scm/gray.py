"""Choosing the instances of a gray release: label selectors and stable percentage buckets. Pure.

A selector is written as Kubernetes writes label selectors; requirements joined by commas must all
hold (AND):

    zone=bj            the label zone is bj            (``==`` is the same)
    zone!=bj           zone is not bj, or is not set
    tier in (gold,silver)      tier is one of them
    tier notin (bronze)        tier is none of them, or is not set
    canary             the label canary is set (any value)
    !canary            canary is not set

An instance's labels come as ``k=v,k2=v2`` (``parse_labels``). A label name is at most 63 letters,
digits, ``-``, ``_``, ``.``, starting and ending with a letter or digit, optionally behind a
``prefix/`` (``example.com/tier``); a value is the same without prefix, or empty.

A percentage picks instances by a bucket 0..9999: the first 8 bytes of the sha256 of
``<component>/<environment>/<instance id>`` (UTF-8), as a big-endian number, modulo 10,000; an
instance is in a gray release of p % when its bucket is below p * 100. The bucket is the same in
every process and every version (it must never change: an instance would hop in and out of a gray
release), and another component or environment shuffles the instances anew, so that the same
20 % are not the guinea pigs of every gray release.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_SELECTOR = 1000
MAX_REQUIREMENTS = 32
MAX_LABELS_TEXT = 2000
MAX_LABELS = 64

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[a-z0-9.\-]{0,251}[a-z0-9])?/"
KEY_RE = re.compile(rf"^(?:{_PREFIX})?{_NAME}$")
VALUE_RE = re.compile(rf"^(?:{_NAME})?$")

OPERATORS = ("=", "!=", "in", "notin", "exists", "!exists")


class SelectorError(ValueError):
    """A selector, a label list or a percentage that cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # one of OPERATORS
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "=":
            return present and value == self.values[0]
        if self.operator == "!=":
            return not present or value != self.values[0]
        if self.operator == "in":
            return present and value in self.values
        if self.operator == "notin":
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        return not present

    def __str__(self) -> str:
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{self.values[0]}"
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        return self.key if self.operator == "exists" else f"!{self.key}"


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: dict | None) -> bool:
        """Whether an instance with ``labels`` is selected: every requirement holds."""
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        """The canonical text (what ``parse_selector`` reads back to an equal selector)."""
        return ",".join(str(requirement) for requirement in self.requirements)


# One token a match: a word (label name or value), an operator, a parenthesis, a comma, or spaces.
_TOKEN = re.compile(r"\s+|(?P<op>==|!=|=|!|\(|\)|,)|(?P<word>[^\s=!(),]+)")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:  # pragma: no cover - every character starts one alternative
            raise SelectorError(f"unexpected {text[at]!r} at position {at + 1}")
        if match.group("op"):
            tokens.append(("op", match.group("op"), at + 1))
        elif match.group("word"):
            tokens.append(("word", match.group("word"), at + 1))
        at = match.end()
    return tokens


def parse_selector(text: str) -> Selector:
    """The selector written in ``text``; raises ``SelectorError`` saying where it is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise SelectorError("the selector is empty; write for example zone=bj or tier in (gold,silver)")
    if len(text) > MAX_SELECTOR:
        raise SelectorError(f"the selector is longer than {MAX_SELECTOR} characters")
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    i = 0
    while True:
        requirement, i = _requirement(tokens, i)
        requirements.append(requirement)
        if len(requirements) > MAX_REQUIREMENTS:
            raise SelectorError(f"more than {MAX_REQUIREMENTS} requirements in one selector")
        if i == len(tokens):
            return Selector(tuple(requirements))
        kind, value, position = tokens[i]
        if (kind, value) != ("op", ","):
            raise SelectorError(f"expected ',' between requirements at position {position}, "
                                f"found {value!r}")
        i += 1


def _requirement(tokens, i: int) -> tuple[Requirement, int]:
    def at(j):
        return tokens[j] if j < len(tokens) else ("end", "", None)

    kind, value, position = at(i)
    if (kind, value) == ("op", "!"):
        key = _key(at(i + 1))
        return Requirement(key, "!exists"), i + 2
    key = _key(at(i))
    kind, value, position = at(i + 1)
    if kind == "end" or (kind, value) == ("op", ","):
        return Requirement(key, "exists"), i + 1
    if kind == "op" and value in ("=", "==", "!="):
        label_value = _value(at(i + 2), key)
        taken = 3 if at(i + 2)[0] == "word" else 2  # `tier=` (an empty value) has no value token
        return Requirement(key, "!=" if value == "!=" else "=", (label_value,)), i + taken
    if kind == "word" and value in ("in", "notin"):
        values, i = _value_set(tokens, i + 2, key)
        return Requirement(key, value, values), i
    found = "the end" if kind == "end" else repr(value)
    raise SelectorError(f"after the label {key!r} expected =, !=, in, notin, ',' or the end "
                        f"at position {position}, found {found}")


def _key(token) -> str:
    kind, value, position = token
    if kind != "word":
        found = "the end" if kind == "end" else repr(value)
        raise SelectorError(f"expected a label name{_where(position)}, found {found}")
    if not KEY_RE.match(value):
        raise SelectorError(f"{value!r} is not a label name{_where(position)}: use at most 63 letters, "
                            "digits, '-', '_' or '.', starting and ending with a letter or digit")
    return value


def _value(token, key: str) -> str:
    kind, value, position = token
    if kind == "end" or (kind, value) == ("op", ","):
        return ""  # `tier=` selects an empty value, as in Kubernetes
    if kind != "word" or not VALUE_RE.match(value):
        raise SelectorError(f"{value!r} is not a value for the label {key!r}{_where(position)}: "
                            "use at most 63 letters, digits, '-', '_' or '.'")
    return value


def _value_set(tokens, i: int, key: str) -> tuple[tuple[str, ...], int]:
    def at(j):
        return tokens[j] if j < len(tokens) else ("end", "", None)

    kind, value, position = at(i)
    if (kind, value) != ("op", "("):
        raise SelectorError(f"expected '(' after in/notin for the label {key!r}{_where(position)}")
    values: list[str] = []
    i += 1
    while True:
        kind, value, position = at(i)
        if kind != "word":
            raise SelectorError(f"expected a value in the list of the label {key!r}{_where(position)}")
        values.append(_value(at(i), key))
        kind, value, position = at(i + 1)
        if (kind, value) == ("op", ")"):
            return tuple(dict.fromkeys(values)), i + 2
        if (kind, value) != ("op", ","):
            raise SelectorError(f"expected ',' or ')' in the list of the label {key!r}"
                                f"{_where(position)}")
        i += 2


def _where(position: int | None) -> str:
    return f" at position {position}" if position else " at the end"


def parse_labels(text: str | None) -> dict[str, str]:
    """An instance's labels from ``k=v,k2=v2`` (empty or None: no labels); raises ``SelectorError``."""
    if text is None or not text.strip():
        return {}
    if len(text) > MAX_LABELS_TEXT:
        raise SelectorError(f"the labels are longer than {MAX_LABELS_TEXT} characters")
    labels: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise SelectorError(f"{part.strip()!r} is not a label: write name=value, "
                                "several separated by commas")
        if not KEY_RE.match(key):
            raise SelectorError(f"{key!r} is not a label name: use at most 63 letters, digits, "
                                "'-', '_' or '.', starting and ending with a letter or digit")
        if not VALUE_RE.match(value):
            raise SelectorError(f"{value!r} is not a value for the label {key!r}: use at most 63 "
                                "letters, digits, '-', '_' or '.', starting and ending with a "
                                "letter or digit")
        if key in labels:
            raise SelectorError(f"the label {key!r} is given twice")
        labels[key] = value
        if len(labels) > MAX_LABELS:
            raise SelectorError(f"more than {MAX_LABELS} labels")
    return labels


def format_labels(labels: dict[str, str]) -> str:
    """``k=v,k2=v2`` sorted by name: what ``parse_labels`` reads back."""
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


BUCKETS = 10_000


def bucket(component: object, environment: str, instance_id: str) -> int:
    """The instance's bucket 0..9999 for this component (its id or name, as the caller always
    uses the same) and environment. Never change this function: buckets are promises."""
    digest = hashlib.sha256(f"{component}/{environment}/{instance_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def check_percentage(percentage: object) -> float:
    """A gray percentage as a number in (0, 100], with at most two decimals; raises ``SelectorError``."""
    if isinstance(percentage, bool) or not isinstance(percentage, int | float):
        raise SelectorError("the percentage must be a number between 0 and 100")
    if not 0 < percentage <= 100 or abs(round(percentage * 100) - percentage * 100) > 1e-6:
        raise SelectorError("the percentage must be more than 0 and at most 100, "
                            "with at most two decimals (0.01 is one instance in 10,000)")
    return float(percentage)


def in_percentage(bucket_number: int, percentage: float) -> bool:
    """Whether an instance of bucket ``bucket_number`` is among the first ``percentage`` %."""
    return bucket_number < round(percentage * 100)
