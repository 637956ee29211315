"""Audit entries as sentences a person reads: "alice@example.com added bob@example.com as Admin".

Each module registers a ``Sentence`` per action it records (``Module.audit_sentences``): a
translatable format with the placeholders ``%(actor)s``, ``%(target)s`` and any key of the entry's
``details`` (or of what ``values`` adds, e.g. a role in the reader's words), and optionally how to
link the entry's target (``link(entry, tenant)`` -> URL or None). An action nobody registered reads
"<actor> did <action> on <target>". A placeholder the entry has no value for reads "?", so a
sentence never breaks a page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _

log = logging.getLogger(__name__)
_KEY = "taiji_audit_sentences"


@dataclass(frozen=True)
class Sentence:
    action: str  # the audit action, e.g. "tm.member.added"
    text: Any  # a lazy string with %(actor)s, %(target)s and details' keys
    values: Callable[[Any], dict] | None = None  # entry -> more placeholders (words for codes)
    link: Callable[[Any, Any], str | None] | None = None  # (entry, tenant) -> the target's URL


class _Values(dict):
    def __missing__(self, key):
        return "?"


def sentences() -> dict[str, Sentence]:
    """action -> its sentence, from every enabled module (built once per application)."""
    table = current_app.extensions.get(_KEY)
    if table is None:
        table = {}
        for module in current_app.extensions["taiji_modules"]:
            for sentence in getattr(module, "audit_sentences", None) or []:
                table[sentence.action] = sentence
        current_app.extensions[_KEY] = table
    return table


def _actor(entry) -> str:
    return entry.actor_email or _("The system")


def describe(entry) -> str:
    """The entry as a sentence in the reader's language."""
    sentence = sentences().get(entry.action)
    if sentence is None:
        return _("%(actor)s did %(action)s on %(target)s", actor=_actor(entry), action=entry.action,
                 target=entry.target)
    values = _Values({k: v for k, v in (entry.details or {}).items() if isinstance(v, str | int | float)})
    values.update(actor=_actor(entry), target=entry.target)
    if sentence.values is not None:
        try:
            values.update(sentence.values(entry))
        except Exception:  # a sentence never breaks the page
            log.exception("audit sentence values for %s failed", entry.action)
    try:
        return str(sentence.text) % values
    except (TypeError, ValueError):
        return _("%(actor)s did %(action)s on %(target)s", actor=_actor(entry), action=entry.action,
                 target=entry.target)


def target_url(entry, tenant) -> str | None:
    """Where the entry's target can be seen, when its module says so (None otherwise)."""
    sentence = sentences().get(entry.action)
    if sentence is None or sentence.link is None:
        return None
    try:
        return sentence.link(entry, tenant)
    except Exception:  # an endpoint that cannot be built (a deleted thing, a disabled module)
        return None


def known_actions() -> list[str]:
    """The actions with a sentence, for the audit page's action filter."""
    return sorted(sentences())
