"""Sign-in through a tenant's upstream directory, against a real OpenLDAP ``slapd`` on loopback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from taiji.modules.iam import services as iam
from taiji.modules.iam.directory import accounts, domains
from taiji.modules.iam.directory import services as directory
from taiji.modules.iam.roles import services as roles
from taiji.platform import audit
from taiji.platform.db import db
from tests.factories import make_member, make_user

from .ldapserver import SERVICE_DN, SERVICE_PW, SUFFIX, VICTIM, free_port, needs_slapd

pytestmark = needs_slapd


def verify(tenant, domain: str):
    """``tenant`` holds ``domain`` verified, on a platform administrator's word."""
    row = domains.add_domain(tenant, domain)
    domains.approve(row.id, "root@example.com")
    return row


@pytest.fixture
def corp(slapd, tenant):
    """``tenant`` signs in through the directory for corp.example; auditors get a custom role, admins
    the built-in admin."""
    verify(tenant, "corp.example")
    roles.create_role(tenant, {"key": "auditor", "name": "Auditor", "permissions": ["tm:audit:read"]})
    directory.configure(
        tenant,
        {
            "url": slapd,
            "bind_dn": SERVICE_DN,
            "bind_password": SERVICE_PW,
            "user_base": f"ou=people,{SUFFIX}",
            "group_base": f"ou=groups,{SUFFIX}",
            "group_roles": {"auditors": "auditor", "admins": "admin"},
            "default_role": "viewer",
        },
    )
    db.session.commit()
    return tenant


