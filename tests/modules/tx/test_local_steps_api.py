"""Local steps through the tenant's transaction API: unknown or platform-only handlers are refused
when the transaction is created (422), an offered one runs for the tenant and shows in the call
log like an HTTP participant's call."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from taiji.platform.db import db
from taiji.platform.tx.models import Transaction
from tests.fakes.local_participant import effects_table
from tests.platform.tx.conftest import FAST, drive


def _base(tenant):
    return f"/api/v1/tenants/{tenant.slug}/tx"


def _count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Transaction))


@pytest.mark.parametrize(("step", "field", "why"), [
    ({"name": "a", "action": "local:nobody.nothing"}, "steps.0.action", "No local step handler"),
    ({"name": "a", "local": "nobody.nothing"}, "steps.0.local", "No local step handler"),
    ({"name": "a", "action": "local:tm.tenant_row", "compensate": "local:tm.tenant_row",
      "payload": {"slug": "stolen", "name": "Stolen"}}, "steps.0.action", "not offered to tenants"),
    ({"name": "a", "local": "tm.tenant_owner"}, "steps.0.local", "not offered to tenants"),
    ({"name": "a"}, "steps.0.action", "A URL is required"),
])
def test_unknown_or_platform_only_local_steps_are_refused_at_submit(api_as, admin, tenant, local_participant,
                                                                    step, field, why):
    before = _count()
    response = api_as(admin).post(f"{_base(tenant)}/sagas", json={"steps": [step]})
    assert response.status_code == 422, response.json
    assert why in response.json["errors"]["json"][field][0]
    assert _count() == before


def test_an_offered_local_step_runs_for_the_tenant_and_shows_in_the_timeline(api_as, admin, tenant,
                                                                           local_participant):
    api = api_as(admin)
    gid = f"open-{uuid.uuid4().hex[:8]}"
    local_participant.always("second", "action", "fail")
    response = api.post(f"{_base(tenant)}/sagas", json={
        "gid": gid, "options": FAST,
        "steps": [{"name": "first", "local": "txfake.open", "payload": {"n": 1}},
                  {"name": "second", "action": "local:txfake.open"}]})
    assert response.status_code == 201, response.json
    assert response.json["steps"][0]["action"] == "local:txfake.open"
    db.session.commit()

    assert drive(gid).state == "rolled_back"

    detail = api.get(f"{_base(tenant)}/transactions/{gid}").json
    assert [(c["branch"], c["op"], c["result"]) for c in detail["timeline"]] == [
        ("first", "action", "OK"), ("second", "action", "FAIL"), ("first", "compensate", "OK")]
    assert detail["timeline"][0]["url"] == "local:txfake.open"
    # The handler knew whose transaction it served.
    rows = db.session.execute(sa.select(effects_table.c.op, effects_table.c.tenant_id)
                              .where(effects_table.c.gid == gid)).all()
    assert rows == [("action", tenant.id), ("compensate", tenant.id)]
