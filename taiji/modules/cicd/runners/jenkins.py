"""The ``jenkins`` runner: a job becomes a build on one of the tenant's Jenkins controllers.

``start`` and ``cancel`` only enqueue work (the request that made the job pending or canceled it
must not wait on a controller); the work itself is in ``modules/cicd/jenkins`` (builds.py hands
the job over, follow.py follows the build, also from the periodic ``cicd.poll_jenkins``).
"""

from __future__ import annotations

from .base import Runner, register_runner


class JenkinsRunner(Runner):
    name = "jenkins"

    def start(self, job_id: int, attempt: int) -> None:
        from ..tasks import jenkins_dispatch

        jenkins_dispatch.apply_async((job_id, attempt))

    def cancel(self, job_id: int, attempt: int) -> None:
        # The poll sees the job canceled and stops the build (or cancels the queue item).
        from ..tasks import jenkins_follow

        jenkins_follow.apply_async((job_id,))

    def poll(self, job_id: int) -> None:
        from ..jenkins.follow import follow_job

        follow_job(job_id)


register_runner(JenkinsRunner())
