"""How a job's commands run: the executor interface beneath the built-in runner's job lifecycle.

The lifecycle (``builtin.py``) is one piece of code whatever the executor: it claims the job,
checks the commit out into a folder on the worker's host, writes the log (secrets masked),
heartbeats and notices a cancel, enforces the limits, collects artifacts and JUnit reports from
the checkout, and finishes the job. An executor decides only *how the job's lines run*:

    executor = make_executor(kind, context)  # the job's folder exists, nothing checked out yet
    executor.prepare()                       # before the checkout: pull an image, make a holder...
    extra = executor.setup(env)              # after the checkout: start the container / sandbox
    for line in script:
        proc = executor.spawn(line, env | extra)   # `/bin/sh -c line` in job_workspace
        ... the lifecycle reads proc's output, polls, kills it on cancel/timeout/limits ...
        proc.finish()
    executor.stop(grace)                     # cancel, timeout, a limit, lost: everything, now
    executor.teardown()                      # always, last; never raises

Contract, for every executor:
- The checkout stays on the worker's host at ``context.workspace`` (inside ``context.root``, the
  job's own folder, removed by the lifecycle at the end). An isolating executor shows that same
  folder to the job read-write at ``/workspace`` (``job_workspace``); the lifecycle collects
  artifacts and reports from the host side after the last line.
- ``spawn`` starts one line with exactly the environment given (nothing of the worker's), stdin
  closed, stdout and stderr merged into one stream read through ``LineProcess``. Limits of
  ``context.limits`` (CPU, memory, processes) apply to the line and all it starts.
- ``LineProcess.kill(grace)``: SIGTERM to everything the line started, SIGKILL after ``grace``.
  ``stop(grace)``: the same for everything of the job (a container, a sandbox), idempotent.
- Nothing of a job may outlive ``teardown``; processes must also die when the worker dies
  (parent-death signal, a sandbox or container tied to the worker), and ``cleanup_lost`` removes
  what a crashed worker left (called at the next worker start and by the reaper).
- Errors the user must see (no engine, an unknown image, a pull refused) are ``ExecutorError``
  with a sentence naming the cause: the job fails with reason ``system`` and that sentence.
"""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar


class ExecutorError(Exception):
    """The executor could not prepare or run the job (shown in the job's log as the reason)."""


@dataclass(frozen=True)
class ExecLimits:
    cpu_seconds: int  # per process (RLIMIT_CPU); a container may use a CPU quota instead
    memory_bytes: int  # 0: none
    disk_bytes: int  # the job's folder (workspace, its environment, temporary files); 0: none
    pids: int = 0  # processes of the job at once; 0: none
    # Largest file a process may write (RLIMIT_FSIZE); set when the disk limit is only watched.
    file_bytes: int = 0


@dataclass
class JobContext:
    """What an executor knows of the job it runs (plain values: no database session needed)."""

    job_id: int
    attempt: int
    tenant_id: int
    tenant: str  # slug
    name: str
    spec: dict  # the job's part of `.taiji.yml` (image, services, ...)
    root: Path  # the job's folder on the worker's host
    workspace: Path  # the checkout, inside root
    limits: ExecLimits
    config: Mapping  # the application's configuration
    image: str | None = None  # `image:` of the job, else the file's default, else the setting
    # Files under root the executor wants removed with it, owners to hand files to, etc.
    extra: dict = field(default_factory=dict)


class LineProcess(abc.ABC):
    """One running line. The lifecycle selects on ``fileno()`` and calls ``read()`` when readable."""

    @abc.abstractmethod
    def fileno(self) -> int:
        """A non-blocking readable descriptor of the line's output."""

    def read(self) -> bytes | None:
        """Output that arrived: bytes, b"" at its end, None when nothing is ready now."""
        try:
            return os.read(self.fileno(), 65536)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    @abc.abstractmethod
    def poll(self) -> int | None:
        """The line's exit status once it exited, else None."""

    @abc.abstractmethod
    def kill(self, grace: float) -> None:
        """SIGTERM to all the line started, SIGKILL to what is left after ``grace`` seconds."""

    @abc.abstractmethod
    def finish(self) -> int | None:
        """After the end (or a kill): remove what the line left running, close, return the status."""


