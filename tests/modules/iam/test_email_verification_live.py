"""Proving an email address over real HTTP, with a real SMTP server on loopback: the mailed link
(single use, time-limited, only its hash stored, valid only in the browser signed in to the
account that asked), and a platform administrator vouching for an address (API and console,
audited). An account whose address is not proven cannot answer invitations (see
tests/modules/tm/test_invitation_squatting_live.py for the attack this closes)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from taiji.modules.iam.sessions.models import SignInLink
from taiji.platform.db import db, utcnow
from tests.liveapp import serve
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.live

ADMIN = "admin@platform.example"
OWNER = "owner@acme.example"
VERIFY_LINK = re.compile(r"http://127\.0\.0\.1:\d+(/profile/email/verify/([\w-]+))")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("verify"), "verify") as site:
        site.user(ADMIN, "Admin", admin=True)
        site.user(OWNER, "Owner")
        site.tenant("acme", "Acme", OWNER)
        yield site


@pytest.fixture
def smtp(site):
    with SmtpServer() as server:
        site.app.config["SMTP_URL"] = server.url
        try:
            yield server
        finally:
            site.app.config["SMTP_URL"] = ""


def _invite(site, email: str) -> int:
    answer = site.api(OWNER).post("/api/v1/tenants/acme/invitations", json={"email": email, "role": "member"})
    assert answer.status_code == 201
    return answer.json()["id"]


def test_a_mailed_link_verifies_the_address_of_the_account_that_asked(site, smtp):
    email = "newcomer@acme.example"
    site.user(email, "Newcomer", email_verified=False)
    invitation_id = _invite(site, email)
    smtp.wait_for(1)
    browser = site.browser(email)
    api = site.api(email)
    assert api.post(f"/api/v1/me/invitations/{invitation_id}/accept").status_code == 403

    # The invitations page says what to do, with a button that mails the link.
    page = browser.get("/invitations").text
    assert 'data-testid="verify-email"' in page and 'data-testid="send-verification"' in page
    asked = browser.submit("/profile/email/verification", {"next": "/invitations"}, form_page="/invitations")
    assert asked.status_code == 302 and asked.headers["Location"] == "/invitations"
    inbox = smtp.wait_for(2)
    assert [rcpts for _, rcpts, _ in inbox] == [[email], [email]]  # the invitation, then the link
    mails = [m for _, _, m in inbox if m["Subject"] == "Verify your email address for Taiji"]
    assert len(mails) == 1
    path, token = VERIFY_LINK.search(mails[0].get_content()).groups()

    # Only the link's hash is kept, and opening it (a GET, as a mail scanner does) spends nothing.
    stored = site.run(lambda: db.session.execute(sa.text(
        "SELECT token_hash FROM iam_sign_in_link WHERE purpose = 'verify-email'")).scalars().all())
    assert len(stored) == 1 and token not in stored[0]
    confirm = browser.get(path)
    assert confirm.status_code == 200 and 'data-testid="verify-email-button"' in confirm.text
    assert api.get("/api/v1/me").json()["email_verified"] is False
    done = browser.submit(path, form_page=path)
    assert done.status_code == 302
    assert 'data-testid="email-verified"' in browser.get("/profile").text
    assert api.get("/api/v1/me").json()["email_verified"] is True
    assert [e["details"] for e in site.audit("iam.user.email_verified", email)] == [{"method": "mail"}]
    assert len(site.audit("iam.user.email_verification_sent", email)) == 1

    # Single use.
    again = browser.submit(path, form_page="/profile")
    assert again.status_code == 404 and 'data-testid="verify-email-invalid"' in again.text
    # Now the invitation is the account's to see and to accept.
    [waiting] = api.get("/api/v1/me/invitations").json()
    assert waiting["tenant"] == {"slug": "acme", "name": "Acme"} and waiting["invited_by"] == OWNER
    assert api.post(f"/api/v1/me/invitations/{invitation_id}/accept").status_code == 200
    # Nothing more to verify.
    refused = api.post("/api/v1/me/email/verification")
    assert refused.status_code == 409 and "already verified" in refused.json()["detail"]


def test_the_api_mails_a_link_a_few_times_an_hour_and_old_links_expire(site, smtp):
    email = "api-user@acme.example"
    site.user(email, "Api User", email_verified=False)
    api = site.api(email)
    answers = [api.post("/api/v1/me/email/verification") for _ in range(6)]
    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert answers[0].json() == {"email": email, "expires_in": 24 * 3600}
    assert answers[5].headers["Content-Type"].startswith("application/problem+json")
    mails = smtp.wait_for(5)
    assert [rcpts for _, rcpts, _ in mails] == [[email]] * 5
    first, second = (VERIFY_LINK.search(m.get_content()).group(1) for _, _, m in mails[:2])

    # A link past its time verifies nothing.
    site.run(lambda: db.session.execute(
        sa.update(SignInLink).where(SignInLink.token_hash == _hash(first.rsplit("/", 1)[1]))
        .values(expires_at=utcnow() - dt.timedelta(minutes=1))))
    browser = site.browser(email)
    assert browser.get(first).status_code == 404
    assert browser.submit(first).status_code == 404
    assert api.get("/api/v1/me").json()["email_verified"] is False
    # A verification link is no sign-in link.
    assert browser.get(second.replace("/profile/email/verify/", "/login/link/")).status_code == 410
    assert browser.submit(second).status_code == 302
    assert api.get("/api/v1/me").json()["email_verified"] is True


def test_without_a_mail_server_a_platform_administrator_verifies_the_address(site):
    email = "no-mail@acme.example"
    user_id = site.user(email, "No Mail", email_verified=False)
    invitation_id = _invite(site, email)
    api = site.api(email)

    refused = api.post("/api/v1/me/email/verification")
    assert refused.status_code == 409 and "administrator" in refused.json()["detail"]
    browser = site.browser(email)
    page = browser.get("/invitations").text
    assert 'data-testid="verify-email-admin"' in page and 'data-testid="send-verification"' not in page
    profile = browser.get("/profile").text
    assert 'data-testid="email-unverified"' in profile and 'data-testid="send-verification"' not in profile

    # Only a platform administrator may vouch.
    assert api.post(f"/api/v1/users/{user_id}/email/verify").status_code == 403
    assert site.api(OWNER).post(f"/api/v1/users/{user_id}/email/verify").status_code == 403
    assert api.get("/api/v1/me").json()["email_verified"] is False
    admin = site.api(ADMIN)
    before = admin.get(f"/api/v1/users/{user_id}").json()
    assert before["email_verified_at"] is None
    vouched = admin.post(f"/api/v1/users/{user_id}/email/verify")
    assert vouched.status_code == 200 and vouched.json()["email_verified_at"] is not None
    [entry] = site.audit("iam.user.email_verified", email)
    assert entry == {"actor": ADMIN, "details": {"method": "admin"}, "via": "api"}
    assert admin.post("/api/v1/users/999999/email/verify").status_code == 404
    assert api.post(f"/api/v1/me/invitations/{invitation_id}/accept").status_code == 200


def test_an_administrator_marks_an_address_verified_in_the_console(site):
    email = "console-mark@acme.example"
    site.user(email, "Console Mark", email_verified=False)
    invitation_id = _invite(site, email)
    admin = site.browser(ADMIN)
    listing = admin.get(f"/admin/users?q={email}").text
    assert 'data-testid="user-email-unverified"' in listing and 'data-testid="mark-email-verified"' in listing
    user_id = re.search(r'action="/admin/users/(\d+)/email-verified"', listing).group(1)
    # Not for anyone else.
    member = site.browser(OWNER)
    assert member.submit(f"/admin/users/{user_id}/email-verified").status_code == 403

    marked = admin.submit(f"/admin/users/{user_id}/email-verified", {"q": email})
    assert marked.status_code == 302
    after = admin.get(marked.headers["Location"]).text
    assert f"The email address {email} is marked verified." in after
    assert 'data-testid="user-email-unverified"' not in after
    [entry] = site.audit("iam.user.email_verified", email)
    assert entry == {"actor": ADMIN, "details": {"method": "admin"}, "via": "console"}
    assert site.api(email).post(f"/api/v1/me/invitations/{invitation_id}/accept").status_code == 200


def _hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()
