"""Nobody joins a tenant without accepting, and adding by email tells nothing about who has an account.

The attacks of issue 12, finding 11: an owner adds an existing user by email (who then finds
themselves in a tenant they never agreed to), and uses the answer to learn which addresses
have an account on the platform.
"""

from __future__ import annotations

import re

import pytest

from taiji.modules.tm import services
from taiji.platform.errors import NotFound
from tests.factories import make_member, make_tenant, make_user

VOLATILE = ("id", "email", "created_at", "expires_at", "accept_url")


def _is_member(tenant, user) -> bool:
    try:
        services.get_member(tenant, user.id)
    except NotFound:
        return False
    return True


@pytest.mark.parametrize("path", ["members", "invitations"])
def test_adding_an_existing_user_does_not_make_them_a_member(api_as, tenant, admin, path):
    victim = make_user()
    owner = api_as(admin)
    response = owner.post(f"/api/v1/tenants/{tenant.slug}/{path}",
                          json={"email": victim.email, "role": "admin"})
    assert response.status_code in (201, 202)

    assert not _is_member(tenant, victim)
    victim_api = api_as(victim)
    assert victim_api.get(f"/api/v1/tenants/{tenant.slug}").status_code == 404
    assert tenant.slug not in [t["slug"] for t in victim_api.get("/api/v1/tenants").json]

    [waiting] = victim_api.get("/api/v1/me/invitations").json
    assert waiting["tenant"] == {"slug": tenant.slug, "name": tenant.name}
    assert waiting["role"] == "admin" and waiting["invited_by"] == admin.email
    accepted = victim_api.post(f"/api/v1/me/invitations/{waiting['id']}/accept")
    assert accepted.status_code == 200 and accepted.json["slug"] == tenant.slug
    assert services.get_member(tenant, victim.id).role == "admin"
    assert victim_api.get("/api/v1/me/invitations").json == []


@pytest.mark.parametrize("path", ["members", "invitations"])
def test_answers_for_existing_and_unknown_emails_are_indistinguishable(api_as, tenant, admin, path):
    existing = make_user(email="has-account@example.com")
    owner = api_as(admin)
    url = f"/api/v1/tenants/{tenant.slug}/{path}"
    known = owner.post(url, json={"email": existing.email, "role": "member"})
    unknown = owner.post(url, json={"email": "no-account@example.com", "role": "member"})

    assert known.status_code == unknown.status_code
    assert known.headers["Content-Type"] == unknown.headers["Content-Type"]
    assert set(known.json) == set(unknown.json)
    assert {k: v for k, v in known.json.items() if k not in VOLATILE} == \
        {k: v for k, v in unknown.json.items() if k not in VOLATILE}
    assert "user_id" not in known.json and "name" not in known.json  # nothing of the account

    # The link's page, opened by whoever holds it (the owner too), does not tell either.
    pages = []
    for answer, email in ((known, existing.email), (unknown, "no-account@example.com")):
        token = answer.json["accept_url"].rsplit("/", 1)[1]
        page = owner._client.get(f"/invitations/{token}").get_data(as_text=True)
        page = page.replace(email, "EMAIL").replace(token, "TOKEN")
        pages.append(re.sub(r'name="csrf_token"[^>]*>', "", page))
    assert pages[0] == pages[1]
    assert 'data-testid="sign-in-to-accept"' in pages[0] and 'data-testid="register-form"' in pages[0]


def test_the_console_says_the_same_for_existing_and_unknown_emails(login, client, tenant, admin):
    existing = make_user(email="console-known@example.com")
    login(admin)
    answers = []
    for email in (existing.email, "console-unknown@example.com"):
        response = client.post(f"/t/{tenant.slug}/invitations", data={"email": email, "role": "member"})
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        flash = re.search(r'data-testid="flash">\s*<div>([^<]*)</div>', page).group(1)
        answers.append((response.status_code, flash.replace(email, "EMAIL")))
    assert answers[0] == answers[1]
    assert not _is_member(tenant, existing)


def test_the_invited_person_accepts_in_the_console(login, client, tenant, admin):
    invitee = make_user()
    services.invite(tenant, invitee.email, "viewer", actor=_principal(admin))
    from taiji.platform.db import db

    db.session.commit()
    login(invitee)
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="pending-invitations"' in home and tenant.name in home
    assert 'data-testid="user-menu-badge"' in home and 'data-testid="nav-badge">1<' in home

    listing = client.get("/invitations").get_data(as_text=True)
    match = re.search(r'action="/invitations/(\d+)/accept"', listing)
    assert match and admin.email in listing
    response = client.post(f"/invitations/{match.group(1)}/accept")
    assert response.headers["Location"] == f"/t/{tenant.slug}/"
    assert services.get_member(tenant, invitee.id).role == "viewer"
    assert 'data-testid="nav-badge"' not in client.get("/invitations").get_data(as_text=True)


def test_the_invited_person_declines(login, client, api_as, tenant, admin):
    invitee = make_user()
    invitation, token = services.invite(tenant, invitee.email, "member", actor=_principal(admin))
    from taiji.platform.db import db

    db.session.commit()
    login(invitee)
    response = client.post(f"/invitations/{invitation.id}/decline")
    assert response.status_code == 302
    assert not _is_member(tenant, invitee)
    assert 'data-testid="my-invitation"' not in client.get("/invitations").get_data(as_text=True)
    states = {i["email"]: i["state"]
              for i in api_as(admin).get(f"/api/v1/tenants/{tenant.slug}/invitations?all=true").json}
    assert states[invitee.email] == "declined"
    # The link no longer works either.
    assert "This invitation was declined." in client.get(f"/invitations/{token}").get_data(as_text=True)
    assert api_as(invitee).post(f"/api/v1/invitations/{token}/accept").status_code == 409
    assert not _is_member(tenant, invitee)


def test_nobody_else_can_answer_an_invitation(api_as, client, tenant, admin):
    invitee, intruder = make_user(), make_user()
    other_tenant = make_tenant()
    make_member(other_tenant, "owner", email="other-owner@example.com")
    invitation, _ = services.invite(tenant, invitee.email, "member", actor=_principal(admin))
    from taiji.platform.db import db

    db.session.commit()
    intruder_api = api_as(intruder)
    assert intruder_api.get("/api/v1/me/invitations").json == []
    assert intruder_api.post(f"/api/v1/me/invitations/{invitation.id}/accept").status_code == 404
    assert intruder_api.post(f"/api/v1/me/invitations/{invitation.id}/decline").status_code == 404
    assert not _is_member(tenant, intruder)
    # A read-only token of the invitee cannot accept for them.
    reader = api_as(invitee, scopes=["tm:tenant:read"])
    assert reader.post(f"/api/v1/me/invitations/{invitation.id}/accept").status_code == 403
    assert not _is_member(tenant, invitee)


def _principal(user):
    from taiji.platform.auth import Principal

    return Principal(user_id=user.id, email=user.email, name=user.name, is_admin=True, via="test")
