"""The platform's own transactions in the console (Administration → Transactions): a tenant's
creation saga with its local steps in the call log, and one-click recovery of a parked platform
saga of local steps; tenants' members never see them."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from taiji.modules.tm import services as tm
from taiji.platform import quotas
from taiji.platform.db import db
from taiji.platform.tx import services as tx
from tests.factories import make_member, make_user
from tests.platform.tx.conftest import FAST, drive


def test_a_tenant_creation_refused_half_way_shows_its_local_steps(login, admin):
    owner = make_user()
    meter = next(m for m in quotas.meters() if m.name == tm.MEMBERS_METER)
    quotas.register(dataclasses.replace(meter, default_limit=0))
    try:
        with pytest.raises(tm.Conflict):
            tm.create_tenant("halfway", "Half Way", owner_id=owner.id)
    finally:
        quotas.register(meter)
    saga = tx.list_transactions(tenant=None, business_key="tenant:halfway").items[0]
    client = login(admin)

    listed = client.get("/admin/transactions?business_key=tenant:halfway").get_data(as_text=True)
    assert listed.count('data-testid="tx-row"') == 1 and saga.gid in listed
    html = client.get(f"/admin/transactions/{saga.gid}").get_data(as_text=True)
    assert html.count('data-testid="tx-call"') == 4
    assert "local:tm.tenant_row" in html and "local:tm.tenant_owner" in html
    assert "Quota &#39;members&#39; exceeded" in html or "Quota 'members' exceeded" in html


def test_a_parked_platform_saga_is_recovered_with_one_click(login, admin, local_participant):
    local_participant.always("charge", "action", "fail")
    local_participant.always("reserve", "compensate", "error")
    gid = f"plat-{uuid.uuid4().hex[:8]}"
    tx.submit_saga(local_participant.saga_steps("reserve", "charge"), gid=gid,
                   options={**FAST, "retries": 1, "redo_retries": 1})
    db.session.commit()
    assert drive(gid).state == "parked"
    local_participant.reset()  # the cause is fixed
    client = login(admin)

    page = client.get(f"/admin/transactions/{gid}").get_data(as_text=True)
    assert 'data-testid="op-retry"' in page
    response = client.post(f"/admin/transactions/{gid}/retry")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/transactions/{gid}")
    db.session.commit()
    assert drive(gid).state == "rolled_back"
    assert local_participant.effects(gid) == [("reserve", "action"), ("reserve", "compensate")]


def test_tenant_members_cannot_see_or_touch_platform_transactions(login, tenant, local_participant):
    gid = f"plat-{uuid.uuid4().hex[:8]}"
    tx.submit_saga(local_participant.saga_steps("reserve"), gid=gid)
    db.session.commit()
    owner = make_member(tenant, role="owner")
    client = login(owner)
    assert client.get("/admin/transactions").status_code == 403
    assert client.get(f"/admin/transactions/{gid}").status_code == 403
    assert client.post(f"/admin/transactions/{gid}/stop").status_code == 403
    # Nor through their tenant's pages: it is not the tenant's.
    assert client.get(f"/t/{tenant.slug}/transactions/{gid}").status_code == 404
