"""In-process transaction steps (local participants): a module's own Python handlers as saga
steps and TCC branches, run by the engine in the worker instead of called over HTTP.

A module declares its handlers in its ``Module`` (``tx_steps=[LocalStep(...)]``); a step names
one as ``local:<code>.<name>`` where it would name a URL. The engine runs the handler for the
step's operation in a unit of work of its own, behind the participant SDK's barrier on Taiji's
database (table ``tx_barrier``): a retried action applies once, a compensation of an action that
never ran does nothing, and an action arriving after its compensation is refused.

What a handler's outcome means to the engine, as an HTTP answer would:

- it returns (any JSON-able value, shown in the call log): OK;
- it raises ``StepRefused``, a ``ServiceError`` or ``QuotaExceeded`` (a definite refusal,
  nothing done — its unit of work is rolled back): FAIL;
- any other exception, or a failing commit: UNKNOWN — retried, as a timeout would be.

docs/tx.md ("Local steps") is the guide for module authors.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taiji.platform import registry as registries
from taiji.platform.db import Base, db
from taiji.platform.errors import ServiceError
from taiji.platform.quotas import QuotaExceeded
from taiji.platform.tx.models import FAIL, OK, UNKNOWN
from taiji.platform.tx.protocol import Answer, summarize
from taiji.tx.barrier import Barrier

log = logging.getLogger("taiji.tx")

SCHEME = "local:"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

# The same barrier as any HTTP participant uses, on Taiji's own database.
BARRIER = Barrier("tx_barrier", metadata=Base.metadata)


class StepRefused(Exception):
    """A handler's definite refusal: nothing was done, and the engine records FAIL (not retried)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class LocalStep:
    """One registered step handler. ``name`` is ``<module code>.<name>``; each callable takes the
    step's payload (a dict) and returns a JSON-able result.

    A saga step uses ``action`` (and ``compensate``); a TCC branch ``try_``, ``confirm`` and
    ``cancel``. ``tenants``: whether tenants may name it in their own transactions through the
    API (the handler then reads the tenant from ``current().tenant_id``); platform-only otherwise.
    """

    name: str
    action: Callable[[dict], Any] | None = None
    compensate: Callable[[dict], Any] | None = None
    try_: Callable[[dict], Any] | None = None
    confirm: Callable[[dict], Any] | None = None
    cancel: Callable[[dict], Any] | None = None
    tenants: bool = False

    def handler(self, op: str) -> Callable[[dict], Any] | None:
        return getattr(self, "try_" if op == "try" else op, None)


@dataclass(frozen=True)
class StepCall:
    """What a running handler may want to know besides its payload (``current()``)."""

    gid: str
    branch: str
    op: str
    attempt: int
    tenant_id: int | None


def _steps() -> dict[str, LocalStep]:
    """The current application's steps (taiji.platform.registry)."""
    return registries.current().local_steps


_current: contextvars.ContextVar[StepCall | None] = contextvars.ContextVar("taiji_tx_step", default=None)


def register(step: LocalStep, *, module: str | None = None) -> None:
    """Make ``local:<step.name>`` callable; ``module`` (its code) must prefix the name."""
    if not NAME_PATTERN.match(step.name):
        raise ValueError(f"local step name {step.name!r}: use '<module code>.<name>' in lowercase")
    if module is not None and step.name.split(".", 1)[0] != module:
        raise ValueError(f"local step {step.name!r} must be named '{module}.<name>'")
    registry = _steps()
    known = registry.get(step.name)
    if known is not None and known != step:
        raise ValueError(f"local step {step.name!r} is registered twice")
    registry[step.name] = step


def unregister(name: str) -> None:
    _steps().pop(name, None)


def lookup(name: str) -> LocalStep | None:
    return _steps().get(name)


def is_local(target: str | None) -> bool:
    return isinstance(target, str) and target.startswith(SCHEME)


def target(name: str) -> str:
    return SCHEME + name


def current() -> StepCall | None:
    """The step being run by this thread (inside a handler), else None."""
    return _current.get()


def refusal(value: str, op: str, *, tenant: bool) -> str | None:
    """Why ``value`` (``local:<name>``) cannot serve ``op``, or None when it can."""
    name = value[len(SCHEME):]
    step = _steps().get(name)
    if step is None:
        return f"No local step handler '{name}' is registered."
    if step.handler(op) is None:
        return f"The local step '{name}' has no {op} handler."
    if tenant and not step.tenants:
        return f"The local step '{name}' is not offered to tenants' transactions."
    return None


def invoke(value: str, *, gid: str, branch: str, op: str, payload: dict, attempt: int,
           tenant_id: int | None) -> Answer:
    """Run the handler for ``op`` once, behind the barrier, in a unit of work of its own.

    Never raises for what the handler does: the answer says OK, FAIL or UNKNOWN. The engine's
    session has committed its boundary before this is called, so the commit here is the step's
    alone; a crash after it leaves the call unanswered, and the retry meets the barrier's row.
    """
    started = time.monotonic()
    name = value[len(SCHEME):]
    step = _steps().get(name)
    handler = step.handler(op) if step is not None else None
    if handler is None:
        # Registered when submitted, gone now (a module disabled, a worker on another version):
        # nothing ran, and a later attempt in a process that has it may succeed.
        return Answer(UNKNOWN, None, None, f"no local step handler '{name}' for {op} in this process",
                      _elapsed(started))
    session = db.session
    token = _current.set(StepCall(gid, branch, op, attempt, tenant_id))
    try:
        outcome = BARRIER.run(session, gid, branch, op, lambda: handler(dict(payload)))
        if outcome.refused:
            session.rollback()
            return Answer(FAIL, None, _summary("FAILURE", outcome.result.value, None),
                          "refused by the barrier: its compensation ran first", _elapsed(started))
        session.commit()
    except StepRefused as exc:
        session.rollback()
        return Answer(FAIL, None, None, f"refused: {exc.detail}"[:1000], _elapsed(started))
    except (ServiceError, QuotaExceeded) as exc:
        session.rollback()
        # The call log is stored: in English, whatever the language of a request running the step.
        return Answer(FAIL, None, None, f"refused: {exc.english}"[:1000], _elapsed(started))
    except Exception as exc:
        session.rollback()
        log.warning("local step raised; its outcome counts as unknown", exc_info=True,
                    extra={"gid": gid, "branch": branch, "op": op})
        return Answer(UNKNOWN, None, None, f"{type(exc).__name__}: {exc}"[:1000], _elapsed(started))
    finally:
        _current.reset(token)
    return Answer(OK, None, _summary("SUCCESS", outcome.result.value, outcome.value), None, _elapsed(started))


def _summary(result: str, barrier: str, value) -> str:
    # Shaped like a participant's JSON answer, so the call log reads the same for both kinds.
    body = {"result": result, "barrier": barrier}
    if value is not None:
        body["value"] = value
    return summarize(body)


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
