"""A live Taiji serving Git over HTTP, and the real ``git`` client to talk to it.

The server is werkzeug in a background thread (threaded: git's requests and the hook callbacks
overlap) on a free port, against its own committed database; the tests using it are ``live``.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, app_overrides, sibling_database


@dataclass
class GitServer:
    url: str
    app: object
    home: Path
    work: Path

    def run(self, fn):
        """Run ``fn()`` in an app context of the served app and commit."""
        from taiji.platform.db import db

        with self.app.app_context():
            try:
                result = fn()
                db.session.commit()
                return result
            finally:
                db.session.remove()

    def account(self, tenant_slug: str, role: str = "owner", *, tenant_owner=None) -> dict:
        """A user with a token; a member of the tenant (made with this user as owner if new)."""
        from taiji.modules.iam import services as iam
        from taiji.modules.tm import services as tm
        from taiji.platform.tenancy import tenant_by_slug
        from tests.factories import system_principal

        def make():
            email = f"{role}-{uuid.uuid4().hex[:8]}@git.example"
            user = iam.create_user(email, f"{role.title()} Pusher", "a-long-password-1")
            tenant = tenant_by_slug(tenant_slug)
            if tenant is None:
                tm.create_tenant(tenant_slug, tenant_slug.title(), owner_id=user.id)
            else:
                tm.add_member(tenant, email, role, actor=system_principal())
            _, token = iam.create_token(user, "git")
            return {"id": user.id, "email": email, "name": user.name, "token": token}

        return self.run(make)

    def create_repo(self, tenant_slug: str, name: str, **data) -> None:
        from taiji.modules.vcs import services
        from taiji.platform.tenancy import tenant_by_slug
        from tests.factories import system_principal

        self.run(lambda: services.create_repository(tenant_by_slug(tenant_slug), {"name": name, **data},
                                                    actor=system_principal()))

    def remote(self, tenant_slug: str, repo: str, token: str | None = None) -> str:
        host = self.url.removeprefix("http://")
        auth = f"x:{token}@" if token else ""
        return f"http://{auth}{host}/git/{tenant_slug}/{repo}.git"

    def git(self, *args, cwd=None, check=True, env=None) -> subprocess.CompletedProcess:
        environ = {"PATH": os.environ["PATH"], "HOME": str(self.home), "GIT_TERMINAL_PROMPT": "0",
                   "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C", **(env or {})}
        result = subprocess.run(["git", *args], cwd=cwd or self.work, env=environ, capture_output=True,
                                text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def pushes(self, tenant_slug: str, repo: str) -> list[dict]:
        """Payloads of the vcs.push events in the outbox for ``repo``, oldest first."""
        import sqlalchemy as sa

        from taiji.platform.db import db
        from taiji.platform.events import OutboxEvent

        def read():
            rows = db.session.execute(sa.select(OutboxEvent).where(OutboxEvent.name == "vcs.push")
                                      .order_by(OutboxEvent.created_at)).scalars()
            return [r.payload for r in rows
                    if r.payload["tenant"] == tenant_slug and r.payload["repository"] == repo]

        return self.run(read)


@pytest.fixture(scope="session")
def git_server(tmp_path_factory):
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from taiji.platform.app import create_app
    from taiji.platform.db import db

    tmp = tmp_path_factory.mktemp("vcs-live")
    app = create_app(app_overrides(sibling_database("vcs", tmp, migrated=True), tmp / "data", TESTING=False))
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url
    home = tmp / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Test Pusher\n\temail = pusher@git.example\n"
                                     "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    work = tmp / "work"
    work.mkdir()
    thread = threading.Thread(target=server.serve_forever, name="vcs-git-server", daemon=True)
    thread.start()
    try:
        yield GitServer(url=url, app=app, home=home, work=work)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def workdir(git_server, tmp_path):
    git_server.work = tmp_path
    return tmp_path
