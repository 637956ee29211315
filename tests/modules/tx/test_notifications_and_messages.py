"""Console pages and REST endpoints for best-effort notifications and two-phase messages: lists
filtered by state with empty states and pages, details with every attempt or check-back, and
the operator actions (retry now, stop, re-check) — idempotent, refused where senseless, audited."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db
from taiji.platform.tx import messages, notify
from tests.factories import make_member, make_tenant

SECRET = "console-secret-0123456789"


def _notification(tenant, url="http://10.255.255.1/hook", **kw):
    nid = f"n-{uuid.uuid4().hex[:10]}"
    notify.notify(url, {"order": 1}, secret=SECRET, tenant=tenant, nid=nid, **kw)
    db.session.commit()
    return nid


def _message(tenant, check_url="http://10.255.255.1/check"):
    mid = f"m-{uuid.uuid4().hex[:10]}"
    messages.prepare("order.paid", {"order": 9}, check_url=check_url, mid=mid, tenant=tenant)
    db.session.commit()
    return mid


def test_empty_lists_explain_what_appears_there(login, admin, tenant):
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/notifications").get_data(as_text=True)
    assert 'data-testid="empty-state"' in html and "No notifications yet" in html
    html = client.get(f"/t/{tenant.slug}/messages").get_data(as_text=True)
    assert 'data-testid="empty-state"' in html and "No messages yet" in html


def test_notification_detail_shows_schedule_and_every_attempt_with_its_answer(login, admin, tenant,
                                                                              participant, loopback_allowed):
    nid = _notification(tenant, url=participant.url("confirm") + "?gid=n&branch=b&op=confirm",
                        ack="never-this", schedule=[0.0, 60.0])
    assert notify.attempt(nid) == notify.PENDING
    assert notify.attempt(nid) == notify.PENDING
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/notifications/{nid}").get_data(as_text=True)
    assert html.count('data-testid="notification-attempt"') == 2 and "HTTP 200" in html
    assert 'data-testid="notification-schedule"' in html and "1 min" in html
    assert "Attempts: 2 of at most 3" in html
    listed = client.get(f"/t/{tenant.slug}/notifications?state=pending").get_data(as_text=True)
    assert f'data-nid="{nid}"' in listed
    assert "No notifications match" in client.get(f"/t/{tenant.slug}/notifications?state=delivered").get_data(
        as_text=True)


def test_stop_and_retry_a_notification_from_the_console(login, admin, tenant):
    nid = _notification(tenant, schedule=[3600.0])
    client = login(admin)
    page = client.get(f"/t/{tenant.slug}/notifications/{nid}").get_data(as_text=True)
    assert 'data-testid="op-retry"' in page and "data-confirm=" in page
    client.post(f"/t/{tenant.slug}/notifications/{nid}/retry")
    assert notify.get(nid, tenant=tenant).next_attempt_at is not None
    response = client.post(f"/t/{tenant.slug}/notifications/{nid}/stop", follow_redirects=True)
    assert 'data-state="stopped"' in response.get_data(as_text=True)
    assert notify.get(nid, tenant=tenant).state == notify.STOPPED
    again = client.post(f"/t/{tenant.slug}/notifications/{nid}/retry", follow_redirects=True)
    assert "Refused:" in again.get_data(as_text=True)
    assert notify.attempt(nid) is None  # a stopped notification is never attempted again


def test_notification_rest_list_actions_and_refusals(api_as, admin, tenant):
    api = api_as(admin)
    base = f"/api/v1/tenants/{tenant.slug}/tx/notifications"
    nids = [_notification(tenant, schedule=[3600.0]) for _ in range(3)]
    listed = api.get(f"{base}?page_size=2")
    assert listed.status_code == 200 and len(listed.json) == 2
    assert api.get(f"{base}?state=bogus").status_code == 422
    assert api.post(f"{base}/{nids[0]}/stop").json["state"] == "stopped"
    assert api.post(f"{base}/{nids[0]}/stop").status_code == 200  # idempotent
    assert api.post(f"{base}/{nids[0]}/retry").status_code == 409
    detail = api.get(f"{base}/{nids[1]}").json
    assert detail["attempt_log"] == [] and detail["state"] == "pending"
    assert [e.target for e in audit.query(action="tx.notification.stopped").items].count(nids[0]) == 2
    viewer = api_as(make_member(tenant, "viewer"))
    assert viewer.post(f"{base}/{nids[1]}/stop").status_code == 403
    assert notify.get(nids[1], tenant=tenant).state == notify.PENDING
    outsider = api_as(make_member(make_tenant(), "owner"))
    assert outsider.post(f"{base}/{nids[1]}/retry").status_code == 404


def test_message_detail_shows_payload_and_check_backs_and_recheck_asks_again(login, admin, tenant,
                                                                             participant, loopback_allowed):
    mid = _message(tenant, check_url=participant.url("check"))
    # The participant never ran the local transaction: the check-back settles it as rolled back.
    assert messages.check(mid) == messages.ABORTED
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/messages/{mid}").get_data(as_text=True)
    assert html.count('data-testid="message-check"') == 1 and "rolled_back" in html
    assert 'data-state="aborted"' in html and "nothing left to check" in html
    pending = _message(tenant)
    page = client.get(f"/t/{tenant.slug}/messages/{pending}").get_data(as_text=True)
    assert 'data-testid="op-recheck"' in page and '"order": 9' in page
    assert client.post(f"/t/{tenant.slug}/messages/{pending}/recheck").status_code == 302
    listed = client.get(f"/t/{tenant.slug}/messages?state=prepared").get_data(as_text=True)
    assert f'data-mid="{pending}"' in listed and f'data-mid="{mid}"' not in listed


def test_message_rest_list_recheck_and_refusals(api_as, admin, tenant):
    api = api_as(admin)
    base = f"/api/v1/tenants/{tenant.slug}/tx/messages"
    mid = _message(tenant)
    no_url = _message(tenant, check_url=None)
    assert [m["mid"] for m in api.get(f"{base}?state=prepared").json] == [no_url, mid]
    rechecked = api.post(f"{base}/{mid}/recheck")
    assert rechecked.status_code == 200 and rechecked.json["check_log"] == []
    assert api.post(f"{base}/{no_url}/recheck").status_code == 409
    assert api.post(f"{base}/{mid}/submit").json["state"] == "submitted"
    assert api.post(f"{base}/{mid}/recheck").status_code == 409
    assert api.get(f"{base}?state=nope").status_code == 422
    entries = db.session.execute(sa.select(audit.AuditEntry).where(
        audit.AuditEntry.action == "tx.message.rechecked", audit.AuditEntry.target == mid)).scalars().all()
    assert len(entries) == 1
    assert api_as(make_member(tenant, "viewer")).post(f"{base}/{mid}/recheck").status_code == 403
    assert api_as(make_member(make_tenant(), "owner")).get(f"{base}/{mid}").status_code == 404


def _sentences(html: str) -> list[str]:
    return re.findall(r'data-testid="audit-sentence">([^<]*)<', html)


def test_the_audit_page_tells_the_operators_actions_in_sentences(login, admin, tenant):
    nid = _notification(tenant, schedule=[3600.0])
    mid = _message(tenant)
    client = login(admin)
    client.post(f"/t/{tenant.slug}/notifications/{nid}/retry")
    client.post(f"/t/{tenant.slug}/notifications/{nid}/stop")
    client.post(f"/t/{tenant.slug}/messages/{mid}/recheck")
    # The engine parks a transaction; an operator turns it back (what taiji.platform.tx records).
    audit.record("tx.transaction.parked", "tx_transaction", "order-17", tenant=tenant,
                 details={"gid": "order-17", "kind": "saga", "phase": "action", "business_key": None,
                          "reason": 'charge action: FAIL ({"error": {"message": "card declined"}})'})
    audit.record("tx.transaction.compensating", "tx_transaction", "order-17", tenant=tenant, actor=admin,
                 details={"kind": "saga", "state": "running", "phase": "compensate"})
    audit.record("tx.transaction.step_skipped", "tx_transaction", "order-17", tenant=tenant, actor=admin,
                 details={"kind": "saga", "state": "running", "phase": "compensate", "step": "charge"})
    db.session.commit()

    html = client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    sentences = _sentences(html)
    assert f"{admin.email} retried the notification {nid} now (Pending)" in sentences
    assert f"{admin.email} stopped the notification {nid}" in sentences
    assert f"{admin.email} re-checked the message {mid} (Prepared)" in sentences
    assert f"{admin.email} turned the transaction order-17 back" in sentences
    assert f"{admin.email} skipped the step charge of the transaction order-17" in sentences
    parked = next(s for s in sentences if s.startswith("The transaction order-17 stopped retrying"))
    assert parked.endswith("card declined"), parked  # the participant's answer in words, not its JSON
    assert not [s for s in sentences if " did tx." in s], sentences
    for href in (f"/t/{tenant.slug}/notifications/{nid}", f"/t/{tenant.slug}/messages/{mid}",
                 f"/t/{tenant.slug}/transactions/order-17"):
        assert f'href="{href}" data-testid="audit-target"' in html, href
    assert client.get(f"/t/{tenant.slug}/notifications/{nid}").status_code == 200

    client.post("/locale", data={"locale": "zh_Hans"})
    chinese = _sentences(client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True))
    assert any(s.startswith(f"{admin.email} 回查了消息 {mid}") and "已准备" in s for s in chinese), chinese
    assert f"{admin.email} 停止了通知 {nid}" in chinese
