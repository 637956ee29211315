"""TM's permissions and the built-in tenant roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    TENANT_CREATE = "tm:tenant:create"
    TENANT_READ = "tm:tenant:read"
    TENANT_WRITE = "tm:tenant:write"
    TENANT_SUSPEND = "tm:tenant:suspend"
    MEMBER_READ = "tm:member:read"
    MEMBER_WRITE = "tm:member:write"
    QUOTA_READ = "tm:quota:read"
    QUOTA_WRITE = "tm:quota:write"
    AUDIT_READ = "tm:audit:read"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.value]


_DESCRIPTIONS = {
    "tm:tenant:create": _l("Create tenants"),
    "tm:tenant:read": _l("See the tenant"),
    "tm:tenant:write": _l("Rename the tenant"),
    "tm:tenant:suspend": _l("Suspend and reactivate tenants"),
    "tm:member:read": _l("See the tenant's members and invitations"),
    "tm:member:write": _l("Invite, remove members and change their roles"),
    "tm:quota:read": _l("See the tenant's quotas and usage"),
    "tm:quota:write": _l("Change the tenant's quota limits"),
    "tm:audit:read": _l("Read the tenant's audit log"),
}

_READ = {Perm.TENANT_READ, Perm.MEMBER_READ, Perm.QUOTA_READ}

TENANT_GRANTS = {
    TenantRole.OWNER: _READ | {Perm.TENANT_WRITE, Perm.MEMBER_WRITE, Perm.AUDIT_READ},
    TenantRole.ADMIN: _READ | {Perm.TENANT_WRITE, Perm.MEMBER_WRITE, Perm.AUDIT_READ},
    TenantRole.MEMBER: set(_READ),
    TenantRole.VIEWER: set(_READ),
}
# Creating and suspending tenants and changing quotas belong to platform administrators,
# who hold every permission.
PLATFORM_GRANTS: dict = {}
