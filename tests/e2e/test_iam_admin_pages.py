"""Administration pages of sign-in, in a real browser: a platform administrator manages an
OAuth client (secret shown once, rotated, redirect URIs edited, disabled), and a tenant owner
points the tenant at an LDAP directory that cannot be reached."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

REDIRECT = "https://grafana.e2e.example/login/generic_oauth"
SECOND_REDIRECT = "https://grafana-2.e2e.example/login/generic_oauth"


def _token_answer(base: str, client_id: str, secret: str) -> requests.Response:
    """What the token endpoint says to this client id and secret (with a code it never issued)."""
    return requests.post(f"{base}/oauth/token", auth=(client_id, secret), timeout=10, data={
        "grant_type": "authorization_code", "code": "not-a-code", "redirect_uri": REDIRECT})


def _secret(page) -> str:
    box = page.get_by_test_id("client-secret")
    expect(box).to_contain_text("Copy the client secret now: it will not be shown again.")
    return box.locator("code").inner_text().strip()


def _accept_confirmation(page) -> list[str]:
    messages: list[str] = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    return messages


def test_administrator_registers_rotates_edits_and_disables_a_client(page, live_server, admin_email, shot):
    base = live_server.url
    sign_in(page, base, admin_email)
    page.goto(f"{base}/admin/clients")
    expect(page.get_by_role("heading", name="Register a client")).to_be_visible()

    form = page.get_by_test_id("client-form")
    form.get_by_label("Name").fill("Grafana E2E")
    form.get_by_label("Redirect URIs", exact=True).fill(REDIRECT)
    with page.expect_navigation():
        page.get_by_test_id("client-create").click()
    first = _secret(page)
    client_id = page.get_by_test_id("client-id").inner_text().strip()
    assert first and client_id
    shot(page, "oauth-client-secret")
    # The secret is what the token endpoint knows this client by: a bogus code, not a bad client.
    assert _token_answer(base, client_id, first).json()["error"] == "invalid_grant"

    # Opening the client again (or the list) never shows the secret again.
    client_url = f"{base}/admin/clients/{client_id}"
    page.goto(client_url)
    expect(page.get_by_test_id("client-secret")).to_have_count(0)
    assert first not in page.content()
    page.goto(f"{base}/admin/clients")
    assert first not in page.content()
    row = page.get_by_test_id("client-row").filter(has_text="Grafana E2E")
    expect(row).to_contain_text(client_id)
    expect(row).to_contain_text("confidential")
    expect(row).to_contain_text("enabled")
    shot(page, "oauth-clients")

    # Rotating issues a new secret, shown once; the old one stops working at once.
    page.goto(client_url)
    messages = _accept_confirmation(page)
    with page.expect_navigation():
        page.get_by_test_id("client-rotate").click()
    assert messages == ["Issue a new secret? The current one stops working at once."]
    second = _secret(page)
    assert second and second != first
    assert _token_answer(base, client_id, first).json()["error"] == "invalid_client"
    assert _token_answer(base, client_id, second).json()["error"] == "invalid_grant"
    page.goto(client_url)
    expect(page.get_by_test_id("client-secret")).to_have_count(0)
    assert second not in page.content()

    # Editing the redirect URIs: one per line, kept in order.
    edit = page.get_by_test_id("client-edit-form")
    edit.get_by_label("Redirect URIs", exact=True).fill(f"{REDIRECT}\n{SECOND_REDIRECT}")
    with page.expect_navigation():
        page.get_by_test_id("client-save").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Client saved.")
    expect(page.get_by_test_id("client-edit-form").get_by_label("Redirect URIs", exact=True)).to_have_value(
        f"{REDIRECT}\n{SECOND_REDIRECT}")

    # Disabling: the page, the list and the token endpoint all agree.
    with page.expect_navigation():
        page.get_by_test_id("client-toggle").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Client disabled: it can no longer sign anyone in.")
    expect(page.get_by_test_id("client-toggle")).to_have_text("Enable")
    shot(page, "oauth-client-disabled")
    assert _token_answer(base, client_id, second).json()["error"] == "invalid_client"
    page.goto(f"{base}/admin/clients")
    row = page.get_by_test_id("client-row").filter(has_text="Grafana E2E")
    expect(row).to_contain_text("disabled")
    expect(row).to_have_count(1)



def test_reloading_the_secret_page_neither_shows_a_secret_nor_registers_again(page, live_server, admin_email):
    base = live_server.url
    sign_in(page, base, admin_email)
    page.goto(f"{base}/admin/clients")
    form = page.get_by_test_id("client-form")
    form.get_by_label("Name").fill("Reloaded Tool")
    form.get_by_label("Redirect URIs", exact=True).fill("https://reloaded.e2e.example/callback")
    with page.expect_navigation():
        page.get_by_test_id("client-create").click()
    _secret(page)
    page.on("dialog", lambda dialog: dialog.accept())  # "Confirm form resubmission?" where a browser asks
    page.reload()
    expect(page.get_by_test_id("client-secret")).to_have_count(0, timeout=1000)
    page.goto(f"{base}/admin/clients")
    expect(page.get_by_test_id("client-row").filter(has_text="Reloaded Tool")).to_have_count(1, timeout=1000)

def _tenant_owned_by(live_server, slug: str, name: str, email: str) -> None:
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    with live_server.app.app_context():
        tm.create_tenant(slug, name, owner_id=iam.get_user_by_email(email).id)
        db.session.commit()
        db.session.remove()


def test_owner_configures_an_unreachable_directory_and_sees_why_it_fails(page, live_server, shot):
    base = live_server.url
    email = live_server.account("dir-owner@e2e.example", "Dora Directory")
    _tenant_owned_by(live_server, "dirco", "Directory Co", email)
    sign_in(page, base, email)
    page.goto(f"{base}/t/dirco/settings/directory")
    expect(page.get_by_role("heading", name="Sign-in directory")).to_be_visible()
    # Nothing saved yet: there is nothing to test.
    expect(page.get_by_role("button", name="Test connection")).to_be_disabled()

    password = "bind-secret-e2e-1234"
    form = page.get_by_test_id("directory-form")
    form.get_by_label("Allow sign-in through this directory").check()
    form.get_by_label("Server URL").fill("ldap://127.0.0.1:9/")
    form.get_by_label("Bind DN").fill("cn=taiji,dc=example,dc=com")
    form.get_by_label("Bind password").fill(password)
    form.get_by_label("User base DN").fill("ou=people,dc=example,dc=com")
    with page.expect_navigation():
        page.get_by_test_id("directory-save").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Directory settings saved.")
    expect(page.get_by_label("Server URL")).to_have_value("ldap://127.0.0.1:9/")
    expect(page.get_by_label("Bind password")).to_have_value("")
    expect(page.get_by_label("Bind password")).to_have_attribute(
        "placeholder", "Stored encrypted; leave empty to keep it")
    assert password not in page.content()
    shot(page, "directory-saved")

    with page.expect_navigation():
        page.get_by_role("button", name="Test connection").click()
    result = page.get_by_test_id("directory-test-result")
    expect(result).to_be_visible()
    expect(result).to_have_class(re.compile(r"\balert-danger\b"))
    expect(result).to_contain_text("Nothing answers at 127.0.0.1:9")
    expect(page.get_by_label("Bind password")).to_have_value("")
    assert password not in page.content()
    shot(page, "directory-test-failed")

    # Saving again with the password left empty keeps the stored one.
    with page.expect_navigation():
        page.get_by_test_id("directory-save").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Directory settings saved.")
    expect(page.get_by_label("Bind password")).to_have_attribute(
        "placeholder", "Stored encrypted; leave empty to keep it")
