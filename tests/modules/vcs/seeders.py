"""URL arguments of VCS routes for the tenant-isolation walk, and one request per VCS permission
for the permission matrix. Imported at the end of tests/factories.py."""

from __future__ import annotations

from tests.factories import ISOLATION_SEEDERS, PERMISSION_REQUESTS


# VCS core: a hosted repository named after its tenant, with its main branch protected.
def _vcs_seed_repo(tenant, owner, known):
    from taiji.modules.vcs import services as vcs

    return vcs.create_repository(tenant, {"name": f"repo-of-{tenant.slug}"}).name


def _vcs_seed_rule(tenant, owner, known):
    from taiji.modules.vcs import services as vcs

    return vcs.protect(tenant, vcs.get_repository(tenant, known["repo"]), {"pattern": "main"}).id


def _vcs_prepare_repo(tenant):
    from taiji.modules.vcs import services as vcs
    from taiji.platform.db import db

    repo = vcs.find_repository(tenant, "matrix-repo") or vcs.create_repository(tenant,
                                                                                {"name": "matrix-repo"})
    db.session.commit()
    return {"repo": repo.name}


ISOLATION_SEEDERS["repo"] = _vcs_seed_repo
ISOLATION_SEEDERS["rule_id"] = _vcs_seed_rule

PERMISSION_REQUESTS["vcs:repository:read"] = {"method": "GET", "path": "/api/v1/tenants/{t}/repositories"}
PERMISSION_REQUESTS["vcs:repository:write"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/repositories",
    "body": {"name": "matrix-created"},
}
PERMISSION_REQUESTS["vcs:repository:admin"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/repositories/{repo}/protected-branches",
    "body": {"pattern": "release/*"},
    "prepare": _vcs_prepare_repo,
}

# VCS browsing (vcs-web): content in the seeded repository and the pages' own URL arguments.
import tests.modules.vcs.fixtures.browse_seeders  # noqa: E402
import tests.modules.vcs.fixtures.merge_seeders  # noqa: E402,F401
