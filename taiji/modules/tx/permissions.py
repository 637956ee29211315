"""Permissions of the transaction console and API, and the tenant roles that hold them."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import TenantRole


class Perm(enum.StrEnum):
    TRANSACTION_READ = "tx:transaction:read"
    TRANSACTION_OPERATE = "tx:transaction:operate"
    # The platform's own transactions (no tenant: tenant provisioning, later installs).
    PLATFORM_READ = "tx:platform:read"
    PLATFORM_OPERATE = "tx:platform:operate"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.value]


_DESCRIPTIONS = {
    "tx:transaction:read": _l("See the tenant's distributed transactions and the timeline of their calls"),
    "tx:transaction:operate": _l("Submit sagas and TCC transactions; retry, stop, forward, compensate, "
                              "skip steps"),
    "tx:platform:read": _l("See the platform's own transactions (tenant provisioning) and their calls"),
    "tx:platform:operate": _l("Retry, stop, forward, compensate and skip steps of the platform's own "
                              "transactions"),
}

TENANT_GRANTS = {
    TenantRole.OWNER: {Perm.TRANSACTION_READ, Perm.TRANSACTION_OPERATE},
    TenantRole.ADMIN: {Perm.TRANSACTION_READ, Perm.TRANSACTION_OPERATE},
    TenantRole.MEMBER: {Perm.TRANSACTION_READ},
    TenantRole.VIEWER: {Perm.TRANSACTION_READ},
}
PLATFORM_GRANTS: dict = {}
