"""CI test helpers: hosted repositories with a `.taiji.yml`, and a committed database on which jobs
run for real (in threads of this process, or in a real `taiji worker`)."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from tests.conftest import ROOT, app_overrides, sibling_database
from tests.dockerd import docker_client, docker_host, job_image  # noqa: F401 - fixtures

FAST = {"CICD_HEARTBEAT_SECONDS": 1, "CICD_KILL_GRACE_SECONDS": 1, "CICD_RUNNER_LOST_SECONDS": 4}


def make_hosted(tenant, name: str, files: dict[str, str | bytes], *, branch: str = "main") -> str:
    """A hosted repository of ``tenant`` with one commit of ``files``; returns the commit sha."""
    from taiji.modules.vcs import services as vcs
    from taiji.platform.db import db
    from tests.modules.vcs.fixtures.gitdata import commit_files

    repo = vcs.find_repository(tenant, name) or vcs.create_repository(tenant, {"name": name})
    db.session.commit()
    return commit_files(vcs.local_git_dir(repo), files, "CI test commit", branch=branch)


@dataclass
class CI:
    """A committed database, a tenant in it, and a way to run jobs the way a worker does."""

    app: object
    tenant_slug: str = ""
    owner_email: str = ""
    threads: list = field(default_factory=list)

    def ctx(self):
        return self.app.app_context()

    @contextmanager
    def writing(self):
        """The app's context for a unit of work that writes. On SQLite it takes the write lock when
        it begins (waiting for it): beside live workers and runners, a unit that read first failed
        with "database is locked" at its first write."""
        from taiji.platform.db import write_lock_first

        with write_lock_first(), self.app.app_context():
            yield

    def tenant(self):
        from taiji.platform.tenancy import tenant_by_slug

        return tenant_by_slug(self.tenant_slug)

    def repo(self, files: dict[str, str | bytes], name: str | None = None) -> str:
        name = name or f"r{uuid.uuid4().hex[:8]}"
        with self.writing():
            make_hosted(self.tenant(), name, files)
            self._done()
        return name

    def run(self, repository: str, ref: str = "main", variables: dict | None = None) -> int:
        from taiji.modules.cicd import services

        with self.writing():
            pipeline = services.run_pipeline(self.tenant(), repository, ref, variables=variables)
            pipeline_id = pipeline.id
            self._done()
        return pipeline_id

    def _done(self):
        from taiji.platform.db import db

        db.session.commit()
        db.session.remove()

    def call(self, fn, *args, **kwargs):
        """Run a service in its own unit of work; returns what it returned (detached)."""
        from taiji.platform.db import db

        with self.writing():
            try:
                result = fn(self.tenant(), *args, **kwargs)
                db.session.commit()
                return result
            finally:
                db.session.remove()

    def reap(self) -> list[int]:
        """One pass of the reaper (the scheduler's job), committed: the ids of the jobs it took back."""
        from taiji.modules.cicd.runners import builtin
        from taiji.platform.db import db

        with self.ctx():
            try:
                reaped = builtin.reap()
                db.session.commit()
                return reaped
            finally:
                db.session.remove()

    def pipeline(self, pipeline_id: int) -> dict:
        from taiji.modules.cicd import services

        with self.ctx():
            try:
                p = services.get_pipeline(self.tenant(), pipeline_id)
                return {
                    "status": p.status,
                    "error": p.error,
                    "id": p.id,
                    "jobs": {
                        j.name: {
                            "id": j.id,
                            "status": j.status,
                            "reason": j.failure_reason,
                            "exit_code": j.exit_code,
                            "attempt": j.attempt,
                            "started_at": j.started_at,
                            "finished_at": j.finished_at,
                            "junit": j.junit,
                            "log_size": j.log_size,
                            "artifacts": [(a.path, a.size, a.published) for a in j.artifacts],
                        }
                        for j in p.jobs
                    },
                }
            finally:
                self._done()

    def log(self, job_id: int) -> str:
        from taiji.modules.cicd import services

        with self.ctx():
            try:
                job = services.get_job(self.tenant(), job_id)
                out, offset = [], 0
                while True:
                    text, offset, _done = services.read_log(job, offset=offset)
                    if not text:
                        return "".join(out)
                    out.append(text)
            finally:
                self._done()

    def start_pending(self) -> int:
        """Start a thread per pending job of the tenant, as a worker would take them off the queue."""
        import sqlalchemy as sa

        from taiji.modules.cicd.models import Job

        with self.ctx():
            from taiji.platform.db import db

            rows = db.session.execute(
                sa.select(Job.id, Job.attempt).where(
                    Job.status == "pending", Job.tenant_id == self.tenant().id
                )
            ).all()
            self._done()
        for job_id, attempt in rows:
            key = (job_id, attempt)
            if key in {t.name_key for t in self.threads}:
                continue
            thread = threading.Thread(target=self._execute, args=key, daemon=True)
            thread.name_key = key
            thread.start()
            self.threads.append(thread)
        return len(rows)

    def _execute(self, job_id: int, attempt: int) -> None:
        from taiji.modules.cicd.runners import builtin
        from taiji.platform.db import db

        with self.ctx():
            try:
                builtin.execute(job_id, attempt)
                db.session.commit()
            finally:
                db.session.remove()

    def drive(self, pipeline_id: int, timeout: float = 60, until=None) -> dict:
        """Run the pipeline's jobs until it is finished (or ``until(state)`` holds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.start_pending()
            state = self.pipeline(pipeline_id)
            if until(state) if until else state["status"] in ("success", "failed", "canceled", "error"):
                return state
            time.sleep(0.1)
        raise AssertionError(
            f"pipeline {pipeline_id} did not get there in {timeout}s: {self.pipeline(pipeline_id)}"
        )

    def join(self, timeout: float = 30) -> None:
        for thread in self.threads:
            thread.join(timeout)


@pytest.fixture(scope="module")
def ci_app(tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app
    from taiji.platform.db import db

    tmp = tmp_path_factory.mktemp("cicd")
    app = create_app(app_overrides(sibling_database("cicd", tmp, migrated=True), tmp / "data", **FAST))
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    return app


@pytest.fixture
def ci(ci_app):
    """A fresh tenant in the committed CI database (the module's data is never rolled back)."""
    from taiji.platform.db import db
    from tests.factories import make_tenant, make_user

    state = CI(ci_app)
    with ci_app.app_context():
        owner = make_user(email=f"ci-{uuid.uuid4().hex[:8]}@example.com")
        tenant = make_tenant(owner=owner)
        state.tenant_slug, state.owner_email = tenant.slug, owner.email
        db.session.commit()
        db.session.remove()
    yield state
    state.join(timeout=20)


# The Jenkins runner's fixtures (a fake controller on loopback, allowed by the egress policy).
from tests.modules.cicd.jenkins_helpers import allow_loopback, fake  # noqa: E402, F401
