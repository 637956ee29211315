"""Permission matrix: every built-in tenant role against every permission of the catalog.

Each permission has one REST request that needs it. A role holding the permission must get
past the check (2xx, or a 4xx that is not 403); a role without it must get 403. What a role
holds is read from the catalog the modules declared, so the matrix checks enforcement
against the declared grants; ``test_the_grants_are_the_documented_policy`` pins the grants.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from taiji.platform.auth import catalog
from tests.factories import GRANT_POLICY, PERMISSION_REQUESTS, make_member

TENANT_ROLES = ("owner", "admin", "member", "viewer")


@dataclass(frozen=True)
class Needs:
    method: str
    path: str  # {t} is the tenant's slug
    body: dict | None = None
    scope: str = "tenant"  # where the permission is checked: "tenant" or "platform"
    if_match: bool = False
    prepare: object = None  # tenant -> dict of further values for the path (a module's own data)


REQUESTS = {
    "tm:tenant:create": Needs(
        "POST", "/api/v1/tenants", {"slug": "made-by-matrix", "name": "Matrix"}, scope="platform"
    ),
    "tm:tenant:read": Needs("GET", "/api/v1/tenants/{t}"),
    "tm:tenant:write": Needs("PATCH", "/api/v1/tenants/{t}", {"name": "Renamed"}, if_match=True),
    "tm:tenant:suspend": Needs(
        "PATCH", "/api/v1/tenants/{t}", {"status": "suspended"}, scope="platform", if_match=True
    ),
    "tm:member:read": Needs("GET", "/api/v1/tenants/{t}/members"),
    "tm:member:write": Needs("POST", "/api/v1/tenants/{t}/invitations", {"email": "matrix@example.com"}),
    "tm:quota:read": Needs("GET", "/api/v1/tenants/{t}/quotas"),
    "tm:quota:write": Needs("PUT", "/api/v1/tenants/{t}/quotas/members", {"limit": 40}, scope="platform"),
    "tm:audit:read": Needs("GET", "/api/v1/tenants/{t}/audit"),
    "iam:user:read": Needs("GET", "/api/v1/users", scope="platform"),
    "iam:account:write": Needs("PATCH", "/api/v1/me", {"name": "Matrix"}, scope="platform"),
    "iam:user:write": Needs(
        "POST",
        "/api/v1/users",
        {"email": "matrix-user@example.com", "password": "a-long-password-1"},
        scope="platform",
    ),
}


for _permission, _spec in PERMISSION_REQUESTS.items():
    REQUESTS[_permission] = Needs(
        _spec["method"],
        _spec["path"],
        _spec.get("body"),
        _spec.get("scope", "tenant"),
        _spec.get("if_match", False),
        _spec.get("prepare"),
    )


def send(api, needs: Needs, tenant):
    extra = needs.prepare(tenant) if needs.prepare else {}
    path = needs.path.format(t=tenant.slug, **extra)
    headers = {}
    if needs.if_match:
        headers["If-Match"] = api.get(path).headers.get("ETag", '"none"')
    return api.open(needs.method, path, json=needs.body, headers=headers)


def holds(role: str, permission: str) -> bool:
    if REQUESTS[permission].scope == "platform":
        return permission in catalog.platform_role_permissions("user")
    return permission in catalog.tenant_role_permissions(role)


def test_every_permission_of_the_catalog_has_a_request(app):
    missing = sorted(set(catalog.permissions) - set(REQUESTS))
    assert not missing, (
        f"register a request that needs each of {missing} in tests.factories.PERMISSION_REQUESTS"
    )
    assert not set(REQUESTS) - set(catalog.permissions), "REQUESTS names permissions nobody declares"


@pytest.mark.parametrize("permission", sorted(REQUESTS))
@pytest.mark.parametrize("role", TENANT_ROLES)
def test_role_gets_exactly_what_it_is_granted(api_as, tenant, role, permission):
    user = make_member(tenant, role)
    response = send(api_as(user), REQUESTS[permission], tenant)
    if holds(role, permission):
        assert response.status_code < 500 and response.status_code != 403, response.json
        assert response.status_code < 300, response.json
    else:
        assert response.status_code == 403, response.json
        assert permission in response.json["detail"]


@pytest.mark.parametrize("permission", sorted(REQUESTS))
def test_platform_administrator_holds_every_permission(api_as, tenant, admin, permission):
    response = send(api_as(admin), REQUESTS[permission], tenant)
    assert response.status_code < 300, response.json


@pytest.mark.parametrize("permission", sorted(REQUESTS))
def test_each_request_needs_its_permission(api_as, tenant, admin, permission):
    """A token that carries every permission but this one is refused: the table is honest."""
    everything_else = sorted(set(REQUESTS) - {permission})
    response = send(api_as(admin, scopes=everything_else), REQUESTS[permission], tenant)
    assert response.status_code == 403, response.json


def test_the_grants_are_the_documented_policy(app):
    def granted(role):
        return {p for p in REQUESTS if holds(role, p)}

    def declared(role):  # what the newer modules document in their seeders (tests.factories.GRANT_POLICY)
        return set().union(*(policy.get(role, set()) for policy in GRANT_POLICY.values()))

    reads = {"tm:tenant:read", "tm:member:read", "tm:quota:read"}
    managers = reads | {"tm:tenant:write", "tm:member:write", "tm:audit:read"}
    catalog_reads = {"spm:product:read"}
    catalog_writes = catalog_reads | {"spm:product:write"}
    role_reads = {"iam:role:read"}
    role_writes = role_reads | {"iam:role:write", "iam:directory:write"}
    tx_reads = {"tx:transaction:read"}
    tx_operate = tx_reads | {"tx:transaction:operate"}
    repo_reads = {"vcs:repository:read"}
    repo_writes = repo_reads | {"vcs:repository:write"}
    repo_admin = repo_writes | {"vcs:repository:admin"}
    package_reads = {"bpr:package:read"}
    package_writes = package_reads | {"bpr:package:write"}
    package_admin = package_writes | {"bpr:repository:admin"}
    pipeline_reads = {"cicd:pipeline:read"}
    pipeline_runs = pipeline_reads | {"cicd:pipeline:run"}
    pipeline_admin = pipeline_runs | {"cicd:secret:write", "cicd:runner:manage"}
    # Every user manages their own account (a scoped token only if it lists the scope).
    account = {"iam:account:write"}
    reads = reads | account
    managers = managers | account
    managers_all = (managers | catalog_writes | {"spm:rules:write"} | role_writes | tx_operate
                    | repo_admin | package_admin | pipeline_admin)
    # Which tenant's directory receives the passwords of a domain's new users: the owner's call alone.
    assert granted("owner") == managers_all | {"iam:domain:write"} | declared("owner")
    assert granted("admin") == managers_all | declared("admin")
    assert granted("member") == (reads | catalog_writes | role_reads | tx_reads | repo_writes | package_writes
                                 | pipeline_runs | declared("member"))
    assert granted("viewer") == (reads | catalog_reads | role_reads | tx_reads | repo_reads | package_reads
                                 | pipeline_reads | declared("viewer"))
