"""The runner interface, shaped for the built-in Celery runner and a later Jenkins one.

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


def register_runner(runner: Runner) -> None:
    _runners[runner.name] = runner


def get_runner(name: str) -> Runner:
    if name not in _runners:
        from . import builtin, jenkins  # noqa: F401 - they register themselves

    return _runners[name]
