"""URL arguments of BPR routes for the tenant-isolation walk, and one request per BPR permission
for the permission matrix. Imported at the end of tests/factories.py."""

from __future__ import annotations

import io

from tests.factories import ISOLATION_SEEDERS, PERMISSION_REQUESTS


def _bpr_seed_repository(tenant, owner, known):
    from taiji.modules.bpr import services as bpr

    return bpr.create_repository(tenant, {"name": f"repo-of-{tenant.slug}", "kind": "pypi"}).name


def _wheel_name(tenant) -> str:
    return f"pkg_{tenant.slug.replace('-', '_')}-1.0-py3-none-any.whl"


def _bpr_seed_file(tenant, owner, known):
    from taiji.modules.bpr import services as bpr

    repository = bpr.get_repository(tenant, known["bpr_repo"])
    body = f"wheel of {tenant.slug}".encode()
    return bpr.store_package(tenant, repository, _wheel_name(tenant), io.BytesIO(body), length=len(body)).id


def _bpr_seed_package(tenant, owner, known):
    from taiji.modules.bpr import services as bpr

    return bpr.normalize(f"pkg-{tenant.slug}")


ISOLATION_SEEDERS["bpr_repo"] = _bpr_seed_repository
ISOLATION_SEEDERS["bpr_file"] = _bpr_seed_file
ISOLATION_SEEDERS["bpr_package"] = _bpr_seed_package


def _bpr_matrix_repository(tenant) -> dict:
    from taiji.modules.bpr import services as bpr

    if not bpr.repository_exists(tenant, "matrix-files"):
        bpr.create_repository(tenant, {"name": "matrix-files", "kind": "generic"})
    return {"repo": "matrix-files"}


PERMISSION_REQUESTS["bpr:package:read"] = {"method": "GET", "path": "/api/v1/tenants/{t}/bpr/repositories"}
PERMISSION_REQUESTS["bpr:package:write"] = {
    # The upload protocol itself (curl -T): there is no REST upload beside it.
    "method": "PUT",
    "path": "/bpr/{t}/{repo}/matrix/file.json",
    "body": {"any": "bytes"},
    "prepare": _bpr_matrix_repository,
}
PERMISSION_REQUESTS["bpr:repository:admin"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/bpr/repositories",
    "body": {"name": "matrix-repo", "kind": "generic"},
}
