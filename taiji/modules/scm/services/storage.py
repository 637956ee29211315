"""Adding a row whose unique key a concurrent unit of work may take first."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from taiji.platform.db import db


def insert(row) -> bool:
    """Add and flush ``row`` in a savepoint: False (and nothing added) when another writer holds its
    unique key; the caller then reads theirs or answers 409."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return False
    return True
