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

    page.locator('[data-testid=tree-entry][data-name="src"] a').click()
    expect(page.get_by_test_id("crumbs")).to_contain_text("src")
    expect(page.locator("[data-testid=tree-entry]")).to_have_count(2)
    shot(page, "vcs-tree")

    page.locator('[data-testid=tree-entry][data-name="app.py"] a').click()
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
