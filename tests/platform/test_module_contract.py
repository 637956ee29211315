"""``Module`` is the whole contract: an example module (tests/platform/example_module) that uses every
registration point, enabled beside the built-in ones, works at each of them for real; and the
registries are the application's own, so another app in the process sees none of it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from taiji.platform import events, quotas, registry
from taiji.platform.app import ENABLED_MODULES, ModuleError, create_app
from taiji.platform.config import ConfigError
from taiji.platform.db import db
from taiji.platform.tasks import celery, init_celery
from taiji.platform.tx import local as tx_local
from tests.conftest import ROOT, _FreshRequestClient, app_overrides
from tests.factories import make_member, make_tenant, make_token, make_user, seed_tenant
from tests.platform.example_module import services as example

EXAMPLE = "tests.platform.example_module"
WITH_EXAMPLE = (*ENABLED_MODULES, EXAMPLE)
GATEKEEPER = f"{EXAMPLE}.gatekeeper"  # authenticates and provides the kernel's pages instead of IAM and TM


@pytest.fixture(scope="module")
def example_app(app, database_url, tmp_path_factory):
    """The built-in modules and the example one, on the session's (migrated) database."""
    overrides = app_overrides(database_url, tmp_path_factory.mktemp("example"))
    application = create_app(overrides, modules=WITH_EXAMPLE)
    engine = sa.create_engine(database_url)
    example.metadata.create_all(engine)  # what the module's migration would do
    yield application
    init_celery(app)  # the Celery application is process-wide: hand it back to the session's app
    for pooled in db._app_engines[application].values():
        pooled.dispose()  # no connection of this app is left for the garbage collector to find open
    example.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture(autouse=True)
def _isolated(example_app):
    """As tests/conftest.py's, for the example app: each test in one transaction, rolled back."""
    from taiji.modules.iam.oauth import keys
    from taiji.modules.iam.oauth.server import forget_clients
    from taiji.platform.ratelimit import limiter

    init_celery(example_app)
    with example_app.app_context():
        engines = db._app_engines[example_app]
        engine = engines[None]
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection
        db.session.remove()
        factory = db.session.session_factory
        factory.kw["join_transaction_mode"] = "create_savepoint"
        limiter.reset()
        keys.invalidate_cache()
        forget_clients()
        example.received.clear()
        try:
            yield connection
        finally:
            db.session.remove()
            outer.rollback()
            connection.close()
            engines[None] = engine
            factory.kw.pop("join_transaction_mode", None)


@pytest.fixture
def client(example_app):
    example_app.test_client_class = _FreshRequestClient
    return example_app.test_client()


def _api(client, user):
    headers = {"Authorization": f"Bearer {make_token(user)}"}

    def call(method, path, **kw):
        return client.open(path, method=method, headers=headers, **kw)

    return call


def _sign_in(client, user):
    from tests.conftest import complete_sign_in
    from tests.factories import PASSWORD

    form = {"email": user.email, "password": PASSWORD}
    response = complete_sign_in(client, client.post("/login", data=form))
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def test_routes_answer_and_enforce_the_modules_permissions(client):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    viewer = make_member(tenant, "viewer")
    member = make_member(tenant, "member")
    url = f"/api/v1/tenants/{tenant.slug}/example/notes"

    created = _api(client, member)("POST", url, json={"title": "first"})
    assert created.status_code == 201, created.json
    assert created.json["title"] == "first"
    refused = _api(client, viewer)("POST", url, json={"title": "second"})
    assert refused.status_code == 403 and "example:note:write" in refused.json["detail"]
    assert [n["title"] for n in _api(client, viewer)("GET", url).json] == ["first"]
    # The module's permissions are in this app's catalog, with the grants it declared.
    assert registry.current().catalog.tenant_role_permissions("viewer") >= {"example:note:read"}
    assert "example:note:write" not in registry.current().catalog.tenant_role_permissions("viewer")


