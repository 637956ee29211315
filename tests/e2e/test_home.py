"""The console's home and account pages in a real browser, in English and Chinese: a form with three
bad fields shows three errors and a summary at the top of the form, scrolled into view and focused;
the forgot-password flow with the mail from a real SMTP server; the tenant overview with what needs
attention and the parked-transactions badge in the menu."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in, sign_out
from tests.smtpserver import SmtpServer

NEW_PASSWORD = "Quiet-Harbour-Lantern-58"


def _language(page, locale: str) -> None:
    """Choose the console's language (saved on the account when signed in)."""
    if page.eval_on_selector("[data-testid=language-switcher]", "el => el.value") == locale:
        return
    with page.expect_navigation():
        page.select_option("[data-testid=language-switcher]", locale)


@pytest.mark.parametrize("locale, heading", [("en", "There are 3 problems to fix."),
                                             ("zh_Hans", "有 3 个问题需要修改。")])
def test_three_bad_fields_show_three_errors_and_a_focused_summary(page, live_server, admin_email, shot,
                                                                  locale, heading):
    base = live_server.url
    sign_in(page, base, admin_email)
    _language(page, locale)
    page.goto(f"{base}/admin/users")
    form = page.locator("form[action='/admin/users']")
    form.locator("#email").fill("not-an-address")
    # As pasted into a browser that does not hold to maxlength.
    page.eval_on_selector("#name", "el => { el.removeAttribute('maxlength'); el.value = 'n'.repeat(300); }")
    form.locator("#password").fill("short")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()

    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text(heading)
    expect(summary.get_by_test_id("error-summary-item")).to_have_count(3)
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    # Moved to the top of its form, before the first field.
    assert page.evaluate("""() => {
        const s = document.querySelector('[data-error-summary]');
        const f = document.querySelector('form[action="/admin/users"]');
        return s.parentElement === f && !!(s.compareDocumentPosition(f.querySelector('#email')) & 4);
    }""")
    # Each field has its own error under it.
    expect(page.get_by_test_id("field-error")).to_have_count(3)
    shot(page, f"form-errors-{locale}-1280")
    summary.locator("a[data-field=password]").click()
    expect(form.locator("#password")).to_be_focused()
    _language(page, "en")


def test_a_hand_written_form_gets_the_summary_too(page, live_server, admin_email):
    base = live_server.url
    sign_in(page, base, admin_email)
    _language(page, "en")
    page.goto(f"{base}/admin/clients")
    form = page.get_by_test_id("client-form")
    form.locator("#client-name").fill("")
    with page.expect_navigation():
        page.get_by_test_id("client-create").click()
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_have_count(1)
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Fix these problems:")
    expect(summary.get_by_test_id("error-summary-item")).to_have_text(
        "Name: Give the client a name of 1 to 255 characters.")
    assert page.evaluate("""() => document.querySelector('[data-error-summary]').closest('form')
                                  === document.querySelector('[data-testid=client-form]')""")
    summary.locator("a[data-field=client-name]").click()
    expect(form.locator("#client-name")).to_be_focused()


