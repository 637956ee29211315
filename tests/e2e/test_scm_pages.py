"""The configuration pages in a real browser, in English and in Chinese: open a component in an
environment, add an item, see the diff, publish, edit it, publish again, roll back to the first
release (confirming the browser's dialog), and find the rolled-back value current."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

TENANT = "scm-e2e"

WORDS = {
    "en": {"draft": "Draft", "added": "Added", "changed": "Changed", "rollback": "Rollback to #1",
           "current": "Current"},
    "zh_Hans": {"draft": "草稿", "added": "新增", "changed": "修改", "rollback": "回滚到 #1",
                "current": "当前"},
}


@pytest.fixture(scope="module")
def seeded(live_server, admin_email):
    from taiji.modules.iam import services as iam
    from taiji.modules.spm import services as spm
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    with live_server.app.app_context():
        tenant = tm.create_tenant(TENANT, "Config E2E", owner_id=iam.get_user_by_email(admin_email).id)
        db.session.commit()
        product = spm.create_product(tenant, {"slug": "storefront", "name": "Storefront"})
        spm.create_component(tenant, product, {"name": "checkout", "layer": "base"})
        db.session.commit()
        db.session.remove()
    return TENANT


def _choose_language(page, base: str, locale: str) -> None:
    page.goto(f"{base}/")
    if page.get_by_test_id("language-switcher").input_value() != locale:
        with page.expect_navigation():
            page.get_by_test_id("language-switcher").select_option(locale)


@pytest.mark.parametrize(("language", "environment"), [("en", "dev"), ("zh_Hans", "staging")])
def test_edit_diff_publish_and_roll_back(page, live_server, admin_email, seeded, shot, language, environment):
    base = live_server.url
    words = WORDS[language]
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm() of rollback
    sign_in(page, base, admin_email)
    _choose_language(page, base, language)
    try:
        page.goto(f"{base}/t/{TENANT}/config")
        form = page.get_by_test_id("start-form")
        form.locator("input[name=component]").fill("checkout")
        form.locator("input[name=environment]").fill(environment)
        with page.expect_navigation():
            page.get_by_test_id("start-submit").click()
        expect(page.get_by_test_id("config-environment")).to_have_text(environment)
        expect(page.get_by_test_id("tab-draft")).to_have_text(words["draft"])
        expect(page.get_by_test_id("empty-state")).to_be_visible()

        # Add an item to the draft.
        item = page.get_by_test_id("item-form")
        item.locator("input[name=key]").fill("greeting")
        item.locator("textarea[name=value]").fill("hello")
        with page.expect_navigation():
            page.get_by_test_id("item-submit").click()
        row = page.locator('[data-testid=draft-item][data-key="greeting"]')
        expect(row).to_have_attribute("data-layer", "environment")
        expect(row.get_by_test_id("value")).to_have_text("hello")
        shot(page, f"scm-draft-{language}")

        # The diff shows it added; publish release #1.
        page.get_by_test_id("tab-diff").click()
        added = page.locator('[data-testid=diff-change][data-key="greeting"]')
        expect(added).to_have_attribute("data-change", "added")
        expect(added).to_contain_text(words["added"])
        page.get_by_test_id("publish-form").locator("input[name=comment]").fill("first greeting")
        with page.expect_navigation():
            page.get_by_test_id("publish-submit").click()
        expect(page.locator('[data-testid=release][data-number="1"]')).to_contain_text(words["current"])

        # Edit the item, see the change, publish release #2.
        page.get_by_test_id("tab-draft").click()
        page.locator('[data-testid=draft-item][data-key="greeting"]').get_by_test_id("edit-item").click()
        page.locator("textarea[name=value]").fill("hi there")
        with page.expect_navigation():
            page.get_by_test_id("item-submit").click()
        page.get_by_test_id("tab-diff").click()
        changed = page.locator('[data-testid=diff-change][data-key="greeting"]')
        expect(changed).to_have_attribute("data-change", "changed")
        expect(changed).to_contain_text("hello")
        expect(changed).to_contain_text("hi there")
        expect(changed).to_contain_text(words["changed"])
        shot(page, f"scm-diff-{language}")
        with page.expect_navigation():
            page.get_by_test_id("publish-submit").click()
        expect(page.locator('[data-testid=release][data-number="2"]')).to_contain_text(words["current"])
        shot(page, f"scm-releases-{language}")

        # Roll back to #1: release #3 is current, and the Diff shows the draft ahead of it again.
        with page.expect_navigation():
            page.locator('[data-testid=release][data-number="1"]').get_by_test_id("release-rollback").click()
        third = page.locator('[data-testid=release][data-number="3"]')
        expect(third).to_contain_text(words["rollback"])
        expect(third).to_contain_text(words["current"])
        page.get_by_test_id("tab-diff").click()
        back = page.locator('[data-testid=diff-change][data-key="greeting"]')
        expect(back).to_have_attribute("data-change", "changed")
        expect(back).to_contain_text("hello")
    finally:
        _choose_language(page, base, "en")


def test_a_secret_is_masked_until_revealed(page, live_server, admin_email, seeded):
    base = live_server.url
    sign_in(page, base, admin_email)
    _choose_language(page, base, "en")
    page.goto(f"{base}/t/{TENANT}/config/storefront:checkout/qa")
    item = page.get_by_test_id("item-form")
    item.locator("input[name=key]").fill("db.password")
    item.locator("textarea[name=value]").fill("hunter2-e2e")
    item.locator("input[name=secret]").check()
    with page.expect_navigation():
        page.get_by_test_id("item-submit").click()
    row = page.locator('[data-testid=draft-item][data-key="db.password"]')
    expect(row.get_by_test_id("masked")).to_have_text("******")
    assert "hunter2-e2e" not in page.content()
    row.get_by_test_id("reveal").click()  # htmx swaps the value in, without leaving the page
    expect(row.get_by_test_id("revealed")).to_have_text("hunter2-e2e")
    assert "/config/storefront:checkout/qa" in page.url and "/reveal" not in page.url
