"""Who may reach a repository over Git's HTTP address, checked through the test client."""

from __future__ import annotations

import base64

import pytest

from taiji.modules.tm import services as tm
from taiji.modules.vcs import services
from taiji.platform.db import db
from taiji.platform.tenancy import TenantStatus
from tests.factories import make_member, make_tenant, make_token, make_user, system_principal


def basic(token: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"anyone:{token}".encode()).decode()}


def refs_path(tenant, name="app", service="git-upload-pack") -> str:
    return f"/git/{tenant.slug}/{name}.git/info/refs?service={service}"


@pytest.fixture
def repo(tenant):
    made = services.create_repository(tenant, {"name": "app"}, actor=system_principal())
    db.session.commit()
    return made


def test_anonymous_gets_a_basic_challenge_not_a_sign_in_page(client, tenant, repo):
    for path in (refs_path(tenant), refs_path(tenant, "missing"), "/git/no-such-tenant/app.git/info/refs"
                 "?service=git-upload-pack"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Taiji"'


def test_a_wrong_token_is_401(client, tenant, repo):
    for headers in (basic("tj_pat_wrong"), {"Authorization": "Basic !!!"}, basic("")):
        response = client.get(refs_path(tenant), headers=headers)
        assert response.status_code == 401


def test_members_read_and_viewers_cannot_push(client, tenant, repo):
    viewer = make_member(tenant, "viewer")
    token = make_token(viewer)
    read = client.get(refs_path(tenant), headers=basic(token))
    assert read.status_code == 200
    assert read.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    push = client.get(refs_path(tenant, service="git-receive-pack"), headers=basic(token))
    assert push.status_code == 403 and b"vcs:repository:write" in push.data
    member_token = make_token(make_member(tenant, "member"))
    allowed = client.get(refs_path(tenant, service="git-receive-pack"), headers=basic(member_token))
    assert allowed.status_code == 200


def test_a_token_without_the_scope_cannot_read(client, tenant, repo, admin):
    token = make_token(admin, scopes=["spm:product:read"])
    assert client.get(refs_path(tenant), headers=basic(token)).status_code == 403


def test_outsiders_get_404_for_private_and_read_public(client, tenant, repo):
    stranger = make_user()
    make_tenant(owner=stranger)
    token = make_token(stranger)
    assert client.get(refs_path(tenant), headers=basic(token)).status_code == 404
    services.update_repository(tenant, repo, {"visibility": "public"})
    db.session.commit()
    assert client.get(refs_path(tenant), headers=basic(token)).status_code == 200
    assert client.get(refs_path(tenant)).status_code == 200  # anonymous
    assert client.get(refs_path(tenant, service="git-receive-pack"), headers=basic(token)).status_code == 404
    assert client.get(refs_path(tenant, service="git-receive-pack")).status_code == 401


def test_deleted_repositories_and_suspended_tenants(client, tenant, repo, admin):
    member_token = make_token(make_member(tenant, "member"))
    tm.set_tenant_status(tenant, TenantStatus.SUSPENDED)
    db.session.commit()
    assert client.get(refs_path(tenant), headers=basic(member_token)).status_code == 403
    services.delete_repository(tenant, repo)
    db.session.commit()
    assert client.get(refs_path(tenant), headers=basic(make_token(admin))).status_code == 404


def test_only_smart_http_paths_are_served(client, tenant, repo, admin):
    token = make_token(admin)
    for path in ("/git/{t}/app.git/HEAD", "/git/{t}/app.git/config", "/git/{t}/app.git/objects/info/packs",
                 "/git/{t}/app.git/info/refs", "/git/{t}/app.git/info/refs?service=git-upload-archive",
                 "/git/{t}/app.git/hooks/pre-receive"):
        response = client.get(path.format(t=tenant.slug), headers=basic(token))
        assert response.status_code == 404, path
    assert client.get(f"/git/{tenant.slug}/app.git/git-upload-pack", headers=basic(token)).status_code == 404


def test_a_gzip_encoded_fetch_request_is_passed_through(client, tenant, repo, admin):
    import gzip

    from .gitseed import seed_commits

    head = seed_commits(services.local_git_dir(repo), 2)[-1]
    want = f"want {head}\n"
    body = f"{len(want) + 4:04x}{want}00000009done\n".encode()
    response = client.post(f"/git/{tenant.slug}/app.git/git-upload-pack", data=gzip.compress(body),
                           headers={**basic(make_token(admin)), "Content-Encoding": "gzip",
                                    "Content-Type": "application/x-git-upload-pack-request"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-git-upload-pack-result"
    assert b"PACK" in response.data


def test_a_bearer_token_works_as_well(client, tenant, repo, admin):
    token = make_token(admin)
    assert client.get(refs_path(tenant), headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get(refs_path(tenant), headers={"Authorization": "Bearer tj_pat_nope"}).status_code == 401


def test_public_repositories_of_a_suspended_tenant_are_not_served(client, tenant, repo):
    services.update_repository(tenant, repo, {"visibility": "public"})
    tm.set_tenant_status(tenant, TenantStatus.SUSPENDED)
    db.session.commit()
    assert client.get(refs_path(tenant)).status_code == 401
