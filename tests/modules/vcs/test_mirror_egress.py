"""Where mirrors may fetch from: the egress policy applied to mirror URLs when they are registered
or changed (a 422 naming the host and the setting) and again before every fetch (a refusal that
is recorded, not a crash), the transports git may use, and redirects git does not follow.

The local forge listens on 127.0.0.1, which a mirror may reach only when
``VCS_MIRROR_ALLOWED_HOSTS`` lists it, as an operator would."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from taiji.modules.vcs import services
from taiji.modules.vcs.models_external import ExternalSource
from taiji.modules.vcs.services import browse, external, mirrors
from taiji.platform.db import db

from .fixtures.forge import Forge
from .fixtures.gitdata import seed_shop

PASSWORD = "egress-forge-token-5e6f"
SETTING = "TAIJI_VCS_MIRROR_ALLOWED_HOSTS"


class RedirectingForge(Forge):
    """A forge that answers everything under ``/moved/`` with a redirect to the same path
    without it: a forge pointing git somewhere else."""

    def __init__(self, *args):
        super().__init__(*args)
        self.redirected: list[str] = []

    def wsgi(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moved/"):
            self.redirected.append(path)
            query = environ.get("QUERY_STRING", "")
            target = f"{self.url}{path[len('/moved'):]}" + (f"?{query}" if query else "")
            start_response("301 Moved Permanently", [("Location", target)])
            return [b""]
        return super().wsgi(environ, start_response)


@pytest.fixture
def allow(app, monkeypatch):
    """``allow(*entries)``: what the operator put in TAIJI_VCS_MIRROR_ALLOWED_HOSTS."""

    def set_entries(*entries):
        monkeypatch.setitem(app.config, "VCS_MIRROR_ALLOWED_HOSTS", tuple(entries))

    set_entries()
    return set_entries


@pytest.fixture
def forge(tmp_path, allow):
    (tmp_path / "forge").mkdir()
    forge = RedirectingForge(tmp_path / "forge", "mirror-bot", PASSWORD).start()
    allow("127.0.0.1")
    yield forge
    forge.stop()


def mirrored(tenant, url, name="shop"):
    repo, _ = external.create_external(tenant, {"name": name, "external": {
        "provider": "git", "url": url, "mirror": True,
        "mirror_credentials": {"username": "mirror-bot", "password": PASSWORD}}})
    db.session.commit()
    return repo


def _base(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/repositories"


def _sources() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(ExternalSource)).scalar_one()


@pytest.mark.parametrize(("url", "host"), [
    ("http://127.0.0.1:6379/x.git", "127.0.0.1"),
    ("http://localhost:5432/x.git", "localhost"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ("https://[::1]/x.git", "::1"),
    ("http://[::ffff:127.0.0.1]/x.git", "::ffff:127.0.0.1"),
    ("http://0.0.0.0:8000/x.git", "0.0.0.0"),  # noqa: S104 - the address a tenant must not reach
    ("ssh://git@127.0.0.1:22/x.git", "127.0.0.1"),
    ("git@localhost:acme/x.git", "localhost"),
])
def test_a_mirror_of_a_forbidden_address_is_a_422_naming_host_and_setting(api_as, admin, tenant, allow, url,
                                                                           host):
    before = _sources()
    response = api_as(admin).post(_base(tenant), json={"name": "shop", "external": {
        "provider": "git", "url": url, "mirror": True}})
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    message = " ".join(response.json["errors"]["json"]["url"])
    assert f"'{host}'" in message and SETTING in message
    assert services.find_repository(tenant, "shop") is None and _sources() == before


def test_the_allow_list_admits_a_host_by_name_or_range(api_as, admin, tenant, allow):
    allow("localhost", "169.254.0.0/16")
    api = api_as(admin)
    for name, url in (("a", "http://localhost:3000/x.git"), ("b", "http://169.254.10.10/x.git")):
        response = api.post(_base(tenant), json={"name": name, "external": {"provider": "git", "url": url,
                                                                            "mirror": True}})
        assert response.status_code == 201, response.json
    refused = api.post(_base(tenant), json={"name": "c", "external": {
        "provider": "git", "url": "http://127.0.0.1/x.git", "mirror": True}})
    assert refused.status_code == 422  # localhost by name does not open its address to other names


def test_git_file_and_ext_transports_are_refused(api_as, admin, tenant):
    for url in ("git://forge.example.com/x.git", "file:///srv/git/x.git", "ext::sh -c id", "ftp://forge/x.git"):
        response = api_as(admin).post(_base(tenant), json={"name": "shop", "external": {
            "provider": "git", "url": url, "mirror": True}})
        assert response.status_code == 422, (url, response.json)
        assert "url" in response.json["errors"]["json"]
    assert services.find_repository(tenant, "shop") is None


def test_following_without_a_mirror_fetches_nothing_so_turning_the_mirror_on_is_checked(
        api_as, admin, login, tenant):
    api = api_as(admin)
    created = api.post(_base(tenant), json={"name": "shop", "external": {
        "provider": "gitea", "url": "http://127.0.0.1:3000/acme/shop.git"}})
    assert created.status_code == 201, created.json
    response = api.patch(_base(tenant) + "/shop/external", json={"mirror": True})
    assert response.status_code == 422 and SETTING in json.dumps(response.json)
    moved = api.patch(_base(tenant) + "/shop/external", json={"url": "http://169.254.169.254/x.git",
                                                              "mirror": True})
    assert moved.status_code == 422 and "169.254.169.254" in json.dumps(moved.json)
    db.session.expire_all()
    block = api.get(_base(tenant) + "/shop").json["external"]
    assert block["mirror"] is False and block["url"] == "http://127.0.0.1:3000/acme/shop.git"
    page = login(admin).post(f"/t/{tenant.slug}/repositories/shop/external",
                             data={"url": "http://127.0.0.1:3000/acme/shop.git", "mirror": "y"})
    assert page.status_code == 422 and SETTING in page.get_data(as_text=True)
    db.session.expire_all()
    assert external.source_of(services.get_repository(tenant, "shop")).mirror is False


def test_a_fetch_from_an_address_no_longer_allowed_is_refused_and_recorded(
        api_as, admin, login, tenant, forge, allow):
    seed_shop(forge.create("shop"))
    repo = mirrored(tenant, f"{forge.url}/shop.git")
    allow()  # the operator took loopback off the list
    assert mirrors.fetch_mirror(repo.id) is False
    assert forge.requests == []  # git never ran
    assert not (external.mirror_dir(repo) / "HEAD").exists()
    block = api_as(admin).get(_base(tenant) + "/shop").json["external"]
    assert "'127.0.0.1'" in block["last_error"] and SETTING in block["last_error"]
    assert block["last_fetched_at"] is None
    page = login(admin).get(f"/t/{tenant.slug}/repositories/shop").get_data(as_text=True)
    assert 'data-testid="mirror-error"' in page and SETTING in page

    allow("127.0.0.1")
    assert mirrors.fetch_mirror(repo.id) is True
    assert external.source_of(repo).last_error is None
    assert browse.resolve(repo, "main") is not None


def test_a_host_allowed_by_name_is_fetched_from_the_address_that_was_checked(tenant, forge, allow):
    upstream = forge.create("shop")
    shas = seed_shop(upstream)
    repo = mirrored(tenant, forge.url.replace("127.0.0.1", "localhost") + "/shop.git")
    allow("localhost")
    assert mirrors.fetch_mirror(repo.id) is True, external.source_of(repo).last_error
    assert browse.resolve(repo, "main").hexsha in shas.values()
    assert any(h.startswith("Basic ") for h in forge.requests)


def test_git_connects_to_the_checked_addresses_not_to_a_new_dns_answer(app, forge):
    # A name the resolver does not know, pinned to the forge's address: git reaches the forge, so
    # what a name resolves to between the check and git's connection does not matter.
    import ipaddress

    from taiji.modules.vcs.services import mirror_policy

    seed_shop(forge.create("shop"))
    url = forge.url.replace("127.0.0.1", "forge.nothing.invalid") + "/shop.git"
    verdict = mirror_policy.Verdict(None, "forge.nothing.invalid", (ipaddress.ip_address("127.0.0.1"),))
    env = mirrors._git_env({"username": "mirror-bot", "password": PASSWORD})
    with pytest.raises(RuntimeError, match="resolve"):
        mirrors._git(["ls-remote", "--", url], env)
    mirrors._git([*mirror_policy.git_options(url, verdict), "ls-remote", "--", url], env)
    assert any(h.startswith("Basic ") for h in forge.requests)


def test_git_does_not_follow_a_redirect_from_the_forge(tenant, forge):
    upstream = forge.create("shop")
    seed_shop(upstream)
    repo = mirrored(tenant, f"{forge.url}/moved/shop.git")
    assert mirrors.fetch_mirror(repo.id) is False
    assert forge.redirected  # the forge did answer with a redirect ...
    assert forge.requests == []  # ... and git did not go where it pointed
    error = external.source_of(repo).last_error
    assert error and "301" in error and PASSWORD not in error
    assert not (external.mirror_dir(repo) / "HEAD").exists()


@pytest.mark.parametrize("url", ["file:///etc", "ext::sh -c touch% /tmp/taiji-pwned", "git://127.0.0.1/x.git",
                                 "fd::3"])
def test_a_stored_url_of_another_transport_is_never_fetched(tenant, forge, url, tmp_path):
    # Written around the validation, as a row from before it or a hand-edited database would be.
    repo = mirrored(tenant, f"{forge.url}/shop.git")
    db.session.execute(sa.update(ExternalSource).where(ExternalSource.repository_id == repo.id)
                       .values(url=url))
    db.session.commit()
    assert mirrors.fetch_mirror(repo.id) is False
    assert "http://, https:// or ssh://" in external.source_of(repo).last_error
    assert not (external.mirror_dir(repo) / "HEAD").exists()
    assert forge.requests == []


def test_git_itself_refuses_other_transports(app, tmp_path):
    # The second line of defence: GIT_ALLOW_PROTOCOL, for whatever git is pointed at indirectly.
    source = tmp_path / "src.git"
    import subprocess

    subprocess.run(["git", "init", "--quiet", "--bare", str(source)], check=True)
    with pytest.raises(RuntimeError, match="transport 'file' not allowed"):
        mirrors._git(["clone", "--quiet", "--mirror", "--", f"file://{source}", str(tmp_path / "copy")],
                     mirrors._git_env(None))
    assert not (tmp_path / "copy").exists()


def test_git_gets_the_credentials_from_taiji_alone_and_no_script_is_written(app, forge, tmp_path,
                                                                          monkeypatch):
    """The host's credential helpers are never asked (nor told the mirror's password), and the
    credentials reach git without a file: an askpass script written and then run by git failed to
    run while another thread forked ("Text file busy")."""
    from pathlib import Path

    seed_shop(forge.create("shop"))
    home, marker = tmp_path / "home", tmp_path / "host-helper-was-asked"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f'[credential]\n\thelper = "!f() {{ touch {marker}; echo username=someone; echo password=else; }}; f"'
        "\n")
    monkeypatch.setenv("HOME", str(home))
    env = mirrors._git_env({"username": "mirror-bot", "password": PASSWORD})
    mirrors._git(["ls-remote", "--", f"{forge.url}/shop.git"], env)
    assert any(h.startswith("Basic ") for h in forge.requests)  # authenticated, as mirror-bot
    assert not marker.exists()
    assert not [path for path in Path(app.config["DATA_DIR"]).rglob("*") if "askpass" in path.name]
    assert PASSWORD not in " ".join(f"{key}={value}" for key, value in env.items() if key.startswith("GIT_"))


def test_a_password_with_a_line_break_is_refused_not_passed_on_as_more_lines(tenant, forge):
    """The credential helper answers git in key=value lines: a stored password carrying its own
    "\\nusername=..." line must not reach git as a second answer."""
    seed_shop(forge.create("shop"))
    repo, _ = external.create_external(tenant, {"name": "shop", "external": {
        "provider": "git", "url": f"{forge.url}/shop.git", "mirror": True,
        "mirror_credentials": {"username": "mirror-bot", "password": f"{PASSWORD}\nusername=someone-else"}}})
    db.session.commit()
    assert mirrors.fetch_mirror(repo.id) is False
    assert "line break" in external.source_of(repo).last_error
    assert forge.requests == []
