"""create_app(): configuration, extensions, and the explicit list of enabled modules."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask, g, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import IntegrityError

from taiji.platform import api as api_mod
from taiji.platform import (
    auth,
    authcache,
    config,
    events,
    filemodes,
    headers,
    limits,
    observability,
    quotas,
    readcache,
    web,
)
from taiji.platform import registry as registries
from taiji.platform import tx as _tx  # noqa: F401  (registers the engine's tables and tasks)
from taiji.platform.db import WRITE_LOCK_ENVIRON, db, ping_when_idle
from taiji.platform.errors import ServiceError
from taiji.platform.module import NAV_GROUPS, EventSpec, Periodic
from taiji.platform.quotas import QuotaExceeded
from taiji.platform.ratelimit import limiter
from taiji.platform.tasks import init_celery
from taiji.platform.tx import local as tx_local

# The subsystems this build enables, lowest layer first: import paths listed in taiji/modules/__init__.py
# (the kernel names no module; adding one is a one-line change there).
ENABLED_MODULES: tuple[str, ...] = tuple(importlib.import_module("taiji.modules").ENABLED_MODULES)

# The kernel's own periodic work; each module adds its own (Module.periodic).
KERNEL_PERIODIC = (
    Periodic("relay-outbox", "platform.relay_outbox", timedelta(seconds=10)),
    Periodic("purge-idempotency", "platform.purge_idempotency", timedelta(hours=1)),
    Periodic("purge-outbox", "platform.purge_outbox", timedelta(hours=6)),
    Periodic("tx-process-due", "tx.process_due", timedelta(seconds=5)),
)

# The events the kernel publishes itself (the transaction engine's); modules declare theirs.
KERNEL_EVENTS = (
    EventSpec("tx.transaction.parked", {"gid": str, "kind": str, "phase": str, "business_key": (str, None),
                                        "reason": (str, None)},
              "A transaction stopped for an operator (taiji.platform.tx.engine)."),
    EventSpec("tx.message.*", {"message_id": str, "topic": str, "payload": Any},
              "A transactional message submitted on a topic (taiji.platform.tx.messages)."),
)



class _Migrations:
    """``app.extensions["migrate"]`` as Flask-Migrate's ``init_app`` leaves it (``directory``, ``db``,
    ``configure_args``, ``migrate``), except that Flask-Migrate, and Alembic with it, is imported only
    when a migration command runs (``flask_migrate.upgrade``, `flask db`): that import costs every
    process's start-up a tenth of a second, and only `taiji db upgrade` and `taiji up` migrate."""

    def __init__(self, database, directory: str):
        self.db, self.directory = database, directory
        self.configure_args = {"compare_type": True, "render_as_batch": True}  # Flask-Migrate's defaults

    @property
    def metadata(self):
        return self.db.metadata

    @functools.cached_property
    def migrate(self):
        from flask_migrate import Migrate

        return Migrate(db=self.db, directory=self.directory, **self.configure_args)


class _FlaskDbCommands(click.Group):
    """`flask db`: Flask-Migrate's commands, imported when one is asked for."""

    @staticmethod
    def _commands() -> click.Group:
        from flask_migrate.cli import db as commands

        return commands

    def parse_args(self, ctx, args):
        commands = self._commands()  # its options (--directory, -x) and what it does with them
        self.params, self.callback = commands.params, commands.callback
        return super().parse_args(ctx, args)

    def list_commands(self, ctx):
        return self._commands().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        return self._commands().get_command(ctx, cmd_name)


