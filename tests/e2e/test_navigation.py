"""The console's navigation in a real browser: on a phone-sized screen (390 px) the menu hides
behind its toggle and opens with it; at 1280 px no table pushes its buttons out of sight."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

# For each table: is it wider than the box that shows it (a clipped or scrolled-away button)?
_CLIPPED_TABLES = """() => [...document.querySelectorAll('table')].filter(table => {
  const box = table.closest('.table-responsive, .card, .page-body');
  const right = table.getBoundingClientRect().right;
  return right > box.getBoundingClientRect().right + 1 || right > window.innerWidth + 1
    || [...table.querySelectorAll('button, a.btn')]
         .some(b => b.getBoundingClientRect().right > window.innerWidth + 1);
}).map(table => table.dataset.testid || table.className)"""


def _create_tenant(page, base: str, slug: str, name: str) -> None:
    page.goto(f"{base}/admin/tenants")
    page.fill("[data-testid=tenant-form] input[name=slug]", slug)
    page.fill("[data-testid=tenant-form] input[name=name]", name)
    with page.expect_navigation():
        page.click("[data-testid=tenant-form] button[type=submit]")


def test_the_menu_opens_with_its_toggle_on_a_phone(browser, live_server, admin_email, shot):
    base = live_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, base, admin_email)
        _create_tenant(page, base, "pocket", "Pocket Team")
        expect(page).to_have_url(f"{base}/t/pocket/")
        # Nothing is wider than the screen, and the menu waits behind its toggle.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        members = page.get_by_test_id("sidebar-menu").get_by_role("link", name="Members")
        expect(members).to_be_hidden()
        expect(page.get_by_test_id("menu-toggle")).to_be_visible()
        shot(page, "nav-390-closed")

        page.get_by_test_id("menu-toggle").click()
        expect(page.get_by_test_id("sidebar-menu")).to_have_class(re.compile(r"\bcollapse show\b"))
        expect(members).to_be_visible()
        expect(page.get_by_test_id("sidebar-menu")).to_contain_text("Manage")
        shot(page, "nav-390-open")
        with page.expect_navigation():
            members.click()
        expect(page).to_have_url(f"{base}/t/pocket/members")
        expect(page.get_by_test_id("breadcrumbs")).to_contain_text("Pocket Team")
        expect(page.get_by_test_id("breadcrumbs")).to_contain_text("Members")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "members-390")
    finally:
        context.close()


def test_tables_keep_their_buttons_in_sight_at_1280(page, live_server, admin_email, shot):
    base = live_server.url
    # A row with the most buttons: an unverified, active account (mark verified, disable).
    live_server.account("wide-unverified@e2e.example", "Wide Unverified", email_verified=False)
    sign_in(page, base, admin_email)
    _create_tenant(page, base, "wide", "Wide Team")
    pages = ("/t/wide/", "/t/wide/members", "/t/wide/audit", "/t/wide/settings", "/t/wide/repositories",
             "/t/wide/pipelines", "/t/wide/packages", "/t/wide/products", "/t/wide/transactions",
             "/t/wide/notifications", "/t/wide/messages", "/admin/tenants", "/admin/users")
    for path in pages:
        page.goto(f"{base}{path}")
        clipped = page.evaluate(_CLIPPED_TABLES)
        if clipped:
            shot(page, "clipped-1280" + path.replace("/", "-").rstrip("-"))
        assert clipped == [], path
    shot(page, "admin-users-1280")
