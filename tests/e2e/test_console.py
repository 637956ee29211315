"""What a person does in the console, in a real browser: sign in, tenants, language, invitations."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, sign_in, sign_out


def _create_tenant(page, base: str, slug: str, name: str) -> None:
    page.goto(f"{base}/admin/tenants")
    page.fill("[data-testid=tenant-form] input[name=slug]", slug)
    page.fill("[data-testid=tenant-form] input[name=name]", name)
    with page.expect_navigation():
        page.click("[data-testid=tenant-form] button[type=submit]")


def test_administrator_creates_tenants_and_switches_between_them(page, live_server, admin_email, shot):
    base = live_server.url
    page.goto(f"{base}/login")
    shot(page, "login")
    sign_in(page, base, admin_email)
    expect(page).to_have_url(f"{base}/")
    shot(page, "start")

    _create_tenant(page, base, "alpha", "Alpha Team")
    expect(page).to_have_url(f"{base}/t/alpha/")
    expect(page.get_by_test_id("flash")).to_contain_text("Tenant Alpha Team created.")
    expect(page.get_by_test_id("quota-table")).to_contain_text("Members")
    shot(page, "tenant-overview")

    _create_tenant(page, base, "beta", "Beta Team")
    expect(page).to_have_url(f"{base}/t/beta/")

    # The switcher lists both tenants; choosing one opens it.
    with page.expect_navigation():
        page.get_by_test_id("tenant-switcher").select_option(label="Alpha Team")
    expect(page).to_have_url(f"{base}/t/alpha/")
    expect(page.locator(".page-title")).to_have_text("Alpha Team")

    page.goto(f"{base}/admin/tenants")
    expect(page.get_by_test_id("tenants-table")).to_contain_text("Beta Team")
    shot(page, "admin-tenants")
    page.goto(f"{base}/t/alpha/audit")
    expect(page.get_by_test_id("audit-table")).to_contain_text("tm.tenant.created")
    shot(page, "audit-log")
    page.goto(f"{base}/admin/users")
    shot(page, "admin-users")
    page.goto(f"{base}/profile/tokens")
    shot(page, "tokens")

    sign_out(page)
    expect(page).to_have_url(f"{base}/login")
    expect(page.get_by_test_id("flash")).to_contain_text("You have signed out.")


def test_chinese_chosen_once_stays_after_signing_out_and_in(browser, live_server, shot):
    base = live_server.url
    email = live_server.account("lang@e2e.example", "Lang User")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    sign_in(page, base, email)
    expect(page.get_by_role("heading", name="Your tenants")).to_be_visible()

    with page.expect_navigation():
        page.get_by_test_id("language-switcher").select_option("zh_Hans")
    expect(page.get_by_role("heading", name="我的租户")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    shot(page, "start-zh")

    sign_out(page)
    expect(page.get_by_role("heading", name="登录 Taiji")).to_be_visible()
    shot(page, "login-zh")
    context.close()

    # A fresh browser, English by its own preference: the account's saved choice wins.
    fresh = browser.new_context(locale="en-US")
    page = fresh.new_page()
    page.goto(f"{base}/login")
    expect(page.get_by_role("heading", name="Sign in to Taiji")).to_be_visible()
    sign_in(page, base, email)
    expect(page.get_by_role("heading", name="我的租户")).to_be_visible()
    expect(page.get_by_test_id("sign-out")).to_have_text("退出登录")
    fresh.close()


def test_invited_person_registers_and_joins_from_a_second_browser(browser, live_server, admin_email, shot):
    base = live_server.url
    owner = browser.new_context(locale="en-US")
    page = owner.new_page()
    sign_in(page, base, admin_email)
    _create_tenant(page, base, "gamma", "Gamma Team")

    page.goto(f"{base}/t/gamma/members")
    page.fill("[data-testid=invite-form] input[name=email]", "newcomer@e2e.example")
    page.get_by_test_id("invite-form").locator("select[name=role]").select_option("member")
    with page.expect_navigation():
        page.click("[data-testid=invite-form] button[type=submit]")
    link = page.get_by_test_id("invitation-link").input_value()
    assert re.fullmatch(rf"{re.escape(base)}/invitations/[\w-]+", link)
    expect(page.get_by_test_id("invitations-table")).to_contain_text("newcomer@e2e.example")
    shot(page, "members-with-invitation")

    invitee = browser.new_context(locale="en-US")
    guest = invitee.new_page()
    guest.goto(link)
    expect(guest.get_by_role("heading", name="Join Gamma Team")).to_be_visible()
    shot(guest, "invitation-accept")
    guest.fill("[data-testid=register-form] input[name=name]", "New Comer")
    guest.fill("[data-testid=register-form] input[name=password]", PASSWORD)
    with guest.expect_navigation():
        guest.click("[data-testid=register-accept]")
    expect(guest).to_have_url(f"{base}/t/gamma/")
    expect(guest.get_by_test_id("flash")).to_contain_text("Welcome to Gamma Team.")
    expect(guest.get_by_test_id("member-count")).to_have_text("2")
    sign_out(guest)
    expect(guest).to_have_url(f"{base}/login")
    invitee.close()

    page.reload()
    expect(page.get_by_test_id("members-table")).to_contain_text("newcomer@e2e.example")
    expect(page.get_by_test_id("invitations-table")).to_have_count(0)
    shot(page, "members")
    owner.close()
