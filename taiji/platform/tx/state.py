"""The engine's in-memory copy of a transaction during one run, read and written with Core.

The ORM's unit of work costs more CPU than a saga's calls do; the engine's hot path keeps plain
rows instead, remembers which columns changed, and writes only those at the next boundary.
``plans.plan`` reads these rows exactly as it reads the ORM objects: same attribute names.

On PostgreSQL a boundary is one statement (data-modifying CTEs) and one round trip: sent on its
own in autocommit mode when nothing else of the unit of work is uncommitted, else in a pipeline
with its COMMIT. A submit made for this process's engine is one statement too (``insert_owned``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa

from taiji.platform.db import _AFTER_COMMIT_KEY as AFTER_COMMIT_KEY
from taiji.platform.db import db, utcnow
from taiji.platform.tx.models import Branch, Call, Transaction

TRANSACTIONS: sa.Table = Transaction.__table__
BRANCHES: sa.Table = Branch.__table__
CALLS: sa.Table = Call.__table__
IDLE = psycopg.pq.TransactionStatus.IDLE


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


def write(w: Writes) -> tuple[bool, int | None, bool]:
    """Send one boundary's writes; (False, None, False) when the lease is gone (the caller rolls back).

    On PostgreSQL every statement of the boundary goes out in one pipeline, so a boundary costs
    one round trip whatever it contains: when the engine's session owns the database
    transaction and has nothing else pending, the COMMIT rides in that same pipeline (the
    third value says so) and the session keeps its connection for the next boundary — no pool
    check-out, no ping, no separate COMMIT. Elsewhere, Core statements and the session commits.
    Returns whether the lease held, the id of the call begun, if any, and whether it committed.
    """
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        return _write_pipelined(conn.connection.driver_connection, w, _may_commit_here(conn))
    held, call_id = _write_core(conn, w)
    return held, call_id, False


def _may_commit_here(conn: sa.Connection) -> bool:
    # Inside a savepoint (the tests' outer transaction, a caller's begin_nested) only the
    # session may end it; pending ORM objects (a parking's audit entry) and after-commit
    # callbacks need the session's own commit too.
    session = db.session()
    return not (conn.in_nested_transaction() or session.new or session.deleted or session.dirty
                or session.info.get(AFTER_COMMIT_KEY))


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


def _write_pipelined(raw, w: Writes, commit: bool = False) -> tuple[bool, int | None, bool]:
    sql, params = _boundary_statement(w, utcnow())
    try:
        if commit and raw.info.transaction_status == IDLE:
            # Nothing of this unit of work is uncommitted: the statement is a transaction of its
            # own (all its CTEs or none), one round trip with no BEGIN and no COMMIT around it.
            raw.autocommit = True
            try:
                cursor = raw.execute(sql, params)
            finally:
                _autocommit_off(raw)
        else:
            with raw.pipeline():
                cursor = raw.execute(sql, params)
                if commit:
                    raw.commit()
    except psycopg.errors.DivisionByZero:
        return False, None, False
    return True, cursor.fetchone()[0], commit


def _autocommit_off(raw) -> None:
    try:
        raw.autocommit = False
    except psycopg.Error:
        # A connection that broke mid-statement cannot be switched back; closed, the pool
        # discards it instead of handing out one that commits every statement.
        raw.close()


def _boundary_statement(w: Writes, now) -> tuple[str, dict]:
    """A boundary's writes as one statement: the transaction row under the lease, the changed
    steps, the answer and the call begun, each a data-modifying CTE (PostgreSQL runs them all).

    The lease check fails the statement itself (1/0 when no row is ours): none of its writes
    happen and the rest of the pipeline, COMMIT included, is skipped.
    """
    params = {"_now": now}
    tx_keys = answer_keys = call_keys = None
    if w.tx_values is not None:
        values = {**w.tx_values, "updated_at": now}
        tx_keys = tuple(values)
        params.update({f"t_{key}": _pg_value(TRANSACTIONS, key, value) for key, value in values.items()})
        params.update(_id=w.tx_id, _owner=w.owner)
    for i, branch in enumerate(w.branches):
        params.update({f"b{i}_{key}": getattr(branch, key) for key in _STEP_COLUMNS})
    if w.answer is not None:
        answer_keys = tuple(w.answer[1])
        params.update({f"a_{key}": value for key, value in w.answer[1].items()}, _call=w.answer[0])
    if w.new_call is not None:
        call_keys = tuple(w.new_call)
        params.update({f"c_{key}": value for key, value in w.new_call.items()})
    return _boundary_sql(tx_keys, len(w.branches), answer_keys, call_keys), params


@functools.lru_cache(maxsize=256)
def _boundary_sql(tx_keys: tuple | None, steps: int, answer_keys: tuple | None,
                  call_keys: tuple | None) -> str:
    # A handful of shapes recur, so each is built once. Column names come from our own tables
    # (checked by _known), never from input; values are always parameters.
    parts, checked, begun = [], "1", "NULL::integer"
    if tx_keys is not None:
        _known(dict.fromkeys(tx_keys), TRANSACTIONS)
        sets = ", ".join(f"{key} = %(t_{key})s" for key in tx_keys)
        parts.append(f"held AS (UPDATE tx_transaction SET {sets} "  # noqa: S608
                     "WHERE id = %(_id)s AND owner = %(_owner)s RETURNING 1)")
        checked = "1 / (SELECT count(*) FROM held)"
    if steps:
        rows = ", ".join(f"({', '.join(_pg_param(BRANCHES, f'b{i}_{key}', key) for key in _STEP_COLUMNS)})"
                         for i in range(steps))
        parts.append(f"steps AS (UPDATE tx_branch AS b SET state = v.state, seq = v.seq, "  # noqa: S608
                     f"attempts = v.attempts, updated_at = %(_now)s FROM (VALUES {rows}) "
                     f"AS v({', '.join(_STEP_COLUMNS)}) WHERE b.id = v.id RETURNING 1)")
    if answer_keys is not None:
        _known(dict.fromkeys(answer_keys), CALLS)
        sets = ", ".join(f"{key} = %(a_{key})s" for key in answer_keys)
        parts.append(f"answer AS (UPDATE tx_call SET {sets} WHERE id = %(_call)s RETURNING 1)")  # noqa: S608
    if call_keys is not None:
        _known(dict.fromkeys(call_keys), CALLS)
        parts.append(f"begun AS (INSERT INTO tx_call ({', '.join(call_keys)}) "  # noqa: S608
                     f"VALUES ({', '.join(f'%(c_{key})s' for key in call_keys)}) RETURNING id)")
        begun = "(SELECT id FROM begun)"
    return (f"WITH {', '.join(parts)} " if parts else "") + f"SELECT {begun}, {checked}"


_STEP_COLUMNS = ("id", "state", "seq", "attempts")


def insert_owned(tx_values: dict, branch_rows: list[dict], first_call: dict | None = None
                 ) -> tuple[int, list[int], int | None, bool] | None:
    """Insert a transaction, its branches and its first call begun in one statement (PostgreSQL,
    the submit's hot path for an engine of this process).

    ``first_call`` holds the call's columns but its ids, and ``position``: its branch's. Returns
    the transaction's id, its branches' ids in the given order, the call's id and whether it is
    committed already — the statement runs on its own in autocommit mode when nothing else of
    the unit of work is uncommitted, else in a pipeline (so its BEGIN costs no round trip) and
    the caller commits. None when the gid is taken: nothing is inserted, nothing is broken.
    """
    tx_keys = tuple(tx_values)
    keys = tuple(key for key in branch_rows[0] if key != "transaction_id")
    # Parameters are named by position: a statement of at most 4 kB is parsed once per process.
    params = {f"t{j}": _pg_value(TRANSACTIONS, key, tx_values[key]) for j, key in enumerate(tx_keys)}
    # The steps go as one JSON array, whatever their number: the statement stays the same.
    params["rows"] = json.dumps([{key: _json_ready(row[key]) for key in keys} for row in branch_rows])
    call_keys = None
    if first_call is not None:
        call_keys = tuple(key for key in first_call if key != "position")
        params.update({f"c{j}": first_call[key] for j, key in enumerate(call_keys)})
        params["cp"] = first_call["position"]
    sql = _insert_sql(tx_keys, keys, call_keys)
    conn = db.session.connection()
    raw = conn.connection.driver_connection
    committed = _may_commit_here(conn) and raw.info.transaction_status == IDLE
    if committed:
        raw.autocommit = True
        try:
            cursor = raw.execute(sql, params)
        finally:
            _autocommit_off(raw)
    else:
        with raw.pipeline():
            cursor = raw.execute(sql, params)
    found = cursor.fetchall()
    if not found:
        return None
    return found[0][0], [row[1] for row in found], found[0][2], committed


@functools.lru_cache(maxsize=256)
def _insert_sql(tx_keys: tuple, keys: tuple, call_keys: tuple | None) -> str:
    # Column names come from our own tables (checked by _known); values are always parameters,
    # cast to their column's type so that a column of NULLs in VALUES is not taken for text.
    _known(dict.fromkeys(tx_keys), TRANSACTIONS)
    _known(dict.fromkeys(keys), BRANCHES)
    rows = ", ".join(f"{key} {_pg_type(BRANCHES, key)}" for key in keys)
    sql = (
        f"WITH t AS (INSERT INTO tx_transaction ({', '.join(tx_keys)}) "  # noqa: S608
        f"VALUES ({', '.join(_pg_param(TRANSACTIONS, f't{j}', key) for j, key in enumerate(tx_keys))}) "
        "ON CONFLICT (gid) DO NOTHING RETURNING id), "
        f"b AS (INSERT INTO tx_branch (transaction_id, {', '.join(keys)}) "
        f"SELECT t.id, {', '.join('v.' + key for key in keys)} "
        f"FROM t, json_to_recordset(%(rows)s::json) AS v({rows}) ORDER BY v.position "
        "RETURNING id, position)")
    call = "NULL::integer"
    if call_keys is not None:
        _known(dict.fromkeys(call_keys), CALLS)
        values = ", ".join(_pg_param(CALLS, f"c{j}", key) for j, key in enumerate(call_keys))
        sql += (f", c AS (INSERT INTO tx_call (transaction_id, branch_id, {', '.join(call_keys)}) "  # noqa: S608
                f"SELECT t.id, b.id, {values} "
                "FROM t JOIN b ON b.position = %(cp)s RETURNING id)")
        call = "(SELECT id FROM c)"
    return sql + f" SELECT t.id, b.id, {call} FROM t JOIN b ON true ORDER BY b.position"  # noqa: S608


_PG_TYPES: dict[tuple[str, str], str] = {}
_SHORT_TYPES = {"TIMESTAMP WITH TIME ZONE": "timestamptz", "INTEGER": "int", "VARCHAR": "varchar",
                "TEXT": "text", "JSON": "json"}


def _json_ready(value):
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _pg_param(table: sa.Table, name: str, key: str) -> str:
    return f"%({name})s::{_pg_type(table, key)}"


def _pg_type(table: sa.Table, key: str) -> str:
    cast = _PG_TYPES.get((table.name, key))
    if cast is None:
        from sqlalchemy.dialects import postgresql

        column_type = table.c[key].type
        column_type = getattr(column_type, "impl", column_type)  # a TypeDecorator stores as its impl
        cast = column_type.compile(dialect=postgresql.dialect()).split("(")[0]  # the column checks lengths
        cast = _PG_TYPES[(table.name, key)] = _SHORT_TYPES.get(cast, cast)
    return cast


def _pg_value(table: sa.Table, key: str, value):
    # JSON goes as text cast to json, as SQLAlchemy's JSON type writes it (None is JSON null).
    return json.dumps(value) if key in _JSON_COLUMNS[table.name] else value


_JSON_COLUMNS = {t.name: frozenset(c.key for c in t.c if isinstance(c.type, sa.JSON))
                 for t in (TRANSACTIONS, BRANCHES, CALLS)}


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
