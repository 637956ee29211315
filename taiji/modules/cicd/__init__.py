"""CICD: pipelines from `.taiji.yml`, the built-in runner, logs, artifacts, CI secrets."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, NavItem, Periodic, Queue

from . import commands, overview, permissions
from .api import blp as api_blp
from .docker.commands import images
from .events import HANDLERS, PUBLISHED
from .jenkins.api import blp as jenkins_api_blp
from .jenkins.views import bp as jenkins_console_bp
from .runners.builtin import QUEUE
from .services.capacity import JOB_TIME_METER
from .services.scheduler import CONCURRENCY_METER
from .settings import SETTINGS
from .views import bp as console_bp

module = Module(
    code="cicd",
    title=_l("Pipelines"),
    api_blueprints=[api_blp, jenkins_api_blp],
    blueprints=[console_bp, jenkins_console_bp],
    nav=[NavItem(_l("Pipelines"), "cicd.pipelines", permission=permissions.Perm.PIPELINE_READ, icon="rocket",
                 order=30, group="build")],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    events=PUBLISHED,
    event_handlers=HANDLERS,
    tasks=["taiji.modules.cicd.tasks"],
    periodic=[
        Periodic("cicd-reap-jobs", "cicd.reap_jobs", timedelta(seconds=15)),
        Periodic("cicd-run-schedules", "cicd.run_schedules", timedelta(minutes=1)),
        Periodic("cicd-expire-artifacts", "cicd.expire_artifacts", timedelta(hours=1)),
        Periodic("cicd-poll-jenkins", "cicd.poll_jenkins", timedelta(seconds=3)),
    ],
    quota_meters=[CONCURRENCY_METER, JOB_TIME_METER],
    settings=SETTINGS,
    cli_commands=[commands.runner, commands.pipelines, images, commands.demo],
    # Jobs in a pool of their own (`taiji runner`): in a worker's threads they held up every tenant's
    # events while they ran.
    queues=[Queue(QUEUE, "Pipeline jobs", "runner")],
    seeders="tests.modules.cicd.seeders",
    overview=overview.OVERVIEW,
    audit_sentences=overview.SENTENCES,
)
