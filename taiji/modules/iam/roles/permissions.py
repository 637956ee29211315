"""Permissions over custom roles, groups and the tenant's upstream directory."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    ROLE_READ = "iam:role:read"
    ROLE_WRITE = "iam:role:write"
    DIRECTORY_WRITE = "iam:directory:write"

    @property
    def description(self) -> str:
        return {
            "iam:role:read": _l("See the tenant's roles, groups and bindings"),
            "iam:role:write": _l("Define roles and groups and bind them"),
            "iam:directory:write": _l("Configure sign-in through an upstream LDAP directory"),
        }[self.value]


_MANAGE = {Perm.ROLE_READ, Perm.ROLE_WRITE, Perm.DIRECTORY_WRITE}
TENANT_GRANTS = {
    TenantRole.OWNER: _MANAGE,
    TenantRole.ADMIN: _MANAGE,
    TenantRole.MEMBER: {Perm.ROLE_READ},
    TenantRole.VIEWER: {Perm.ROLE_READ},
}
PERMISSIONS = (Perm, TENANT_GRANTS, {})
