"""The audit log: each change leaves an entry (who, what, which tenant, from where), and who may read it."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.factories import make_member, make_tenant, make_user


def _entries(action: str) -> list[AuditEntry]:
    return list(db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_every_change_through_the_api_is_audited(api_as, admin):
    api = api_as(admin)
    user = make_user()
    assert api.post("/api/v1/tenants", json={"slug": "audited", "name": "Audited"}).status_code == 201
    t = "/api/v1/tenants/audited"
    etag = api.get(t).headers["ETag"]
    assert api.patch(t, json={"name": "Audited Inc"}, headers={"If-Match": etag}).status_code == 200
    invitation = api.post(f"{t}/invitations", json={"email": "guest@example.com"}).json
    assert api.delete(f"{t}/invitations/{invitation['id']}").status_code == 204
    assert api.post(f"{t}/members", json={"email": user.email}).status_code == 202
    invitee = api_as(user)
    [waiting] = invitee.get("/api/v1/me/invitations").json
    assert invitee.post(f"/api/v1/me/invitations/{waiting['id']}/accept").status_code == 200
    assert api.patch(f"{t}/members/{user.id}", json={"role": "viewer"}).status_code == 200
    assert api.delete(f"{t}/members/{user.id}").status_code == 204
    assert api.put(f"{t}/quotas/members", json={"limit": 9}).status_code == 200
    etag = api.get(t).headers["ETag"]
    assert api.patch(t, json={"status": "suspended"}, headers={"If-Match": etag}).status_code == 200

    actions = [
        "tm.tenant.created",
        "tm.tenant.renamed",
        "tm.invitation.created",
        "tm.invitation.revoked",
        "tm.invitation.accepted",
        "tm.member.added",
        "tm.member.role_changed",
        "tm.member.removed",
        "tm.quota.changed",
        "tm.tenant.suspended",
    ]
    for action in actions:
        entries = [e for e in _entries(action) if e.via == "api"]
        assert entries, f"no audit entry for {action}"
        entry = entries[-1]
        # Joining is the invitee's own act: they accept; the owner only invited.
        joined = action in ("tm.invitation.accepted", "tm.member.added")
        assert entry.actor_email == (user.email if joined else admin.email), action
        assert entry.tenant_id is not None, action
        assert entry.address == "127.0.0.1", action
        assert entry.request_id, action


def test_a_failed_change_leaves_no_entry(api_as, admin, tenant):
    before = len(_entries("tm.member.added"))
    response = api_as(admin).post(
        f"/api/v1/tenants/{tenant.slug}/members", json={"email": "nobody@example"}
    )
    assert response.status_code == 422
    assert len(_entries("tm.member.added")) == before


def test_owner_reads_only_own_tenants_log(api_as, tenant):
    owner = make_member(tenant, "owner")
    other = make_tenant(name="Elsewhere")
    api = api_as(owner)
    response = api.get(f"/api/v1/tenants/{tenant.slug}/audit")
    assert response.status_code == 200
    assert response.json and {e["tenant_id"] for e in response.json} == {tenant.id}
    assert api.get(f"/api/v1/tenants/{other.slug}/audit").status_code == 404
    assert api.get("/api/v1/audit").status_code == 403


def test_audit_log_filters_by_action_prefix(api_as, tenant):
    owner = make_member(tenant, "owner")
    response = api_as(owner).get(f"/api/v1/tenants/{tenant.slug}/audit?action=tm.member")
    assert response.json and all(e["action"].startswith("tm.member") for e in response.json)


def test_member_cannot_read_the_log(api_as, tenant):
    member = make_member(tenant, "member")
    assert api_as(member).get(f"/api/v1/tenants/{tenant.slug}/audit").status_code == 403


def test_administrator_reads_every_tenants_log(api_as, admin, tenant):
    other = make_tenant()
    response = api_as(admin).get("/api/v1/audit?page_size=100")
    assert response.status_code == 200
    tenants = {e["tenant_id"] for e in response.json}
    assert {tenant.id, other.id} <= tenants
    assert None in tenants  # the platform's own entries (users created) are there too
