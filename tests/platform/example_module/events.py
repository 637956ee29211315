"""The example module's event and its handler."""

from __future__ import annotations

from . import services

NOTE_CREATED = "example.note.created"


def on_note_created(event) -> None:
    services.received.append(dict(event.payload))