def create_app(overrides: dict | None = None, modules: tuple[str, ...] | None = None) -> Flask:
    """The application with the modules at ``modules`` (import paths; default ENABLED_MODULES) and
    TAIJI_EXTRA_MODULES: exactly their registrations, kept on this app (taiji.platform.registry)."""
    app = Flask("taiji", static_folder=None, template_folder=None)
    paths = modules if modules is not None else ENABLED_MODULES
    paths = tuple(dict.fromkeys((*paths, *config.extra_modules(overrides))))
    loaded = [importlib.import_module(path).module for path in paths]
    app.config.update(config.load(overrides, settings=[s for m in loaded for s in m.settings]))
    observability.configure_logging(app.config["LOG_LEVEL"])
    filemodes.secure_install(app.config)

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_when_idle(engine)
    app.extensions["migrate"] = _Migrations(db, str(app.root_path + "/migrations"))
    app.cli.add_command(_FlaskDbCommands("db", help="Perform database migrations."))
    # The application's own CSRF protection (app.extensions["csrf"]): Flask-WTF keeps the exempt views
    # on the CSRFProtect object, so one shared by two apps would exempt in both what either module asked.
    csrf = CSRFProtect()
    csrf.init_app(app)
    limiter.init_app(app)
    api_mod.api.init_app(app)
    folders = (_translations(path, module) for path, module in zip(paths, loaded, strict=True))
    web.init_app(app, [folder for folder in folders if folder])
    registry = registries.install(app)
    registry.modules = loaded
    authcache.watch("kernel_tenant")  # the tenants behind URLs are kept with the principals
    authcache.register(app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATA_DIR"])
    if app.config["AUTH_CACHE_SECONDS"] > 0:
        config_ = app.config
        registry.auth_cache = authcache.AuthCache(config_["SQLALCHEMY_DATABASE_URI"], config_["DATA_DIR"],
                                                  max_age=config_["AUTH_CACHE_SECONDS"])
    readcache.register(app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATA_DIR"])
    if app.config["READ_CACHE_SECONDS"] > 0:
        config_ = app.config
        registry.read_cache = readcache.ReadCache(config_["SQLALCHEMY_DATABASE_URI"], config_["DATA_DIR"],
                                                  max_age=config_["READ_CACHE_SECONDS"])
    for periodic in KERNEL_PERIODIC:
        registry.periodic[periodic.name] = periodic.entry()
    for spec in KERNEL_EVENTS:
        registry.events[spec.name] = spec

    app.register_blueprint(observability.bp)
    csrf.exempt(observability.bp)

    with app.app_context():
        for module in loaded:
            _register(app, registry, module)
        _check_subscriptions(registry)
    app.extensions["taiji_modules"] = loaded
    init_celery(app)  # after the modules: the schedule is theirs and the kernel's

    app.before_request(observability.start_request)
    app.before_request(readcache.begin_request)
    app.teardown_request(readcache.end_request)
    app.before_request(limits.check)  # before anything reads the body (idempotency hashes it)
    app.before_request(auth.enforce_tenant_membership)
    app.before_request(api_mod.idempotency_replay)
    # after_request functions run last-registered first: the headers go on the final response.
    app.after_request(headers.apply)
    app.after_request(_finish_unit_of_work)
    app.after_request(observability.finish_request)
    app.register_error_handler(Exception, api_mod.handle_unexpected)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(QuotaExceeded, _service_error)
    app.teardown_appcontext(_teardown)
    app.wsgi_app = _ReplayRefusedRequests(app.wsgi_app)
    with app.app_context():
        for module in loaded:
            if module.setup:
                module.setup(app)
    return app


def _register(app: Flask, registry, module) -> None:
    for enum_cls, tenant_grants, platform_grants in module.permissions:
        registry.catalog.declare(enum_cls, tenant_grants, platform_grants)
    csrf = app.extensions["csrf"]
    for blp in module.api_blueprints:
        api_mod.api.register_blueprint(blp)
        csrf.exempt(blp)  # bearer tokens only; the session cookie never authenticates the API
    for bp in module.blueprints:
        app.register_blueprint(bp)
    for exempt in module.csrf_exempt:
        if isinstance(exempt, str):  # an endpoint name: its view function
            if exempt not in app.view_functions:
                raise ModuleError(f"module {module.code!r} exempts the endpoint {exempt!r} from CSRF, which "
                                  "no registered blueprint has")
            exempt = app.view_functions[exempt]
        csrf.exempt(exempt)
    for spec in module.events:
        if not spec.name.startswith(f"{module.code}."):
            raise ModuleError(f"module {module.code!r} declares the event {spec.name!r}: a module's events "
                              f"are named '{module.code}.<what>'")
        events.declare(spec)
    for name, handlers in module.event_handlers.items():
        for handler in handlers:
            events.subscribe(name, handler)
    for task_module in module.tasks:
        importlib.import_module(task_module)
    for periodic in module.periodic:
        if periodic.name in registry.periodic:
            raise ModuleError(f"module {module.code!r}: the periodic entry {periodic.name!r} is taken")
        registry.periodic[periodic.name] = periodic.entry()
    meters = module.quota_meters() if callable(module.quota_meters) else module.quota_meters
    for meter in meters:
        quotas.register(meter)
    for step in module.tx_steps:
        tx_local.register(step, module=module.code)
    registry.settings.extend(module.settings)
    registry.cli_commands.extend(module.cli_commands)
    names = {command.name for command in module.cli_commands}
    for queue in module.queues:
        if queue.command not in names:
            raise ModuleError(f"module {module.code!r}: the queue {queue.name!r} is consumed by "
                              f"`taiji {queue.command}`, which is not one of its commands "
                              "(Module.cli_commands)")
    if module.auth is not None:
        if registry.auth.provided():
            raise ModuleError(f"module {module.code!r} provides the authentication (Module.auth), which "
                              "another module provides too")
        registry.auth = dataclasses.replace(module.auth)  # the app's own copy
        authcache.watch(*module.auth.watched_tables)
    _check_nav(module)
    for role, endpoint in module.kernel_endpoints.items():
        if role in registry.kernel_endpoints:
            raise ModuleError(f"module {module.code!r} provides the {role!r} page, which another module "
                              "provides too")
        registry.kernel_endpoints[role] = endpoint


def _check_nav(module) -> None:
    """Each menu entry names a section the kernel has, and a parent the module has."""
    entries = {(item.scope, item.endpoint): item for item in module.nav}
    for item in module.nav:
        if item.group is not None and item.scope != "tenant":
            raise ModuleError(f"module {module.code!r}: the {item.scope} menu entry {item.endpoint!r} names "
                              f"the group {item.group!r}; only tenant entries sit in groups")
        if item.group is not None and item.group not in NAV_GROUPS:
            raise ModuleError(f"module {module.code!r}: the menu entry {item.endpoint!r} names the group "
                              f"{item.group!r}, which the kernel does not have "
                              f"(one of: {', '.join(NAV_GROUPS)})")
        if item.parent is None:
            continue
        parent = entries.get((item.scope, item.parent))
        if parent is None or parent.parent is not None or parent.group != item.group:
            raise ModuleError(f"module {module.code!r}: the menu entry {item.endpoint!r} sits under "
                              f"{item.parent!r}, which is not a top-level {item.scope} entry of the module "
                              f"in the same group")


def _check_subscriptions(registry) -> None:
    """A handler of an event nobody declares would never run: refuse to start."""
    for name in sorted(registry.handlers):
        if registry.event_spec(name) is None:
            subscribers = ", ".join(sorted(registry.handlers[name]))
            raise ModuleError(f"{subscribers} subscribe(s) to the event {name!r}, which no enabled module "
                              "declares (Module.events); enable its publisher or correct the name")


def _translations(path: str, module) -> str | None:
    """A module's own catalogue folder: Module.translations, else ``translations`` beside it."""
    if module.translations:
        return module.translations
    package = importlib.import_module(path)
    folder = Path(package.__file__).parent / "translations"
    return str(folder) if folder.is_dir() else None


class ModuleError(RuntimeError):
    """An enabled module's registration contradicts another's or the kernel's."""


# A request body up to this size is kept, so that the request can run again (db.py says when).
REPLAY_BODY_BYTES = 1 << 20


class _ReplayRefusedRequests:
    """A request whose unit of work SQLite refused for another writer runs once more, whole, with
    the write lock taken at BEGIN (db.py says why). The refused attempt was rolled back and its
    answer is dropped unsent. Only a request whose body was kept can run again."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        body = _keep_body(environ)
        if body is None:
            return self.wsgi_app(environ, start_response)
        held = []

        def hold(status, headers, exc_info=None):
            held[:] = [status, headers, exc_info]
            return _no_write

        answer = self.wsgi_app(environ, hold)
        if environ.pop(api_mod.DATABASE_BUSY_ENVIRON, False):
            if hasattr(answer, "close"):
                answer.close()
            environ["wsgi.input"] = io.BytesIO(body)
            environ[WRITE_LOCK_ENVIRON] = True
            return self.wsgi_app(environ, start_response)
        start_response(*held)
        return answer


def _keep_body(environ) -> bytes | None:
    """Read the request's body whole when the app would read it whole anyway (JSON, a form) and it
    is small, and hand the app a copy; None for a body that streams (an upload, a push: the app
    reads those as they arrive), a large one, or one that ended early."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length == 0:
        return b""
    kind = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    whole = kind in ("application/json", "application/x-www-form-urlencoded") or kind.endswith("+json")
    if not whole or not 0 < length <= REPLAY_BODY_BYTES:
        return None
    chunks, remaining = [], length
    try:
        while remaining > 0:
            chunk = environ["wsgi.input"].read(min(remaining, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except Exception:  # the client went away: the app sees a short body and answers for it
        remaining = -1
    body = b"".join(chunks)
    environ["wsgi.input"] = io.BytesIO(body)
    return body if remaining == 0 else None


def _no_write(data):  # Flask answers through the returned body, never through write()
    raise AssertionError("write() is not used")


def _finish_unit_of_work(response):
    """One commit per request when it succeeded, one rollback when it did not."""
    if response.status_code >= 400 and not g.get("commit_on_error"):
        db.session.rollback()
        return response
    api_mod.idempotency_store(response)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if request.headers.get("Idempotency-Key"):
            return _conflict("A request with this Idempotency-Key is already being processed; retry shortly.")
        return _conflict("This change collides with another one made at the same time; retry.")
    return response


def _conflict(detail: str):
    from werkzeug.exceptions import Conflict

    return api_mod.api.handle_http_exception(Conflict(description=detail))


def _teardown(exc):
    if exc is not None:
        db.session.rollback()


def _service_error(error):
    """Domain errors from services: problem+json on the API, the error page on the console."""
    from werkzeug.exceptions import HTTPException


    db.session.rollback()
    # The message reads in the request's locale (web.select_locale: the API's Accept-Language).
    if isinstance(error, QuotaExceeded):
        exc = HTTPException(description=error.detail)
        exc.code, exc.data = 409, {"message": error.detail, "title": "Quota exceeded"}
    else:
        assert isinstance(error, ServiceError)
        exc = HTTPException(description=error.detail)
        exc.code = error.status
        exc.data = {"message": error.detail, "title": error.title}
        errors = error.errors
        if errors:
            exc.data["errors"] = errors
    exc.localized = True  # in the reader's language: the console's error page shows it
    return api_mod.api.handle_http_exception(exc)
