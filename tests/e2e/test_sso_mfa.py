"""A person turns on two-factor authentication and signs in to the console with a TOTP code.

The console signs in through Taiji's own OpenID Connect provider: /login starts an authorization
request (PKCE, state, nonce), the provider's pages ask for the password and the code, and the
console's callback exchanges the code. Signing out ends both sessions (RP-initiated logout).
"""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in, sign_out


def test_enrol_totp_then_sign_in_with_a_code(page, live_server, shot):
    base = live_server.url
    email = live_server.account("mfa@e2e.example", "Mia Factor")
    sign_in(page, base, email)
    expect(page).to_have_url(f"{base}/")

    page.goto(f"{base}/profile/mfa")
    expect(page.get_by_test_id("mfa-qr").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("mfa-secret").inner_text().strip()
    shot(page, "mfa-enrol")
    page.fill("[data-testid=mfa-enable-form] input[name=code]", pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.click("[data-testid=mfa-enable-submit]")
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    shot(page, "mfa-recovery-codes")
    page.click("[data-testid=recovery-codes-done]")
    expect(page.get_by_test_id("mfa-status")).to_be_visible()

    sign_out(page)
    expect(page).to_have_url(f"{base}/login")
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    sign_in(page, base, email)
    # The provider's second step keeps the console's authorization request to resume.
    expect(page).to_have_url(re.compile(r"/login/mfa\?next=/oauth/authorize.*client_id%3Dtaiji-console"))
    # The enrolment used this 30-second step's code; the next step's code is accepted and fresh.
    page.fill("[data-testid=mfa-login-form] input[name=code]", pyotp.TOTP(secret).at(time.time() + 30))
    with page.expect_navigation():
        page.click("[data-testid=mfa-login-submit]")
    expect(page).to_have_url(f"{base}/")

    page.goto(f"{base}/profile/sessions")
    expect(page.get_by_test_id("sessions")).to_contain_text("this browser")
    shot(page, "my-sessions")


def test_signing_out_ends_the_provider_session_too(page, live_server):
    base = live_server.url
    email = live_server.account("sso@e2e.example", "Sam Single")
    sign_in(page, base, email)
    expect(page).to_have_url(f"{base}/")
    names = {c["name"] for c in page.context.cookies()}
    assert "taiji_session" in names
    sign_out(page)
    # A new visit is not signed in silently by a leftover provider session: the form is shown.
    page.goto(f"{base}/profile")
    expect(page.get_by_test_id("login-form")).to_be_visible()
