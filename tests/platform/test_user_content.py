"""Stored XSS through user content (issue 12, finding 2): a member uploads an HTML page or an SVG
with a script — as a generic file, a published artifact, a file of a repository, a CI artifact —
and an administrator follows a link to it in the console. Whatever its claimed type, the answer
must not be something a console renders as an active document of the console's origin.
(tests/e2e/test_user_content.py shows it in Chromium.)"""

from __future__ import annotations

import pytest

from taiji.platform.db import db
from tests.factories import make_member, make_token

HTML = b"<!doctype html><title>x</title><script>localStorage.setItem('pwned', '1')</script>"
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="localStorage.setItem(\'pwned\', \'1\')">'
       b"<script>localStorage.setItem('pwned', '1')</script></svg>")
# What a console sends when a person follows a link.
NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
}


def assert_inert_download(response, filename: str) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/octet-stream"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and filename in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy


@pytest.fixture
def attacker(tenant):
    return make_member(tenant, "member")


@pytest.fixture
def make_repo(tenant):
    from taiji.modules.bpr import services as bpr

    def make(name, kind="generic"):
        repository = bpr.create_repository(tenant, {"name": name, "kind": kind})
        db.session.commit()
        return repository

    return make


@pytest.fixture
def console(login, admin):
    """The administrator's signed-in console: a session cookie, as a console has."""
    return login(admin)


@pytest.mark.parametrize(("name", "body", "claimed"), [
    ("evil.html", HTML, "text/html"),
    ("evil.svg", SVG, "image/svg+xml"),
    ("evil.xml", SVG, "application/xhtml+xml"),
    ("evil.png", HTML, "image/png; charset=utf-8"),  # a lie: nosniff keeps it an image
])
def test_a_generic_file_with_script_is_never_a_page_of_the_console(console, tenant, attacker, make_repo,
                                                                   name, body, claimed):
    make_repo("files")
    url = f"/bpr/{tenant.slug}/files/{name}"
    put = console.put(url, data=body, headers={"Authorization": f"Bearer {make_token(attacker)}",
                                               "Content-Type": claimed})
    assert put.status_code == 201, put.get_data(as_text=True)
    got = console.get(url, headers=NAVIGATION)
    assert got.data == body
    if claimed.startswith("image/png"):
        # On the short list of types shown inline: as that type only, never sniffed, sandboxed.
        assert got.mimetype == "image/png" and got.headers["Content-Disposition"].startswith("inline;")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in got.headers["Content-Security-Policy"]
    else:
        assert_inert_download(got, name)


def test_plain_text_is_shown_inline_as_text_with_a_charset(console, tenant, attacker, make_repo):
    make_repo("files")
    url = f"/bpr/{tenant.slug}/files/notes.txt"
    console.put(url, data=HTML, headers={"Authorization": f"Bearer {make_token(attacker)}",
                                         "Content-Type": "text/plain"})
    got = console.get(url, headers=NAVIGATION)
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert got.headers["Content-Disposition"].startswith("inline;")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_a_published_artifact_is_a_download(console, tenant, attacker, make_repo, tmp_path):
    from taiji.modules.bpr import services as bpr

    make_repo("builds")
    page = tmp_path / "report.html"
    page.write_bytes(HTML)
    published = bpr.publish_artifact(tenant, "builds", page, path="ci/report.html", actor=attacker)
    db.session.commit()
    got = console.get(published["url"].removeprefix("http://taiji.test"), headers=NAVIGATION)
    assert got.data == HTML
    assert_inert_download(got, "report.html")


def test_a_package_file_is_a_download(console, tenant, attacker, make_repo):
    from tests.modules.bpr.conftest import put_package

    repository = make_repo("py", "pypi")
    row = put_package(tenant, repository, "evil-1.0.tar.gz", HTML)
    got = console.get(f"/pypi/{tenant.slug}/py/files/{row.path}", headers=NAVIGATION)
    assert got.data == HTML
    assert_inert_download(got, "evil-1.0.tar.gz")


def test_a_raw_file_of_a_repository_is_a_download(console, tenant, attacker):
    from taiji.modules.vcs import services as vcs
    from tests.factories import system_principal
    from tests.modules.vcs.fixtures.gitdata import commit_files

    repo = vcs.create_repository(tenant, {"name": "site"}, actor=system_principal())
    db.session.commit()
    commit_files(vcs.local_git_dir(repo), {"index.html": HTML, "logo.svg": SVG}, "a page")
    for name, body in (("index.html", HTML), ("logo.svg", SVG)):
        got = console.get(f"/t/{tenant.slug}/repositories/site/raw/main/{name}", headers=NAVIGATION)
        assert got.data == body
        assert_inert_download(got, name)


def test_a_ci_artifact_is_a_download_in_the_console_and_the_api(console, tenant, admin, api_as, tmp_path):
    from taiji.modules.cicd.services.artifacts import store_artifact
    from tests.modules.cicd.test_console_jobs import one_job

    _pipeline, job = one_job(tenant)
    source = tmp_path / "report.svg"
    source.write_bytes(SVG)
    artifact = store_artifact(job, source, "out/report.svg", expire_in=3600)
    db.session.commit()
    got = console.get(f"/t/{tenant.slug}/jobs/{job.id}/artifacts/{artifact.id}", headers=NAVIGATION)
    assert got.data == SVG
    assert_inert_download(got, "report.svg")
    api = api_as(admin).get(f"/api/v1/tenants/{tenant.slug}/jobs/{job.id}/artifacts/{artifact.id}")
    assert api.data == SVG
    assert_inert_download(api, "report.svg")


def test_ranges_of_user_content_keep_the_headers(console, tenant, attacker, make_repo):
    make_repo("files")
    url = f"/bpr/{tenant.slug}/files/evil.html"
    console.put(url, data=HTML, headers={"Authorization": f"Bearer {make_token(attacker)}",
                                         "Content-Type": "text/html"})
    part = console.get(url, headers={**NAVIGATION, "Range": "bytes=0-14"})
    assert part.status_code == 206 and part.data == HTML[:15]
    assert part.mimetype == "application/octet-stream"
    assert "sandbox" in part.headers["Content-Security-Policy"]
