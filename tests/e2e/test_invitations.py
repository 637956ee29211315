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


def _mailed_link(smtp, count: int, pattern: str) -> str:
    """The path of the link in the ``count``-th mail received."""
    import re

    message = smtp.wait_for(count)[count - 1][2]
    return re.search(r"http://127\.0\.0\.1:\d+(" + pattern + r"[\w-]+)", message.get_content()).group(1)


def test_with_a_mail_server_invitations_go_by_mail_and_addresses_are_proven(browser, live_server,
                                                                              admin_email, shot):
    """Account squatting (issue 12, findings 1 and 11) in the console: the inviter never sees the
    link, the person who registers through the mailed link has a verified address, and an account
    whose address is not verified proves it by mail before it can accept."""
    from tests.e2e.conftest import PASSWORD
    from tests.smtpserver import SmtpServer

    base = live_server.url
    unproven = live_server.account("unproven@e2e.example", "Una Unproven", email_verified=False)
    with SmtpServer() as smtp:
        live_server.app.config["SMTP_URL"] = smtp.url
        try:
            owner = browser.new_context(locale="en-US")
            page = owner.new_page()
            sign_in(page, base, admin_email)
            page.goto(f"{base}/admin/tenants")
            page.fill("[data-testid=tenant-form] input[name=slug]", "echo")
            page.fill("[data-testid=tenant-form] input[name=name]", "Echo Team")
            with page.expect_navigation():
                page.click("[data-testid=tenant-form] button[type=submit]")
            page.goto(f"{base}/t/echo/members")
            expect(page.get_by_test_id("invite-by-mail")).to_be_visible()
            for n, email in enumerate(("newhire@e2e.example", unproven), start=1):
                page.fill("[data-testid=invite-form] input[name=email]", email)
                with page.expect_navigation():
                    page.click("[data-testid=invite-form] button[type=submit]")
                expect(page.get_by_test_id("flash")).to_have_text(f"Invitation sent by mail to {email}.")
                expect(page.get_by_test_id("invitation-link")).to_have_count(0)
                link = _mailed_link(smtp, n, "/invitations/")
                assert link.rsplit("/", 1)[1] not in page.content()
                if n == 1:
                    newcomer_link = link
            expect(page.get_by_test_id("invitation-mailed")).to_have_count(2)
            shot(page, "invitations-sent-by-mail")

            # The person who received the mail makes their account: the address is proven.
            newcomer = browser.new_context(locale="en-US")
            them = newcomer.new_page()
            them.goto(base + newcomer_link)
            them.fill("[data-testid=register-form] input[name=name]", "Nina Newhire")
            them.fill("[data-testid=register-form] input[name=password]", "ninas-own-Passw0rd")
            with them.expect_navigation():
                them.click("[data-testid=register-accept]")
            expect(them).to_have_url(f"{base}/t/echo/")
            them.goto(f"{base}/profile")
            expect(them.get_by_test_id("email-verified")).to_be_visible()
            newcomer.close()

            # An account whose address nobody proved sees that an invitation waits, not from whom.
            person = browser.new_context(locale="en-US")
            una = person.new_page()
            sign_in(una, base, unproven, PASSWORD)
            una.goto(f"{base}/invitations")
            expect(una.get_by_test_id("verify-email")).to_contain_text("Verify your email to accept")
            expect(una.get_by_test_id("accept-my-invitation")).to_have_count(0)
            expect(una.locator(".page-body")).not_to_contain_text("Echo Team")
            shot(una, "verify-email-to-accept")
            with una.expect_navigation():
                una.click("[data-testid=verify-email] [data-testid=send-verification]")
            expect(una.get_by_test_id("flash")).to_contain_text(
                f"A verification link is on its way to {unproven}.")
            una.goto(base + _mailed_link(smtp, 3, "/profile/email/verify/"))
            with una.expect_navigation():
                una.click("[data-testid=verify-email-button]")
            expect(una.get_by_test_id("flash")).to_contain_text(f"Your email address {unproven} is verified.")
            una.goto(f"{base}/invitations")
            expect(una.get_by_test_id("my-invitation")).to_contain_text("Echo Team")
            with una.expect_navigation():
                una.click("[data-testid=accept-my-invitation]")
            expect(una).to_have_url(f"{base}/t/echo/")
            person.close()

            page.reload()
            expect(page.get_by_test_id("members-table")).to_contain_text("newhire@e2e.example")
            expect(page.get_by_test_id("members-table")).to_contain_text(unproven)
            owner.close()
        finally:
            live_server.app.config["SMTP_URL"] = ""
