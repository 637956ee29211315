"""Browsing a seeded repository in a real browser: the repository home, the tree, a file with
syntax highlighting, and a commit's diff."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

TENANT = "vcs-e2e"


@pytest.fixture(scope="module")
def shop(live_server, admin_email):
    """A hosted repository ``shop`` with commits made straight into its bare repository."""
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs
    from taiji.platform.db import db
    from tests.modules.vcs.fixtures.gitdata import seed_shop

    with live_server.app.app_context():
        tenant = tm.create_tenant(TENANT, "VCS E2E", owner_id=iam.get_user_by_email(admin_email).id)
        repo = vcs.create_repository(tenant, {"name": "shop", "description": "The shop service"})
        db.session.commit()
        shas = seed_shop(vcs.local_git_dir(repo))
        db.session.remove()
    return shas


def test_tree_file_and_commit_diff(page, live_server, admin_email, shop, shot):
    base = live_server.url
    sign_in(page, base, admin_email)

    page.goto(f"{base}/t/{TENANT}/repositories")
    page.get_by_test_id("repository-row").get_by_role("link", name="shop").click()
    expect(page.get_by_test_id("readme")).to_contain_text("The shop service.")
    expect(page.get_by_test_id("clone-url")).to_have_value(f"{base}/git/{TENANT}/shop.git")
    shot(page, "vcs-repository-home")

    page.locator('[data-testid=tree-entry][data-name="src"] [data-testid=entry-link]').click()
    expect(page.get_by_test_id("crumbs")).to_contain_text("src")
    expect(page.locator("[data-testid=tree-entry]")).to_have_count(2)
    shot(page, "vcs-tree")

    page.locator('[data-testid=tree-entry][data-name="app.py"] [data-testid=entry-link]').click()
    code = page.get_by_test_id("highlighted")
    expect(code).to_contain_text("def hello(name):")
    # Highlighted: the keyword is its own styled span, and lines are numbered and linkable.
    keyword = code.locator(".highlight span.k", has_text="def").first
    expect(keyword).to_be_visible()
    assert keyword.evaluate("e => getComputedStyle(e).fontWeight") in ("700", "bold")
    expect(code.locator("a[href='#L-2']")).to_be_visible()
    shot(page, "vcs-file")

    page.goto(f"{base}/t/{TENANT}/repositories/shop/commit/{shop['second']}")
    expect(page.get_by_test_id("commit")).to_contain_text("Greet politely")
    app_diff = page.locator('[data-testid=diff-file][data-path="src/app.py"]')
    expect(app_diff.get_by_test_id("diff-add")).to_contain_text("hello, {name}!")
    expect(app_diff.get_by_test_id("diff-del")).to_contain_text("hello {name}")
    added = app_diff.get_by_test_id("diff-add").first
    background = added.evaluate("e => getComputedStyle(e.querySelector('td')).backgroundColor")
    assert background == "rgb(230, 255, 236)"  # the additions' green
    shot(page, "vcs-commit-diff")

    page.goto(f"{base}/t/{TENANT}/repositories/shop/compare/main...feature/login")
    expect(page.get_by_test_id("commit-row")).to_have_count(1)
    expect(page.locator('[data-testid=diff-file][data-path="src/login.py"]')).to_be_visible()
    shot(page, "vcs-compare")


@pytest.fixture(scope="module")
def maintainer(live_server, shop):
    """An owner of the tenant (not a platform administrator), who may change the language freely."""
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug
    from tests.factories import system_principal

    email = live_server.account("vcs-owner@e2e.example", "Repo Owner")
    with live_server.app.app_context():
        tm.add_member(tenant_by_slug(TENANT), email, "owner", actor=system_principal())
        db.session.commit()
        db.session.remove()
    return email


@pytest.mark.parametrize("language", ["en", "zh_Hans"])
def test_switching_branch_and_opening_settings(browser, live_server, maintainer, shop, shot, language):
    base = live_server.url
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    sign_in(page, base, maintainer)
    zh = language == "zh_Hans"
    if zh:
        with page.expect_navigation():
            page.get_by_test_id("language-switcher").select_option("zh_Hans")
    words = {"branches": "分支" if zh else "Branches", "settings": "设置" if zh else "Settings",
             "protected": "受保护分支" if zh else "Protected branches",
             "general": "常规" if zh else "General"}

    page.goto(f"{base}/t/{TENANT}/repositories/shop")
    expect(page.get_by_test_id("readme-rendered").locator("h1")).to_have_text("Shop")
    switcher = page.get_by_test_id("ref-switcher")
    switcher.get_by_test_id("ref-switcher-button").click()
    menu = switcher.get_by_test_id("ref-menu")
    expect(menu).to_be_visible()
    expect(menu).to_contain_text(words["branches"])
    expect(menu.locator('[data-testid=ref-option][data-kind=tag][data-name="v1.0.0"]')).to_be_visible()
    shot(page, f"vcs-ref-switcher-{language}")
    menu.locator('[data-testid=ref-option][data-name="feature/login"]').click()
    expect(page).to_have_url(f"{base}/t/{TENANT}/repositories/shop/tree/feature/login")
    expect(page.get_by_test_id("current-rev")).to_have_text("feature/login")
    expect(page.locator('[data-testid=tree-entry][data-name="src"]')).to_be_visible()
    # Each entry names the last commit that changed it: src/ got login.py on this branch.
    expect(page.locator('[data-testid=tree-entry][data-name="src"] [data-testid=entry-last-commit]')) \
        .to_contain_text("Add login")

    page.get_by_test_id("tab-settings").click()
    expect(page.get_by_test_id("tab-settings")).to_have_text(words["settings"])
    expect(page.get_by_test_id("settings-general")).to_contain_text(words["general"])
    expect(page.get_by_test_id("protected-branches")).to_contain_text(words["protected"])
    expect(page.get_by_test_id("danger-zone")).to_be_visible()
    shot(page, f"vcs-settings-{language}")

    pattern = f"release-{language}/*"
    page.get_by_test_id("protection-form").locator("input[name=pattern]").fill(pattern)
    page.get_by_test_id("push-role-owner").last.check()
    with page.expect_navigation():
        page.get_by_test_id("add-protection").click()
    rule = page.locator(f'[data-testid=protection-rule][data-pattern="{pattern}"]')
    expect(rule).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        rule.get_by_test_id("remove-protection").click()
    expect(rule).to_have_count(0)
    context.close()
