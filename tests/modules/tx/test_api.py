"""The transaction REST API: submitting sagas and TCC, following them, operator actions, the
egress policy on participant addresses, and who may do what."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from taiji.platform.tx.models import Transaction
from tests.factories import make_member, make_tenant
from tests.platform.tx.conftest import FAST, drive, saga_steps, tcc_branches


def _base(tenant):
    return f"/api/v1/tenants/{tenant.slug}/tx"


def _count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Transaction))


def test_saga_submitted_over_http_runs_and_shows_its_timeline(api_as, admin, tenant, participant,
                                                            loopback_allowed):
    api = api_as(admin)
    gid = f"order-{uuid.uuid4().hex[:8]}"
    response = api.post(f"{_base(tenant)}/sagas", json={
        "gid": gid, "business_key": "order-42", "options": FAST,
        "steps": saga_steps(participant, "reserve", "charge")})
    assert response.status_code == 201, response.json
    assert response.json["state"] == "running"
    assert [s["name"] for s in response.json["steps"]] == ["reserve", "charge"]
    db.session.commit()

    drive(gid)

    detail = api.get(f"{_base(tenant)}/transactions/{gid}").json
    assert detail["state"] == "succeeded"
    assert [(c["branch"], c["op"], c["result"], c["attempt"]) for c in detail["timeline"]] == [
        ("reserve", "action", "OK", 1), ("charge", "action", "OK", 1)]
    assert all(c["duration_ms"] is not None and '"step"' in c["request_summary"] for c in detail["timeline"])
    listed = api.get(f"{_base(tenant)}/transactions", query_string={"business_key": "order-42"}).json
    assert [t["gid"] for t in listed] == [gid]


def test_tcc_over_http_confirms_every_branch(api_as, admin, tenant, participant, loopback_allowed):
    api = api_as(admin)
    gid = f"tcc-{uuid.uuid4().hex[:8]}"
    response = api.post(f"{_base(tenant)}/tcc", json={"gid": gid, "options": FAST,
                                                       "branches": tcc_branches(participant, "a", "b")})
    assert response.status_code == 201, response.json
    assert response.json["steps"][0]["try"].endswith("/try")
    db.session.commit()
    assert drive(gid).state == "succeeded"
    assert sorted(participant.effects(gid)) == [("a", "confirm"), ("a", "try"),
                                                ("b", "confirm"), ("b", "try")]


def test_list_filters_and_pages(api_as, admin, tenant):
    api = api_as(admin)
    for i in range(3):
        api.post(f"{_base(tenant)}/sagas", json={"business_key": f"k{i}",
                                                  "steps": [{"name": "s", "action": "http://10.0.0.9/a"}]})
    page = api.get(f"{_base(tenant)}/transactions", query_string={"page_size": 2})
    assert page.status_code == 200 and len(page.json) == 2
    assert api.get(f"{_base(tenant)}/transactions", query_string={"kind": "tcc"}).json == []
    assert len(api.get(f"{_base(tenant)}/transactions", query_string={"state": "running"}).json) == 3
    assert api.get(f"{_base(tenant)}/transactions", query_string={"older_than_minutes": 60}).json == []
    bad = api.get(f"{_base(tenant)}/transactions", query_string={"state": "sideways"})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_loopback_and_metadata_addresses_are_refused_by_default(api_as, admin, tenant):
    api = api_as(admin)
    before = _count()
    for url in ("http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
                "http://localhost/x", "http://0.0.0.0/x"):
        response = api.post(f"{_base(tenant)}/sagas", json={"steps": [{"name": "s", "action": url}]})
        assert response.status_code == 422, (url, response.json)
        assert "TAIJI_TX_ALLOWED_HOSTS" in str(response.json["errors"])
    refused = api.post(f"{_base(tenant)}/tcc", json={"branches": [
        {"name": "b", "try": "http://10.1.2.3/try", "cancel": "http://127.0.0.2/cancel"}]})
    assert refused.status_code == 422 and "branches.0.cancel" in refused.json["errors"]["json"]
    assert _count() == before
    private = api.post(f"{_base(tenant)}/sagas", json={"steps": [{"name": "s", "action": "http://10.0.0.9/a"}]})
    assert private.status_code == 201


def test_allow_list_takes_hosts_and_ranges(api_as, admin, tenant, app, monkeypatch):
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ("localhost", "127.0.0.0/8"))
    api = api_as(admin)
    for url in ("http://localhost:9/a", "http://127.0.0.5:9/a"):
        response = api.post(f"{_base(tenant)}/sagas", json={"steps": [{"name": "s", "action": url}]})
        assert response.status_code == 201
    meta = api.post(f"{_base(tenant)}/sagas", json={"steps": [{"name": "s", "action": "http://169.254.169.254/"}]})
    assert meta.status_code == 422


def test_address_that_turns_to_loopback_later_is_not_called(api_as, admin, tenant, participant, app,
                                                            monkeypatch):
    # Allowed when submitted, no longer when the engine calls: the call is refused, not made.
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ("127.0.0.1",))
    gid = f"late-{uuid.uuid4().hex[:8]}"
    response = api_as(admin).post(f"{_base(tenant)}/sagas", json={
        "gid": gid, "options": FAST, "steps": saga_steps(participant, "reserve")})
    assert response.status_code == 201
    db.session.commit()
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ())
    tx = drive(gid)
    # Its compensation is refused the same way, so the saga ends up waiting for a person.
    assert tx.state == "parked"
    assert participant.calls(gid) == []
    detail = api_as(admin).get(f"{_base(tenant)}/transactions/{gid}").json
    assert {c["result"] for c in detail["timeline"]} == {"FAIL"}
    assert "TAIJI_TX_ALLOWED_HOSTS" in detail["timeline"][0]["error"]


def test_bad_submissions_are_clear_422s(api_as, admin, tenant):
    api = api_as(admin)
    before = _count()
    for body in ({}, {"steps": []}, {"steps": [{"name": "s"}]}, {"steps": [{"name": "s", "action": "ftp://x"}]},
                 {"steps": [{"name": "a", "action": "http://10.0.0.1/a", "depends_on": ["b"]},
                            {"name": "b", "action": "http://10.0.0.1/b", "depends_on": ["a"]}]},
                 {"steps": [{"name": "s", "action": "http://10.0.0.1/a"}], "options": {"retries": -1}},
                 {"steps": "nope"}):
        response = api.post(f"{_base(tenant)}/sagas", json=body)
        assert response.status_code == 422, (body, response.status_code)
        assert response.mimetype == "application/problem+json"
    assert _count() == before


def test_operator_actions_are_audited_idempotent_and_refused_where_senseless(api_as, admin, tenant):
    api = api_as(admin)
    gid = api.post(f"{_base(tenant)}/sagas", json={
        "steps": [{"name": "a", "action": "http://10.0.0.9/a"}, {"name": "b", "action": "http://10.0.0.9/b"}]}
    ).json["gid"]
    item = f"{_base(tenant)}/transactions/{gid}"
    skipped = api.post(f"{item}/actions/skip", json={"step": "b"})
    assert skipped.status_code == 200 and skipped.json["steps"][1]["state"] == "skipped"
    assert api.post(f"{item}/actions/skip", json={"step": "b"}).status_code == 200
    assert api.post(f"{item}/actions/skip", json={}).status_code == 422
    assert api.post(f"{item}/actions/skip", json={"step": "zzz"}).status_code == 404
    assert api.post(f"{item}/actions/dance", json={}).status_code == 404
    stopped = api.post(f"{item}/actions/stop", json={"reason": "by hand"})
    assert stopped.status_code == 200 and stopped.json["state"] == "stopped"
    assert api.post(f"{item}/actions/stop", json={}).status_code == 200
    refused = api.post(f"{item}/actions/retry", json={})
    assert refused.status_code == 409 and "final" in refused.json["detail"]
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.target == gid)).all()
    assert sorted(actions) == ["tx.transaction.step_skipped", "tx.transaction.stopped"]


def test_roles_and_tenants(api_as, tenant):
    viewer = make_member(tenant, "viewer")
    api = api_as(viewer)
    assert api.get(f"{_base(tenant)}/transactions").status_code == 200
    assert api.post(f"{_base(tenant)}/sagas", json={
        "steps": [{"name": "s", "action": "http://10.0.0.9/a"}]}).status_code == 403
    owner = make_member(tenant, "owner")
    gid = api_as(owner).post(f"{_base(tenant)}/sagas", json={
        "steps": [{"name": "s", "action": "http://10.0.0.9/a"}]}).json["gid"]
    assert api.post(f"{_base(tenant)}/transactions/{gid}/actions/stop", json={}).status_code == 403
    outsider = api_as(make_member(make_tenant(), "owner"))
    assert outsider.get(f"{_base(tenant)}/transactions/{gid}").status_code == 404
    other = make_tenant(owner=owner)
    assert api_as(owner).get(f"/api/v1/tenants/{other.slug}/tx/transactions/{gid}").status_code == 404


def test_notification_over_http_is_delivered_and_its_result_can_be_queried(api_as, admin, tenant,
                                                                          loopback_allowed, participant):
    from taiji.platform.tx import notify

    api = api_as(admin)
    # The fake participant answers 200 with a JSON body, not the plain ack: "received" is what we ask.
    response = api.post(f"{_base(tenant)}/notifications", json={
        "url": participant.url("confirm") + "?gid=n1&branch=b&op=confirm", "body": {"order": 1},
        "secret": "s" * 20, "ack": "nothing-matches-this", "schedule": [0.01], "nid": "note-1"})
    assert response.status_code == 201, response.json
    db.session.commit()
    assert notify.attempt("note-1") == "pending"
    seen = api.get(f"{_base(tenant)}/notifications/note-1").json
    assert seen["attempts"] == 1 and seen["last_status"] == 200 and seen["state"] == "pending"
    refused = api.post(f"{_base(tenant)}/notifications",
                       json={"url": "http://169.254.169.254/", "secret": "s" * 20})
    assert refused.status_code == 422
    outsider = api_as(make_member(make_tenant(), "owner"))
    assert outsider.get(f"{_base(tenant)}/notifications/note-1").status_code == 404


def test_two_phase_message_over_http(api_as, admin, tenant):
    api = api_as(admin)
    base = f"{_base(tenant)}/messages"
    created = api.post(base, json={"topic": "order.paid", "payload": {"order": 3}, "mid": "msg-1",
                                   "check_url": "http://10.0.0.9/check"})
    assert created.status_code == 201 and created.json["state"] == "prepared"
    assert api.post(f"{base}/msg-1/submit").json["state"] == "submitted"
    assert api.post(f"{base}/msg-1/submit").status_code == 200
    assert api.post(f"{base}/msg-1/abort").status_code == 409
    assert api.get(f"{base}/msg-1").json["state"] == "submitted"
    assert api.post(base, json={"topic": "x", "check_url": "http://127.0.0.1:5432/"}).status_code == 422
    assert api.post(base, json={"topic": "bad topic!"}).status_code == 422
    assert api_as(make_member(make_tenant(), "owner")).get(f"{base}/msg-1").status_code == 404
