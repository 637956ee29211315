"""A Taiji served over HTTP on loopback (werkzeug, a background thread) with its own committed
database, and clients that talk to it as browsers and API callers do (``requests``, CSRF tokens
read from the pages, session cookies)."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from taiji.platform.db import db
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.factories import PASSWORD


class Http(requests.Session):
    """A browser or an API client of one server: paths are relative to it."""

    def __init__(self, base: str, token: str | None = None):
        super().__init__()
        self.base = base
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base + url
        kwargs.setdefault("timeout", 15)
        return super().request(method, url, *args, **kwargs)

    def csrf(self, path: str = "/profile") -> str:
        """A CSRF token of this browser's session, read from a page with a form."""
        page = self.get(path)
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        assert match, f"no form on {path} ({page.status_code})"
        return match.group(1)

    def submit(self, path: str, data: dict | None = None, *, form_page: str = "/profile", **kwargs):
        """POST a console form as the browser does: with the CSRF token of this session."""
        return self.post(path, data={**(data or {}), "csrf_token": self.csrf(form_page)},
                         allow_redirects=kwargs.pop("allow_redirects", False), **kwargs)


@dataclass
class LiveApp:
    app: object
    base: str

    def run(self, work):
        """Run ``work()`` in the served app's context and commit."""
        with self.app.app_context():
            result = work()
            db.session.commit()
            return result

    def user(self, email: str, name: str, *, admin: bool = False, email_verified: bool = True) -> int:
        from taiji.modules.iam import services as iam

        return self.run(lambda: iam.create_user(email, name, PASSWORD, admin=admin,
                                                email_verified=email_verified).id)

    def token(self, email: str, scopes=None) -> str:
        from taiji.modules.iam import services as iam

        return self.run(lambda: iam.create_token(iam.get_user_by_email(email), "test", scopes=scopes)[1])

    def tenant(self, slug: str, name: str, owner_email: str) -> None:
        from taiji.modules.iam import services as iam
        from taiji.modules.tm import services as tm

        self.run(lambda: tm.create_tenant(slug, name, owner_id=iam.get_user_by_email(owner_email).id))

    def api(self, email: str, scopes=None) -> Http:
        return Http(self.base, self.token(email, scopes))

    def anonymous(self) -> Http:
        return Http(self.base)

    def browser(self, email: str, password: str = PASSWORD) -> Http:
        """A browser signed in to the console through the sign-in form."""
        from tests.modules.iam.oauth.relying_party import sign_in

        session = Http(self.base)
        sign_in(session, self.base + "/login", email, password)
        return session

    def audit(self, action: str, target: str) -> list[dict]:
        import sqlalchemy as sa

        from taiji.platform.audit import AuditEntry

        def work():
            rows = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == action,
                                                                  AuditEntry.target == target)).scalars()
            return [{"actor": r.actor_email, "details": r.details, "via": r.via} for r in rows]

        return self.run(work)


@contextmanager
def serve(tmp: Path, suffix: str, **overrides):
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from taiji.platform.app import create_app

    database = sibling_database(suffix, tmp, migrated=True)
    app = create_app(app_overrides(database, tmp / "data", WTF_CSRF_ENABLED=True,
                                   LOGIN_RATE_LIMIT="1000 per minute", **overrides))
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base  # the links Taiji mails and shows point at this server
    thread = threading.Thread(target=server.serve_forever, name=f"taiji-{suffix}", daemon=True)
    thread.start()
    try:
        yield LiveApp(app=app, base=base)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
