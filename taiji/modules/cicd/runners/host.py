"""The `host` executor: each line is a process of the worker's own OS user on the worker's host.

Nothing isolates such a job: it can read what the worker's user can read, reach what the host can
reach, and leave processes that detach from their group. It is for single-user installs only, used
when an administrator sets ``TAIJI_CICD_RUNNER=host``; the console says so on every job.
"""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Callable

from .executor import ExecLimits, Executor, LineProcess, PopenLine, register_executor
from .workspace import make_venv


def rlimits(limits: ExecLimits) -> Callable[[], None]:
    """The per-process limits, applied in the child before it runs the line (inherited by all it
    starts)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        if limits.memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.file_bytes:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))

    return apply


class HostExecutor(Executor):
    kind = "host"
    isolated = False

    @property
    def job_workspace(self) -> str:
        return str(self.context.workspace)

    def describe(self) -> str:
        return "host executor: NOT isolated (the job runs as the worker's own user)"

    def setup(self, env: dict[str, str]) -> dict[str, str]:
        tmp = self.context.root / "tmp"
        tmp.mkdir(exist_ok=True)
        extra = {"HOME": str(self.context.workspace), "TMPDIR": str(tmp)}
        config = self.context.config
        venv = make_venv(config["CICD_JOB_PYTHON"], self.context.root / "venv", config["CICD_JOB_PATH"])
        if venv is not None:
            extra["VIRTUAL_ENV"] = str(venv)
            extra["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
        return extra

    def spawn(self, line: str, env: dict[str, str]) -> LineProcess:
        proc = subprocess.Popen(  # noqa: S603 - the line is the job's own script
            ["/bin/sh", "-c", line],
            cwd=str(self.context.workspace),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=rlimits(self.context.limits),
        )
        self._line = PopenLine(proc)
        return self._line

    def stop(self, grace: float) -> None:
        line = getattr(self, "_line", None)
        if line is not None and line.poll() is None:
            line.kill(grace)


register_executor(HostExecutor)
