"""In a real browser: someone with an account who is added to a tenant sees the invitation, with a
badge, and joins only by accepting it (issue 12, finding 11)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import sign_in


def test_an_existing_user_added_by_email_accepts_in_the_console(browser, live_server, admin_email, shot):
    base = live_server.url
    invitee_email = live_server.account("invited@e2e.example", "Ivy Invited")

    owner = browser.new_context(locale="en-US")
    page = owner.new_page()
    sign_in(page, base, admin_email)
    page.goto(f"{base}/admin/tenants")
    page.fill("[data-testid=tenant-form] input[name=slug]", "delta")
    page.fill("[data-testid=tenant-form] input[name=name]", "Delta Team")
    with page.expect_navigation():
        page.click("[data-testid=tenant-form] button[type=submit]")
    page.goto(f"{base}/t/delta/members")
    page.fill("[data-testid=invite-form] input[name=email]", invitee_email)
    with page.expect_navigation():
        page.click("[data-testid=invite-form] button[type=submit]")
    expect(page.get_by_test_id("flash")).to_have_text(f"Invitation created for {invitee_email}.")
    expect(page.get_by_test_id("members-table")).not_to_contain_text(invitee_email)

    person = browser.new_context(locale="en-US")
    them = person.new_page()
    sign_in(them, base, invitee_email)
    expect(them.get_by_test_id("pending-invitations")).to_contain_text("Delta Team")
    expect(them.get_by_test_id("user-menu-badge")).to_be_attached()
    them.click("[data-testid=user-menu]")
    expect(them.get_by_test_id("nav-badge")).to_have_text("1")
    with them.expect_navigation():
        them.get_by_test_id("nav-badge").click()
    expect(them.get_by_test_id("my-invitation")).to_contain_text("Delta Team")
    expect(them.get_by_test_id("my-invitation")).to_contain_text(admin_email)
    shot(them, "my-invitations")
    with them.expect_navigation():
        them.click("[data-testid=accept-my-invitation]")
    expect(them).to_have_url(f"{base}/t/delta/")
    expect(them.get_by_test_id("flash")).to_contain_text("Welcome to Delta Team.")
    expect(them.get_by_test_id("user-menu-badge")).to_have_count(0)
    person.close()

    page.reload()
    expect(page.get_by_test_id("members-table")).to_contain_text(invitee_email)
    owner.close()
