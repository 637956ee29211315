"""The repository pages of the console (issue 15): tabs, the Settings tab, the README rendered
safely, the branch/tag switcher, each entry's last commit, the Raw view's headers, the compare
pickers, the clone hint's token link and the component link."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from taiji.modules.spm import services as spm
from taiji.modules.vcs import services
from taiji.modules.vcs.services import lastcommit
from taiji.platform import audit
from taiji.platform.db import db
from tests.factories import make_member, system_principal

from .fixtures.gitdata import commit_files, seed_shop


@pytest.fixture
def shop(tenant):
    repo = services.create_repository(tenant, {"name": "shop"}, actor=system_principal())
    db.session.commit()
    shas = seed_shop(services.local_git_dir(repo))
    return {"repo": repo, "git": services.local_git_dir(repo), "base": f"/t/{tenant.slug}/repositories/shop",
            **shas}


@pytest.fixture
def console(login, admin):
    return login(admin)


def text(response) -> str:
    return response.get_data(as_text=True)


def tabs(page: str) -> list[str]:
    block = page.split('data-testid="repo-tabs"', 1)[1].split("</ul>", 1)[0]
    return [re.sub(r"<[^>]+>", "", a).strip() for a in re.findall(r"<a [^>]*>(.*?)</a>", block)]


def actions(tenant, prefix: str) -> list[str]:
    return [e.action for e in audit.query(tenant=tenant, action=prefix, page_size=100).items]


# -- tabs -------------------------------------------------------------------------------------


def test_the_tabs_lead_to_code_commits_refs_pipelines_and_settings(console, shop, tenant):
    page = text(console.get(shop["base"]))
    assert tabs(page) == ["Code", "Commits", "Branches and tags", "Merge requests", "Compare", "Pipelines",
                          "Settings"]
    assert f'href="/t/{tenant.slug}/repositories/shop/pipelines"' in page
    assert console.get(f"/t/{tenant.slug}/repositories/shop/pipelines").status_code == 200
    assert console.get(shop["base"] + "/settings").status_code == 200


def test_a_viewer_has_no_settings_tab_and_no_settings(login, shop, tenant):
    viewer = login(make_member(tenant, "viewer"))
    page = text(viewer.get(shop["base"]))
    assert "Settings" not in tabs(page) and "Code" in tabs(page)
    assert viewer.get(shop["base"] + "/settings").status_code == 403
    assert viewer.post(shop["base"] + "/settings/delete", data={"confirm": "shop"}).status_code == 403
    assert services.find_repository(tenant, "shop") is not None


# -- settings ---------------------------------------------------------------------------------


def test_settings_change_visibility_description_and_default_branch_audited(console, shop, tenant):
    response = console.post(shop["base"] + "/settings", data={
        "description": "Sells things", "default_branch": "feature/login", "visibility": "public",
        "component": ""})
    assert response.status_code == 302, text(response)[:2000]
    db.session.expire_all()
    repo = services.get_repository(tenant, "shop")
    assert (repo.visibility, repo.description, repo.default_branch) == ("public", "Sells things",
                                                                        "feature/login")
    head = services.local_git_dir(repo).joinpath("HEAD").read_text().strip()
    assert head == "ref: refs/heads/feature/login"
    assert "vcs.repository.updated" in actions(tenant, "vcs.repository")
    page = text(console.get(shop["base"] + "/settings"))
    assert '<option selected value="public">' in page or 'value="public" selected' in page


def test_a_member_cannot_make_a_repository_public(login, shop, tenant):
    member = login(make_member(tenant, "member"))
    response = member.post(shop["base"] + "/settings", data={
        "description": "", "default_branch": "main", "visibility": "public", "component": ""})
    assert response.status_code == 422 and "vcs:repository:admin" in text(response)
    db.session.expire_all()
    assert services.get_repository(tenant, "shop").visibility == "private"


def test_a_bad_visibility_or_branch_is_refused_on_the_form(console, shop, tenant):
    response = console.post(shop["base"] + "/settings", data={
        "description": "", "default_branch": "main", "visibility": "secret", "component": ""})
    assert response.status_code == 422 and "Must be one of: private, public." in text(response)
    response = console.post(shop["base"] + "/settings", data={
        "description": "", "default_branch": "bad..name", "visibility": "private", "component": ""})
    assert response.status_code == 422 and "Not a valid branch name." in text(response)
    db.session.expire_all()
    repo = services.get_repository(tenant, "shop")
    assert (repo.visibility, repo.default_branch) == ("private", "main")


def test_protected_branches_are_added_edited_and_removed(console, shop, tenant):
    added = console.post(shop["base"] + "/settings/protected-branches", data={
        "pattern": "release/*", "push_roles": ["owner", "admin"]})
    assert added.status_code == 302
    rule = services.list_protected(shop["repo"])[0]
    assert (rule.pattern, rule.push_roles, rule.allow_force_push) == ("release/*", ["admin", "owner"], False)
    page = text(console.get(shop["base"] + "/settings"))
    assert 'data-pattern="release/*"' in page and "push: Admin, Owner" in page

    edited = console.post(shop["base"] + f"/settings/protected-branches/{rule.id}", data={
        f"rule{rule.id}-pattern": "release/*", f"rule{rule.id}-allow_deletion": "y"})
    assert edited.status_code == 302
    db.session.expire_all()
    rule = services.list_protected(shop["repo"])[0]
    assert rule.allow_deletion is True and rule.push_roles == []

    branches = text(console.get(shop["base"] + "/branches"))
    assert 'data-testid="protected-badge"' not in branches  # no release/* branch
    console.post(shop["base"] + "/settings/protected-branches", data={"pattern": "main"})
    assert 'data-testid="protected-badge"' in text(console.get(shop["base"] + "/branches"))

    removed = console.post(shop["base"] + f"/settings/protected-branches/{rule.id}/delete")
    assert removed.status_code == 302
    assert [r.pattern for r in services.list_protected(shop["repo"])] == ["main"]
    assert {"vcs.branch.protected", "vcs.branch.protection_changed", "vcs.branch.unprotected"} <= set(
        actions(tenant, "vcs.branch"))


def test_a_bad_pattern_is_refused_under_its_field(console, shop):
    response = console.post(shop["base"] + "/settings/protected-branches",
                            data={"pattern": "refs/heads/main"})
    assert response.status_code == 422
    page = text(response)
    assert "without the &#39;refs/heads/&#39; prefix" in page or "without the 'refs/heads/' prefix" in page
    assert 'class="form-control is-invalid"' in page
    assert services.list_protected(shop["repo"]) == []
    twice = console.post(shop["base"] + "/settings/protected-branches", data={"pattern": "main"})
    assert twice.status_code == 302
    again = console.post(shop["base"] + "/settings/protected-branches", data={"pattern": "main"})
    assert again.status_code == 422 and "is protected already" in text(again)


def test_another_repositorys_rule_is_not_found(console, shop, tenant):
    other = services.create_repository(tenant, {"name": "other"}, actor=system_principal())
    rule = services.protect(tenant, other, {"pattern": "main"})
    db.session.commit()
    assert console.post(shop["base"] + f"/settings/protected-branches/{rule.id}/delete").status_code == 404
    assert len(services.list_protected(other)) == 1


def test_delete_needs_the_name_typed_and_restore_brings_it_back(console, shop, tenant):
    wrong = console.post(shop["base"] + "/settings/delete", data={"confirm": "shop2"})
    assert wrong.status_code == 422 and "Type shop exactly" in text(wrong)
    assert services.find_repository(tenant, "shop") is not None

    deleted = console.post(shop["base"] + "/settings/delete", data={"confirm": "shop"})
    assert deleted.status_code == 302
    assert deleted.headers["Location"].endswith(f"/t/{tenant.slug}/repositories")
    assert services.find_repository(tenant, "shop") is None
    assert console.get(shop["base"]).status_code == 404
    assert "vcs.repository.deleted" in actions(tenant, "vcs.repository")

    bin_page = text(console.get(f"/t/{tenant.slug}/repositories/-/deleted"))
    assert 'data-name="shop"' in bin_page and 'data-testid="restore"' in bin_page
    restored = console.post(shop["base"] + "/restore")
    assert restored.status_code == 302
    assert services.find_repository(tenant, "shop") is not None
    assert "vcs.repository.restored" in actions(tenant, "vcs.repository")


def test_only_a_platform_administrator_restores(login, shop, tenant):
    owner = make_member(tenant, "owner")
    services.delete_repository(tenant, services.get_repository(tenant, "shop"))
    db.session.commit()
    client = login(owner)
    assert 'data-name="shop"' in text(client.get(f"/t/{tenant.slug}/repositories/-/deleted"))
    assert client.post(shop["base"] + "/restore").status_code == 403
    assert services.find_repository(tenant, "shop") is None


# -- browsing ---------------------------------------------------------------------------------


def test_the_readme_is_markdown_rendered_without_active_content(console, shop):
    commit_files(shop["git"], {"README.md": (
        "# Shop\n\nThe **shop** service. [Docs](https://docs.example/x)\n\n"
        "<script>alert('readme')</script>\n\n<img src=x onerror=\"alert('img')\">\n\n"
        "<iframe src=\"https://evil.example\"></iframe>\n\n<a href=\"javascript:alert(1)\">click</a>\n\n"
        "<style>body { display: none }</style>\n\n"
        "<p onclick=\"alert('p')\" style=\"color: red\">para</p>\n")},
        "README with tricks")
    page = text(console.get(shop["base"]))
    readme = page.split('data-testid="readme-rendered"', 1)[1].split("</div>", 1)[0]
    assert "<h1>Shop</h1>" in readme and "<strong>shop</strong>" in readme
    assert '<a href="https://docs.example/x" rel="nofollow noopener noreferrer">Docs</a>' in readme
    for bad in ("<script", "alert(", "<iframe", "onerror", "onclick", "javascript:", "<style", "style=",
                "display: none"):
        assert bad not in readme, bad
    assert "<p>para</p>" in readme


def test_the_switcher_lists_branches_and_tags_and_keeps_the_path(console, shop, tenant):
    page = text(console.get(shop["base"] + "/tree/main/src"))
    switcher = page.split('data-testid="ref-switcher"', 1)[1].split('data-testid="crumbs"', 1)[0]
    options = re.findall(r'data-testid="ref-option" data-kind="(\w+)" data-name="([^"]+)"', switcher)
    assert options == [("branch", "main"), ("branch", "feature/login"), ("tag", "v1.0.0")]
    assert f'href="/t/{tenant.slug}/repositories/shop/tree/feature/login/src"' in switcher
    blob = text(console.get(shop["base"] + "/blob/main/src/app.py"))
    assert f'href="/t/{tenant.slug}/repositories/shop/blob/v1.0.0/src/app.py"' in blob
    history = text(console.get(shop["base"] + "/commits/main"))
    assert f'href="/t/{tenant.slug}/repositories/shop/commits/feature/login"' in history
    home = text(console.get(shop["base"]))
    assert 'data-testid="ref-switcher"' in home and 'data-name="v1.0.0"' in home


def last_commits(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="tree-entry" data-kind="\w+" data-name="([^"]+)">.*?'
                           r'data-testid="entry-last-commit" data-sha="(\w*)"', page, flags=re.S))


def test_each_entry_shows_the_last_commit_that_changed_it(console, shop):
    later = dt.datetime(2030, 1, 2, tzinfo=dt.UTC)
    touched = commit_files(shop["git"], {"src/app.py": "def hello(name):\n    return name\n"},
                           "Simplify hello", when=later)
    top = last_commits(text(console.get(shop["base"])))
    assert top == {"src": touched, "docs": shop["third"], "README.md": shop["first"],
                   "logo.png": shop["first"]}
    src_page = text(console.get(shop["base"] + "/tree/main/src"))
    assert last_commits(src_page) == {"app.py": touched, "util.py": shop["second"]}
    assert "Simplify hello" in src_page and "Greet politely" in src_page
    # At an older revision the answer is that revision's.
    older = last_commits(text(console.get(shop["base"] + f"/tree/{shop['second']}/src")))
    assert older == {"app.py": shop["second"], "util.py": shop["second"]}


def test_the_last_commit_walk_stops_at_its_bound(shop, monkeypatch):
    for i in range(5):
        commit_files(shop["git"], {f"notes/{i}.txt": str(i)}, f"Note {i}")
    head = services.resolve_ref(shop["repo"], "main")
    monkeypatch.setattr(lastcommit, "MAX_COMMITS", 3)
    found = lastcommit._walk(str(shop["git"]), head, "", {"notes", "README.md"})
    assert set(found) == {"notes"}  # README.md's commit lies past the three newest


def test_raw_files_are_never_active_content(console, shop):
    commit_files(shop["git"], {"evil.html": "<html><script>alert(document.cookie)</script></html>",
                               "evil.svg": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'},
                 "Hostile files")
    for name in ("evil.html", "evil.svg"):
        download = console.get(shop["base"] + f"/raw/main/{name}")
        assert download.status_code == 200
        assert download.headers["Content-Type"] == "application/octet-stream"
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in download.headers["Content-Security-Policy"]
        shown = console.get(shop["base"] + f"/raw/main/{name}?inline=1")
        assert shown.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert shown.headers["X-Content-Type-Options"] == "nosniff"
        assert shown.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert b"alert(" in shown.data  # the bytes, as text
    blob = text(console.get(shop["base"] + "/blob/main/src/app.py"))
    assert "?inline=1" in blob and 'data-testid="raw-view-link"' in blob


def test_compare_has_two_pickers_that_lead_to_the_comparison(console, shop, tenant):
    page = text(console.get(shop["base"] + "/compare"))
    assert 'data-testid="compare-base"' in page and 'data-testid="compare-head"' in page
    base = page.split('data-testid="compare-base"', 1)[1].split("</select>", 1)[0]
    head = page.split('data-testid="compare-head"', 1)[1].split("</select>", 1)[0]
    assert 'value="main" selected' in base and 'value="feature/login" selected' in head
    assert 'value="v1.0.0"' in base
    answer = console.get(shop["base"] + "/compare?base=main&head=feature/login")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/compare/main...feature/login")


def test_the_clone_hint_links_to_token_creation(console, shop):
    page = text(console.get(shop["base"]))
    assert 'data-testid="token-link"' in page and 'href="/profile/tokens"' in page


def test_a_repository_of_a_component_links_to_it(console, tenant):
    product = spm.create_product(tenant, {"slug": "webshop", "name": "Web shop"})
    spm.create_component(tenant, product, {"name": "cart", "layer": "base"})
    db.session.commit()
    services.create_repository(tenant, {"name": "cart", "component": "webshop/cart"},
                               actor=system_principal())
    db.session.commit()
    page = text(console.get(f"/t/{tenant.slug}/repositories/cart"))
    link = page.split('data-testid="repo-component"', 1)[1].split("</p>", 1)[0]
    assert "webshop/cart" in link
    assert (f'href="/t/{tenant.slug}/products/webshop?focus=cart"' in link
            or f'href="/t/{tenant.slug}/products/webshop/components/cart"' in link)
    # And back: the component, which named no repository, now names this one's page.
    component = spm.find_component(tenant, product, "cart")
    assert component.repository_url == f"http://taiji.test/t/{tenant.slug}/repositories/cart"
    kept = spm.create_component(tenant, product, {"name": "pay", "layer": "base",
                                                  "repository_url": "https://github.com/acme/pay"})
    db.session.commit()
    services.create_repository(tenant, {"name": "pay", "component": "webshop/pay"}, actor=system_principal())
    assert kept.repository_url == "https://github.com/acme/pay"  # a repository it named is kept
    settings = console.post(f"/t/{tenant.slug}/repositories/cart/settings", data={
        "description": "", "default_branch": "main", "visibility": "private", "component": "nope/none"})
    assert settings.status_code == 422 and "No component &#39;nope/none&#39;" in text(settings)


def test_the_new_pages_read_in_chinese(console, shop, tenant):
    console.post("/locale", data={"locale": "zh_Hans"})
    settings = text(console.get(shop["base"] + "/settings"))
    for word in ("受保护分支", "保护分支", "删除此仓库", "输入仓库名称以确认", "私有\uff1a租户成员可见"):
        assert word in settings, word
    for english in ("Protected branches", "Delete this repository", "Who may push", "Allow force-push"):
        assert english not in settings, english
    home = text(console.get(shop["base"]))
    assert "创建个人访问令牌" in home and "切换分支或标签" in home
    wrong = console.post(shop["base"] + "/settings/delete", data={"confirm": "x"})
    assert "请准确输入 shop 以删除此仓库。" in text(wrong)


def test_relative_links_of_a_readme_lead_into_the_repository(console, shop, tenant):
    commit_files(shop["git"], {
        "README.md": "[Guide](docs/guide.md) [Code](src/) [Out](../../etc/passwd) [Top](#top)\n",
        "docs/README.md": "[App](../src/app.py#L2)\n"}, "Linked READMEs")
    base = f"/t/{tenant.slug}/repositories/shop"
    top = text(console.get(shop["base"])).split('data-testid="readme-rendered"', 1)[1].split("</div>", 1)[0]
    assert f'href="{base}/blob/main/docs/guide.md"' in top
    assert f'href="{base}/tree/main/src"' in top and 'href="#"' in top and 'href="#top"' in top
    docs = text(console.get(shop["base"] + "/tree/main/docs"))
    assert f'href="{base}/blob/main/src/app.py#L2"' in docs


def test_commits_the_commit_page_and_the_code_tab_show_their_pipeline(console, shop, tenant):
    """What CI's events told VCS: a badge linking to the pipeline, on the commit rows, the commit
    page and (for the default branch's head) the Code tab; a commit without one shows none."""
    from taiji.modules.vcs.events import on_pipeline
    from taiji.platform import events

    row = events.publish("cicd.pipeline.failed", {
        "tenant": tenant.slug, "repository": "shop", "pipeline": 41, "number": 3, "ref": "refs/heads/main",
        "sha": shop["third"], "status": "failed", "trigger": "push", "error": None}, tenant=tenant)
    db.session.commit()
    assert events.deliver(str(row.id), events.handler_name(on_pipeline))
    db.session.commit()

    badge = re.compile(f'href="/t/{tenant.slug}/pipelines/41" data-testid="pipeline-status" '
                       'data-status="failed"')
    commits = text(console.get(shop["base"] + "/commits/main"))
    assert len(badge.findall(commits)) == 1  # the third commit's row only
    assert badge.search(text(console.get(shop["base"] + f"/commit/{shop['third']}")))
    assert not badge.search(text(console.get(shop["base"] + f"/commit/{shop['second']}")))
    home = text(console.get(shop["base"]))
    assert 'data-testid="latest-pipeline"' in home and badge.search(home)


# -- the merge rules of a protected branch --------------------------------------------------------

def test_the_merge_rules_of_a_protected_branch_are_set_in_the_console(console, shop, tenant):
    added = console.post(shop["base"] + "/settings/protected-branches", data={
        "pattern": "main", "required_approvals": "2", "merge_methods": ["squash"],
        "require_merge_request": "y"})
    assert added.status_code == 302
    db.session.expire_all()
    rule = services.rule_for(services.list_protected(shop["repo"]), "refs/heads/main")
    assert (rule.required_approvals, rule.merge_methods, rule.require_merge_request) == (2, ["squash"], True)
    assert rule.approval_roles == [] and not rule.require_green_pipeline and not rule.reset_approvals_on_push
    page = text(console.get(shop["base"] + "/settings"))
    summary = page.split('data-testid="merge-summary"', 1)[1].split("</div>", 1)[0]
    assert "required" in summary and "2 approval(s)" in summary and "Squash and merge" in summary
    # The edit form shows the rule as it is, and saving it changes what was changed only.
    assert f'id="rule{rule.id}-required_approvals"' in page and f'name="rule{rule.id}-merge_methods"' in page
    edited = console.post(shop["base"] + f"/settings/protected-branches/{rule.id}", data={
        f"rule{rule.id}-pattern": "main", f"rule{rule.id}-required_approvals": "1",
        f"rule{rule.id}-merge_methods": ["squash", "ff"], f"rule{rule.id}-approval_roles": ["owner"],
        f"rule{rule.id}-require_merge_request": "y", f"rule{rule.id}-require_green_pipeline": "y"})
    assert edited.status_code == 302
    db.session.expire_all()
    rule = services.list_protected(shop["repo"])[0]
    assert (rule.required_approvals, rule.merge_methods) == (1, ["ff", "squash"])
    assert rule.approval_roles == ["owner"]
    assert rule.require_green_pipeline is True and rule.require_merge_request is True
    assert "vcs.branch.protection_changed" in actions(tenant, "vcs.branch")

    console.post("/locale", data={"locale": "zh_Hans"})
    chinese = text(console.get(shop["base"] + "/settings"))
    for english in ("Approvals required", "Merge methods allowed", "Changes only through merge requests",
                    "Merge requests:"):
        assert english not in chinese, english


def test_a_bad_merge_rule_is_refused_under_its_field_and_changes_nothing(console, shop):
    refused = console.post(shop["base"] + "/settings/protected-branches", data={
        "pattern": "main", "required_approvals": "-1", "merge_methods": ["squash"]})
    assert refused.status_code == 422
    page = text(refused)
    assert 'id="required_approvals-error"' in page and "A number from 0 to 20." in page
    assert services.list_protected(shop["repo"]) == []

    console.post(shop["base"] + "/settings/protected-branches", data={"pattern": "main",
                                                                       "required_approvals": "2"})
    rule = services.list_protected(shop["repo"])[0]
    for data in ({f"rule{rule.id}-required_approvals": "-1"}, {f"rule{rule.id}-required_approvals": "21"},
                 {f"rule{rule.id}-merge_methods": ["rebase"]}):
        again = console.post(shop["base"] + f"/settings/protected-branches/{rule.id}", data={
            f"rule{rule.id}-pattern": "release/*", f"rule{rule.id}-allow_deletion": "y", **data})
        assert again.status_code == 422
        form = text(again).split('data-testid="edit-protection-form"', 1)[1].split("</form>", 1)[0]
        if "required_approvals" in next(iter(data)):  # under the number, before the next field
            error_id = f'id="rule{rule.id}-required_approvals-error"'
            between = form.split(error_id, 1)[1].split("approval_roles")[0]
            assert "A number from 0 to 20." in between
        else:  # after the method boxes, before the pipeline box
            between = form.split('data-testid="merge-method-ff"', 1)[1].split("require_green_pipeline")[0]
            assert "Each method is merge, squash or ff." in between
        db.session.expire_all()
        rule = services.list_protected(shop["repo"])[0]
        assert (rule.pattern, rule.required_approvals, rule.allow_deletion, rule.merge_methods) == (
            "main", 2, False, [])
