"""Console pages of BPR: the list with its empty state, creating a repository, the usage
commands, a file page with its sha256, yanking and deleting as an admin, and the audit page
wording what was done."""

from __future__ import annotations

import re

from taiji.platform.db import db
from tests.factories import make_member
from tests.modules.bpr.conftest import put_package


def test_empty_state_then_create_a_repository(login, tenant, admin):
    console = login(admin)
    page = console.get(f"/t/{tenant.slug}/packages")
    assert page.status_code == 200 and "No repositories yet" in page.text
    created = console.post(
        f"/t/{tenant.slug}/packages", data={"name": "pypi-internal", "kind": "pypi", "visibility": "private"}
    )
    assert created.status_code == 302
    repo_page = console.get(created.headers["Location"])
    url = f"http://taiji.test/pypi/{tenant.slug}/pypi-internal/simple/"
    assert "pip install --index-url http://__token__:$TAIJI_TOKEN@taiji.test" in repo_page.text
    assert f"twine upload --repository-url {url.replace('/simple/', '/')}" in repo_page.text
    assert "This repository is empty" in repo_page.text


def test_a_bad_name_shows_the_reason_on_the_form(login, tenant, admin):
    response = login(admin).post(
        f"/t/{tenant.slug}/packages", data={"name": "Bad Name", "kind": "generic", "visibility": "private"}
    )
    assert response.status_code == 422 and "lowercase letters" in response.text


def test_generic_repository_page_shows_curl(login, tenant, admin, make_repo):
    make_repo("builds")
    page = login(admin).get(f"/t/{tenant.slug}/packages/builds")
    assert f"-T app.tar.gz http://taiji.test/bpr/{tenant.slug}/builds/app/1.0.0/app.tar.gz" in page.text


def test_file_page_yank_and_delete_for_admins(login, tenant, admin, make_repo):
    repository = make_repo("py", "pypi")
    row = put_package(tenant, repository, "demo-1.0-py3-none-any.whl", b"payload")
    console = login(admin)
    page = console.get(f"/t/{tenant.slug}/packages/py/files/{row.id}")
    assert row.sha256 in page.text and 'data-testid="yank"' in page.text
    assert console.get(f"/t/{tenant.slug}/packages/py/packages/demo").status_code == 200
    console.post(f"/t/{tenant.slug}/packages/py/files/{row.id}/yank", data={"reason": "oops"})
    db.session.refresh(row)
    assert row.yanked and row.yank_reason == "oops"
    assert "Yanked" in console.get(f"/t/{tenant.slug}/packages/py/files/{row.id}").text
    assert console.post(f"/t/{tenant.slug}/packages/py/files/{row.id}/delete").status_code == 302
    assert console.get(f"/t/{tenant.slug}/packages/py/files/{row.id}").status_code == 404


def test_a_viewer_sees_no_admin_buttons_and_cannot_use_them(login, tenant, make_repo):
    repository = make_repo("py", "pypi", keep_last=1)
    row = put_package(tenant, repository, "demo-1.0-py3-none-any.whl")
    viewer = login(make_member(tenant, "viewer"))
    page = viewer.get(f"/t/{tenant.slug}/packages/py/files/{row.id}")
    assert page.status_code == 200 and 'data-testid="yank"' not in page.text
    assert viewer.post(f"/t/{tenant.slug}/packages/py/files/{row.id}/delete").status_code == 403
    assert viewer.post(f"/t/{tenant.slug}/packages/py/retention").status_code == 403


def test_retention_preview_then_apply_from_the_console(login, tenant, admin, make_repo):
    repository = make_repo("py", "pypi", keep_last=1)
    for version in ("1.0", "2.0"):
        put_package(tenant, repository, f"demo-{version}.tar.gz", version.encode())
    console = login(admin)
    page = console.get(f"/t/{tenant.slug}/packages/py")
    assert "demo-1.0.tar.gz" in page.text and 'data-testid="apply-retention"' in page.text
    console.post(f"/t/{tenant.slug}/packages/py/retention")
    assert "The rules delete nothing now" in console.get(f"/t/{tenant.slug}/packages/py").text


def test_a_packages_files_are_a_paged_list_newest_version_first(login, tenant, admin, make_repo, monkeypatch):
    from taiji.modules.bpr import views

    monkeypatch.setattr(views, "PACKAGE_FILES_PAGE", 2)
    repository = make_repo("py", "pypi")
    for version in ("1.0", "1.1", "2.0"):
        put_package(tenant, repository, f"demo-{version}-py3-none-any.whl", version.encode())
    console = login(admin)
    first = console.get(f"/t/{tenant.slug}/packages/py/packages/demo").text
    assert first.count('data-testid="package-file"') == 2 and "demo-2.0-py3-none-any.whl" in first
    assert "demo-1.0-py3-none-any.whl" not in first
    assert f"/t/{tenant.slug}/packages/py/packages/demo?page=2" in first and 'class="pagination' in first
    second = console.get(f"/t/{tenant.slug}/packages/py/packages/demo?page=2").text
    assert second.count('data-testid="package-file"') == 1 and "demo-1.0-py3-none-any.whl" in second
    console.post("/locale", data={"locale": "zh_Hans"})
    past = console.get(f"/t/{tenant.slug}/packages/py/packages/demo?page=9")
    assert past.status_code == 200 and "此页没有内容" in past.text
    assert 'data-testid="empty-state"' in past.text


