"""URL arguments of TX routes for the tenant-isolation walk, and one request per TX permission
for the permission matrix. Named by the module's ``Module(seeders=...)``; tests/factories.py imports it."""

from __future__ import annotations

from tests.factories import ISOLATION_SEEDERS, PERMISSION_REQUESTS


# TX: the transaction console and API
def _tx_seed_transaction(tenant, owner, known):
    from taiji.platform.tx import services as tx

    # A private-range address nobody answers on: the saga stays where it is while the walk runs.
    return tx.submit_saga([{"name": "reserve", "action": "http://10.255.255.1/reserve"}],
                          gid=f"iso-{tenant.slug}", tenant=tenant).gid


ISOLATION_SEEDERS["gid"] = _tx_seed_transaction
ISOLATION_SEEDERS["operation"] = lambda tenant, owner, known: "retry"


def _tx_seed_notification(tenant, owner, known):
    from taiji.platform.tx import notify

    return notify.notify("http://10.255.255.1/hook", {"n": 1}, secret="isolation-secret-123", tenant=tenant,
                         nid=f"iso-{tenant.slug}").nid


ISOLATION_SEEDERS["nid"] = _tx_seed_notification


def _tx_seed_message(tenant, owner, known):
    from taiji.platform.tx import messages

    return messages.prepare("iso.topic", {"n": 1}, check_url=None, mid=f"iso-{tenant.slug}",
                            tenant=tenant).mid


ISOLATION_SEEDERS["mid"] = _tx_seed_message

PERMISSION_REQUESTS["tx:transaction:read"] = {"method": "GET", "path": "/api/v1/tenants/{t}/tx/transactions"}
PERMISSION_REQUESTS["tx:transaction:operate"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/tx/sagas",
    "body": {"steps": [{"name": "reserve", "action": "http://10.255.255.1/reserve"}]},
}


def _tx_platform_saga(tenant) -> dict:
    """A saga of the platform's own (no tenant), for the platform operator's requests."""
    from taiji.platform.tx import services as tx

    gid = f"platform-{tenant.slug}"
    tx.submit_saga([{"name": "reserve", "action": "http://10.255.255.1/reserve"}], gid=gid)
    return {"gid": gid}


PERMISSION_REQUESTS["tx:platform:read"] = {"method": "GET", "path": "/api/v1/tx/transactions",
                                          "scope": "platform"}
PERMISSION_REQUESTS["tx:platform:operate"] = {
    "method": "POST", "path": "/api/v1/tx/transactions/{gid}/actions/retry", "body": {}, "scope": "platform",
    "prepare": _tx_platform_saga,
}
