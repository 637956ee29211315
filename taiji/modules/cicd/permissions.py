"""Permissions of pipelines and CI secrets, and the tenant roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    PIPELINE_READ = "cicd:pipeline:read"
    PIPELINE_RUN = "cicd:pipeline:run"
    SECRET_WRITE = "cicd:secret:write"  # noqa: S105 - a permission name, not a password
    RUNNER_MANAGE = "cicd:runner:manage"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.value]


_DESCRIPTIONS = {
    "cicd:pipeline:read": _l("See pipelines, jobs, their logs and artifacts"),
    "cicd:pipeline:run": _l("Run pipelines by hand, cancel and retry them, play manual jobs"),
    "cicd:secret:write": _l(
        "See the names of, create, replace and delete the tenant's CI secrets (their values are never "
        "shown)"),
    "cicd:runner:manage": _l(
        "Register, change, test and remove the tenant's Jenkins controllers, trigger their jobs, and choose "
        "each repository's default runner"),
}

TENANT_GRANTS = {
    TenantRole.OWNER: {Perm.PIPELINE_READ, Perm.PIPELINE_RUN, Perm.SECRET_WRITE, Perm.RUNNER_MANAGE},
    TenantRole.ADMIN: {Perm.PIPELINE_READ, Perm.PIPELINE_RUN, Perm.SECRET_WRITE, Perm.RUNNER_MANAGE},
    TenantRole.MEMBER: {Perm.PIPELINE_READ, Perm.PIPELINE_RUN},
    TenantRole.VIEWER: {Perm.PIPELINE_READ},
}
PLATFORM_GRANTS: dict = {}