def test_nav_entry_and_chinese_from_the_modules_own_catalogue(client):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    _sign_in(client, owner)
    page = client.get(f"/t/{tenant.slug}/example/notes", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<h1 data-testid="heading">示例笔记</h1>' in html  # from example_module/translations
    assert f'href="/t/{tenant.slug}/example/notes"' in html  # its navigation entry
    # ... in the section it names (group="operate"), which the kernel titles and places.
    entry = html.index(f'href="/t/{tenant.slug}/example/notes"')
    assert html.rindex("data-group=", 0, entry) == html.index('data-group="operate"')
    assert "运维" in html[html.index('data-group="operate"'):entry]
    assert "成员" in html  # the platform's own catalogue still answers beside it
    english = client.get(f"/t/{tenant.slug}/example/notes", headers={"Accept-Language": "en"})
    assert "Example notes" in english.get_data(as_text=True)


def test_quota_meter_is_registered_and_enforced(client):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    api = _api(client, owner)
    url = f"/api/v1/tenants/{tenant.slug}/example/notes"
    assert [api("POST", url, json={"title": t}).status_code for t in ("a", "b")] == [201, 201]
    over = api("POST", url, json={"title": "c"})
    assert over.status_code == 409 and "example.notes" in over.json["detail"]
    usage = {row["name"]: row for row in api("GET", f"/api/v1/tenants/{tenant.slug}/quotas").json}
    assert (usage["example.notes"]["used"], usage["example.notes"]["limit"]) == (2, 2)


def test_setting_is_read_from_the_environment_with_its_type(client, monkeypatch, database_url, tmp_path):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    url = f"/api/v1/tenants/{tenant.slug}/example/notes"
    too_long = _api(client, owner)("POST", url, json={"title": "x" * 41})
    assert too_long.status_code == 422  # the default, 40
    monkeypatch.setenv("TAIJI_EXAMPLE_MAX_TITLE", "5")
    other = create_app(app_overrides(database_url, tmp_path / "data"), modules=WITH_EXAMPLE)
    assert other.config["EXAMPLE_MAX_TITLE"] == 5
    monkeypatch.setenv("TAIJI_EXAMPLE_MAX_TITLE", "none")
    with pytest.raises(ConfigError, match="TAIJI_EXAMPLE_MAX_TITLE must be a whole number"):
        create_app(app_overrides(database_url, tmp_path / "data"), modules=WITH_EXAMPLE)


def test_published_event_fits_its_schema_and_reaches_the_handler(client, app):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    assert _api(client, owner)("POST", f"/api/v1/tenants/{tenant.slug}/example/notes",
                               json={"title": "hello"}).status_code == 201
    # Celery serves another app (the session's, which has no example module): a task run here, in
    # this app's context, must still run in this app, with its subscriptions.
    init_celery(app)
    celery.conf.task_always_eager = True
    try:
        events.relay()
    finally:
        celery.conf.task_always_eager = False
    assert [(p["tenant"], p["title"]) for p in example.received] == [(tenant.slug, "hello")]

    with pytest.raises(events.EventPayloadError, match="'title' is missing"):
        events.publish("example.note.created", {"tenant": "t", "tenant_id": 1, "note_id": 1})
    with pytest.raises(events.EventPayloadError, match="'note_id' is 'one', not int"):
        events.publish("example.note.created",
                       {"tenant": "t", "tenant_id": 1, "note_id": "one", "title": "x"})
    with pytest.raises(events.EventPayloadError, match="not declared"):
        events.publish("example.note.deleted", {})


def test_subscribing_to_an_event_nobody_declares_fails_at_start(database_url, tmp_path):
    with pytest.raises(ModuleError, match=r"'example\.note\.deleted', which no enabled module declares"):
        create_app(app_overrides(database_url, tmp_path / "data"),
                   modules=(*WITH_EXAMPLE, "tests.platform.example_module.broken"))


def test_periodic_entry_and_task(example_app):
    from tests.platform.example_module import tasks

    assert celery.conf.beat_schedule["example-count-notes"]["task"] == "example.count_notes"
    assert tasks.count_notes.name in celery.tasks
    make_tenant()
    assert tasks.count_notes.run() == 0


def test_cli_command_runs(example_app):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    example.create_note(tenant, "from the shell")
    from taiji.cli import add_module_commands

    group = click.Group("taiji")
    add_module_commands(group, WITH_EXAMPLE)
    result = CliRunner().invoke(group, ["example-notes", tenant.slug], obj=example_app)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["1 notes (titles up to 40)", "from the shell"]


def test_the_taiji_command_lists_the_commands_of_extra_modules(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TAIJI_DATA_DIR": str(tmp_path),
           "TAIJI_EXTRA_MODULES": EXAMPLE}
    shown = subprocess.run([sys.executable, "-m", "taiji.cli", "--help"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^  example-notes\s+List a tenant's example notes\.$", shown.stdout, re.MULTILINE)
    # The command consuming the example's queue is listed with the running ones.
    listed = re.findall(r"^  ([\w-]+)\s{2,}", shown.stdout.split("Commands:")[1], re.MULTILINE)
    assert listed[:6] == ["up", "web", "worker", "runner", "example-pool", "scheduler"]


def test_a_modules_queue_is_refused_to_a_worker(tmp_path):
    """Its tasks run in the module's own command (Module.queues), which `taiji up` starts beside the
    worker: the worker says so instead of consuming them."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TAIJI_DATA_DIR": str(tmp_path),
           "TAIJI_EXTRA_MODULES": EXAMPLE}
    refused = subprocess.run([sys.executable, "-m", "taiji.cli", "worker", "-Q", "taiji,example.slow"],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2
    assert ("Slow example tasks (queue example.slow) run in `taiji example-pool`, not in a worker"
            in refused.stderr)
    assert "Traceback" not in refused.stderr


def test_a_queue_is_consumed_by_a_command_of_its_module(database_url, tmp_path):
    with pytest.raises(ModuleError, match=r"'stray\.slow' is consumed by `taiji stray-pool`, which is not"):
        create_app(app_overrides(database_url, tmp_path / "data"),
                   modules=(*ENABLED_MODULES, "tests.platform.example_module.stray_queue"))


def test_csrf_exempt_endpoint_takes_no_token(client, example_app, monkeypatch):
    monkeypatch.setitem(example_app.config, "WTF_CSRF_ENABLED", True)
    assert client.post("/example/hook").status_code == 200
    assert client.post("/logout").status_code == 400  # a console form without its token


def test_csrf_exemptions_belong_to_their_application(client, example_app, database_url, tmp_path):
    """The twin module serves the example's webhook view without exempting it: in an app without the
    example module the view takes no POST without a token, though the example app exempted it."""
    twin = create_app(app_overrides(database_url, tmp_path / "data", WTF_CSRF_ENABLED=True),
                      modules=(*ENABLED_MODULES, f"{EXAMPLE}.twin"))
    init_celery(example_app)
    example_app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post("/example/hook").status_code == 200
        refused = twin.test_client().post("/twin/hook")
        assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
        assert client.post("/example/hook").status_code == 200  # and the example app still exempts it
    finally:
        example_app.config["WTF_CSRF_ENABLED"] = False
        for pooled in db._app_engines[twin].values():
            pooled.dispose()
    assert twin.extensions["csrf"] is not example_app.extensions["csrf"]


def test_a_menu_entry_in_a_section_the_kernel_lacks_fails_at_start(database_url, tmp_path, monkeypatch):
    from taiji.platform.module import NavItem
    from tests.platform.example_module import twin_named

    modules = (*ENABLED_MODULES, f"{EXAMPLE}.twin_named")
    monkeypatch.setattr(twin_named.module, "nav", [NavItem("Twins", "twin.hook", group="ops")])
    refusal = (r"module 'twin': the menu entry 'twin\.hook' names the group 'ops', "
               r"which the kernel does not have \(one of: code, build, deploy, ")
    with pytest.raises(ModuleError, match=refusal):
        create_app(app_overrides(database_url, tmp_path / "data"), modules=modules)
    monkeypatch.setattr(twin_named.module, "nav", [
        NavItem("Twins", "twin.hook", group="code"),
        NavItem("Twin log", "twin.log", group="code", parent="twin.x"),
    ])
    with pytest.raises(ModuleError, match=r"'twin\.log' sits under 'twin\.x', which is not a top-level"):
        create_app(app_overrides(database_url, tmp_path / "data"), modules=modules)


def test_a_module_exempts_an_endpoint_by_name(database_url, tmp_path, monkeypatch):
    from tests.platform.example_module import twin_named

    modules = (*ENABLED_MODULES, f"{EXAMPLE}.twin_named")
    overrides = app_overrides(database_url, tmp_path / "data", WTF_CSRF_ENABLED=True)
    exempting = create_app(overrides, modules=modules)
    assert exempting.test_client().post("/twin/hook").status_code == 200
    monkeypatch.setattr(twin_named.module, "csrf_exempt", ["twin.nothing"])
    with pytest.raises(ModuleError, match=r"exempts the endpoint 'twin\.nothing' from CSRF"):
        create_app(app_overrides(database_url, tmp_path / "data"), modules=modules)
    for pooled in db._app_engines[exempting].values():
        pooled.dispose()


def test_migrations_own_the_tables_of_the_enabled_modules(app, example_app, _isolated):
    """A table named with a module's code is the module's (autogenerate would drop it were it no
    longer a model) in an app with that module; another's table is left alone by every app."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from taiji.platform.db import migrated_object, table_prefixes

    def dropped(connection) -> set[str]:
        context = MigrationContext.configure(connection, opts={"include_object": migrated_object})
        return {diff[1].name for diff in compare_metadata(context, db.metadata) if diff[0] == "remove_table"}

    assert "example_" in table_prefixes() and "kernel_" in table_prefixes()
    connection = _isolated
    connection.execute(sa.text("CREATE TABLE example_leftover (id integer PRIMARY KEY)"))
    connection.execute(sa.text("CREATE TABLE someone_elses (id integer PRIMARY KEY)"))
    try:
        assert dropped(connection) == {"example_leftover", "example_note"}
        with app.app_context():  # the built-in modules only: the example's tables are not theirs
            assert "example_" not in table_prefixes()
            assert dropped(connection) == set()
    finally:
        connection.execute(sa.text("DROP TABLE example_leftover"))
        connection.execute(sa.text("DROP TABLE someone_elses"))


def test_local_transaction_step_runs(example_app):
    tenant = make_tenant()
    note = example.create_note(tenant, "to stamp")
    answer = tx_local.invoke("local:example.stamp", gid="example-1", branch="stamp", op="action",
                             payload={"note_id": note.id}, attempt=1, tenant_id=None)
    assert answer.result == "OK", answer
    assert example.get_note(tenant, note.id).stamped is True


def test_seeder_serves_the_isolation_walk(client, example_app):
    owner_a, owner_b = make_user(), make_user()
    tenant_a, tenant_b = make_tenant(owner=owner_a), make_tenant(owner=owner_b)
    seeded = seed_tenant(example_app, tenant_a, owner_a, {"tenant": tenant_a.slug})
    db.session.commit()
    note_id = seeded["note_id"]
    assert example.get_note(tenant_a, note_id).title == f"note of {tenant_a.slug}"
    rule = next(r for r in example_app.url_map.iter_rules() if r.endpoint == "example.note")
    assert set(rule.arguments) == {"tenant", "note_id"}
    _sign_in(client, owner_b)
    assert client.get(f"/t/{tenant_a.slug}/example/notes/{note_id}").status_code == 404
    assert client.get(f"/t/{tenant_b.slug}/example/notes/{note_id}").status_code == 404
    client.post("/logout")
    _sign_in(client, owner_a)
    assert client.get(f"/t/{tenant_a.slug}/example/notes/{note_id}").status_code == 200


def test_the_example_uses_every_registration_point():
    """A field added to Module must be shown by the example (or its gatekeeper) and tested here."""
    import dataclasses

    from taiji.platform.module import Module
    from tests.platform.example_module import gatekeeper, module

    def default(point):
        return point.default_factory() if point.default_factory is not dataclasses.MISSING else point.default

    unused = [point.name for point in dataclasses.fields(Module) if point.name not in ("code", "title")
              and all(getattr(m, point.name) == default(point) for m in (module, gatekeeper.module))]
    assert unused == [], f"the example module uses no {unused}"


def test_overview_panels_attention_and_audit_sentences_of_a_module(client):
    from taiji.platform import audit

    owner = make_user()
    tenant = make_tenant(owner=owner)
    calm = example.create_note(tenant, "calm note")
    hot = example.create_note(tenant, "urgent: call back")
    audit.record("example.note.created", "note", calm.title, tenant=tenant, actor=owner,
                 details={"note_id": calm.id})
    db.session.commit()
    _sign_in(client, owner)
    html = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    panel = html[html.index('data-panel="example.latest"'):]
    assert "Latest notes" in panel and "calm note" in panel and "urgent: call back" in panel
    attention = html[html.index('data-testid="attention"'):html.index('data-testid="overview-panel"')]
    assert f'href="/t/{tenant.slug}/example/notes/{hot.id}"' in attention and "calm note" not in attention
    page = client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    assert f"{owner.email} wrote the note calm note" in page
    assert f'href="/t/{tenant.slug}/example/notes/{calm.id}" data-testid="audit-target"' in page


def test_setup_runs_with_the_app(client):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    answer = _api(client, owner)("GET", f"/api/v1/tenants/{tenant.slug}/example/notes")
    assert answer.status_code == 200 and answer.headers["X-Example-Module"] == "on"
    assert "X-Example-Module" not in client.get("/healthz").headers


@pytest.fixture
def gated(database_url, tmp_path, _isolated):
    """The example module and its gatekeeper, without IAM and TM, on the test's connection."""
    gate = create_app(app_overrides(database_url, tmp_path / "data"), modules=(EXAMPLE, GATEKEEPER))
    engines = db._app_engines[gate]
    engine, engines[None] = engines[None], _isolated
    yield gate
    engines[None] = engine
    for pooled in engines.values():
        pooled.dispose()


def test_another_module_authenticates_and_provides_the_kernels_pages(gated):
    from tests.platform.example_module import gatekeeper

    tenant = make_tenant()
    db.session.commit()
    assert gated.extensions["taiji"].auth.bearer_loader is gatekeeper.module.auth.bearer_loader
    assert gated.extensions["taiji"].kernel_endpoints["login"] == "gate.login"
    browser = gated.test_client()
    page = f"/t/{tenant.slug}/example/notes"
    # Signed out: the kernel sends the browser to the sign-in page of the module that provides it.
    refused = browser.get(page)
    assert refused.status_code == 302 and refused.location.startswith("/gate/login?next=")
    assert browser.post(refused.location).status_code == 302
    shown = browser.get(page)
    assert shown.status_code == 200, shown.get_data(as_text=True)[:500]
    html = shown.get_data(as_text=True)
    assert "Example notes" in html and "Gatekeeper" in html  # the page, and who is signed in
    assert 'href="/gate/"' in html and 'action="/gate/logout"' in html  # the layout's links are the module's
    # A bearer token goes through the module's loader and access resolver.
    api = f"/api/v1/tenants/{tenant.slug}/example/notes"
    token = {"Authorization": f"Bearer {gatekeeper.TOKEN}"}
    written = gated.test_client().post(api, json={"title": "gated"}, headers=token)
    assert written.status_code == 201, written.json
    assert gated.test_client().get(api, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_without_a_module_that_keeps_accounts_no_first_administrator_is_made(gated, capsys):
    """`taiji up` and `taiji web` create the first administrator through the authenticating module's
    hooks (AuthProvider.count_accounts, .create_first_admin); the gatekeeper has none."""
    from taiji.cli import _ensure_admin

    _ensure_admin(gated)
    assert capsys.readouterr().out == ""


def test_two_modules_cannot_both_authenticate(database_url, tmp_path):
    with pytest.raises(ModuleError, match="'gate' provides the authentication"):
        create_app(app_overrides(database_url, tmp_path / "data"), modules=(*WITH_EXAMPLE, GATEKEEPER))


def test_registrations_belong_to_their_application(app, example_app):
    """The session's app (built-in modules only) sees nothing of the example module."""
    with app.app_context():
        plain = registry.current()
        assert "example:note:read" not in plain.catalog.permissions
        assert "example.notes" not in {m.name for m in quotas.meters()}
        assert tx_local.lookup("example.stamp") is None
        assert not events.handlers_for("example.note.created")
        assert plain.event_spec("example.note.created") is None
        assert "example-count-notes" not in plain.periodic
        assert "EXAMPLE_MAX_TITLE" not in app.config
        assert not any(rule.endpoint.startswith("example") for rule in app.url_map.iter_rules())
    with example_app.app_context():
        mine = registry.current()
        assert "example:note:read" in mine.catalog.permissions
        assert tx_local.lookup("example.stamp") is not None
        assert events.handlers_for("example.note.created")


def test_an_app_without_cicd_schedules_nothing_of_cicd(app, database_url, tmp_path):
    without = tuple(path for path in ENABLED_MODULES if not path.endswith(".cicd"))
    plain = create_app(app_overrides(database_url, tmp_path / "data"), modules=without)
    tasks = {entry["task"] for entry in plain.extensions["taiji"].periodic.values()}
    assert tasks and not {t for t in tasks if t.startswith("cicd.")}
    assert not [t for t in celery.conf.beat_schedule.values() if t["task"].startswith("cicd.")]
    assert "platform.relay_outbox" in tasks and "vcs.reconcile_pushes" in tasks
    assert "CICD_MAX_JOBS" not in plain.config
    assert not [m for m in plain.extensions["taiji"].meters if m.startswith("cicd.")]


def _module_codes() -> set[str]:
    """The codes of the built-in modules, but ``tx``: the kernel's transaction engine
    (taiji/platform/tx) owns that namespace (its tasks, events and tables), the tx module is its console."""
    import importlib

    return {importlib.import_module(path).module.code for path in ENABLED_MODULES} - {"tx"}


def _kernel_mentions(kernel: Path) -> list[str]:
    """Where the kernel's code or templates name a module: a string starting with a module's code
    (an endpoint ``iam.login``, a task ``cicd.…``, a permission ``vcs:…``, a table prefix ``tm_``), a
    module's setting (``TAIJI_IAM_…``), a module's import path, or an import of a module."""
    codes = "|".join(sorted(_module_codes()))
    # (``taiji.modules`` itself, the package whose ENABLED_MODULES the kernel reads, names none.)
    named = re.compile(rf"^({codes})([.:_]|$)|\bTAIJI_({codes.upper()})_|taiji[./]modules[./]")
    found = []
    for path in [kernel] if kernel.is_file() else kernel.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        where = path.relative_to(kernel.parent.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and named.search(node.value):
                found.append(f"{where}:{node.lineno}: {node.value!r}")
            imported = []
            if isinstance(node, ast.ImportFrom):
                imported = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            found.extend(f"{where}:{node.lineno}: import {name}" for name in imported
                         if name.startswith("taiji.modules."))
    for path in [] if kernel.is_file() else kernel.rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"""url_for\(['"]([a-z_]+)\.""", text):
            if match.group(1) != "web":
                found.append(f"{path.relative_to(kernel.parent.parent)}: url_for('{match.group(1)}.…')")
        for match in re.finditer(r"""['"]([a-z_]+)[.:]""", text):
            if match.group(1) in _module_codes():
                found.append(f"{path.relative_to(kernel.parent.parent)}: {match.group(0)}…")
    return found


def _kernel_files() -> list[Path]:
    """The kernel: taiji/platform, and the files beside it in taiji/ (the `taiji` command, the WSGI
    entry point). Not the modules, the migrations (they own the modules' tables), nor the SDK
    packages taiji/tx and taiji/config, which are not the server's."""
    package = ROOT / "taiji"
    return [package / "platform", *sorted(path for path in package.glob("*.py"))]


def test_the_kernel_names_no_module():
    """No string of the kernel's code or templates names a module's endpoint, task, event, permission,
    table or setting, and the kernel imports no module (the `taiji` command neither: a module's
    commands are its own, Module.cli_commands)."""
    files = _kernel_files()
    assert {path.name for path in files} >= {"platform", "cli.py", "wsgi.py"}
    found = [mention for path in files for mention in _kernel_mentions(path)]
    assert not found, "the kernel names modules:\n" + "\n".join(found)


def test_the_kernel_scan_finds_a_module_named(tmp_path):
    """The scan above would see each way of naming a module (run on a kernel that does)."""
    kernel = tmp_path / "taiji" / "platform"
    (kernel / "web" / "templates").mkdir(parents=True)
    (kernel / "leaky.py").write_text(
        '"""Docstrings may name iam.login."""\n'
        "from taiji.modules import iam\n"
        "import taiji.modules.vcs.services\n"
        'LOGIN = "iam.login"\n'
        'TASK = {"task": "cicd.schedule_jobs"}\n'
        'OWNED = ("kernel_", "tm_")\n'
        'LIMIT = config["x"] or "TAIJI_VCS_PUSH_IDLE_SECONDS"\n'
        'PERMISSION = "spm:product:read"\n')
    (kernel / "web" / "templates" / "page.html").write_text(
        "<a href=\"{{ url_for('tm.home') }}\"></a>{{ kernel_url('home') }}{% if can('bpr:x') %}{% endif %}")
    found = "\n".join(_kernel_mentions(kernel))
    for needle in ("import taiji.modules.iam", "import taiji.modules.vcs.services", "'iam.login'",
                   "'cicd.schedule_jobs'", "'tm_'", "TAIJI_VCS_PUSH_IDLE_SECONDS", "'spm:product:read'",
                   "url_for('tm.…')", "'bpr:"):
        assert needle in found, found
    assert "Docstrings" not in found and "kernel_" not in found and "'home'" not in found


def test_the_example_catalogue_is_compiled():
    folder = Path(__file__).parent / "example_module" / "translations" / "zh_Hans" / "LC_MESSAGES"
    assert (folder / "messages.mo").stat().st_mtime >= (folder / "messages.po").stat().st_mtime - 1
