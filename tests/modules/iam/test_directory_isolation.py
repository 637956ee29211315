"""A hostile tenant's directory sees no one's password but its own users', and creates no account
outside the domains its tenant has verified (issue 12, finding 1).

The victim tenant signs in through a real slapd for corp.example. The attacker tenant points its
directory at a listener on loopback that records every connection: whatever anyone types at the
sign-in page, the listener must stay silent unless the email is in a domain the attacker has
verified.
"""

from __future__ import annotations

import sqlalchemy as sa

from taiji.modules.iam import services as iam
from taiji.modules.iam.directory import domains
from taiji.modules.iam.directory import services as directory
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.conftest import complete_sign_in
from tests.factories import PASSWORD, make_tenant, make_user

from .ldapserver import SERVICE_DN, SERVICE_PW, SUFFIX, Recorder, needs_slapd

pytestmark = needs_slapd


def _approve(tenant, domain: str) -> None:
    domains.approve(domains.add_domain(tenant, domain).id, "root@example.com")


def _directory(tenant, url: str) -> None:
    directory.configure(tenant, {"url": url, "bind_dn": SERVICE_DN, "bind_password": SERVICE_PW,
                                 "user_base": f"ou=people,{SUFFIX}", "default_role": "member"})


def _sign_in(client, email: str, password: str, organisation: str | None = None):
    form = {"email": email, "password": password}
    if organisation:
        form["organisation"] = organisation
    response = complete_sign_in(client, client.post("/login", data=form))
    client.post("/logout")
    return response


def test_no_password_reaches_a_hostile_tenants_directory(client, slapd):
    victim = make_tenant(slug="victim-co")
    _approve(victim, "corp.example")
    _directory(victim, slapd)
    local = make_user(email="admin@platform.example")
    attacker = make_tenant(slug="evil-co")
    _approve(attacker, "evil.example")
    # The attacker also claims the victims' domains; unproven, the claims are worth nothing.
    domains.add_domain(attacker, "corp.example")
    domains.add_domain(attacker, "platform.example")
    with Recorder() as hostile:
        _directory(attacker, hostile.url)
        db.session.commit()

        attempts = [
            (local.email, "a-wrong-password", None, 401),
            (local.email, PASSWORD, None, 302),
            ("alice@corp.example", "a-wrong-password", None, 401),
            ("alice@corp.example", "alice-password-1", None, 302),
            # Naming the attacker's tenant as organisation sends the password there no more: a new
            # user goes nowhere (the attacker has not verified corp.example) ...
            ("bob@corp.example", "bob-password-1", "evil-co", 401),
            # ... and an account a directory made is checked by that directory, whatever is named.
            ("alice@corp.example", "alice-password-1", "evil-co", 302),
            (local.email, "a-wrong-password", "evil-co", 401),
            ("someone@nobody-verified.example", "a-wrong-password", None, 401),
        ]
        for email, password, organisation, status in attempts:
            answer = _sign_in(client, email, password, organisation)
            assert answer.status_code == status, (email, organisation)
        assert hostile.connections == []

        # The listener does record: a user of the attacker's own verified domain goes to it.
        _sign_in(client, "mallory@evil.example", "whatever-password-1")
        assert len(hostile.connections) == 1
        assert b"mallory" not in hostile.connections[0]  # the service bind came first, then it hung up

    binds = db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "iam.ldap.bind")).scalars().all()
    by_tenant = {(e.tenant_id, e.target, e.details["outcome"]) for e in binds}
    assert (victim.id, "alice@corp.example", "accepted") in by_tenant
    assert (victim.id, "alice@corp.example", "refused") in by_tenant
    assert {e.target for e in binds if e.tenant_id == attacker.id} == {"mallory@evil.example"}
    recorded = " ".join(str(e.details) for e in binds)
    assert "alice-password-1" not in recorded and "a-wrong-password" not in recorded


def test_a_directory_creates_no_account_outside_its_verified_domains(client, slapd, admin):
    # The attacker's own directory (the seeded slapd) has an entry for cfo@victim.example.
    attacker = make_tenant(slug="grabber")
    _directory(attacker, slapd)
    claim = domains.add_domain(attacker, "victim.example")  # claimed, never proven
    db.session.commit()

    for organisation in (None, "grabber"):
        assert _sign_in(client, "cfo@victim.example", "cfo-password-1", organisation).status_code == 401
    assert iam.get_user_by_email("cfo@victim.example") is None
    assert db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "iam.ldap.bind")).first() is None  # not even asked

    # Once a platform administrator approves the claim, the domain is the attacker's to sign in.
    domains.approve(claim.id, admin.email)
    db.session.commit()
    assert _sign_in(client, "cfo@victim.example", "cfo-password-1").status_code == 302
    assert iam.get_user_by_email("cfo@victim.example") is not None


def test_an_account_created_by_one_directory_is_checked_by_that_directory_only(client, slapd):
    home = make_tenant(slug="home-co")
    _approve(home, "corp.example")
    _directory(home, slapd)
    db.session.commit()
    assert _sign_in(client, "bob@corp.example", "bob-password-1").status_code == 302
    # The domain later moves to another tenant, whose directory is hostile: bob's account stays
    # with the directory that made it.
    domains.remove_domain(home, "corp.example")
    other = make_tenant(slug="new-owner")
    _approve(other, "corp.example")
    with Recorder() as hostile:
        _directory(other, hostile.url)
        db.session.commit()
        assert _sign_in(client, "bob@corp.example", "bob-password-1").status_code == 302
        assert _sign_in(client, "bob@corp.example", "not-bobs-password", "new-owner").status_code == 401
        assert hostile.connections == []


def test_binds_are_limited_per_account_and_per_directory(app, client, monkeypatch):
    corp = make_tenant(slug="limited-co")
    _approve(corp, "corp.example")
    monkeypatch.setitem(app.config, "IAM_LDAP_BIND_RATE_LIMIT", "2 per minute")
    monkeypatch.setitem(app.config, "IAM_LDAP_DIRECTORY_RATE_LIMIT", "4 per minute")
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")
    with Recorder() as server:
        _directory(corp, server.url)
        db.session.commit()
        for n in range(3):  # the third try for one account is not sent
            _sign_in(client, "carol@corp.example", f"guess-number-{n}")
        assert len(server.connections) == 2
        for name in ("dave", "erin", "frank"):  # the directory's fifth bind in the minute is not sent
            _sign_in(client, f"{name}@corp.example", "a-guess-1234")
        assert len(server.connections) == 4
    outcomes = [(e.target, e.details["outcome"]) for e in db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "iam.ldap.bind").order_by(AuditEntry.id)).scalars()]
    assert ("carol@corp.example", "throttled") in outcomes and ("frank@corp.example", "throttled") in outcomes
    assert [o for _, o in outcomes].count("throttled") == 2
