"""Browsing a hosted repository in the console: home, branches and tags, trees, files with
highlighting, raw downloads, history, commits with their diff, comparisons and archives."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from taiji.modules.vcs import services
from taiji.platform.db import db
from tests.factories import make_member, make_user, system_principal

from .fixtures.gitdata import commit_files, seed_shop


@pytest.fixture
def shop(tenant):
    repo = services.create_repository(tenant, {"name": "shop"}, actor=system_principal())
    db.session.commit()
    shas = seed_shop(services.local_git_dir(repo))
    return {"repo": repo, "base": f"/t/{tenant.slug}/repositories/shop", **shas}


@pytest.fixture
def console(login, admin):
    return login(admin)


def text(response) -> str:
    return response.get_data(as_text=True)


def test_the_list_shows_repositories_and_an_empty_state(console, tenant):
    empty = console.get(f"/t/{tenant.slug}/repositories")
    assert empty.status_code == 200 and "No repositories yet" in text(empty)
    services.create_repository(tenant, {"name": "shop", "description": "The shop"}, actor=system_principal())
    db.session.commit()
    listed = console.get(f"/t/{tenant.slug}/repositories")
    assert 'data-name="shop"' in text(listed) and "The shop" in text(listed)


def test_creating_a_hosted_repository_from_the_console(console, tenant):
    response = console.post(f"/t/{tenant.slug}/repositories", data={"name": "billing", "provider": ""})
    assert response.status_code == 302 and response.headers["Location"].endswith("/repositories/billing")
    home = console.get(response.headers["Location"])
    assert "This repository is empty" in text(home)
    assert f"git remote add origin http://taiji.test/git/{tenant.slug}/billing.git" in text(home)


def test_a_bad_name_is_refused_with_the_reason_and_nothing_created(console, tenant):
    response = console.post(f"/t/{tenant.slug}/repositories", data={"name": "Bad Name!", "provider": ""})
    assert response.status_code == 422
    assert "lowercase letters" in text(response)
    assert services.find_repository(tenant, "Bad Name!") is None


def test_home_shows_readme_clone_url_and_top_level_tree(console, shop):
    page = text(console.get(shop["base"]))
    assert "The shop service." in page  # the README
    assert "http://taiji.test/git/" in page and 'data-testid="copy-clone-url"' in page
    for name in ("src", "docs", "README.md", "logo.png"):
        assert f'data-name="{name}"' in page


def test_branches_and_tags_are_listed(console, shop):
    page = text(console.get(shop["base"] + "/branches"))
    assert 'data-name="main"' in page and 'data-name="feature/login"' in page and 'data-name="v1.0.0"' in page


def test_tree_at_a_branch_with_a_slash_a_tag_and_a_commit(console, shop):
    at_branch = console.get(shop["base"] + "/tree/feature/login/src")
    assert at_branch.status_code == 200 and 'data-name="login.py"' in text(at_branch)
    at_tag = text(console.get(shop["base"] + "/tree/v1.0.0/src"))
    assert 'data-name="util.py"' in at_tag and 'data-name="login.py"' not in at_tag
    at_first = text(console.get(shop["base"] + f"/tree/{shop['first']}/src"))
    assert 'data-name="app.py"' in at_first and 'data-name="util.py"' not in at_first


def test_a_file_is_highlighted_with_line_numbers(console, shop):
    page = console.get(shop["base"] + "/blob/main/src/app.py")
    html = text(page)
    assert page.status_code == 200
    assert 'class="highlight"' in html and 'href="#L-1"' in html and 'id="L-2"' in html
    assert '<span class="k">def</span>' in html  # Python keywords are marked up


def test_a_binary_file_shows_its_size_only(console, shop):
    html = text(console.get(shop["base"] + "/blob/main/logo.png"))
    assert 'data-testid="binary-file"' in html and "Binary file, 272 B." in html
    # Sized for people, like every byte count of the console.
    photo = b"\xff\xd8\x00" + bytes(20_477)
    commit_files(services.local_git_dir(shop["repo"]), {"photo.jpg": photo}, "Photo")
    html = text(console.get(shop["base"] + "/blob/main/photo.jpg"))
    assert "Binary file, 20 KiB." in html and "20480" not in html


def test_a_large_file_is_cut_with_a_download_link(console, shop, tenant):
    commit_files(services.local_git_dir(shop["repo"]), {"big.txt": "line\n" * 200_000}, "Big file")
    html = text(console.get(shop["base"] + "/blob/main/big.txt"))
    assert 'data-testid="file-truncated"' in html and 'data-testid="raw-link"' in html


def test_raw_download_gives_the_exact_bytes(console, shop):
    response = console.get(shop["base"] + "/raw/main/logo.png")
    assert response.status_code == 200
    assert response.data.startswith(b"\x89PNG") and len(response.data) == 272
    assert response.headers["Content-Disposition"].startswith('attachment; filename="logo.png";')
    assert response.mimetype == "application/octet-stream"


def test_history_is_paginated(console, shop):
    git_dir = services.local_git_dir(shop["repo"])
    for n in range(35):
        commit_files(git_dir, {"counter.txt": f"{n}\n"}, f"Count {n}")
    first = text(console.get(shop["base"] + "/commits/main"))
    assert first.count('data-testid="commit-row"') == 30 and "Count 34" in first
    second = text(console.get(shop["base"] + "/commits/main?page=2"))
    assert second.count('data-testid="commit-row"') == 8 and "First commit" in second
    of_file = text(console.get(shop["base"] + "/commits/main?path=src/app.py"))
    assert of_file.count('data-testid="commit-row"') == 2
    assert "commits/main?page=2" in first and 'data-testid="commit-list"' in first
    past = text(console.get(shop["base"] + "/commits/main?page=9"))
    assert 'data-testid="empty-state"' in past and "Nothing on this page of the history." in past


def test_a_commit_shows_its_diff(console, shop):
    html = text(console.get(shop["base"] + f"/commit/{shop['second']}"))
    assert "Greet politely" in html
    assert 'data-path="src/app.py"' in html and 'data-path="src/util.py"' in html
    assert "+    return f&#39;hello, {name}!&#39;" in html
    assert "-    return f&#39;hello {name}&#39;" in html
    assert html.count('data-testid="diff-add"') == 2 and html.count('data-testid="diff-del"') == 1


def test_the_root_commit_diffs_against_nothing(console, shop):
    html = text(console.get(shop["base"] + f"/commit/{shop['first']}"))
    assert html.count('data-testid="diff-file"') == 3 and "Binary file changed." in html


def test_compare_lists_commits_and_diff(console, shop):
    html = text(console.get(shop["base"] + "/compare/main...feature/login"))
    assert html.count('data-testid="commit-row"') == 1 and "Add login" in html
    assert 'data-path="src/login.py"' in html
    picked = console.get(shop["base"] + "/compare?base=v1.0.0&head=feature/login")
    assert picked.status_code == 302
    assert picked.headers["Location"].endswith("/compare/v1.0.0...feature/login")


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_a_ref_downloads_as_an_archive(console, shop, fmt):
    response = console.get(shop["base"] + f"/archive/v1.0.0.{fmt}")
    assert response.status_code == 200
    data = io.BytesIO(response.data)
    if fmt == "zip":
        names = zipfile.ZipFile(data).namelist()
    else:
        with tarfile.open(fileobj=data, mode="r:gz") as archive:
            names = archive.getnames()
    assert "shop-v1.0.0/src/util.py" in names and "shop-v1.0.0/src/login.py" not in names


@pytest.mark.parametrize("suffix", [
    "/tree/no-such-branch", "/tree/main/no/such/dir", "/blob/main/nothing.txt", "/blob/main/src",
    "/tree/main/src/app.py", "/commit/0123456789abcdef0123456789abcdef01234567", "/commit/--all",
    "/commits/-n1", "/tree/--output=x", "/blob/main/../../etc/passwd", "/raw/main/..%2F..%2Fconfig",
    "/compare/main...--upload-pack=x", "/archive/main.rar", "/archive/--remote=x.zip",
    "/commits/main..feature",
])
def test_unknown_or_hostile_revisions_and_paths_are_404(console, shop, suffix):
    response = console.get(shop["base"] + suffix)
    assert response.status_code == 404, suffix


def test_compare_without_three_dots_is_refused(console, shop):
    assert console.get(shop["base"] + "/compare/main").status_code == 422


def test_viewers_read_and_outsiders_learn_nothing(client, login, shop, tenant):
    viewer = make_member(tenant, "viewer")
    assert login(viewer).get(shop["base"] + "/blob/main/src/app.py").status_code == 200
    assert client.post(f"/t/{tenant.slug}/repositories", data={"name": "nope"}).status_code == 403
    outsider = make_user()
    assert login(outsider).get(shop["base"]).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, shop):
    response = client.get(shop["base"] + "/tree/main")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_empty_repository_has_instructions_instead_of_a_tree(console, tenant):
    services.create_repository(tenant, {"name": "fresh"}, actor=system_principal())
    db.session.commit()
    html = text(console.get(f"/t/{tenant.slug}/repositories/fresh"))
    assert 'data-testid="push-instructions"' in html and "git push -u origin main" in html
    assert console.get(f"/t/{tenant.slug}/repositories/fresh/tree/main").status_code == 404


def test_scripts_download_archives_and_raw_files_with_a_token(api_as, admin, shop):
    api = api_as(admin)
    archive = api.get(shop["base"] + "/archive/main.tar.gz")
    assert archive.status_code == 200 and archive.mimetype == "application/gzip"
    assert api.get(shop["base"] + "/raw/main/README.md").data == b"# Shop\n\nThe shop service.\n"


def test_names_beyond_ascii_are_browsed_and_downloaded(console, shop):
    commit_files(services.local_git_dir(shop["repo"]), {"文档/说明 \"quoted\".md": "你好\n"}, "Chinese docs")
    folder = console.get(shop["base"] + "/tree/main/文档")
    assert folder.status_code == 200 and "说明" in text(folder)
    page = console.get(shop["base"] + "/blob/main/文档/说明 \"quoted\".md")
    assert page.status_code == 200 and "你好" in text(page)
    raw = console.get(shop["base"] + "/raw/main/文档/说明 \"quoted\".md")
    assert raw.status_code == 200 and raw.data == "你好\n".encode()
    assert "filename*=UTF-8''%E8%AF%B4%E6%98%8E%20%22quoted%22.md" in raw.headers["Content-Disposition"]
    diff = text(console.get(shop["base"] + "/commit/main"))
    assert "说明" in diff and 'data-testid="diff-add"' in diff


def test_a_diff_names_each_file_change_in_the_readers_language(console, shop):
    english = text(console.get(shop["base"] + f"/commit/{shop['second']}"))
    assert 'data-testid="file-change">Modified</span>' in english
    console.post("/locale", data={"locale": "zh_Hans"})
    chinese = text(console.get(shop["base"] + f"/commit/{shop['second']}"))
    assert 'data-testid="file-change">已修改</span>' in chinese
    assert 'data-testid="file-change">modified<' not in chinese
