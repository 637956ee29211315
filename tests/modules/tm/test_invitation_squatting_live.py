"""Account squatting through invitation links (issue 12, findings 1 and 11), over real HTTP with a
real SMTP server on loopback.

The attack: the owner of tenant "evil" invites cfo@victim.example to it, opens the invitation
link (the inviter is handed it) and registers that account with a password of their choosing.
When the victim's owner later invites cfo@victim.example to tenant "victim", the attacker holds
the account the invitation is addressed to, and would accept it.

What holds now: an account whose address nobody proved can accept only the invitation it
registered through; with a mail server the link goes to the mailbox only, never to the inviter,
and registering through it is what proves the address.
"""

from __future__ import annotations

import re

import pytest

from tests.liveapp import Http, serve
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.live

ATTACKER = "mallory@evil.example"
VICTIM_OWNER = "vera@victim.example"
ADMIN = "root@platform.example"
SQUAT_PASSWORD = "squatters-own-Passw0rd"  # the attacker's made-up password
LINK = re.compile(r"http://127\.0\.0\.1:\d+(/invitations/[\w-]+)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("squat"), "squat") as site:
        site.user(ADMIN, "Root", admin=True)
        site.user(ATTACKER, "Mallory")
        site.user(VICTIM_OWNER, "Vera")
        site.tenant("evil", "Evil Inc", ATTACKER)
        site.tenant("victim", "Victim Corp", VICTIM_OWNER)
        yield site


@pytest.fixture
def smtp(site):
    with SmtpServer() as server:
        site.app.config["SMTP_URL"] = server.url
        try:
            yield server
        finally:
            site.app.config["SMTP_URL"] = ""


def _register(site, link: str, name: str, password: str) -> Http:
    """Open an invitation link as someone without an account and create one; returns the browser."""
    browser = site.anonymous()
    page = browser.get(link)
    assert 'data-testid="register-form"' in page.text
    done = browser.submit(link, {"name": name, "password": password}, form_page=link)
    assert done.status_code == 302, done.text[:400]
    return browser


def _personal_token(browser: Http) -> str:
    """What any account holder can do: make a personal access token on the console's tokens page."""
    page = browser.submit("/profile/tokens", {"name": "cli"}, form_page="/profile/tokens")
    return re.search(r"tj_pat_[\w-]+", page.text).group(0)


def _squat(site, target: str) -> tuple[Http, Http]:
    """The attacker invites ``target`` to their own tenant and registers it through the link."""
    made = site.api(ATTACKER).post("/api/v1/tenants/evil/invitations",
                                   json={"email": target, "role": "viewer"})
    assert made.status_code == 201, made.text  # no mail server: the inviter is handed the link
    squatter = _register(site, made.json()["accept_url"], "Not the CFO", SQUAT_PASSWORD)
    return squatter, Http(site.base, _personal_token(squatter))


def _emails(api: Http, tenant: str) -> set[str]:
    return {m["email"] for m in api.get(f"/api/v1/tenants/{tenant}/members").json()}


def _assert_refused(response, what: str) -> None:
    assert response.status_code == 403, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "Verify your email address" in response.json()["detail"]


def test_a_squatted_account_cannot_join_the_tenant_that_invites_its_address(site):
    target = "cfo@victim.example"
    squatter, squatter_api = _squat(site, target)

    victim = site.api(VICTIM_OWNER)
    invited = victim.post("/api/v1/tenants/victim/invitations", json={"email": target, "role": "admin"})
    assert invited.status_code == 201
    invitation_id, link = invited.json()["id"], invited.json()["accept_url"]
    token = link.rsplit("/", 1)[1]

    # The attack, every way there is to answer an invitation.
    _assert_refused(squatter_api.post(f"/api/v1/me/invitations/{invitation_id}/accept"),
                    "accept from the list")
    # Even if the link the victim's owner was handed reached the attacker.
    _assert_refused(squatter_api.post(f"/api/v1/invitations/{token}/accept"), "accept through the link")
    # Declining would tell the victim's owner that their CFO said no.
    _assert_refused(squatter_api.post(f"/api/v1/me/invitations/{invitation_id}/decline"), "decline")
    accepted = squatter.submit(f"/invitations/{invitation_id}/accept")
    assert accepted.status_code == 302
    flashed = squatter.get(accepted.headers["Location"]).text
    assert "Verify your email address to accept this invitation." in flashed
    by_link = squatter.submit(f"/invitations/{token}")
    assert by_link.status_code == 403 and 'data-testid="verify-email"' in by_link.text

    assert squatter_api.get("/api/v1/tenants/victim").status_code == 404
    assert squatter.get("/t/victim/").status_code == 404
    assert squatter_api.get("/api/v1/me").json()["email_verified"] is False
    assert target not in _emails(victim, "victim")
    # The victim's owner sees what is true: nobody has answered.
    listed = victim.get("/api/v1/tenants/victim/invitations?all=true").json()
    states = {i["email"]: i["state"] for i in listed}
    assert states[target] == "pending"

    # The squatter learns that an invitation waits, not from whom: that is for the address's owner.
    [waiting] = squatter_api.get("/api/v1/me/invitations").json()
    assert waiting["id"] == invitation_id and waiting["can_accept"] is False
    assert waiting["tenant"] is None and waiting["role"] is None and waiting["invited_by"] is None
    listing = squatter.get("/invitations").text
    assert 'data-testid="verify-email"' in listing and 'data-testid="verify-email-admin"' in listing
    assert "Victim Corp" not in listing and VICTIM_OWNER not in listing
    home = squatter.get("/").text
    assert 'data-testid="pending-invitations"' in home and "Victim Corp" not in home
    # The account is still a member of the tenant whose link it registered through.
    assert target in _emails(site.api(ATTACKER), "evil")


def test_with_a_mail_server_the_inviter_never_sees_the_link(site, smtp):
    target = "cfo2@victim.example"
    attacker = site.api(ATTACKER)
    answers = []
    for n, path in enumerate(("invitations", "members"), start=1):
        answers.append(attacker.post(f"/api/v1/tenants/evil/{path}", json={"email": target}))
        smtp.wait_for(n)  # in order: each invitation replaces the one before
    assert [a.status_code for a in answers] == [201, 202]
    for answer in answers:
        assert "accept_url" not in answer.json() and answer.json()["delivery"] == "mail"
    listed = attacker.get("/api/v1/tenants/evil/invitations").json()
    assert [i["delivery"] for i in listed if i["email"] == target] == ["mail"]

    # The console says so too, and shows no link.
    browser = site.browser(ATTACKER)
    sent = browser.submit("/t/evil/invitations", {"email": target, "role": "member"},
                          form_page="/t/evil/members")
    assert sent.status_code == 302
    members_page = browser.get(sent.headers["Location"]).text
    assert f"Invitation sent by mail to {target}." in members_page
    assert 'data-testid="invitation-link"' not in members_page
    assert 'data-testid="invitation-mailed"' in members_page

    inbox = smtp.wait_for(3)
    assert [rcpts for _, rcpts, _ in inbox] == [[target]] * 3
    links = [LINK.search(message.get_content()).group(1) for _, _, message in inbox]
    seen = "".join(a.text for a in answers) + members_page + browser.get("/t/evil/members").text + \
        attacker.get("/api/v1/tenants/evil/invitations?all=true").text
    for link in links:
        assert link.rsplit("/", 1)[1] not in seen

    # The invitee, who received the last mail, registers through it: the address is proven.
    invitee = _register(site, site.base + links[-1], "Carla CFO", "carlas-own-Passw0rd")
    assert invitee.get("/t/evil/").status_code == 200
    assert 'data-testid="email-verified"' in invitee.get("/profile").text
    [entry] = site.audit("iam.user.email_verified", target)
    assert entry["details"] == {"method": "invitation"}
    # The earlier links were replaced by the last one.
    assert "This invitation was withdrawn." in site.anonymous().get(site.base + links[0]).text

    # So later invitations to the address are the account's to see and accept.
    victim = site.api(VICTIM_OWNER)
    assert victim.post("/api/v1/tenants/victim/invitations", json={"email": target}).status_code == 201
    invitee_api = Http(site.base, _personal_token(invitee))
    [waiting] = invitee_api.get("/api/v1/me/invitations").json()
    assert waiting["tenant"]["name"] == "Victim Corp" and waiting["can_accept"] is True
    assert invitee_api.post(f"/api/v1/me/invitations/{waiting['id']}/accept").status_code == 200
    assert target in _emails(victim, "victim")


def test_an_address_squatted_before_mail_was_configured_stays_unproven(site, smtp, monkeypatch):
    target = "cfo3@victim.example"
    monkeypatch.setitem(site.app.config, "SMTP_URL", "")
    squatter, squatter_api = _squat(site, target)
    monkeypatch.setitem(site.app.config, "SMTP_URL", smtp.url)

    # The victim's owner invites the address; the link goes to the real CFO's mailbox.
    victim = site.api(VICTIM_OWNER)
    invited = victim.post("/api/v1/tenants/victim/invitations", json={"email": target, "role": "admin"})
    assert invited.status_code == 201 and "accept_url" not in invited.json()
    _assert_refused(squatter_api.post(f"/api/v1/me/invitations/{invited.json()['id']}/accept"), "accept")

    # The squatter asks for a verification mail; it goes to the real CFO, who may well click it.
    asked = squatter.submit("/profile/email/verification", {"next": "/invitations"})
    assert asked.status_code == 302
    inbox = smtp.wait_for(2)
    verification = next(m for _, rcpts, m in inbox if "verify" in m["Subject"].lower())
    link = re.search(r"http://127\.0\.0\.1:\d+(/profile/email/verify/[\w-]+)",
                     verification.get_content()).group(1)
    # Opened in the CFO's own browser, not signed in to the squatter's account, it proves nothing.
    cfo_browser = site.anonymous()
    opened = cfo_browser.get(link, allow_redirects=False)
    assert opened.status_code == 302 and "/login" in opened.headers["Location"]
    # Nor signed in to another account.
    bystander = site.browser(VICTIM_OWNER)
    assert bystander.get(link).status_code == 403
    assert bystander.submit(link, form_page="/profile").status_code == 403
    assert squatter_api.get("/api/v1/me").json()["email_verified"] is False
    _assert_refused(squatter_api.post(f"/api/v1/me/invitations/{invited.json()['id']}/accept"), "accept")
    assert target not in _emails(victim, "victim")
