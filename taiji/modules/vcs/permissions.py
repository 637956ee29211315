"""Permissions of repositories, and the tenant roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    REPOSITORY_READ = "vcs:repository:read"
    REPOSITORY_WRITE = "vcs:repository:write"
    REPOSITORY_ADMIN = "vcs:repository:admin"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.value]


_DESCRIPTIONS = {
    "vcs:repository:read": _l("See and clone the tenant's repositories: branches, tags, files, commits"),
    "vcs:repository:write": _l("Create repositories, change their description and push to them"),
    "vcs:repository:admin": _l("Protect branches, change visibility and delete repositories"),
}

TENANT_GRANTS = {
    TenantRole.OWNER: {Perm.REPOSITORY_READ, Perm.REPOSITORY_WRITE, Perm.REPOSITORY_ADMIN},
    TenantRole.ADMIN: {Perm.REPOSITORY_READ, Perm.REPOSITORY_WRITE, Perm.REPOSITORY_ADMIN},
    TenantRole.MEMBER: {Perm.REPOSITORY_READ, Perm.REPOSITORY_WRITE},
    TenantRole.VIEWER: {Perm.REPOSITORY_READ},
}
PLATFORM_GRANTS: dict = {}
