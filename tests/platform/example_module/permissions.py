"""The example module's permissions and the built-in roles that hold them."""

from __future__ import annotations

import enum

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    NOTE_READ = "example:note:read"
    NOTE_WRITE = "example:note:write"

    @property
    def description(self) -> str:
        return {"example:note:read": "Read example notes",
                "example:note:write": "Write example notes"}[self.value]


TENANT_GRANTS = {
    TenantRole.OWNER: {Perm.NOTE_READ, Perm.NOTE_WRITE},
    TenantRole.ADMIN: {Perm.NOTE_READ, Perm.NOTE_WRITE},
    TenantRole.MEMBER: {Perm.NOTE_READ, Perm.NOTE_WRITE},
    TenantRole.VIEWER: {Perm.NOTE_READ},
}
PLATFORM_GRANTS: dict = {}
