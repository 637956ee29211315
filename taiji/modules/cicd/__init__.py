"""CICD: pipelines from `.taiji.yml`, the built-in runner, logs, artifacts, CI secrets."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, NavItem

from . import permissions
from .api import blp as api_blp
from .events import HANDLERS
from .jenkins.api import blp as jenkins_api_blp
from .jenkins.views import bp as jenkins_console_bp
from .views import bp as console_bp

module = Module(
    code="cicd",
    title=_l("Pipelines"),
    api_blueprints=[api_blp, jenkins_api_blp],
    blueprints=[console_bp, jenkins_console_bp],
    nav=[NavItem(_l("Pipelines"), "cicd.pipelines", permission=permissions.Perm.PIPELINE_READ, icon="rocket",
                 order=30)],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    event_handlers=HANDLERS,
    tasks=["taiji.modules.cicd.tasks"],
)
