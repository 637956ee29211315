"""Shared fixtures.

The database is SQLite unless ``TAIJI_TEST_DATABASE_URL`` names a real server (CI: PostgreSQL).
The schema is built by the migrations, once per session. Each test runs inside an outer
transaction that is rolled back at its end; the application's own commits become savepoints.

Tests that need committed data seen by other processes (workers, a served app) use the
``live_database_url`` fixture instead: a second, separate database.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from taiji.platform.db import db

from .factories import make_tenant, make_token, make_user

ROOT = Path(__file__).resolve().parent.parent


def _base_url() -> str | None:
    return os.environ.get("TAIJI_TEST_DATABASE_URL") or None


def _reset_database(url: str) -> None:
    """Drop every table so the migrations build the schema from nothing."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        else:
            meta = sa.MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()


def sibling_database(suffix: str, tmp_dir: Path) -> str:
    """A second database beside the test database (PostgreSQL: created fresh; SQLite: a file)."""
    base = _base_url()
    if base is None:
        return f"sqlite:///{tmp_dir / f'taiji-{suffix}.db'}"
    url = make_url(base)
    name = f"{url.database}_{suffix}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def app_overrides(database_url: str, data_dir: Path, **extra) -> dict:
    overrides = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret-key",
        "TESTING": True,
        "BROKER_URL": "memory://",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "BASE_URL": "http://taiji.test",
        # The console signs in through the platform's own OIDC provider, and tests speak plain HTTP.
        "OAUTH_INSECURE_TRANSPORT": "true",
        "SERVER_NAME": None,
        # The tests' own directories (slapd, recorders) listen on loopback, which the egress
        # policy refuses unless an operator allows it; tests of the refusal take it out again.
        "IAM_LDAP_ALLOWED_HOSTS": ("127.0.0.1",),
        "CICD_JENKINS_ALLOWED_HOSTS": ("127.0.0.1",),  # the fake Jenkins (tests/fakes/jenkins.py)
    }
    overrides.update(extra)
    return overrides


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = _base_url() or f"sqlite:///{tmp_path_factory.mktemp('db') / 'taiji-test.db'}"
    _reset_database(url)
    return url


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    application = create_app(app_overrides(database_url, tmp_path_factory.mktemp("data")))
    with application.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    return application


@pytest.fixture(autouse=True)
def _isolated(request, app):
    """Run the test inside one outer transaction, rolled back at its end."""
    if request.node.get_closest_marker("live"):
        yield None
        return
    from taiji.modules.iam.oauth import keys
    from taiji.modules.iam.oauth.server import forget_clients
    from taiji.platform.ratelimit import limiter

    with app.app_context():
        engines = db._app_engines[app]
        engine = engines[None]
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection
        db.session.remove()
        factory = db.session.session_factory
        factory.kw["join_transaction_mode"] = "create_savepoint"
        limiter.reset()
        # A signing key made by an earlier test was rolled back with it: do not sign with it here.
        keys.invalidate_cache()
        forget_clients()
        try:
            yield connection
        finally:
            db.session.remove()
            outer.rollback()
            connection.close()
            engines[None] = engine
            factory.kw.pop("join_transaction_mode", None)


class _FreshRequestClient(FlaskClient):
    """Each request starts with an empty ``g``, as in production.

    The test's app context (pushed by ``_isolated``) is shared by the requests made inside
    it, so without this one request's caller (``g._principal``) would answer for the next.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = _FreshRequestClient
    return app.test_client()


@pytest.fixture
def admin(app):
    return make_user(email=f"admin-{uuid.uuid4().hex[:6]}@example.com", admin=True)


@pytest.fixture
def tenant(admin):
    return make_tenant(owner=admin)


class ApiClient:
    """The test client with a bearer token: ``api.get('/api/v1/me')``."""

    def __init__(self, client, token: str | None):
        self._client = client
        self.token = token

    def _headers(self, headers):
        merged = dict(headers or {})
        if self.token:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    def open(self, method, path, json=None, headers=None, **kwargs):
        return self._client.open(path, method=method, json=json, headers=self._headers(headers), **kwargs)

    def get(self, path, **kw):
        return self.open("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.open("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.open("PATCH", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.open("PUT", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.open("DELETE", path, **kw)


@pytest.fixture
def api_as(client):
    """``api_as(user)`` -> an API client authenticated with a fresh token of ``user``."""

    def make(user, scopes=None):
        return ApiClient(client, make_token(user, scopes=scopes))

    return make


@pytest.fixture
def anon_api(client):
    return ApiClient(client, None)


@pytest.fixture
def login(client):
    """Sign ``user`` in to the console of the test client (password: ``factories.PASSWORD``)."""
    from .factories import PASSWORD

    def do(user, password=PASSWORD):
        form = {"email": user.email, "password": password}
        response = complete_sign_in(client, client.post("/login", data=form))
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return do


def complete_sign_in(client, response):
    """Follow the console's own OpenID Connect flow after the sign-in form (authorize, callback).

    Returns the response that leaves the flow: the redirect to the page the user asked for, or
    whatever stopped it (a 4xx page), so tests can keep asserting on ``Location`` as before.
    """
    for _ in range(4):
        location = response.headers.get("Location", "") if response.status_code in (302, 303) else ""
        if not location.startswith(("/oauth/authorize", "/login/callback")):
            return response
        response = client.get(location)
    return response
