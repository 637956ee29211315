"""What the example shows on the tenant overview (``Module.overview``) and how the audit page words
its action (``Module.audit_sentences``)."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l

from taiji.platform.audit_sentences import Sentence
from taiji.platform.overview import Attention, Panel, Row

from . import services
from .permissions import Perm


def _note_row(tenant, note) -> Row:
    return Row(note.title, url_for("example.note", tenant=tenant.slug, note_id=note.id))


def latest(tenant, principal) -> list[Row]:
    return [_note_row(tenant, note) for note in services.list_notes(tenant)[:5]]


def urgent(tenant, principal) -> list[Row]:
    """Notes whose title starts with "urgent" need someone's attention."""
    notes = services.list_notes(tenant)
    return [_note_row(tenant, note) for note in notes if note.title.startswith("urgent")]


def _note_link(entry, tenant):
    return url_for("example.note", tenant=tenant.slug, note_id=int(entry.details["note_id"]))


OVERVIEW = [Panel("example.latest", _l("Latest notes"), latest, _l("No notes yet."),
                  permission=Perm.NOTE_READ),
            Attention("example.urgent", urgent, permission=Perm.NOTE_READ)]
SENTENCES = [Sentence("example.note.created", _l("%(actor)s wrote the note %(target)s"), link=_note_link)]
