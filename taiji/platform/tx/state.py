"""The engine's in-memory copy of a transaction during one run, read and written with Core.

The ORM's unit of work costs more CPU than a saga's calls do; the engine's hot path keeps plain
rows instead, remembers which columns changed, and writes only those at the next boundary.
``plans.plan`` reads these rows exactly as it reads the ORM objects: same attribute names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from taiji.platform.db import db, utcnow
from taiji.platform.tx.models import Branch, Call, Transaction

TRANSACTIONS: sa.Table = Transaction.__table__
BRANCHES: sa.Table = Branch.__table__
CALLS: sa.Table = Call.__table__


class Row:
    """Columns as attributes; ``changes()`` is what was assigned since the last ``mark_clean()``."""

    def __init__(self, mapping: Mapping):
        self.__dict__.update(mapping)
        self._clean = dict(mapping)

    def changes(self) -> dict:
        clean = self._clean
        return {key: value for key, value in self.__dict__.items() if key in clean and value != clean[key]}

    def mark_clean(self) -> None:
        self._clean = {key: self.__dict__[key] for key in self._clean}

    def __repr__(self) -> str:
        return f"<Row {self._clean.get('gid') or self._clean.get('name')}>"


def load_transaction(gid: str) -> Row | None:
    row = db.session.connection().execute(
        sa.select(TRANSACTIONS).where(TRANSACTIONS.c.gid == gid)).mappings().first()
    return None if row is None else Row(row)


def load_branches(transaction_id: int) -> list[Row]:
    rows = db.session.connection().execute(
        sa.select(BRANCHES).where(BRANCHES.c.transaction_id == transaction_id)
        .order_by(BRANCHES.c.position)).mappings().all()
    return [Row(row) for row in rows]


@dataclass
class Writes:
    """What one boundary writes: the transaction's changed columns (None: inserted in this very
    database transaction, nothing to check), changed steps, a call's answer, a call begun."""

    tx_id: int
    owner: str
    tx_values: dict | None
    branches: list[Row]
    answer: tuple[int, dict] | None
    new_call: dict | None


def write(w: Writes) -> tuple[bool, int | None]:
    """Send one boundary's writes; (False, None) when the lease is gone (the caller rolls back).

    On PostgreSQL every statement of the boundary goes out in one pipeline, so a boundary costs
    two round trips (the writes, the commit) whatever it contains; elsewhere, Core statements.
    Returns whether the lease held and the id of the call begun, if any.
    """
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        return _write_pipelined(conn.connection.driver_connection, w)
    return _write_core(conn, w)


def _write_core(conn: sa.Connection, w: Writes) -> tuple[bool, int | None]:
    t = TRANSACTIONS
    if w.tx_values is not None:
        written = conn.execute(sa.update(t).where(t.c.id == w.tx_id, t.c.owner == w.owner)
                               .values(**w.tx_values)).rowcount
        if written != 1:
            return False, None
    if w.branches:
        # One statement for every changed step (an executemany).
        conn.execute(_BRANCH_UPDATE, [_branch_params(b) for b in w.branches])
    if w.answer is not None:
        conn.execute(sa.update(CALLS).where(CALLS.c.id == w.answer[0]).values(**w.answer[1]))
    call_id = None
    if w.new_call is not None:
        call_id = conn.execute(sa.insert(CALLS).values(**w.new_call).returning(CALLS.c.id)).scalar_one()
    return True, call_id


def _write_pipelined(raw, w: Writes) -> tuple[bool, int | None]:
    now = utcnow()
    checked = inserted = None
    # Column names come from our own tables (checked by _known), never from input; values are
    # always parameters.
    with raw.pipeline():
        if w.tx_values is not None:
            values = {**_known(w.tx_values, TRANSACTIONS), "updated_at": now}
            sets = ", ".join(f"{key} = %({key})s" for key in values)
            checked = raw.execute(
                f"UPDATE tx_transaction SET {sets} WHERE id = %(_id)s AND owner = %(_owner)s",  # noqa: S608
                {**values, "_id": w.tx_id, "_owner": w.owner})
        if w.branches:
            with raw.cursor() as cursor:
                cursor.executemany(
                    "UPDATE tx_branch SET state = %(_state)s, seq = %(_seq)s, attempts = %(_attempts)s, "
                    "updated_at = %(_now)s WHERE id = %(_id)s",
                    [{**_branch_params(b), "_now": now} for b in w.branches])
        if w.answer is not None:
            values = _known(w.answer[1], CALLS)
            sets = ", ".join(f"{key} = %({key})s" for key in values)
            raw.execute(f"UPDATE tx_call SET {sets} WHERE id = %(_id)s",  # noqa: S608
                        {**values, "_id": w.answer[0]})
        if w.new_call is not None:
            values = _known(w.new_call, CALLS)
            placeholders = ", ".join(f"%({key})s" for key in values)
            inserted = raw.execute(
                f"INSERT INTO tx_call ({', '.join(values)}) VALUES ({placeholders}) RETURNING id",  # noqa: S608
                values)
    if checked is not None and checked.rowcount != 1:
        return False, None
    return True, (inserted.fetchone()[0] if inserted is not None else None)


def _known(values: dict, table: sa.Table) -> dict:
    unknown = set(values) - set(table.c.keys())
    if unknown:
        raise ValueError(f"not columns of {table.name}: {sorted(unknown)}")
    return values


def _branch_params(branch: Row) -> dict:
    return {"_id": branch.id, "_state": branch.state, "_seq": branch.seq, "_attempts": branch.attempts}


_BRANCH_UPDATE = (sa.update(BRANCHES).where(BRANCHES.c.id == sa.bindparam("_id"))
                  .values(state=sa.bindparam("_state"), seq=sa.bindparam("_seq"),
                          attempts=sa.bindparam("_attempts")))
