"""The transaction engine's public face: submit, follow, and let a person recover.

Services flush and never commit; the caller's unit of work commits, and only then is the
transaction handed to a worker (``tx.advance``). The console and HTTP API (``modules/tx``) and
the platform's own multi-step operations call these functions.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa

from taiji.platform.db import Page, after_commit, db, is_postgres, paginate, utcnow
from taiji.platform.errors import Conflict, Invalid, NotFound, field_error, msg
from taiji.platform.tx import local, plans, protocol
from taiji.platform.tx import options as opts
from taiji.platform.tx.models import (
    ANY_TENANT,
    PENDING,
    RUNNING,
    SAGA,
    STATES,
    TCC,
    Branch,
    Call,
    Transaction,
)
from taiji.platform.tx.plans import FIRST_PHASE
from taiji.platform.tx.state import insert_owned

GID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_BRANCHES = 100
MAX_PAYLOAD_CHARS = 64 * 1024


# -- submitting ----------------------------------------------------------------------------


def submit_saga(steps: list[dict], *, gid: str | None = None, tenant=None, business_key: str | None = None,
                options: dict | None = None, created_by: str | None = None,
                owner: str | None = None) -> Transaction:
    """Record a saga and hand it to the engine once the caller commits.

    Each step is ``{"name", "action", "compensate", "payload", "depends_on"}``: ``action`` and
    ``compensate`` are participant URLs (``compensate`` may be omitted for a step with nothing
    to undo); ``depends_on`` lists step names (a DAG; ``[]`` for a root) or is omitted to run
    after the previous step. Submitting the same ``gid`` again with the same steps returns the
    existing transaction. ``owner`` is for ``inline.submit_and_run`` only: the transaction is
    created held by that engine and no worker is asked to run it; on PostgreSQL its first call
    is recorded as begun by the same statement, which commits on its own when the session has
    nothing else pending (``inline.start`` commits right after anyway).
    """
    branches = [_saga_branch(i, step) for i, step in enumerate(_steps_list(steps, "steps"))]
    _check_dag(branches)
    return _submit(SAGA, branches, gid, tenant, business_key, options, created_by, owner)


def submit_tcc(branches: list[dict], *, gid: str | None = None, tenant=None, business_key: str | None = None,
               options: dict | None = None, created_by: str | None = None,
               owner: str | None = None) -> Transaction:
    """Record a TCC transaction: each branch is ``{"name", "try", "confirm", "cancel", "payload"}``.

    The engine calls every try in order; if all succeed it confirms every branch, otherwise it
    cancels every branch whose try was called. Confirms and cancels are retried until they succeed.
    """
    rows = []
    for i, spec in enumerate(_steps_list(branches, "branches")):
        where = f"branches.{i}"
        spec = _expand_local(spec, where, ("try", "confirm", "cancel"))
        rows.append(_Draft(position=i, name=_name(spec, where), depends_on=None, action_url=None,
                           compensate_url=None,
                           try_url=_url(spec.get("try"), f"{where}.try", required=True, op="try"),
                           confirm_url=_url(spec.get("confirm"), f"{where}.confirm", op="confirm"),
                           cancel_url=_url(spec.get("cancel"), f"{where}.cancel", op="cancel"),
                           payload=_payload(spec.get("payload"), where)))
    _check_unique(rows)
    return _submit(TCC, rows, gid, tenant, business_key, options, created_by, owner)


def _submit(kind, branches, gid, tenant, business_key, options, created_by, owner=None) -> Transaction:
    options = opts.normalize(options)
    gid = _gid(gid)
    tenant_id = getattr(tenant, "id", tenant)
    if business_key is not None:
        business_key = str(business_key).replace("\x00", "").strip()[:255] or None
    now = utcnow()
    owned_pg = owner is not None and is_postgres()
    # On PostgreSQL the owned insert says itself when the gid is taken (ON CONFLICT DO NOTHING):
    # no look-up first. Elsewhere a column look-up: loading the entity costs more.
    if not owned_pg and db.session.scalar(sa.select(Transaction.id).where(Transaction.gid == gid)):
        return _existing(gid, kind, tenant_id, branches)
    values = dict(gid=gid, kind=kind, tenant_id=tenant_id, business_key=business_key, phase=FIRST_PHASE[kind],
                  options=options, next_attempt_at=now, created_by=created_by)
    if owner is not None:
        # An engine in this process runs it right after the commit (inline.submit_and_run):
        # it is born owned, so neither a worker nor the timer takes it meanwhile. Its rows are
        # written with Core and never enter the session: plain drafts, no ORM bookkeeping.
        tx = _Draft(**values, id=None, state=RUNNING, owner=owner, redo_count=0, call_seq=0, alerted_at=None,
                    lease_until=now + dt.timedelta(seconds=opts.lease_seconds(options)), last_error=None,
                    created_at=now, updated_at=now, finished_at=None, branches=branches)
        for branch in branches:
            branch.__dict__.update(transaction_id=None, state=PENDING, seq=None, attempts=0, updated_at=now)
        move = plans.plan(tx)
        if isinstance(move, plans.Invoke):
            # Numbered as begun already: the engine's first boundary then only inserts the call.
            tx.call_seq = move.branch.seq = move.branch.attempts = 1
        if owned_pg:
            first = None
            if isinstance(move, plans.Invoke):
                first = {"position": move.branch.position, "branch_name": move.branch.name, "op": move.op,
                         "attempt": 1, "url": move.url, "owner": owner, "started_at": now,
                         "request_summary": protocol.summarize(move.branch.payload or {})}
            if _insert_owned_pg(tx, branches, first) is None:
                return _existing(gid, kind, tenant_id, branches)
            return tx
        return _insert_owned(tx, branches, now)
    tx = Transaction(**values, branches=[Branch(**vars(b)) for b in branches])
    db.session.add(tx)
    db.session.flush()
    _kick_after_commit(gid)
    return tx


def _existing(gid: str, kind: str, tenant_id, branches: list[_Draft]) -> Transaction:
    existing = db.session.execute(sa.select(Transaction).where(Transaction.gid == gid)).scalar_one()
    if existing.kind == kind and existing.tenant_id == tenant_id and _same(existing.branches, branches):
        return existing
    raise Conflict(msg("A different transaction with gid '%(gid)s' exists.", gid=gid),
                   errors={"json": {"gid": [msg("Already used by another transaction.")]}})


class _Draft:
    """A row about to be written: its columns as plain attributes (an ORM object's are slower)."""

    def __init__(self, **values):
        self.__dict__.update(values)


def _insert_owned_pg(tx: _Draft, branches: list[_Draft], first_call: dict | None) -> _Draft | None:
    """``_insert_owned`` and the first call begun, in one statement and round trip on PostgreSQL,
    committed with it when nothing else is pending (``state.insert_owned``: the only submit that
    may commit, for ``inline.start``, which commits anyway). None if the gid is taken."""
    tables = Transaction.__table__, Branch.__table__
    ids = insert_owned(_columns(tx, tables[0]), [_columns(b, tables[1]) for b in branches], first_call)
    if ids is None:
        return None
    tx.id, tx.first_call_id, tx.committed = ids[0], ids[2], ids[3]
    for branch, branch_id in zip(branches, ids[1], strict=True):
        branch.transaction_id, branch.id = tx.id, branch_id
    return tx


def _insert_owned(tx: _Draft, branches: list[_Draft], now) -> _Draft:
    """Insert a transaction for the engine of this process with Core statements (its hot path).

    The drafts are not in the session: they carry the values and ids the engine reads.
    """
    conn = db.session.connection()
    tables = Transaction.__table__, Branch.__table__
    tx.id = conn.execute(sa.insert(tables[0]).returning(tables[0].c.id),
                         _columns(tx, tables[0])).scalar_one()
    rows = []
    for branch in branches:
        branch.transaction_id = tx.id
        rows.append(_columns(branch, tables[1]))
    ids = conn.execute(sa.insert(tables[1]).returning(tables[1].c.id, sort_by_parameter_order=True),
                       rows).scalars().all()
    for branch, branch_id in zip(branches, ids, strict=True):
        branch.id = branch_id
    return tx


def _columns(obj, table) -> dict:
    return {c.key: getattr(obj, c.key) for c in table.c if c.key != "id"}


def _kick_after_commit(gid: str) -> None:
    from taiji.platform.tx.tasks import enqueue_advance

    after_commit(lambda: enqueue_advance(gid))


def _steps_list(value, field: str) -> list[dict]:
    if not isinstance(value, list | tuple) or not value:
        raise field_error(field, msg("Give at least one."))
    if len(value) > MAX_BRANCHES:
        raise field_error(field, msg("Use at most %(max_branches)s.", max_branches=MAX_BRANCHES))
    if not all(isinstance(item, dict) for item in value):
        raise field_error(field, msg("Each must be an object."))
    return list(value)


def _saga_branch(i: int, spec: dict) -> _Draft:
    where = f"steps.{i}"
    depends_on = spec.get("depends_on")
    if depends_on is not None and (not isinstance(depends_on, list | tuple)
                                   or not all(isinstance(d, str) for d in depends_on)):
        raise field_error(f"{where}.depends_on", msg("Must be a list of step names."))
    spec = _expand_local(spec, where, ("action", "compensate"))
    return _Draft(position=i, name=_name(spec, where), try_url=None, confirm_url=None, cancel_url=None,
                  depends_on=list(depends_on) if depends_on is not None else None,
                  action_url=_url(spec.get("action"), f"{where}.action", required=True, op="action"),
                  compensate_url=_url(spec.get("compensate"), f"{where}.compensate", op="compensate"),
                  payload=_payload(spec.get("payload"), where))


def _name(spec: dict, where: str) -> str:
    name = spec.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise field_error(f"{where}.name", msg("Use 1 to 100 letters, digits, '.', '_' or '-'."))
    return name


def _expand_local(spec: dict, where: str, ops: tuple[str, ...]) -> dict:
    """``{"local": "tm.tenant_row"}`` names a registered step for every op it has a handler for."""
    name = spec.get("local")
    if name is None:
        return spec
    if not isinstance(name, str) or not local.NAME_PATTERN.match(name):
        raise field_error(f"{where}.local", msg("Name a registered local step as '<module>.<name>'."))
    step = local.lookup(name)
    if step is None:
        raise field_error(f"{where}.local", msg("No local step handler '%(name)s' is registered.", name=name))
    taken = [op for op in ops if spec.get(op)]
    if taken:
        raise field_error(f"{where}.{taken[0]}", msg("Give either 'local' or the operations' targets, not "
                                                     "both."))
    return {**spec, **{op: local.target(name) for op in ops if step.handler(op) is not None}}


def _url(value, field: str, required: bool = False, op: str | None = None) -> str | None:
    if value is None or value == "":
        if required:
            raise field_error(field, msg("A URL is required."))
        return None
    if local.is_local(value) and op is not None:
        # Refused now, not when the engine gets there: a name that is not registered would
        # otherwise only show up as a failing step.
        reason = local.refusal(value, op, tenant=False)
        if reason:
            raise field_error(field, reason)
        return value
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
        if op:
            raise field_error(field, msg("Must be an absolute http(s) URL of at most 2000 characters, or "
                                         "'local:<module>.<step>'."))
        raise field_error(field, msg("Must be an absolute http(s) URL of at most 2000 characters."))
    return value


def _payload(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise field_error(f"{where}.payload", msg("Must be a JSON object."))
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError):
        raise field_error(f"{where}.payload", msg("Must be JSON.")) from None
    if size > MAX_PAYLOAD_CHARS:
        raise field_error(f"{where}.payload", msg("Must be at most %(max_payload_chars)s characters as "
                                                  "JSON.", max_payload_chars=MAX_PAYLOAD_CHARS))
    return value


def _gid(gid) -> str:
    if gid is None:
        return uuid.uuid4().hex
    if not isinstance(gid, str) or not GID_PATTERN.match(gid):
        raise field_error("gid", msg("Use 1 to 64 letters, digits, '_', '.', ':' or '-', starting with a "
                                     "letter or digit."))
    return gid


def _check_unique(branches: list[_Draft]) -> None:
    seen = set()
    for branch in branches:
        if branch.name in seen:
            raise field_error(f"steps.{branch.position}.name", msg("The name '%(branch_name)s' is used "
                                                                   "twice.", branch_name=branch.name))
        seen.add(branch.name)


def _check_dag(branches: list[_Draft]) -> None:
    _check_unique(branches)
    names = {b.name for b in branches}
    for branch in branches:
        for dep in branch.depends_on or ():
            if dep not in names or dep == branch.name:
                raise field_error(f"steps.{branch.position}.depends_on", msg("'%(dep)s' is not another "
                                                                             "step.", dep=dep))
    from taiji.platform.tx.plans import dependencies

    done: set[str] = set()
    remaining = list(branches)
    while remaining:
        ready = [b for b in remaining if dependencies(b, branches) <= done]
        if not ready:
            raise Invalid(msg("The steps' dependencies form a cycle."),
                          errors={"json": {"steps": [msg("Dependencies form a cycle: %(steps)s",
                                                         steps=", ".join(b.name for b in remaining))]}})
        done.update(b.name for b in ready)
        remaining = [b for b in remaining if b not in ready]


def _same(existing: list[Branch], new: list[_Draft]) -> bool:
    def key(b: Branch):
        return (b.name, b.depends_on, b.action_url, b.compensate_url, b.try_url, b.confirm_url, b.cancel_url,
                b.payload or {})

    return [key(b) for b in sorted(existing, key=lambda b: b.position)] == [key(b) for b in new]


# -- following -----------------------------------------------------------------------------


def get_transaction(gid: str, *, tenant=ANY_TENANT) -> Transaction:
    """The transaction ``gid``; with ``tenant`` given, one of another tenant is not found."""
    tx = None
    if isinstance(gid, str) and GID_PATTERN.match(gid):
        tx = db.session.execute(sa.select(Transaction).where(Transaction.gid == gid)).scalar_one_or_none()
    if tx is None or (tenant is not ANY_TENANT and tx.tenant_id != getattr(tenant, "id", tenant)):
        raise NotFound(msg("No transaction '%(gid)s'.", gid=gid))
    return tx


def list_transactions(*, tenant=ANY_TENANT, state: str | None = None, kind: str | None = None,
                      business_key: str | None = None, older_than: dt.timedelta | None = None,
                      page: int = 1, page_size: int = 20) -> Page[Transaction]:
    """Transactions newest first, filtered by state, kind, business key and age."""
    stmt = sa.select(Transaction)
    if tenant is not ANY_TENANT:
        tenant_id = getattr(tenant, "id", tenant)
        stmt = stmt.where(Transaction.tenant_id.is_(None) if tenant_id is None else
                          Transaction.tenant_id == tenant_id)
    if state:
        if state not in STATES:
            raise field_error("state", msg("Use one of: %(states)s.", states=', '.join(STATES)))
        stmt = stmt.where(Transaction.state == state)
    if kind:
        if kind not in (SAGA, TCC):
            raise field_error("kind", msg("Use saga or tcc."))
        stmt = stmt.where(Transaction.kind == kind)
    if business_key:
        stmt = stmt.where(Transaction.business_key == business_key.replace("\x00", ""))
    if older_than is not None:
        stmt = stmt.where(Transaction.created_at <= utcnow() - older_than)
    stmt = stmt.order_by(Transaction.created_at.desc(), Transaction.id.desc())
    return paginate(stmt, page, page_size)


def timeline(tx: Transaction) -> list[Call]:
    """Every call made for ``tx``, in the order they started."""
    return list(db.session.execute(
        sa.select(Call).where(Call.transaction_id == tx.id).order_by(Call.started_at, Call.id)).scalars())


# Operator actions live in their own file; re-exported so callers need one import.
from taiji.platform.tx.operator import compensate, force_stop, forward, retry_now, skip_step  # noqa: E402

__all__ = ["ANY_TENANT", "compensate", "force_stop", "forward", "get_transaction", "list_transactions",
           "retry_now", "skip_step", "submit_saga", "submit_tcc", "timeline"]
