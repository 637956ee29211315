"""Each repository's CI settings: the runner of the jobs that name none (REST and console).

CI keeps them itself, keyed by the repository's name as pipelines know it; VCS knows nothing of
runners. A job's own `runner:` (or `jenkins:`) always wins over the repository's default.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from taiji.platform import audit
from taiji.platform.db import db
from taiji.platform.errors import NotFound, field_error, msg

from ..jenkins.models import RepositorySettings
from ..pipeline_file import KNOWN_RUNNERS
from ..runners.base import default_runner, runner_refusal


def _vcs():
    from taiji.modules.vcs import services as vcs_services

    return vcs_services


def find_settings(tenant_id: int, repository: str) -> RepositorySettings | None:
    return db.session.execute(
        sa.select(RepositorySettings).where(
            RepositorySettings.tenant_id == tenant_id, RepositorySettings.repository == repository
        )
    ).scalar_one_or_none()


def get_settings(tenant, repository: str) -> RepositorySettings:
    """The repository's settings (defaults when never set); 404 when there is no such repository."""
    if _vcs().find_repository(tenant, repository) is None:
        raise NotFound(msg("No repository '%(repository)s'.", repository=repository))
    row = find_settings(tenant.id, repository)
    return row or RepositorySettings(
        tenant_id=tenant.id, repository=repository, default_runner=None, jenkins_controller=None
    )


def set_settings(tenant, repository: str, data: dict, *, actor=None) -> RepositorySettings:
    """Choose the repository's default runner (None: the platform's own) and, for Jenkins, its controller."""
    from ..jenkins.controllers import get_controller

    if _vcs().find_repository(tenant, repository) is None:
        raise NotFound(msg("No repository '%(repository)s'.", repository=repository))
    runner = data.get("default_runner") or None
    if runner == "platform":
        runner = None
    if runner is not None and runner not in KNOWN_RUNNERS:
        raise field_error("default_runner", msg("Choose one of: platform, %(known_runners)s.",
                                                known_runners=', '.join(KNOWN_RUNNERS)))
    refusal = runner_refusal(runner, current_app.config) if runner else None
    if refusal:
        raise field_error("default_runner", refusal[0].upper() + refusal[1:] + ".")
    controller = (data.get("jenkins_controller") or "").strip() or None
    if controller is not None:
        if runner != "jenkins":
            raise field_error("jenkins_controller", msg("A controller is for the jenkins runner only."))
        try:
            get_controller(tenant, controller)
        except NotFound:
            raise field_error("jenkins_controller", msg("No Jenkins controller '%(controller)s'.",
                                                        controller=controller)) from None
    row = find_settings(tenant.id, repository)
    if row is None:
        row = RepositorySettings(tenant_id=tenant.id, repository=repository)
        db.session.add(row)
    row.default_runner, row.jenkins_controller = runner, controller
    row.updated_by_email = getattr(actor, "email", None)
    db.session.flush()
    audit.record(
        "cicd.repository.runner",
        "cicd_repository_settings",
        repository,
        tenant=tenant,
        actor=actor,
        details={"default_runner": runner or "platform", "jenkins_controller": controller},
    )
    return row


def job_runner(spec: dict, default: str | None) -> str:
    """The runner of one job: its own `runner:` (or `jenkins:`), else the repository's default, else
    the platform's (``TAIJI_CICD_RUNNER``)."""
    return spec.get("runner") or default or default_runner(current_app.config)
