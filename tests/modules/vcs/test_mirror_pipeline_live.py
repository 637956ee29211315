"""End to end with a real `taiji worker` and broker: a forge (git http-backend on loopback) whose
fetches are slow, a mirrored external repository with a `.taiji.yml`, and the forge's push webhook.
The push's pipeline must start although the event would reach CI long before the mirror has the
commit (issue 12, finding 19)."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest

from taiji.platform.tasks import init_celery
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.modules.cicd.test_worker_live import Worker

from .fixtures import forge_payloads as forges
from .fixtures.forge import Forge
from .fixtures.gitdata import commit_files

pytestmark = pytest.mark.live

PASSWORD = "slow-forge-token-77"
PIPELINE = "on: {push: {branches: [main]}}\njobs:\n  build: {script: [echo built]}\n"


@pytest.fixture
def live(app, tmp_path):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app
    from taiji.platform.db import db
    from tests.factories import make_tenant, make_user

    data_dir = tmp_path / "data"
    database_url = sibling_database("vcsmirror", tmp_path, migrated=True)
    broker_url = os.environ.get("TAIJI_TEST_BROKER_URL") or "filesystem://"
    live_app = create_app(app_overrides(database_url, data_dir, BROKER_URL=broker_url,
                                        VCS_MIRROR_ALLOWED_HOSTS=("127.0.0.1",)))
    with live_app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        if not broker_url.startswith("filesystem"):
            live_app.extensions["celery"].control.purge()
        tenant = make_tenant(owner=make_user(email=f"m-{uuid.uuid4().hex[:6]}@example.com"))
        slug = tenant.slug
        db.session.commit()
        db.session.remove()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update({"TAIJI_DATABASE_URL": database_url, "TAIJI_BROKER_URL": broker_url,
                "TAIJI_DATA_DIR": str(data_dir), "TAIJI_SECRET_KEY": "test-secret-key",
                "PYTHONPATH": str(ROOT), "TAIJI_VCS_MIRROR_ALLOWED_HOSTS": "127.0.0.1"})
    forge = Forge(tmp_path / "forge", "mirror-bot", PASSWORD).start()
    try:
        yield {"app": live_app, "slug": slug, "forge": forge,
               "worker": lambda: Worker(env, tmp_path / "worker.log").start()}
    finally:
        forge.stop()
        with live_app.app_context():
            db.engine.dispose()
        init_celery(app)  # the Celery app is process-wide: hand it back


def in_app(live, fn):
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    with live["app"].app_context():
        try:
            result = fn(tenant_by_slug(live["slug"]))
            db.session.commit()
            return result
        finally:
            db.session.remove()


def test_a_mirrored_push_starts_its_pipeline_though_the_fetch_is_slower_than_the_event(live):
    from taiji.modules.cicd import services as cicd
    from taiji.modules.vcs.services import external, mirrors

    upstream = live["forge"].create("shop")
    first = commit_files(upstream, {".taiji.yml": PIPELINE, "README.md": "# Shop\n"}, "Start")

    def register(tenant):
        repo, answer = external.create_external(tenant, {"name": "shop", "external": {
            "provider": "github", "url": f"{live['forge'].url}/shop.git", "mirror": True,
            "mirror_credentials": {"username": "mirror-bot", "password": PASSWORD}}})
        return repo.id, answer

    repo_id, answer = in_app(live, register)
    with live["app"].app_context():
        assert mirrors.fetch_mirror(repo_id)  # the mirror as it stands before the push

    worker = live["worker"]()
    try:
        # A push on the forge, whose pack takes the mirror a while to fetch (a big push, a busy forge).
        pushed = commit_files(upstream, {"src/cart.py": "TOTAL = 0\n"}, "Cart")
        live["forge"].delay = 6
        payload = forges.github()
        payload.update(before=first, after=pushed, commits=[{"id": pushed, "message": "Cart\n",
                                                             "timestamp": "2026-12-06T10:00:00+00:00"}])
        body = json.dumps(payload).encode()
        signed = forges.headers("github", answer["webhook_secret"], body, delivery="slow-1")
        response = live["app"].test_client().post("/hooks/vcs/" + answer["webhook_url"].rsplit("/", 1)[1],
                                                  data=body, headers=signed)
        assert response.status_code == 200, response.get_data(as_text=True)

        def pipelines(tenant):
            listed = cicd.list_pipelines(tenant, repository="shop").items
            return [(p.sha, p.trigger, p.status) for p in listed]

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not in_app(live, pipelines):
            time.sleep(0.5)
        found = in_app(live, pipelines)
        assert found, f"no pipeline started for the push\n{worker.tail()}"
        [(sha, trigger, status)] = found
        assert (sha, trigger) == (pushed, "push") and status != "error"
    finally:
        worker.kill(signal.SIGTERM)
