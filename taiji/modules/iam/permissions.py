"""IAM's permissions and the built-in roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import PlatformRole


class Perm(enum.StrEnum):
    USER_READ = "iam:user:read"
    USER_WRITE = "iam:user:write"
    # The caller's own account: profile, personal access tokens, invitations. Every user holds it;
    # a scoped token holds it only when it was created with it, so a read-only token cannot mint
    # a stronger one or change the account it belongs to.
    ACCOUNT_WRITE = "iam:account:write"

    @property
    def description(self) -> str:
        return {
            "iam:user:read": _l("List and view user accounts"),
            "iam:user:write": _l("Create and disable user accounts"),
            "iam:account:write": _l("Manage your own account: profile, personal access tokens, "
                                    "invitations"),
        }[self.value]


TENANT_GRANTS: dict[str, set[str]] = {}
# Platform administrators hold every permission (auth.PermissionCatalog).
PLATFORM_GRANTS = {PlatformRole.USER: {Perm.ACCOUNT_WRITE}}
