"""Shared fixtures.

The database is SQLite unless ``TAIJI_TEST_DATABASE_URL`` names a real server (CI: PostgreSQL).
The schema is built by the migrations, once per session. Each test runs inside an outer
transaction that is rolled back at its end; the application's own commits become savepoints.

Tests that need committed data seen by other processes (workers, a served app) use
``sibling_database`` instead: a second, separate database.

Under pytest-xdist (``make test`` runs ``pytest -n auto --dist loadgroup``) every worker is an
install of its own: its own PostgreSQL database (``<name>_gw0``…, and siblings derived from it),
its own Redis database for the broker (the given number plus the worker's index) and its own
temporary folders; see ``_derive_worker_settings``. Tests that share something no worker can
have alone (one Docker engine, module-scoped live servers) run in one xdist group each:
``pytest_collection_modifyitems`` below.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from taiji.platform.db import db

from .factories import make_tenant, make_token, make_user

ROOT = Path(__file__).resolve().parent.parent
# Fixtures of tests/dockerd.py: tests using them share the session's Docker engine (see below).
DOCKER_FIXTURES = frozenset({"docker_host", "docker_client", "job_image"})
DOCKER_TESTS = ROOT / "tests" / "modules" / "cicd" / "docker"  # some start engines of their own too


def xdist_worker() -> str | None:
    """``gw0``, ``gw1``… in a pytest-xdist worker (xdist sets it before conftests load), else None."""
    return os.environ.get("PYTEST_XDIST_WORKER") or None


def _derive_worker_settings() -> None:
    """Point this xdist worker's TAIJI_TEST_* settings at resources of its own.

    Rewriting the environment (rather than each reader) reaches every place that reads them: the
    fixtures, the tests that read the broker URL themselves, and the processes they start. Done
    once per process: a child that imports this file inherits the rewritten values and the marker.
    """
    worker = xdist_worker()
    if worker is None or os.environ.get("TAIJI_TEST_WORKER") == worker:
        return
    index = int(worker.removeprefix("gw"))
    database = os.environ.get("TAIJI_TEST_DATABASE_URL")
    if database:
        url = make_url(database)
        os.environ["TAIJI_TEST_DATABASE_URL"] = url.set(database=f"{url.database}_{worker}").render_as_string(
            hide_password=False)
    broker = os.environ.get("TAIJI_TEST_BROKER_URL")
    if broker and broker.startswith(("redis://", "rediss://")):
        parts = urlsplit(broker)
        number = int(parts.path.strip("/") or 0) + index
        os.environ["TAIJI_TEST_BROKER_URL"] = urlunsplit(parts._replace(path=f"/{number}"))
    os.environ["TAIJI_TEST_WORKER"] = worker


_derive_worker_settings()


def _base_url() -> str | None:
    return os.environ.get("TAIJI_TEST_DATABASE_URL") or None


def _check_broker() -> None:
    """Empty the tests' Redis database before the session, so that no message of an earlier, killed
    run is taken by this run's workers (its ids would name rows of the fresh database); refuse a
    database number the server does not have, saying how to fix it, instead of failing in every
    live test."""
    url = os.environ.get("TAIJI_TEST_BROKER_URL")
    if not url or not url.startswith(("redis://", "rediss://")):
        return
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    except redis.exceptions.ResponseError as exc:
        raise pytest.UsageError(
            f"TAIJI_TEST_BROKER_URL={url}: {exc}. Under pytest-xdist worker N uses the given database "
            "number + N; give a lower number or fewer workers (-n).") from exc
    finally:
        client.close()


_siblings: list[str] = []


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


# The session's migrated schema, kept untouched (no connection stays open to it): a database made
# with ``migrated=True`` is a copy of it, not a second run of every migration. Set by ``database_url``.
_template: dict[str, str] = {}


def sibling_database(suffix: str, tmp_dir: Path, *, migrated: bool = False) -> str:
    """A second database beside the test database (PostgreSQL: created fresh; SQLite: a file).

    Empty, unless ``migrated``: then it holds the schema at the migrations' head (a copy of the
    session's template, which the migrations built once), so the caller's own ``upgrade`` finds
    nothing to do. Tests of the migrations themselves, and of ``taiji db upgrade``, ask for an empty one.
    """
    base = _base_url()
    if migrated:
        _ensure_template(tmp_dir)
    if base is None:
        path = tmp_dir / f"taiji-{suffix}.db"
        if migrated:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_template["sqlite"], path)
        return f"sqlite:///{path}"
    url = make_url(base)
    name = f"{url.database}_{suffix}"
    _recreate_database(url, name, template=_template["postgresql"] if migrated else None)
    if name not in _siblings:
        _siblings.append(name)
    return url.set(database=name).render_as_string(hide_password=False)


def _ensure_template(folder: Path) -> None:
    """Build the session's template once: by ``database_url``, or by the first sibling asked for
    ``migrated`` when a module-scoped fixture asks before any test has requested the database."""
    if _template:
        return
    base = _base_url()
    if base is None:
        folder.mkdir(parents=True, exist_ok=True)
        template = folder / "taiji-template.db"
        _migrate(f"sqlite:///{template}", folder / "template-data")
        _template["sqlite"] = str(template)
    else:
        name = f"{make_url(base).database}_template"
        _recreate_database(make_url(base), name)
        _migrate(make_url(base).set(database=name).render_as_string(hide_password=False),
                 folder / "template-data")
        _template["postgresql"] = name
        if name not in _siblings:
            _siblings.append(name)


def _migrate(url: str, data_dir: Path) -> None:
    """Run every migration on the database at ``url``, in an app of its own, closed afterwards."""
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    migrating = create_app(app_overrides(url, data_dir))
    with migrating.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
        db.engine.dispose()


def _admin(url):
    return sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _recreate_database(url, name: str, template: str | None = None) -> None:
    admin = _admin(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        # A commit need not wait for its WAL to reach the disk (3 ms against 0.1-0.5 ms per commit
        # here): the live tests' servers, workers and runners commit thousands of times, and a test
        # database need not survive a crash of the server. What other sessions see is unchanged.
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
    admin.dispose()


def _drop_databases(url, names: list[str]) -> None:
    admin = _admin(url)
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the node ids
def pytest_collection_modifyitems(config, items):
    """Keep together, on one xdist worker, the tests that share something expensive or single.

    - ``docker``: every test of the session's Docker engine (tests/dockerd.py), and the Docker
      tests that start engines of their own beside it. CI gives the workers one engine, and what
      Taiji makes in it is found by job id (containers.py removes a job's leftovers by its
      label), which two workers' databases both number from 1.
    - ``e2e``: the browser tests share one served app and one Chromium per session; one worker
      running them all starts those once and keeps a second Chromium off a 2-core machine.
    - a module whose tests use a module-scoped fixture (a committed database, a served app, a
      ``taiji worker``): its tests stay on one worker, which sets the fixture up once instead of
      once per worker; a parametrized module-scoped fixture (the escape suite's rows) makes one
      group per parameter, so the rows may run side by side.
    Everything else is spread test by test. Only ``--dist loadgroup`` reads the groups.
    """
    groups = {}
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        group = marker.args[0] if marker else _xdist_group(item)
        if group:
            if not marker:
                item.add_marker(pytest.mark.xdist_group(group))
            groups[item.nodeid] = group
    # pytest-xdist 3.8 tells the controller a test's group by renaming the test (``item._nodeid``),
    # which pytest 9 no longer reads: the groups are handed to _GroupScheduling in a file instead.
    folder = os.environ.get(GROUPS_FOLDER)
    if folder and xdist_worker():
        (Path(folder) / f"{xdist_worker()}.json").write_text(json.dumps(groups))


GROUPS_FOLDER = "TAIJI_TEST_XDIST_GROUPS"


def pytest_configure(config):
    # In the controller, before it starts the workers: the folder where they leave their groups.
    if xdist_worker() is None and config.getoption("dist", "no") == "loadgroup" \
            and config.getoption("numprocesses", None):
        os.environ[GROUPS_FOLDER] = tempfile.mkdtemp(prefix="taiji-xdist-groups-")


def pytest_unconfigure(config):
    folder = os.environ.get(GROUPS_FOLDER)
    if xdist_worker() is None and folder:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup" and os.environ.get(GROUPS_FOLDER):
        return _group_scheduler(config, log)
    return None


def _group_scheduling():
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """``--dist loadgroup`` with the groups the workers wrote (every worker collects the same
        tests): a group goes to one worker whole, any other test is a unit of its own."""

        _groups: dict | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:
                self._groups = {}
                for path in Path(os.environ[GROUPS_FOLDER]).glob("*.json"):
                    self._groups.update(json.loads(path.read_text()))
            group = self._groups.get(nodeid)
            return f"group:{group}" if group else nodeid

    return GroupScheduling


def _group_scheduler(config, log):
    return _group_scheduling()(config, log)


def _xdist_group(item) -> str | None:
    names = set(getattr(item, "fixturenames", ()))
    path = Path(str(item.path))
    if names & DOCKER_FIXTURES or DOCKER_TESTS in path.parents:
        return "docker"
    if ROOT / "tests" / "e2e" in path.parents:
        return "e2e"
    definitions = getattr(item, "_fixtureinfo", None)
    scoped = sorted(name for name, defs in (definitions.name2fixturedefs.items() if definitions else ())
                    if defs and defs[-1].scope == "module")
    if not scoped:
        return None
    callspec = getattr(item, "callspec", None)
    params = [f"{name}={callspec.indices[name]}" for name in scoped
              if callspec is not None and name in callspec.indices]
    return "::".join([str(path.relative_to(ROOT)), *params])


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
def database_url(tmp_path_factory):
    """The session's database: a copy of the migrated template (the given PostgreSQL database
    without xdist is emptied instead, and ``app`` migrates it). An xdist worker's own PostgreSQL
    database is created here and dropped at the end with the siblings the session made."""
    _check_broker()
    base = _base_url()
    folder = tmp_path_factory.mktemp("db")
    url = base or f"sqlite:///{folder / 'taiji-test.db'}"
    own = base is not None and xdist_worker() is not None
    # The migrations run once, on the template; the session's database (when it is made here) and
    # the siblings asked for ``migrated`` are copies of it. ``app`` still upgrades its database.
    _ensure_template(folder)
    if base is None:
        shutil.copyfile(_template["sqlite"], folder / "taiji-test.db")
    elif own:
        _recreate_database(make_url(url), make_url(url).database, template=_template["postgresql"])
    else:
        _reset_database(url)
    yield url
    _template.clear()
    if base is not None:
        _drop_databases(make_url(base), [*_siblings, *([make_url(base).database] if own else [])])


@pytest.fixture(scope="session", autouse=True)
def _no_mount_outlives_the_session(tmp_path_factory):
    """Unmount what the session's jobs left mounted under its temporary folder (a job's disk-limited
    folder, when its runner was killed and no later runner of that install started to sweep it):
    otherwise the folder cannot be removed and each run leaves a loop device behind."""
    yield
    base = str(tmp_path_factory.getbasetemp())
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in mounts if len(line.split()) > 4]
    for point in sorted((p for p in points if p.startswith(base + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False, timeout=30)


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    application = create_app(app_overrides(database_url, tmp_path_factory.mktemp("data")))
    with application.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        _commit_a_signing_key()
        db.session.remove()
    return application


def _commit_a_signing_key() -> None:
    """Give the session's database the OAuth signing key an install makes at its first sign-in.

    Each test's changes are rolled back, a key made in one among them too: without a committed key
    every test that signs in would make an RSA key and load it again (~0.1 s of CPU each, hundreds
    of tests). The first-use path itself is tested in tests/modules/iam/oauth/test_signing_keys.py.
    """
    from taiji.modules.iam.oauth import keys

    if not keys.public_jwks()["keys"]:  # makes the first key when there is none
        raise RuntimeError("no OAuth signing key was made")
    db.session.commit()


@pytest.fixture(autouse=True)
def _isolated(request):
    """Run the test inside one outer transaction, rolled back at its end."""
    if request.node.get_closest_marker("no_database"):
        yield None
        return
    app = request.getfixturevalue("app")
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
    """Each request starts with an empty ``g``, and its response is closed, as in production.

    The test's app context (pushed by ``_isolated``) is shared by the requests made inside
    it, so without this one request's caller (``g._principal``) would answer for the next.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            g.__dict__.clear()
        # Read the body and close the response at once, as a WSGI server does when it has sent it:
        # a file response left open until the garbage collector finds it is a ResourceWarning (an
        # error here) in whichever later test that happens. A test of a stream passes buffered=False.
        kwargs.setdefault("buffered", True)
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
