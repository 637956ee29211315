"""Permissions of binary repositories, and the tenant roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    PACKAGE_READ = "bpr:package:read"
    PACKAGE_WRITE = "bpr:package:write"
    REPOSITORY_ADMIN = "bpr:repository:admin"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.value]


_DESCRIPTIONS = {
    "bpr:package:read": _l("Download files and packages of the tenant's binary repositories"),
    "bpr:package:write": _l("Upload files and packages (curl -T, twine, pipelines)"),
    "bpr:repository:admin": _l(
        "Create, change and delete repositories; delete and yank files; run retention"),
}

TENANT_GRANTS = {
    TenantRole.OWNER: {Perm.PACKAGE_READ, Perm.PACKAGE_WRITE, Perm.REPOSITORY_ADMIN},
    TenantRole.ADMIN: {Perm.PACKAGE_READ, Perm.PACKAGE_WRITE, Perm.REPOSITORY_ADMIN},
    TenantRole.MEMBER: {Perm.PACKAGE_READ, Perm.PACKAGE_WRITE},
    TenantRole.VIEWER: {Perm.PACKAGE_READ},
}
PLATFORM_GRANTS: dict = {}
