"""Jobs on a real Docker engine: the session's engine (tests/dockerd.py), the bootstrapped image, and
a committed CI database whose jobs run in containers."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT, app_overrides, sibling_database
from tests.modules.cicd.conftest import CI, FAST


class DockerCI(CI):
    """CI whose jobs run on the docker executor (the platform's runner: TAIJI_CICD_RUNNER=docker)."""

    def execute_in_process(self, job_id: int, attempt: int, log_path) -> subprocess.Popen:
        """Run one attempt in a process of its own, as a worker would (so that it can be killed)."""
        config = self.app.config
        overrides = {key: config[key] for key in ("DOCKER_HOST", "CICD_DEFAULT_IMAGE", "CICD_RUNNER", *FAST)}
        source = (
            "import json, sys\n"
            "from pathlib import Path\n"
            "from taiji.platform.app import create_app\n"
            "from taiji.modules.cicd.runners import builtin\n"
            "from tests.conftest import app_overrides\n"
            "url, data, extra, job, attempt = json.loads(sys.argv[1])\n"
            "app = create_app(app_overrides(url, Path(data), **extra))\n"
            "with app.app_context():\n"
            "    builtin.execute(job, attempt)\n"
        )
        url = config["SQLALCHEMY_DATABASE_URI"]
        argument = json.dumps([url, config["DATA_DIR"], overrides, job_id, attempt])
        with open(log_path, "ab") as log:
            return subprocess.Popen([sys.executable, "-c", source, argument], cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def job_row(self, job_id: int) -> dict:
        from taiji.modules.cicd.models import Job
        from taiji.platform.db import db

        with self.ctx():
            try:
                job = db.session.get(Job, job_id)
                return {"runner": job.runner, "image": job.image, "image_digest": job.image_digest}
            finally:
                self._done()


class Listener:
    """A TCP server of the test: it answers every connection with a secret and counts them."""

    def __init__(self, address: str):
        import socket
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.accepted.append(peer)
            try:
                conn.sendall(b"HOST-SECRET\n")
            finally:
                conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def docker_app(tmp_path_factory, docker_host, job_image):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app
    from taiji.platform.db import db

    tmp = tmp_path_factory.mktemp("cicd-docker")
    app = create_app(app_overrides(sibling_database("cicd_docker", tmp, migrated=True), tmp / "data", **FAST,
                                   DOCKER_HOST=docker_host, CICD_DEFAULT_IMAGE=job_image,
                                   CICD_RUNNER="docker"))
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    return app


@pytest.fixture
def dci(docker_app):
    """A fresh tenant in the committed database; its jobs run in containers."""
    from taiji.platform.db import db
    from tests.factories import make_tenant, make_user

    state = DockerCI(docker_app)
    with docker_app.app_context():
        owner = make_user(email=f"ci-{uuid.uuid4().hex[:8]}@example.com")
        tenant = make_tenant(owner=owner)
        state.tenant_slug, state.owner_email = tenant.slug, owner.email
        db.session.commit()
        db.session.remove()
    yield state
    state.join(timeout=30)
