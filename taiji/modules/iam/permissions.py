"""IAM's permissions and the built-in roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import PlatformRole


class Perm(enum.StrEnum):
    USER_READ = "iam:user:read"
    USER_WRITE = "iam:user:write"

    @property
    def description(self) -> str:
        return {
            "iam:user:read": _l("List and view user accounts"),
            "iam:user:write": _l("Create and disable user accounts"),
        }[self.value]


TENANT_GRANTS: dict[str, set[str]] = {}
# Platform administrators hold every permission (auth.PermissionCatalog).
PLATFORM_GRANTS = {PlatformRole.USER: set()}