class Executor(abc.ABC):
    """Runs a job's lines somewhere: on the host, in a sandbox, in a container."""

    kind: ClassVar[str] = "base"
    # False only for `host`: the console then warns that jobs are not isolated.
    isolated: ClassVar[bool] = True

    def __init__(self, context: JobContext):
        self.context = context
        # The lifecycle points this at the job's log: what the executor did (an image pulled, a
        # service started) is told there, in order with the rest.
        self.log: Callable[[str], None] = lambda text: None

    @property
    def job_workspace(self) -> str:
        """The checkout as the job's commands see it (their working folder, TAIJI_WORKSPACE)."""
        return "/workspace"

    def describe(self) -> str:
        """One line for the top of the job's log: where it runs."""
        return f"{self.kind} executor"

    def prepare(self) -> None:  # noqa: B027 - most executors need nothing before the checkout
        """Before the checkout (the workspace folder exists, empty)."""

    @abc.abstractmethod
    def setup(self, env: dict[str, str]) -> dict[str, str]:
        """After the checkout: make ready what runs the lines. Returns environment variables to
        add to (or override in) ``env`` for every line: HOME, TMPDIR, VIRTUAL_ENV, PATH..."""

    @abc.abstractmethod
    def spawn(self, line: str, env: dict[str, str]) -> LineProcess:
        """Start ``/bin/sh -c line`` in ``job_workspace`` with exactly ``env``."""

    def disk_full(self, final: bool = False) -> bool:
        """Whether the job wrote more than its disk limit where the lifecycle cannot see it (a
        container's own file system). Called often: measure at most every few seconds unless
        ``final`` (after a line)."""
        return False

    def gather(self) -> None:  # noqa: B027 - executors that show the job the checkout itself
        """After the last line, before the lifecycle collects: an executor whose job worked on a
        copy of the checkout (a remote container) brings back the files the job's spec collects."""

    @abc.abstractmethod
    def stop(self, grace: float) -> None:
        """Stop everything of the job now (SIGTERM, SIGKILL after ``grace``). Idempotent."""

    def teardown(self) -> None:  # noqa: B027 - nothing to release for the simplest executors
        """Release what ``prepare``/``setup`` made (containers, namespaces). Always called, last."""

    @classmethod  # noqa: B027 - optional: only executors that leave things outside the folder
    def cleanup_lost(cls, config: Mapping, root: Path) -> None:
        """Remove what a lost attempt (its worker died) left behind in or for its folder ``root``:
        called before the folder is deleted, at the next worker start and by the reaper."""


class PopenLine(LineProcess):
    """A line run as a local child process (the host's shell, or the program entering a sandbox)
    in its own session: killing its process group reaches whatever it started and did not detach."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self._fd = proc.stdout.fileno()
        os.set_blocking(self._fd, False)

    def fileno(self) -> int:
        return self._fd

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self, grace: float) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def finish(self) -> int | None:
        # Whatever the line left running in its group goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdout.close()
        return self.proc.returncode


_executors: dict[str, type[Executor]] = {}
# Runner names a job may ask for besides the executors (the Jenkins runner registers `jenkins`).
_checks: dict[str, Callable[[Mapping], str | None]] = {}


def register_executor(cls: type[Executor], available: Callable[[Mapping], str | None] | None = None) -> None:
    """Make ``cls`` the executor of ``cls.kind``. ``available(config)`` returns why it cannot run
    on this platform (e.g. no Docker engine configured), or None."""
    _executors[cls.kind] = cls
    if available is not None:
        _checks[cls.kind] = available


def executor_class(kind: str) -> type[Executor] | None:
    _load()
    return _executors.get(kind)


def executor_kinds() -> list[str]:
    _load()
    return sorted(_executors)


def unavailable(kind: str, config: Mapping) -> str | None:
    """Why jobs cannot run on ``kind`` here, or None when they can."""
    _load()
    if kind not in _executors:
        return f"the {kind} runner is not available on this platform"
    check = _checks.get(kind)
    return check(config) if check else None


def make_executor(kind: str, context: JobContext) -> Executor:
    why = unavailable(kind, context.config)
    if why:
        raise ExecutorError(why)
    return _executors[kind](context)


def _load() -> None:
    # The executors register themselves when imported; the import is here, not at module top,
    # because they import this module.
    from ..docker import executor  # noqa: F401
    from . import host, sandbox  # noqa: F401
