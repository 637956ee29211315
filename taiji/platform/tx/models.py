"""Tables of the transaction engine: transactions, their branches, and the log of every call.

A transaction's ``state`` says whether the engine is working on it (``running``, ``redo``),
waits for a person (``parked``) or is finished (``succeeded``, ``rolled_back``, ``stopped``);
its ``phase`` says in which direction it goes (saga: ``action`` then ``compensate``; TCC:
``try`` then ``confirm`` or ``cancel``). docs/tx-protocol.md describes them for participants.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taiji.platform.db import Model, intpk, timestamp, utcnow

# Kinds
SAGA = "saga"
TCC = "tcc"
KINDS = (SAGA, TCC)

# Transaction states
RUNNING = "running"
REDO = "redo"
PARKED = "parked"
SUCCEEDED = "succeeded"
ROLLED_BACK = "rolled_back"
STOPPED = "stopped"
ACTIVE_STATES = (RUNNING, REDO)
FINAL_STATES = (SUCCEEDED, ROLLED_BACK, STOPPED)
STATES = (RUNNING, REDO, PARKED, SUCCEEDED, ROLLED_BACK, STOPPED)

# Branch states (saga and TCC share the vocabulary where they can)
PENDING = "pending"
DONE = "succeeded"  # saga action done
TRIED = "tried"  # TCC try done
FAILED = "failed"  # forward call refused or given up: its outcome may still be unknown
COMPENSATED = "compensated"
CONFIRMED = "confirmed"
CANCELLED = "cancelled"
SKIPPED = "skipped"

# Call results
OK = "OK"
FAIL = "FAIL"
UNKNOWN = "UNKNOWN"



class _AnyTenant:
    def __repr__(self) -> str:
        return "ANY_TENANT"


# Lookups given this see every tenant's transactions (the platform's own operators).
ANY_TENANT = _AnyTenant()


class Transaction(Model):
    __tablename__ = "tx_transaction"
    __table_args__ = (sa.Index("ix_tx_transaction_due", "state", "next_attempt_at"),)

    id: Mapped[intpk]
    gid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    tenant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kernel_tenant.id", ondelete="CASCADE"),
                                                  index=True)
    business_key: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    state: Mapped[str] = mapped_column(sa.String(16), default=RUNNING)
    phase: Mapped[str] = mapped_column(sa.String(16))
    options: Mapped[dict] = mapped_column(sa.JSON)
    next_attempt_at: Mapped[timestamp | None]
    # The engine process working on it; a lease that has run out can be taken over.
    owner: Mapped[str | None] = mapped_column(sa.String(100))
    lease_until: Mapped[timestamp | None]
    redo_count: Mapped[int] = mapped_column(default=0)
    # Branches are numbered in the order their first call started, which compensation reverses.
    call_seq: Mapped[int] = mapped_column(default=0)
    alerted_at: Mapped[timestamp | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[timestamp | None]

    branches: Mapped[list[Branch]] = relationship(
        back_populates="transaction", order_by="Branch.position", cascade="all, delete-orphan")

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def __repr__(self) -> str:
        return f"<Transaction {self.kind} {self.gid} {self.state}/{self.phase}>"


class Branch(Model):
    """A saga step or a TCC branch."""

    __tablename__ = "tx_branch"
    __table_args__ = (sa.UniqueConstraint("transaction_id", "name"),)

    id: Mapped[intpk]
    transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("tx_transaction.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(100))
    # None: after the previous step (ordered saga); a list of names: a DAG.
    depends_on: Mapped[list | None] = mapped_column(sa.JSON)
    action_url: Mapped[str | None] = mapped_column(sa.String(2000))
    compensate_url: Mapped[str | None] = mapped_column(sa.String(2000))
    try_url: Mapped[str | None] = mapped_column(sa.String(2000))
    confirm_url: Mapped[str | None] = mapped_column(sa.String(2000))
    cancel_url: Mapped[str | None] = mapped_column(sa.String(2000))
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    state: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    seq: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)  # calls of the current op
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow, onupdate=utcnow)

    transaction: Mapped[Transaction] = relationship(back_populates="branches")

    def __repr__(self) -> str:
        return f"<Branch {self.name} {self.state}>"


class Call(Model):
    """One call to a participant. ``result`` is None while the call is in flight."""

    __tablename__ = "tx_call"

    id: Mapped[intpk]
    transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("tx_transaction.id", ondelete="CASCADE"),
                                                index=True)
    branch_id: Mapped[int] = mapped_column(sa.ForeignKey("tx_branch.id", ondelete="CASCADE"))
    branch_name: Mapped[str] = mapped_column(sa.String(100))
    op: Mapped[str] = mapped_column(sa.String(16))
    attempt: Mapped[int]
    url: Mapped[str] = mapped_column(sa.String(2000))
    request_summary: Mapped[str | None] = mapped_column(sa.Text)
    status_code: Mapped[int | None]
    response_summary: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[str | None] = mapped_column(sa.String(8))
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[int | None]
    owner: Mapped[str | None] = mapped_column(sa.String(100))
    started_at: Mapped[timestamp] = mapped_column(default=utcnow)
    finished_at: Mapped[timestamp | None]

    @property
    def duration(self) -> dt.timedelta | None:
        return None if self.duration_ms is None else dt.timedelta(milliseconds=self.duration_ms)