def test_forgot_password_by_mail_in_both_languages(browser, live_server, shot):
    base = live_server.url
    email = live_server.account(f"forgetful-{uuid.uuid4().hex[:6]}@e2e.example", "Forgetful")
    with SmtpServer() as smtp:
        live_server.app.config["SMTP_URL"] = smtp.url
        try:
            context = browser.new_context(locale="zh-CN")
            page = context.new_page()
            page.goto(f"{base}/login")
            expect(page.get_by_test_id("forgot-link")).to_have_text("忘记密码？")  # noqa: RUF001
            _language(page, "en")
            with page.expect_navigation():
                page.get_by_test_id("forgot-link").click()
            page.get_by_test_id("forgot-email").fill(email)
            shot(page, "forgot-password-en")
            with page.expect_navigation():
                page.get_by_test_id("forgot-submit").click()
            expect(page.get_by_test_id("flash")).to_contain_text(f"If an account uses {email}")

            _from, _to, message = smtp.wait_for(1)[0]
            link = re.search(r"(/login/reset/[\w-]+)", message.get_content()).group(1)
            _language(page, "zh_Hans")
            page.goto(f"{base}{link}")
            expect(page.locator("h2")).to_have_text("设置新密码")
            page.get_by_test_id("reset-new").fill(NEW_PASSWORD)
            page.get_by_test_id("reset-confirm").fill(NEW_PASSWORD + "?")
            with page.expect_navigation():
                page.get_by_test_id("reset-submit").click()
            expect(page.get_by_test_id("error-summary")).to_contain_text("两次输入的密码不一致。")
            page.get_by_test_id("reset-new").fill(NEW_PASSWORD)
            page.get_by_test_id("reset-confirm").fill(NEW_PASSWORD)
            shot(page, "reset-password-zh")
            with page.expect_navigation():
                page.get_by_test_id("reset-submit").click()
            expect(page.get_by_test_id("flash")).to_contain_text("新密码已设置")

            sign_in(page, base, email, NEW_PASSWORD)
            expect(page.get_by_test_id("user-menu")).to_be_visible()
            sign_out(page)
            page.goto(f"{base}{link}")  # spent
            expect(page.get_by_test_id("reset-invalid")).to_be_visible()
            context.close()
        finally:
            live_server.app.config["SMTP_URL"] = ""


def _park_a_transaction(live_server, slug: str) -> str:
    from taiji.platform import tenancy
    from taiji.platform.db import db
    from taiji.platform.tx import services as tx
    from taiji.platform.tx.models import PARKED, Transaction

    gid = f"e2e-park-{uuid.uuid4().hex[:6]}"
    with live_server.app.app_context():
        tenant = tenancy.tenant_by_slug(slug)
        tx.submit_saga([{"name": "reserve", "action": "http://10.0.0.9/r"}], gid=gid, tenant=tenant)
        db.session.execute(sa.update(Transaction).where(Transaction.gid == gid)
                           .values(state=PARKED, last_error="reserve compensate: FAIL"))
        db.session.commit()
        db.session.remove()
    return gid


def test_the_overview_shows_what_needs_attention_in_both_languages(page, live_server, admin_email, shot):
    base = live_server.url
    sign_in(page, base, admin_email)
    _language(page, "en")
    page.goto(f"{base}/admin/tenants")
    page.fill("[data-testid=tenant-form] input[name=slug]", "watch")
    page.fill("[data-testid=tenant-form] input[name=name]", "Watch Team")
    with page.expect_navigation():
        page.click("[data-testid=tenant-form] button[type=submit]")
    expect(page.get_by_test_id("attention-empty")).to_be_visible()
    gid = _park_a_transaction(live_server, "watch")

    page.goto(f"{base}/t/watch/")
    attention = page.get_by_test_id("attention")
    expect(attention).to_contain_text(f"Transaction {gid} is parked")
    expect(page.get_by_test_id("sidebar-menu").get_by_test_id("nav-badge")).to_have_text("1")
    expect(page.locator("[data-panel='cicd.recent']")).to_contain_text("No pipeline has run yet.")
    shot(page, "overview-en-1280")
    with page.expect_navigation():
        attention.get_by_role("link", name=re.compile(gid)).click()
    expect(page).to_have_url(f"{base}/t/watch/transactions/{gid}")

    page.goto(f"{base}/t/watch/")
    _language(page, "zh_Hans")
    expect(page.get_by_test_id("attention")).to_contain_text("需要处理")
    expect(page.get_by_test_id("attention")).to_contain_text(f"事务 {gid} 已挂起")
    expect(page.locator("[data-panel='cicd.recent']")).to_contain_text("最近的流水线")
    shot(page, "overview-zh-1280")
    _language(page, "en")
