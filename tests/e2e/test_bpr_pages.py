"""A tenant owner sets up package repositories in the console, uploads with a token, and a
platform administrator deletes a file again: real browser, real server, real HTTP uploads."""

from __future__ import annotations

import hashlib
import re

import requests
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in


def _tenant_owned_by(live_server, slug: str, name: str, email: str) -> None:
    """A tenant whose first owner is ``email`` (an ordinary user, not a platform administrator)."""
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    with live_server.app.app_context():
        tm.create_tenant(slug, name, owner_id=iam.get_user_by_email(email).id)
        db.session.commit()
        db.session.remove()


def _create_repository(page, base: str, tenant: str, name: str, kind: str) -> None:
    page.goto(f"{base}/t/{tenant}/packages")
    form = page.get_by_test_id("repository-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Kind").select_option(kind)
    with page.expect_navigation():
        page.get_by_test_id("create-repository").click()
    expect(page).to_have_url(f"{base}/t/{tenant}/packages/{name}")


def _personal_token(page, base: str, name: str) -> str:
    page.goto(f"{base}/profile/tokens")
    page.get_by_test_id("token-form").get_by_label("Name").fill(name)
    with page.expect_navigation():
        page.get_by_role("button", name="Create token").click()
    return page.get_by_test_id("new-token").inner_text().strip()


def test_owner_creates_a_pypi_index_and_sees_how_to_use_it(page, live_server, shot):
    base = live_server.url
    email = live_server.account("pkg-owner@e2e.example", "Paula Packages")
    _tenant_owned_by(live_server, "pkgs", "Package Team", email)
    sign_in(page, base, email)

    page.goto(f"{base}/t/pkgs/packages")
    expect(page.get_by_text("No repositories yet")).to_be_visible()
    expect(page.get_by_test_id("repositories-table")).to_have_count(0)
    shot(page, "bpr-empty")

    _create_repository(page, base, "pkgs", "wheels", "pypi")
    expect(page.get_by_test_id("flash")).to_contain_text("Repository wheels created.")
    expect(page.get_by_role("heading", name="wheels")).to_be_visible()
    host = base.removeprefix("http://")
    expect(page.get_by_test_id("pip-command")).to_have_text(
        f"pip install --index-url http://__token__:$TAIJI_TOKEN@{host}/pypi/pkgs/wheels/simple/ NAME")
    expect(page.get_by_test_id("twine-command")).to_have_text(
        f"twine upload --repository-url {base}/pypi/pkgs/wheels/ -u __token__ -p $TAIJI_TOKEN dist/*")
    expect(page.get_by_text("This repository is empty")).to_be_visible()
    shot(page, "bpr-pypi-usage")

    page.goto(f"{base}/t/pkgs/packages")
    row = page.get_by_test_id("repository-row").filter(has_text="wheels")
    expect(row).to_contain_text("Python index")
    expect(row).to_contain_text("Private")


def test_file_uploaded_with_a_token_is_listed_then_deleted_by_an_administrator(
        browser, live_server, admin_email, shot):
    base = live_server.url
    email = live_server.account("builds-owner@e2e.example", "Bo Builds")
    _tenant_owned_by(live_server, "builds", "Build Team", email)
    owner = browser.new_context(locale="en-US")
    page = owner.new_page()
    sign_in(page, base, email)
    _create_repository(page, base, "builds", "artifacts", "generic")
    expect(page.get_by_test_id("curl-command")).to_contain_text(f"{base}/bpr/builds/artifacts/app/1.0.0/app.tar.gz")
    token = _personal_token(page, base, "ci upload")
    assert token

    payload = b"release bits \x00\x01 " * 500
    digest = hashlib.sha256(payload).hexdigest()
    url = f"{base}/bpr/builds/artifacts/app/1.0.0/app.tar.gz"
    anonymous = requests.put(url, data=payload, timeout=10)
    assert anonymous.status_code == 401
    put = requests.put(url, data=payload, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert put.status_code in (200, 201), put.text
    got = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert got.status_code == 200 and got.content == payload

    page.goto(f"{base}/t/builds/packages/artifacts")
    files = page.get_by_test_id("file-row")
    expect(files).to_have_count(1)
    expect(files).to_contain_text("app/1.0.0/app.tar.gz")
    with page.expect_navigation():
        files.get_by_role("link", name="app/1.0.0/app.tar.gz").click()
    expect(page.get_by_test_id("sha256")).to_have_text(digest)
    expect(page.get_by_text(f"({len(payload):,} B)")).to_be_visible()  # "7.8 KiB (8,000 B)"
    shot(page, "bpr-file")
    file_url = page.url
    owner.close()

    # A platform administrator, in a browser of their own, removes the file.
    admin = browser.new_context(locale="en-US")
    page = admin.new_page()
    sign_in(page, base, admin_email)
    page.goto(file_url)
    expect(page.get_by_test_id("sha256")).to_have_text(digest)

    # Cancelling the confirmation keeps the file.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("delete-file").click()
    page.wait_for_timeout(300)
    expect(page).to_have_url(file_url)
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200

    messages = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        page.get_by_test_id("delete-file").click()
    assert messages == ["Delete this file for good?"]
    expect(page).to_have_url(re.compile(r"/t/builds/packages/artifacts$"))
    expect(page.get_by_test_id("flash")).to_contain_text("app.tar.gz deleted.")
    expect(page.get_by_test_id("file-row")).to_have_count(0)
    expect(page.get_by_text("This repository is empty")).to_be_visible()
    shot(page, "bpr-file-deleted")
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 404
    admin.close()