def test_a_directory_user_signs_in_and_gets_the_roles_of_their_groups(corp, api_as, client):
    response = client.post("/login", data={"email": "alice@corp.example", "password": "alice-password-1"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    alice = iam.get_user_by_email("alice@corp.example")
    assert alice.name == "Alice Liddell" and alice.password_hash is None
    # Made in a domain the tenant verified: the address is vouched for (invitations, OIDC).
    assert alice.email_verified_at is not None
    verified = audit.query(action="iam.user.email_verified").items
    assert [e.details for e in verified] == [{"method": "directory"}]
    assert iam.tenant_roles(corp, [alice.id]) == {alice.id: "viewer"}
    api = api_as(alice)
    assert api.get(f"/api/v1/tenants/{corp.slug}/audit").status_code == 200  # from the auditors group
    assert (
        api.post(f"/api/v1/tenants/{corp.slug}/groups", json={"key": "x-y", "name": "X"}).status_code == 403
    )
    assert audit.query(action="iam.ldap.signed_in").items


def test_group_mapped_to_a_builtin_role_and_wrong_passwords(corp, api_as):
    assert iam.authenticate("bob@corp.example", "not-his-password") is None
    assert iam.get_user_by_email("bob@corp.example") is None  # a failed bind creates nothing
    bob = iam.authenticate("bob@corp.example", "bob-password-1")
    db.session.commit()
    assert bob is not None
    made = api_as(bob).post(f"/api/v1/tenants/{corp.slug}/groups", json={"key": "from-bob", "name": "Bob's"})
    assert made.status_code == 201  # the admins group maps to the built-in admin role


def test_leaving_a_group_upstream_takes_the_role_away_at_next_sign_in(corp, slapd_server, api_as):
    alice = accounts.authenticate_ldap("alice@corp.example", "alice-password-1")
    db.session.commit()
    assert api_as(alice).get(f"/api/v1/tenants/{corp.slug}/audit").status_code == 200
    change = (
        f"dn: cn=auditors,ou=groups,{SUFFIX}\nchangetype: modify\nreplace: member\nmember: {SERVICE_DN}\n"
    )
    slapd_server.modify(change)
    try:
        assert accounts.authenticate_ldap("alice@corp.example", "alice-password-1").id == alice.id
        db.session.commit()
        assert api_as(alice).get(f"/api/v1/tenants/{corp.slug}/audit").status_code == 403
    finally:
        slapd_server.modify(change.replace(f"member: {SERVICE_DN}", f"member: uid=alice,ou=people,{SUFFIX}"))


def test_a_directory_cannot_take_over_an_existing_local_account(corp):
    victim = make_user(email=VICTIM)
    assert iam.authenticate(VICTIM, "mallory-password-1") is None
    assert accounts.authenticate_ldap(VICTIM, "mallory-password-1") is None
    assert iam.tenant_roles(corp, [victim.id]) == {}


def test_an_unreachable_directory_only_fails_the_sign_in(tenant, login):
    verify(tenant, "corp.example")
    directory.configure(tenant, {"url": f"ldap://127.0.0.1:{free_port()}/", "user_base": SUFFIX})
    db.session.commit()
    assert accounts.authenticate_ldap("alice@corp.example", "alice-password-1") is None
    outcome = audit.query(action="iam.ldap.bind").items[0].details
    assert outcome["outcome"] == "unavailable" and "refused" in outcome["reason"]
    login(make_member(tenant, "member"))  # local accounts still sign in


def test_directory_settings_through_the_api(api_as, tenant, slapd):
    owner_api = api_as(make_member(tenant, "owner"))
    url = f"/api/v1/tenants/{tenant.slug}/directory"
    assert owner_api.get(url).json["configured"] is False
    body = {
        "url": slapd,
        "bind_dn": SERVICE_DN,
        "bind_password": SERVICE_PW,
        "user_base": f"ou=people,{SUFFIX}",
    }
    saved = owner_api.put(url, json=body)
    assert saved.status_code == 200, saved.json
    assert saved.json["has_bind_password"] is True and "bind_password" not in saved.json
    row = directory.get_directory(tenant)
    assert SERVICE_PW not in row.bind_password_encrypted  # encrypted at rest
    for bad in (
        {**body, "url": "http://example.com"},
        {**body, "group_roles": {"x": "no-such-role"}},
        {**body, "group_roles": {"x": "owner"}},
        {**body, "user_filter": "objectClass=*"},
    ):
        response = owner_api.put(url, json=bad)
        assert response.status_code in (404, 422) and response.mimetype == "application/problem+json"
    assert owner_api.get(url).json["url"] == slapd
    viewer_api = api_as(make_member(tenant, "viewer"))
    assert viewer_api.get(url).status_code == 403
    assert owner_api.delete(url).status_code == 204
    assert owner_api.get(url).json["configured"] is False


def test_a_directory_newcomer_appears_in_the_member_list_once(corp, api_as, admin):
    from taiji.platform import events
    from taiji.platform.events import OutboxEvent

    alice = iam.authenticate("alice@corp.example", "alice-password-1")
    db.session.commit()
    joined = db.session.execute(
        sa.select(OutboxEvent).where(OutboxEvent.name == "iam.directory.member_joined")
    ).scalars().all()
    assert [e.payload["user_id"] for e in joined] == [alice.id]
    # The worker hands the news to TM; delivering it twice must still add one row.
    handler = next(iter(events.handlers_for("iam.directory.member_joined")))
    assert events.deliver(str(joined[0].id), handler) is True
    assert events.deliver(str(joined[0].id), handler) is False
    db.session.commit()
    listed = api_as(admin).get(f"/api/v1/tenants/{corp.slug}/members").json
    assert [m["email"] for m in listed].count("alice@corp.example") == 1
    assert {m["email"]: m["role"] for m in listed}["alice@corp.example"] == "viewer"


def test_directory_console_page_saves_seals_the_password_and_tests_the_connection(
        login, admin, tenant, slapd):
    from taiji.modules.iam.directory.models import Directory

    client = login(admin)
    url = f"/t/{tenant.slug}/settings/directory"
    page = client.get(url)
    assert page.status_code == 200 and 'data-testid="directory-form"' in page.get_data(as_text=True)
    form = {"enabled": "on", "url": slapd, "bind_dn": SERVICE_DN, "bind_password": SERVICE_PW,
            "user_base": f"ou=people,{SUFFIX}", "user_filter": "(objectClass=inetOrgPerson)",
            "email_attribute": "mail", "name_attribute": "cn", "group_base": f"ou=groups,{SUFFIX}",
            "group_filter": "(objectClass=groupOfNames)", "member_attribute": "member",
            "group_roles": "admins = admin\n", "default_role": "viewer"}
    bad = client.post(url, data={**form, "group_roles": "admins admin"})
    assert bad.status_code == 422 and "Line 1" in bad.get_data(as_text=True)
    assert client.post(url, data=form).status_code == 302
    row = db.session.execute(sa.select(Directory).where(Directory.tenant_id == tenant.id)).scalar_one()
    assert SERVICE_PW not in row.bind_password_encrypted and row.group_roles == {"admins": "admin"}
    # Saving again without a password keeps the sealed one.
    assert client.post(url, data={**form, "bind_password": ""}).status_code == 302
    tested = client.post(url + "/test").get_data(as_text=True)
    assert 'data-testid="directory-test-result"' in tested and "Connected" in tested
    assert SERVICE_PW not in client.get(url).get_data(as_text=True)


def test_directory_test_reports_an_unreachable_server(api_as, admin, tenant):
    api = api_as(admin)
    settings = {"url": f"ldap://127.0.0.1:{free_port()}", "user_base": "dc=nowhere"}
    assert api.put(f"/api/v1/tenants/{tenant.slug}/directory", json=settings).status_code == 200
    result = api.post(f"/api/v1/tenants/{tenant.slug}/directory/test")
    assert result.status_code == 200 and result.json["ok"] is False
    assert "Nothing answers at 127.0.0.1" in result.json["message"]
