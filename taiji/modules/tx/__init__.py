"""TX: the console and REST API of the transaction engine (``taiji.platform.tx``) for tenants."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, NavItem

from . import overview, permissions, sentences
from .api import blp as api_blp
from .views import bp

module = Module(
    code="tx",
    title=_l("Transactions"),
    api_blueprints=[api_blp],
    blueprints=[bp],
    nav=[NavItem(_l("Transactions"), "tx.transactions", permission=permissions.Perm.TRANSACTION_READ,
                 icon="arrows-exchange", order=40, group="operate", badge=overview.parked_count),
         NavItem(_l("Notifications"), "tx.notifications", permission=permissions.Perm.TRANSACTION_READ,
                 icon="send", order=41, group="operate", parent="tx.transactions"),
         NavItem(_l("Messages"), "tx.messages_list", permission=permissions.Perm.TRANSACTION_READ,
                 icon="mail-forward", order=42, group="operate", parent="tx.transactions"),
         NavItem(_l("Transactions"), "tx.platform_transactions", scope="platform",
                 permission=permissions.Perm.PLATFORM_READ, icon="arrows-exchange", order=12)],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    seeders="tests.modules.tx.seeders",
    overview=overview.OVERVIEW,
    audit_sentences=sentences.SENTENCES,
)
