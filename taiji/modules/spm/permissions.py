"""SPM's permissions and the built-in tenant roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    PRODUCT_READ = "spm:product:read"
    PRODUCT_WRITE = "spm:product:write"
    RULES_WRITE = "spm:rules:write"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.value]


_DESCRIPTIONS = {
    "spm:product:read": _l(
        "See the product catalog: products, components, dependencies, versions, violations"),
    "spm:product:write": _l("Create and change products, components, dependencies and versions; import"),
    "spm:rules:write": _l("Change the tenant's architecture layers and rule severities"),
}

_WRITE = {Perm.PRODUCT_READ, Perm.PRODUCT_WRITE}

TENANT_GRANTS = {
    TenantRole.OWNER: _WRITE | {Perm.RULES_WRITE},
    TenantRole.ADMIN: _WRITE | {Perm.RULES_WRITE},
    TenantRole.MEMBER: set(_WRITE),
    TenantRole.VIEWER: {Perm.PRODUCT_READ},
}
PLATFORM_GRANTS: dict = {}
