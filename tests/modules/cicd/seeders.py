"""URL arguments of CICD routes for the tenant-isolation walk, and one request per CICD permission
for the permission matrix. Imported at the end of tests/factories.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.factories import ISOLATION_SEEDERS, PERMISSION_REQUESTS

PIPELINE_FILE = (
    "jobs:\n  build:\n    script: [echo build]\n  ship:\n    when: manual\n    script: [echo ship]\n"
)


def _seed_repository(tenant, owner, known):
    from tests.modules.cicd.conftest import make_hosted

    name = f"ci-of-{tenant.slug}"
    make_hosted(tenant, name, {".taiji.yml": PIPELINE_FILE})
    return name


def _seed_pipeline(tenant, owner, known):
    from taiji.modules.cicd import services

    return services.run_pipeline(tenant, known["repository"], "main").id


def _job(tenant, known, name="build"):
    from taiji.modules.cicd import services

    return next(j for j in services.get_pipeline(tenant, known["pipeline_id"]).jobs if j.name == name)


def _seed_artifact(tenant, owner, known):
    from taiji.modules.cicd.services.artifacts import store_artifact

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "report.txt"
        source.write_text(f"artifact of {tenant.slug}\n")
        return store_artifact(_job(tenant, known), source, "out/report.txt", expire_in=3600).id


def _seed_secret(tenant, owner, known):
    from taiji.modules.cicd import services

    return services.set_secret(tenant, "ISOLATION_TOKEN", f"value-of-{tenant.slug}")[0].name


ISOLATION_SEEDERS["repository"] = _seed_repository
ISOLATION_SEEDERS["pipeline_id"] = _seed_pipeline
ISOLATION_SEEDERS["job_id"] = lambda tenant, owner, known: _job(tenant, known).id
ISOLATION_SEEDERS["job"] = lambda tenant, owner, known: "build"
ISOLATION_SEEDERS["artifact_id"] = _seed_artifact
ISOLATION_SEEDERS["secret"] = _seed_secret


def _prepare_repository(tenant):
    from taiji.platform.db import db

    name = _seed_repository(tenant, None, {})
    db.session.commit()
    return {"repository": name}


PERMISSION_REQUESTS["cicd:pipeline:read"] = {"method": "GET", "path": "/api/v1/tenants/{t}/pipelines"}
PERMISSION_REQUESTS["cicd:pipeline:run"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/repositories/{repository}/pipelines",
    "body": {"ref": "main"},
    "prepare": _prepare_repository,
}
PERMISSION_REQUESTS["cicd:secret:write"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/cicd/secrets",
    "body": {"name": "MATRIX_TOKEN", "value": "matrix-value"},
}


# Jenkins controllers: one fake controller on loopback serves every seeded tenant.
_FAKE_JENKINS = []


def fake_jenkins_url() -> str:
    from tests.fakes.jenkins import FakeJenkins

    if not _FAKE_JENKINS:
        _FAKE_JENKINS.append(FakeJenkins(users={"taiji": "seeded-token"}).start())
    return _FAKE_JENKINS[0].url


def _seed_controller(tenant, owner, known):
    from taiji.modules.cicd.jenkins import controllers

    data = {"name": f"jenkins-of-{tenant.slug}", "url": fake_jenkins_url(), "username": "taiji",
            "token": "seeded-token"}
    return controllers.create_controller(tenant, data).name


ISOLATION_SEEDERS["controller"] = _seed_controller
ISOLATION_SEEDERS["jenkins_job"] = lambda tenant, owner, known: "deploy"
PERMISSION_REQUESTS["cicd:runner:manage"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/cicd/jenkins/controllers",
    "body": {"name": "matrix", "url": "http://10.0.0.1:8080", "username": "taiji", "token": "matrix-token"},
}
