"""The insert-first barrier: exactly-once effects for a participant of sagas and TCC.

A coordinator delivers every operation at least once, sometimes twice at the same time, and
sometimes a compensation before (or without) the action it undoes. The barrier turns that
into exactly the right effect, in the participant's own database and local transaction:

- each operation first inserts a row keyed (gid, branch, op); if the row exists the
  operation already happened (or is happening) and the business change is skipped;
- a compensation (``compensate`` for ``action``, ``cancel`` for ``try``) first inserts the row
  of the operation it undoes, marked as written by itself; if that insert succeeds the
  action never ran, so there is nothing to undo (null compensation), and the action, should
  it still arrive, finds its row taken and is refused (no hanging reservation);
- the row and the business change commit or roll back together, so a crash between them
  leaves nothing behind and the retried operation applies once.

Usage, inside the participant's request handler::

    barrier = Barrier()                       # table "tx_barrier" in your metadata or its own
    barrier.create_table(engine)              # or add it to your migrations

    with Session(engine) as session, session.begin():
        outcome = barrier.run(session, gid, branch, op, lambda: debit(session, amount))
    # outcome.applied: the business change ran now; outcome.refused: answer 409 (FAILURE)

Concurrent duplicates wait on the row's unique key (PostgreSQL) or on the database write
lock (SQLite, whose connections should set ``busy_timeout``), so one of them applies the
change and the others see it done. Nothing is read before the first insert, which is what
keeps two concurrent compensations of a missing action from deadlocking.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

# Each compensating operation and the operation it undoes.
UNDOES = {"compensate": "action", "cancel": "try"}
OPS = ("action", "compensate", "try", "confirm", "cancel")


class Result(enum.StrEnum):
    APPLIED = "applied"  # the business change ran in this local transaction
    DUPLICATE = "duplicate"  # this op already ran (or runs now elsewhere); nothing done
    NULL_COMPENSATION = "null_compensation"  # the undone op never ran; nothing to undo
    REFUSED = "refused"  # a late action/try after its compensation; must not run


@dataclass(frozen=True)
class Outcome:
    result: Result
    value: Any = None

    @property
    def applied(self) -> bool:
        return self.result is Result.APPLIED

    @property
    def refused(self) -> bool:
        """The coordinator should hear FAILURE (HTTP 409): the op must not take effect."""
        return self.result is Result.REFUSED

    @property
    def ok(self) -> bool:
        """The coordinator should hear SUCCESS: the op's effect is (or was made) as asked."""
        return self.result is not Result.REFUSED


class Barrier:
    """A barrier table and the logic around it. One instance per table; thread-safe."""

    def __init__(self, table_name: str = "tx_barrier", metadata: sa.MetaData | None = None):
        self.metadata = metadata if metadata is not None else sa.MetaData()
        self.table = sa.Table(
            table_name, self.metadata,
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                      autoincrement=True),
            sa.Column("gid", sa.String(64), nullable=False),
            sa.Column("branch", sa.String(100), nullable=False),
            sa.Column("op", sa.String(16), nullable=False),
            # Which op wrote the row: differs from ``op`` when a compensation took the action's place.
            sa.Column("reason", sa.String(16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            sa.UniqueConstraint("gid", "branch", "op", name=f"uq_{table_name}_gid_branch_op"),
        )

    def create_table(self, bind: sa.Engine | sa.Connection) -> None:
        self.table.create(bind, checkfirst=True)

    def run(self, db, gid: str, branch: str, op: str, work: Callable[[], Any]) -> Outcome:
        """Run ``work`` once for (gid, branch, op), inside the caller's open local transaction.

        ``db`` is a SQLAlchemy ``Session`` or ``Connection`` whose transaction the caller commits
        (or rolls back, for instance when ``work`` raises). Returns what happened.
        """
        if op not in OPS:
            raise ValueError(f"unknown barrier op {op!r}; use one of {', '.join(OPS)}")
        if not gid or not branch:
            raise ValueError("a barrier needs the transaction's gid and the branch")
        undone = UNDOES.get(op)
        if undone is not None:
            took_place = self._insert(db, gid, branch, undone, reason=op)
            mine = self._insert(db, gid, branch, op, reason=op)
            if not mine:
                return Outcome(Result.DUPLICATE)
            if took_place:
                return Outcome(Result.NULL_COMPENSATION)
            return Outcome(Result.APPLIED, work())
        if self._insert(db, gid, branch, op, reason=op):
            return Outcome(Result.APPLIED, work())
        existing = db.execute(sa.select(self.table.c.reason).where(
            self.table.c.gid == gid, self.table.c.branch == branch, self.table.c.op == op)).scalar()
        return Outcome(Result.REFUSED if existing in UNDOES else Result.DUPLICATE)

    def _insert(self, db, gid: str, branch: str, op: str, *, reason: str) -> bool:
        """Insert the row unless it exists; True when this call inserted it."""
        values = {"gid": gid, "branch": branch, "op": op, "reason": reason}
        dialect = _dialect(db)
        if dialect == "postgresql":
            stmt = postgresql.insert(self.table).values(**values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(self.table).values(**values).on_conflict_do_nothing()
        else:
            # Other databases: a savepoint keeps the failed insert from spoiling the transaction.
            try:
                with db.begin_nested():
                    db.execute(self.table.insert().values(**values))
                return True
            except IntegrityError:
                return False
        # RETURNING says whether a row went in; rowcount is not reliable across drivers.
        return db.execute(stmt.returning(self.table.c.id)).first() is not None

    def ops_of(self, db, gid: str) -> list[tuple[str, str, str]]:
        """The (branch, op, reason) rows of ``gid`` — for tests and troubleshooting."""
        rows = db.execute(sa.select(self.table.c.branch, self.table.c.op, self.table.c.reason)
                          .where(self.table.c.gid == gid).order_by(self.table.c.id))
        return [tuple(row) for row in rows]


def _dialect(db) -> str:
    bind = db.get_bind() if hasattr(db, "get_bind") else db
    return bind.dialect.name


def request_keys(args) -> tuple[str, str, str]:
    """(gid, branch, op) from the query arguments Taiji sends with every call."""
    try:
        return str(args["gid"]), str(args["branch"]), str(args["op"])
    except KeyError as exc:
        raise ValueError(f"the call lacks the {exc.args[0]!r} query argument") from None
