"""What the tenant overview and the menu show of the transactions: the parked ones, which wait for
a person (``taiji.platform.overview``; the count is the Transactions menu entry's badge)."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _

from taiji.platform.overview import Attention, Row
from taiji.platform.tx.models import PARKED

from . import services
from .permissions import Perm

SHOWN = 5  # parked transactions listed on the overview (the count says how many in all)


def parked(tenant, size: int = SHOWN):
    return services.list_transactions(tenant, state=PARKED, page=1, page_size=size)


def parked_count(principal, tenant) -> int:
    """The menu badge: how many of the tenant's transactions are parked."""
    return parked(tenant, 1).total if tenant is not None else 0


def attention(tenant, principal) -> list[Row]:
    page = parked(tenant)
    rows = [Row(_("Transaction %(gid)s is parked and waits for a person.", gid=tx.gid),
                url_for("tx.transaction", tenant=tenant.slug, gid=tx.gid), status=_("Parked"), tone="red",
                when=tx.updated_at, detail=(tx.last_error or "")[:200] or None)
            for tx in page.items]
    if page.total > len(page.items):
        rows.append(Row(_("%(n)s more parked transactions.", n=page.total - len(page.items)),
                        url_for("tx.transactions", tenant=tenant.slug, state=PARKED), tone="red"))
    return rows


OVERVIEW = [Attention("tx.parked", attention, permission=Perm.TRANSACTION_READ, order=10)]
