"""TX console pages: the list with filters and empty state, the timeline, live refresh and the
operator buttons with their confirm dialogs and explained refusals."""

from __future__ import annotations

import re
import uuid

from taiji.platform.db import db
from taiji.platform.tx import services as tx
from tests.factories import make_member
from tests.platform.tx.conftest import FAST, drive, saga_steps


def _parked_free_saga(tenant, **kw):
    gid = f"con-{uuid.uuid4().hex[:8]}"
    tx.submit_saga([{"name": "reserve", "action": "http://10.0.0.9/r"}, {"name": "charge",
                    "action": "http://10.0.0.9/c"}], gid=gid, tenant=tenant, **kw)
    db.session.commit()
    return gid


def test_empty_list_explains_what_appears_here(login, admin, tenant):
    html = login(admin).get(f"/t/{tenant.slug}/transactions").get_data(as_text=True)
    assert 'data-testid="empty-state"' in html and "No transactions yet" in html


def test_list_filters_by_state_and_business_key(login, admin, tenant):
    gid = _parked_free_saga(tenant, business_key="order-7")
    _parked_free_saga(tenant, business_key="order-8")
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/transactions?business_key=order-7").get_data(as_text=True)
    assert html.count('data-testid="tx-row"') == 1 and gid in html
    html = client.get(f"/t/{tenant.slug}/transactions?state=succeeded").get_data(as_text=True)
    assert "No transactions match" in html
    assert client.get(f"/t/{tenant.slug}/transactions?state=bogus&older_than_minutes=x").status_code == 200


def test_timeline_shows_each_call_and_stops_polling_when_finished(login, admin, tenant, participant,
                                                                  loopback_allowed):
    gid = f"tl-{uuid.uuid4().hex[:8]}"
    tx.submit_saga(saga_steps(participant, "reserve", "charge"), gid=gid, tenant=tenant, options=FAST)
    db.session.commit()
    client = login(admin)
    running = client.get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in running
    drive(gid)
    partial = client.get(f"/t/{tenant.slug}/transactions/{gid}", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert "<html" not in html and 'id="tx-live"' in html
    assert html.count('data-testid="tx-call"') == 2
    assert 'data-result="OK"' in html and "hx-trigger" not in html
    # Each call's time in the console's one format: to the millisecond, with its zone.
    assert len(re.findall(r'data-testid="call-time">\d\d:\d\d:\d\d\.\d{3} UTC<', html)) == 2


def test_operator_buttons_confirm_act_and_explain_refusals(login, admin, tenant):
    gid = _parked_free_saga(tenant)
    client = login(admin)
    page = client.get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    assert 'data-testid="op-stop"' in page and "data-confirm=" in page
    response = client.post(f"/t/{tenant.slug}/transactions/{gid}/stop")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-state="stopped"' in page
    assert 'data-testid="refused-retry"' in page and "The transaction is finished" in page
    again = client.post(f"/t/{tenant.slug}/transactions/{gid}/retry", follow_redirects=True)
    assert "Refused:" in again.get_data(as_text=True)


def test_the_phase_and_state_read_as_words_in_chinese(login, admin, tenant):
    gid = _parked_free_saga(tenant)
    client = login(admin)
    client.post("/locale", data={"locale": "zh_Hans"})
    page = client.get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    assert '<span data-testid="tx-phase">操作</span>' in page
    assert 'data-state="running">运行中</span>' in page


def test_viewer_sees_no_buttons_and_cannot_act(login, tenant):
    gid = _parked_free_saga(tenant)
    viewer = make_member(tenant, "viewer")
    client = login(viewer)
    page = client.get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    assert 'data-testid="tx-actions"' not in page
    assert client.post(f"/t/{tenant.slug}/transactions/{gid}/stop").status_code == 403
    assert tx.get_transaction(gid).state == "running"



def test_list_filters_by_age(login, admin, tenant):
    import datetime as dt

    import sqlalchemy as sa

    from taiji.platform.db import utcnow
    from taiji.platform.tx.models import Transaction

    old = _parked_free_saga(tenant)
    new = _parked_free_saga(tenant)
    db.session.execute(sa.update(Transaction).where(Transaction.gid == old)
                       .values(created_at=utcnow() - dt.timedelta(hours=2)))
    db.session.commit()
    html = login(admin).get(f"/t/{tenant.slug}/transactions?older_than_minutes=60").get_data(as_text=True)
    assert f'data-gid="{old}"' in html and f'data-gid="{new}"' not in html
    assert 'value="60" selected' in html


def test_the_steps_table_agrees_with_the_timeline(login, admin, tenant, participant, loopback_allowed):
    """A step that needed three calls shows three, not the engine's per-operation counter (which
    starts again at 0 once the step settles), and a compensated step counts both operations."""
    import re

    participant.script("reserve", "action", "error", "error")  # two unknown answers, then OK
    participant.script("charge", "action", "fail")  # the saga turns back: reserve is compensated
    gid = f"agree-{uuid.uuid4().hex[:8]}"
    tx.submit_saga(saga_steps(participant, "reserve", "charge"), gid=gid, tenant=tenant, options=FAST)
    db.session.commit()
    drive(gid)
    html = login(admin).get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    calls = html.count('data-testid="tx-call"')

    def row(step):
        return re.search(rf'<tr data-step="{step}">(.*?)</tr>', html, re.S).group(1)

    reserve, charge = row("reserve"), row("charge")
    assert '<span data-testid="step-attempts">4</span>' in reserve  # 3 actions + 1 compensation
    assert "Action 3 · Compensate 1" in reserve
    assert 'data-state="compensated"' in reserve
    assert '<span data-testid="step-attempts">2</span>' in charge  # its failed action, compensated too
    assert "Action 1 · Compensate 1" in charge
    shown = sum(int(n) for n in re.findall(r'data-testid="step-attempts">(\d+)<', html))
    assert shown == calls  # every call of the timeline is counted once in the table


def test_a_step_settled_without_a_call_says_so(login, admin, tenant, participant, loopback_allowed):
    """A step with nothing to undo is compensated without a call: its row says why the timeline has
    no compensation for it."""
    import re

    participant.script("charge", "action", "fail")
    gid = f"nocall-{uuid.uuid4().hex[:8]}"
    tx.submit_saga(saga_steps(participant, "reserve", "charge", compensate=False), gid=gid, tenant=tenant,
                   options=FAST)
    db.session.commit()
    drive(gid)
    html = login(admin).get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    reserve = re.search(r'<tr data-step="reserve">(.*?)</tr>', html, re.S).group(1)
    assert 'data-state="compensated"' in reserve and "Compensate" not in reserve.split("step-ops")[-1]
    assert 'data-testid="step-no-call"' in reserve
    assert "No successful Compensate call" in reserve
