"""Permissions over custom roles, groups and the tenant's upstream directory."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    ROLE_READ = "iam:role:read"
    ROLE_WRITE = "iam:role:write"
    DIRECTORY_WRITE = "iam:directory:write"
    # Claim and verify email domains: which tenant's directory receives the passwords of new users
    # at a domain. The owner's alone; platform administrators approve (they hold every permission).
    DOMAIN_WRITE = "iam:domain:write"
    DOMAIN_APPROVE = "iam:domain:approve"

    @property
    def description(self) -> str:
        return {
            "iam:role:read": _l("See the tenant's roles, groups and bindings"),
            "iam:role:write": _l("Define roles and groups and bind them"),
            "iam:directory:write": _l("Configure sign-in through an upstream LDAP directory"),
            "iam:domain:write": _l("Add and verify the email domains the tenant's directory signs in"),
            "iam:domain:approve": _l("Approve tenants' email domains without DNS proof"),
        }[self.value]


_MANAGE = {Perm.ROLE_READ, Perm.ROLE_WRITE, Perm.DIRECTORY_WRITE}
TENANT_GRANTS = {
    TenantRole.OWNER: _MANAGE | {Perm.DOMAIN_WRITE},
    TenantRole.ADMIN: _MANAGE,
    TenantRole.MEMBER: {Perm.ROLE_READ},
    TenantRole.VIEWER: {Perm.ROLE_READ},
}
PERMISSIONS = (Perm, TENANT_GRANTS, {})
