"""The example module's services: notes of a tenant, in a table of its own."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from taiji.platform import events, quotas
from taiji.platform.db import db
from taiji.platform.errors import field_error

NOTES_METER = "example.notes"

metadata = sa.MetaData()
notes = sa.Table(
    "example_note", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.Integer, nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("stamped", sa.Boolean, nullable=False, default=False),
)
# What the event handler received (the handler records here; the test reads it).
received: list[dict] = []


class Note:
    def __init__(self, row):
        self.id, self.tenant_id, self.title, self.stamped = row.id, row.tenant_id, row.title, row.stamped


def count_notes(tenant) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(notes)
                              .where(notes.c.tenant_id == tenant.id)).scalar_one()


def create_note(tenant, title: str) -> Note:
    limit = current_app.config["EXAMPLE_MAX_TITLE"]
    if not title or len(title) > limit:
        raise field_error("title", f"Give a title of 1 to {limit} characters.")
    quotas.check(tenant, NOTES_METER)
    note_id = db.session.execute(notes.insert().values(tenant_id=tenant.id, title=title, stamped=False)
                                 .returning(notes.c.id)).scalar_one()
    events.publish("example.note.created", {"tenant": tenant.slug, "tenant_id": tenant.id, "note_id": note_id,
                                            "title": title}, tenant=tenant)
    return get_note(tenant, note_id)


def find_note(tenant, note_id: int) -> Note | None:
    query = sa.select(notes).where(notes.c.tenant_id == tenant.id, notes.c.id == note_id)
    row = db.session.execute(query).first()
    return Note(row) if row is not None else None


def get_note(tenant, note_id: int) -> Note:
    from taiji.platform.errors import NotFound

    note = find_note(tenant, note_id)
    if note is None:
        raise NotFound(f"No note {note_id}.")
    return note


def list_notes(tenant) -> list[Note]:
    rows = db.session.execute(sa.select(notes).where(notes.c.tenant_id == tenant.id).order_by(notes.c.id))
    return [Note(row) for row in rows]


def stamp(payload: dict) -> dict:
    """A local transaction step (``local:example.stamp``): mark a note."""
    db.session.execute(notes.update().where(notes.c.id == payload["note_id"]).values(stamped=True))
    return {"stamped": payload["note_id"]}


def unstamp(payload: dict) -> dict:
    db.session.execute(notes.update().where(notes.c.id == payload["note_id"]).values(stamped=False))
    return {"unstamped": payload["note_id"]}
