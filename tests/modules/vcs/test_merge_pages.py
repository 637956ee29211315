"""Merge request pages of the console: list, opening (from the compare view), the tabs, inline
comments through htmx, approving and merging with the buttons."""

from __future__ import annotations

import re
import subprocess

import pytest

from taiji.modules.vcs import services
from taiji.platform.db import db
from tests.factories import make_member, system_principal

from .fixtures.gitdata import commit_files


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def shop(tenant):
    repo = services.create_repository(tenant, {"name": "shop"}, actor=system_principal())
    db.session.commit()
    git_dir = services.local_git_dir(repo)
    first = commit_files(git_dir, {"app.py": "A = 1\n"}, "First")
    feature = commit_files(git_dir, {"app.py": "A = 1\nB = 2\n"}, "Add B", branch="add-b", parents=[first])
    return {"repo": repo, "git_dir": git_dir, "first": first, "feature": feature,
            "base": f"/t/{tenant.slug}/repositories/shop"}


def test_open_comment_approve_and_merge_from_the_console(app, client, login, admin, tenant, shop):
    author = make_member(tenant, "member", name="Ann Author")
    db.session.commit()
    console = login(author)
    compare = console.get(shop["base"] + "/compare/main...add-b")
    assert 'data-testid="compare-open-mr"' in text(compare)
    form = console.get(shop["base"] + "/merge-requests/new?source=add-b&target=main")
    assert form.status_code == 200 and 'value="Add b"' in text(form)
    bad = console.post(shop["base"] + "/merge-requests", data={"title": "", "source_branch": "add-b",
                                                               "target_branch": "main"})
    assert bad.status_code == 422 and "is-invalid" in text(bad)
    made = console.post(shop["base"] + "/merge-requests", data={
        "title": "Add B", "description": "Adds **B**\n\n<script>alert(1)</script>",
        "source_branch": "add-b", "target_branch": "main"})
    assert made.status_code == 302 and made.headers["Location"].endswith("/merge-requests/1")
    page = text(console.get(made.headers["Location"]))
    assert "<strong>B</strong>" in page and "<script>alert(1)" not in page and "&lt;script&gt;" in page
    listed = text(console.get(shop["base"] + "/merge-requests"))
    assert 'data-testid="mr-row" data-number="1"' in listed
    changes = text(console.get(shop["base"] + "/merge-requests/1?tab=changes"))
    assert 'data-testid="add-line-comment"' in changes and "B = 2" in changes
    line_form = console.get(shop["base"] + "/merge-requests/1/line-form?path=app.py&line=2&side=new",
                            headers={"HX-Request": "true"})
    assert 'name="line" value="2"' in text(line_form)
    thread = console.post(shop["base"] + "/merge-requests/1/notes", headers={"HX-Request": "true"},
                          data={"body": "Why *B*?", "path": "app.py", "line": "2", "side": "new"})
    assert thread.status_code == 200 and "<em>B</em>" in text(thread) and "mr-thread-row" in text(thread)
    assert "Why <em>B</em>?" in text(console.get(shop["base"] + "/merge-requests/1?tab=changes"))
    console.get("/logout")
    console = login(admin)
    console.post(shop["base"] + "/merge-requests/1/approve", data={})
    overview = text(console.get(shop["base"] + "/merge-requests/1"))
    assert 'data-testid="approval"' in overview and 'data-testid="unapprove"' in overview
    merged = console.post(shop["base"] + "/merge-requests/1/merge", data={"method": "merge"})
    assert merged.status_code == 302
    done = text(console.get(shop["base"] + "/merge-requests/1"))
    assert 'data-state="merged"' in done and 'data-testid="merge-sha"' in done
    parents = subprocess.run(["git", f"--git-dir={shop['git_dir']}", "log", "-1", "--format=%P", "main"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert parents == [shop["first"], shop["feature"]]


def test_conflicts_and_reasons_are_shown(app, login, admin, tenant, shop):
    commit_files(shop["git_dir"], {"app.py": "A = 1\nB = 3\n"}, "Main B")
    services.merge_requests.open_merge_request(tenant, shop["repo"], {"title": "B", "source_branch": "add-b",
                                                                      "draft": True})
    db.session.commit()
    page = text(login(admin).get(shop["base"] + "/merge-requests/1"))
    assert 'data-testid="conflicts"' in page and "<code>app.py</code>" in page
    assert "draft" in page and "disabled" in page


def test_a_viewer_sees_no_buttons_and_cannot_post(app, login, tenant, shop):
    services.merge_requests.open_merge_request(tenant, shop["repo"], {"title": "B", "source_branch": "add-b"})
    db.session.commit()
    viewer = make_member(tenant, "viewer")
    db.session.commit()
    console = login(viewer)
    page = text(console.get(shop["base"] + "/merge-requests/1"))
    assert 'data-testid="merge-form"' not in page and 'data-testid="approve"' not in page
    assert console.post(shop["base"] + "/merge-requests/1/merge", data={}).status_code == 403
    assert console.get(shop["base"] + "/merge-requests/1?tab=nope").status_code == 404


def test_editing_closing_reopening_and_draft_from_the_console(login, admin, tenant, shop):
    services.merge_requests.open_merge_request(tenant, shop["repo"], {"title": "B", "source_branch": "add-b"})
    db.session.commit()
    console = login(admin)
    url = shop["base"] + "/merge-requests/1"
    console.post(url + "/state", data={"title": "Add B", "description": "_Now_ described"})
    page = text(console.get(url))
    assert "<em>Now</em> described" in page and "Add B" in page
    console.post(url + "/state", data={"draft": "1"})
    assert 'data-testid="mr-draft"' in text(console.get(url))
    console.post(url + "/state", data={"state": "closed"})
    assert 'data-state="closed"' in text(console.get(url))
    assert 'data-number="1"' in text(console.get(shop["base"] + "/merge-requests?state=closed"))
    assert 'data-number="1"' not in text(console.get(shop["base"] + "/merge-requests"))
    console.post(url + "/state", data={"state": "open"})
    assert 'data-state="open"' in text(console.get(url))


def test_the_audit_page_tells_the_repositorys_story_in_sentences(login, admin, tenant, shop):
    console = login(admin)
    console.post(shop["base"] + "/merge-requests", data={"title": "Add B", "source_branch": "add-b",
                                                         "target_branch": "main"})
    console.post(shop["base"] + "/merge-requests/1/merge", data={"method": "squash"})
    services.protect(tenant, shop["repo"], {"pattern": "release/*"}, actor=system_principal())
    db.session.commit()
    html = text(console.get(f"/t/{tenant.slug}/audit"))
    sentences = re.findall(r'data-testid="audit-sentence">([^<]*)<', html)
    assert f"{admin.email} opened the merge request shop!1: Add B" in sentences
    assert f"{admin.email} merged the merge request shop!1 by squashing" in sentences
    assert any(s.endswith("created the repository shop") for s in sentences), sentences
    assert any(s.endswith("protected release/* in shop") for s in sentences), sentences
    assert not [s for s in sentences if " did vcs." in s]  # no action left to the generic wording
    row = html[html.index('data-action="vcs.merge_request.merged"'):]
    assert f'href="/t/{tenant.slug}/repositories/shop/merge-requests/1"' in row[:row.index("</tr>")]
    console.post("/locale", data={"locale": "zh_Hans"})
    page = text(console.get(f"/t/{tenant.slug}/audit"))
    chinese = re.findall(r'data-testid="audit-sentence">([^<]*)<', page)
    assert f"{admin.email} 以压缩合并方式合并了合并请求 shop!1" in chinese
