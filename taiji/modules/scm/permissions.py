"""SCM's permissions and the built-in tenant roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    CONFIG_READ = "scm:config:read"
    CONFIG_WRITE = "scm:config:write"
    CONFIG_PUBLISH = "scm:config:publish"
    SECRET_READ = "scm:secret:read"  # noqa: S105 (a permission's name)
    ADMIN = "scm:admin"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.value]


_DESCRIPTIONS = {
    "scm:config:read": _l(
        "See configuration: resolved values (secrets masked), releases, history, instances"),
    "scm:config:write": _l("Change configuration drafts: set, delete and import items"),
    "scm:config:publish": _l("Publish, approve, roll back, promote and abandon configuration releases"),
    "scm:secret:read": _l("Reveal the value of a secret configuration item (audited)"),
    "scm:admin": _l("Manage configuration access keys, environment policies and component schemas"),
}

_MEMBER = {Perm.CONFIG_READ, Perm.CONFIG_WRITE, Perm.CONFIG_PUBLISH}

TENANT_GRANTS = {
    TenantRole.OWNER: set(Perm),
    TenantRole.ADMIN: set(Perm),
    TenantRole.MEMBER: set(_MEMBER),
    TenantRole.VIEWER: {Perm.CONFIG_READ},
}
PLATFORM_GRANTS: dict = {}
