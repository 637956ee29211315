"""The runner interface, shaped for the built-in Celery runner and a remote (Jenkins) one.

The scheduler owns job states; a runner only receives "start this job" and "cancel this job".
A runner reports back through the job row: it claims the job (pending -> running), writes log
chunks, heartbeats, and finishes it through ``services.scheduler.finish_job``. A remote runner
(Jenkins) does the same from a poller that follows the remote build: ``start`` queues the remote
build and remembers its handle in ``Job.worker``; ``poll`` moves log and status across.
"""

from __future__ import annotations

import abc


class Runner(abc.ABC):
    name: str = "base"

    @abc.abstractmethod
    def start(self, job_id: int, attempt: int) -> None:
        """Hand the job to the pool; called after the commit that made it pending."""

    def cancel(self, job_id: int, attempt: int) -> None:  # noqa: B027 - optional for pools that poll
        """Stop a running job. The built-in runner needs nothing here: its heartbeat loop sees the
        job's status flip to canceled in the database and kills the process group, from any host."""

    def poll(self, job_id: int) -> None:  # noqa: B027 - only remote runners follow builds
        """Remote runners: fetch new log text and the build's state (called by a periodic task)."""


_runners: dict[str, Runner] = {}
# Names of the built-in runner's executors: a job on any of them goes to the built-in pool.
BUILTIN_KINDS = ("sandbox", "docker", "host")


def register_runner(runner: Runner, name: str | None = None) -> None:
    _runners[name or runner.name] = runner


def get_runner(name: str) -> Runner:
    if name not in _runners:
        from . import builtin  # noqa: F401 - registers itself

    return _runners[name]


def default_runner(config) -> str:
    """Where a job runs when its file names no runner: ``TAIJI_CICD_RUNNER``, where ``auto`` is
    docker when a Docker engine is configured, else the sandbox."""
    chosen = config.get("CICD_RUNNER") or "auto"
    if chosen == "auto":
        return "docker" if config.get("DOCKER_HOST") else "sandbox"
    return chosen


def runner_refusal(name: str, config) -> str | None:
    """Why a pipeline file may not ask for runner ``name`` on this platform, or None.

    ``host`` runs jobs without isolation: only an administrator enables it, by making it the
    platform's runner. (An engine that is missing is the job's error, not the file's.)"""
    if name == "host" and config.get("CICD_RUNNER") != "host":
        return (
            "runner 'host' is not enabled on this platform "
            "(only an administrator enables it, with TAIJI_CICD_RUNNER=host)"
        )
    return None
