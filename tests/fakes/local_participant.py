"""A module whose in-process transaction steps the engine's tests run (the local counterpart of
``participant.py``): ``local:txfake.step`` for sagas and ``local:txfake.branch`` for TCC.

Its business effect is a row in ``txfake_effect`` on Taiji's own database, written by the handler
in the step's unit of work. Tests script how each (branch, op) behaves, in memory (this process)
or in the payload (``{"script": {"action": ["crash", "ok"]}}``, by attempt — for engines in
other processes):

- ``ok``: write the effect, return;
- ``fail``: raise ``StepRefused`` (a definite refusal), nothing written;
- ``conflict``: raise a ``Conflict`` (the kernel's ServiceError family), nothing written;
- ``error``: write the effect, then raise RuntimeError (outcome unknown; the unit of work is
  rolled back, so nothing stays);
- ``crash``: write the effect, and the engine dies right after the step's commit, before it
  records the answer (in this process: ``EngineDied`` is raised; elsewhere the process exits);
- ``hang``: write the effect after sleeping ``payload["hang"]`` seconds.

It is registered like any module (``TAIJI_EXTRA_MODULES=tests.fakes.local_participant``) or, in
the in-process tests, by ``install()``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

import sqlalchemy as sa

from taiji.platform.db import db
from taiji.platform.errors import Conflict, msg
from taiji.platform.module import Module
from taiji.platform.tx import local
from taiji.platform.tx.local import LocalStep, StepRefused

BEHAVIOURS = {"ok", "fail", "conflict", "error", "crash", "hang"}
STEP = "txfake.step"
BRANCH = "txfake.branch"
OPEN = "txfake.open"  # offered to tenants' own transactions

metadata = sa.MetaData()
effects_table = sa.Table(
    "txfake_effect", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("gid", sa.String(64), nullable=False),
    sa.Column("branch", sa.String(100), nullable=False),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("tenant_id", sa.Integer),
)


class EngineDied(BaseException):
    """The engine process 'dies' here: no ``except Exception`` of the engine catches it."""


@dataclass(frozen=True)
class Received:
    gid: str
    branch: str
    op: str
    attempt: int
    payload: dict


class _Script:
    def __init__(self):
        self.lock = threading.Lock()
        self.scripts: dict[tuple[str | None, str], deque[str]] = defaultdict(deque)
        self.always: dict[tuple[str | None, str], str] = {}
        self.received: list[Received] = []


_state = _Script()


class LocalParticipant:
    """The test's handle on the fake module: script it, and read what it did (same interface as
    the HTTP ``Participant`` where the tests share them)."""

    kind = "local"

    def script(self, branch: str | None, op: str, *answers: str) -> None:
        assert set(answers) <= BEHAVIOURS, answers
        with _state.lock:
            _state.scripts[(branch, op)].extend(answers)

    def always(self, branch: str | None, op: str, answer: str) -> None:
        assert answer in BEHAVIOURS
        with _state.lock:
            _state.always[(branch, op)] = answer

    def reset(self) -> None:
        with _state.lock:
            _state.scripts.clear()
            _state.always.clear()
            _state.received.clear()

    def calls(self, gid: str, op: str | None = None, branch: str | None = None) -> list[Received]:
        with _state.lock:
            return [r for r in _state.received if r.gid == gid and op in (None, r.op)
                    and branch in (None, r.branch)]

    def effects(self, gid: str) -> list[tuple[str, str]]:
        t = effects_table
        rows = db.session.execute(sa.select(t.c.branch, t.c.op).where(t.c.gid == gid).order_by(t.c.id))
        return [tuple(row) for row in rows]

    def saga_steps(self, *names, compensate: bool = True, **extra) -> list[dict]:
        return [{"name": name, "action": local.target(STEP),
                 "compensate": local.target(STEP) if compensate else None,
                 "payload": {"step": name}, **extra.get(name, {})} for name in names]

    def tcc_branches(self, *names) -> list[dict]:
        return [{"name": name, "local": BRANCH, "payload": {"branch": name}} for name in names]


def _answer(call: local.StepCall, payload: dict) -> str:
    scripted = (payload.get("script") or {}).get(call.op)
    if scripted and call.attempt <= len(scripted):
        return scripted[call.attempt - 1]
    with _state.lock:
        for key in ((call.branch, call.op), (None, call.op)):
            if _state.scripts.get(key):
                return _state.scripts[key].popleft()
        return _state.always.get((call.branch, call.op)) or _state.always.get((None, call.op)) or "ok"


def _handle(payload: dict):
    call = local.current()
    with _state.lock:
        _state.received.append(Received(call.gid, call.branch, call.op, call.attempt, payload))
    answer = _answer(call, payload)
    if answer == "fail":
        raise StepRefused(f"{call.branch} says no")
    if answer == "conflict":
        raise Conflict(msg("Already exists."))  # a translatable refusal (the call log keeps English)
    if answer == "hang":
        time.sleep(float(payload.get("hang", 1.0)))
    db.session.execute(effects_table.insert().values(gid=call.gid, branch=call.branch, op=call.op,
                                                     tenant_id=call.tenant_id))
    if answer == "error":
        raise RuntimeError(f"{call.branch} broke half-way")
    if answer == "crash":
        sa.event.listen(db.session(), "after_commit", _die, once=True)
    return {"done": call.op, "branch": call.branch}


def _die(session) -> None:
    if os.environ.get("TXFAKE_CRASH_EXITS"):
        os._exit(17)  # a real engine process killed between the step's commit and its answer
    raise EngineDied()


STEPS = [
    LocalStep(STEP, action=_handle, compensate=_handle),
    LocalStep(BRANCH, try_=_handle, confirm=_handle, cancel=_handle),
    LocalStep(OPEN, action=_handle, compensate=_handle, tenants=True),
]

module = Module(code="txfake", title="Local transaction steps (tests)", tx_steps=STEPS)


def install(bind) -> LocalParticipant:
    """Register the steps in this process and create the effects table on ``bind``."""
    for step in STEPS:
        local.register(step, module=module.code)
    metadata.create_all(bind)
    return LocalParticipant()