def test_a_repositorys_listing_says_empty_or_no_match_in_both_languages(login, tenant, admin, make_repo):
    make_repo("builds")
    console = login(admin)
    console.post("/locale", data={"locale": "zh_Hans"})
    empty = console.get(f"/t/{tenant.slug}/packages/builds").text
    assert 'data-testid="empty-state"' in empty and "Nothing matches" not in empty
    console.post("/locale", data={"locale": "en"})
    searched = console.get(f"/t/{tenant.slug}/packages/builds?q=nothing").text
    assert "Nothing matches" in searched and "Try another search." in searched


def test_sizes_and_times_read_for_people_on_the_file_and_package_pages(login, tenant, admin, make_repo):
    repository = make_repo("py", "pypi")
    row = put_package(tenant, repository, "demo-1.0-py3-none-any.whl", b"x" * 1536)
    console = login(admin)
    uploaded = f"{row.created_at:%Y-%m-%d %H:%M} UTC"
    page = console.get(f"/t/{tenant.slug}/packages/py/files/{row.id}").text
    assert "1.5 KiB (1,536 B)" in page and uploaded in page
    package = console.get(f"/t/{tenant.slug}/packages/py/packages/demo").text
    assert "<td>1.5 KiB</td>" in package and uploaded in package
    listing = console.get(f"/t/{tenant.slug}/packages").text
    assert "<td>1.5 KiB</td>" in listing  # the repository's size


def _sentences(html: str) -> list[str]:
    return re.findall(r'data-testid="audit-sentence">([^<]*)<', html)


def test_the_audit_page_tells_the_registrys_story_in_sentences(login, tenant, admin):
    console = login(admin)
    base = f"/t/{tenant.slug}/packages"
    console.post(base, data={"name": "py", "kind": "pypi", "visibility": "private"})
    console.post(f"{base}/py/settings",
                 data={"description": "Ours", "visibility": "private", "keep_last": "1"})
    from taiji.modules.bpr import services as bpr

    repository = bpr.get_repository(tenant, "py")
    old = put_package(tenant, repository, "demo-1.0.tar.gz", b"x" * 1536)
    new = put_package(tenant, repository, "demo-2.0.tar.gz", b"y" * 10)
    console.post(f"{base}/py/files/{new.id}/yank", data={"reason": "broken"})
    console.post(f"{base}/py/files/{new.id}/yank")  # and back
    console.post(f"{base}/py/retention")  # keeps the last version: demo-1.0 goes
    console.post(f"{base}/py/files/{new.id}/delete")
    console.post(f"{base}/py/delete")

    html = console.get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    sentences = _sentences(html)
    me = admin.email
    for expected in (f"{me} created the package repository py",
                     f"{me} changed the settings of the package repository py",
                     "The system uploaded py/demo/demo-1.0.tar.gz (1.5 KiB)",
                     f"{me} yanked py/demo/demo-2.0.tar.gz", f"{me} unyanked py/demo/demo-2.0.tar.gz",
                     f"{me} applied the retention rules of py: 1 file deleted (1.5 KiB)",
                     f"{me} deleted the file py/demo/demo-1.0.tar.gz",
                     f"{me} deleted the file py/demo/demo-2.0.tar.gz",
                     f"{me} deleted the package repository py"):
        assert expected in sentences, (expected, sentences)
    assert not [s for s in sentences if " did bpr." in s], sentences
    row = html[html.index('data-action="bpr.file.yanked"'):]
    assert f'href="{base}/py/files/{new.id}" data-testid="audit-target"' in row[:row.index("</tr>")]
    row = html[html.index('data-action="bpr.repository.created"'):]
    assert f'href="{base}/py" data-testid="audit-target"' in row[:row.index("</tr>")]
    row = html[html.index('data-action="bpr.repository.deleted"'):]
    assert f'href="{base}" data-testid="audit-target"' in row[:row.index("</tr>")]
    assert old.id != new.id

    console.post("/locale", data={"locale": "zh_Hans"})
    chinese = _sentences(console.get(f"/t/{tenant.slug}/audit").get_data(as_text=True))
    retention = next(s for s in chinese if s.startswith(f"{me} 对 py 应用了保留策略"))
    assert "删除了 1 个文件" in retention and "1.5 KiB" in retention, retention
    assert f"{me} 创建了制品仓库 py" in chinese
