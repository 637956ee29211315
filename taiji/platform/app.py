"""create_app(): configuration, extensions, and the explicit list of enabled modules."""

from __future__ import annotations

import importlib
import io

from flask import Flask, g, request
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import IntegrityError

from taiji.platform import api as api_mod
from taiji.platform import auth, config, events, filemodes, headers, limits, observability, web
from taiji.platform import tx as _tx  # noqa: F401  (registers the engine's tables and tasks)
from taiji.platform.db import WRITE_LOCK_ENVIRON, db, ping_when_idle
from taiji.platform.errors import ServiceError
from taiji.platform.quotas import QuotaExceeded
from taiji.platform.ratelimit import limiter
from taiji.platform.tasks import init_celery
from taiji.platform.tx import local as tx_local

# The subsystems this build enables, lowest layer first. Listed as import paths so that
# the kernel never imports a module (DESIGN.md's layering); adding one is a one-line change.
ENABLED_MODULES: tuple[str, ...] = (
    "taiji.modules.iam",
    "taiji.modules.tm",
    "taiji.modules.spm",
    "taiji.modules.tx",
    "taiji.modules.vcs",
    "taiji.modules.bpr",
    "taiji.modules.cicd",
)

csrf = CSRFProtect()
migrate = Migrate()


def create_app(overrides: dict | None = None, modules: tuple[str, ...] | None = None) -> Flask:
    app = Flask("taiji", static_folder=None, template_folder=None)
    app.config.update(config.load(overrides))
    observability.configure_logging(app.config["LOG_LEVEL"])
    filemodes.secure_install(app.config)

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_when_idle(engine)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    api_mod.api.init_app(app)
    web.init_app(app)
    init_celery(app)

    app.register_blueprint(observability.bp)
    csrf.exempt(observability.bp)

    loaded = []
    paths = modules if modules is not None else ENABLED_MODULES
    for path in (*paths, *app.config["EXTRA_MODULES"]):
        module = importlib.import_module(path).module
        _register(app, module)
        loaded.append(module)
    app.extensions["taiji_modules"] = loaded

    app.before_request(observability.start_request)
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
    for module in loaded:
        if module.setup:
            module.setup(app)
    return app


def _register(app: Flask, module) -> None:
    for enum_cls, tenant_grants, platform_grants in module.permissions:
        auth.catalog.declare(enum_cls, tenant_grants, platform_grants)
    for blp in module.api_blueprints:
        api_mod.api.register_blueprint(blp)
        csrf.exempt(blp)  # bearer tokens only; the session cookie never authenticates the API
    for bp in module.blueprints:
        app.register_blueprint(bp)
    for name, handlers in module.event_handlers.items():
        for handler in handlers:
            events.subscribe(name, handler)
    for task_module in module.tasks:
        importlib.import_module(task_module)
    for step in module.tx_steps:
        tx_local.register(step, module=module.code)


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
