"""REST conventions: problem+json errors, pagination, ETags, Idempotency-Key, OpenAPI.

Every module's REST blueprint is a ``flask_smorest.Blueprint`` registered on the one
``api`` object below, so all of them land in ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from http import HTTPStatus

import sqlalchemy as sa
from apispec import BasePlugin
from flask import current_app, g, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_smorest import Api, abort
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.utils import prepare_response
from marshmallow import Schema, ValidationError, fields
from sqlalchemy.orm import Mapped, mapped_column
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable
from werkzeug.routing import IntegerConverter

from taiji.platform.db import Model, db, intpk, is_sqlite_busy, timestamp, utcnow

log = logging.getLogger("taiji.api")

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/v1"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 10**9
# Set on a request's WSGI environ when SQLite refused its unit of work for another writer.
DATABASE_BUSY_ENVIRON = "taiji.database_busy"
# The largest key a BIGINT column holds (PostgreSQL and SQLite alike).
MAX_ID = 2**63 - 1


class ProblemSchema(Schema):
    """RFC 9457 problem details, with Taiji's field errors and request id."""

    type = fields.String(metadata={"description": "A URI naming the kind of problem"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String()
    errors = fields.Dict(metadata={"description": "Field errors: location -> field -> messages"})


# A problem's title names its kind; it is read in the request's language like the detail (the API's
# Accept-Language). The English title (werkzeug's phrase, a ServiceError's ``title``) is the key.
PROBLEM_TITLES = {
    "Bad Request": _l("Bad Request"),
    "Unauthorized": _l("Unauthorized"),
    "Forbidden": _l("Forbidden"),
    "Not Found": _l("Not Found"),
    "Method Not Allowed": _l("Method Not Allowed"),
    "Not Acceptable": _l("Not Acceptable"),
    "Request Timeout": _l("Request Timeout"),
    "Conflict": _l("Conflict"),
    "Gone": _l("Gone"),
    "Length Required": _l("Length Required"),
    "Precondition Failed": _l("Precondition Failed"),
    "Request Entity Too Large": _l("Request Entity Too Large"),
    "Payload Too Large": _l("Payload Too Large"),
    "Request URI Too Long": _l("Request URI Too Long"),
    "Unsupported Media Type": _l("Unsupported Media Type"),
    "Requested Range Not Satisfiable": _l("Requested Range Not Satisfiable"),
    "Unprocessable Entity": _l("Unprocessable Entity"),
    "Locked": _l("Locked"),
    "Precondition Required": _l("Precondition Required"),
    "Too Many Requests": _l("Too Many Requests"),
    "Request Header Fields Too Large": _l("Request Header Fields Too Large"),
    "Quota exceeded": _l("Quota exceeded"),
    "Internal Server Error": _l("Internal Server Error"),
    "Not Implemented": _l("Not Implemented"),
    "Bad Gateway": _l("Bad Gateway"),
    "Service Unavailable": _l("Service Unavailable"),
    "Gateway Timeout": _l("Gateway Timeout"),
}


def problem_title(title: str) -> str:
    """``title`` in the request's language when the catalogue knows it, else as given."""
    known = PROBLEM_TITLES.get(title)
    return str(known) if known is not None else title


def problem(status: int, detail: str | None = None, *, title: str | None = None, errors=None, headers=None):
    """Abort with a problem+json answer."""
    kwargs = {"message": detail} if detail else {}
    if errors is not None:
        kwargs["errors"] = errors
    if headers:
        kwargs["headers"] = headers
    if title:
        kwargs["title"] = title
    abort(status, **kwargs)


def is_api_request() -> bool:
    from taiji.platform import live

    # An event stream answers as the API does (401, problem+json): an EventSource follows no sign-in page.
    return request.path.startswith(API_PREFIX) or request.path in ("/healthz", "/readyz") \
        or live.is_stream_request()


class IdConverter(IntegerConverter):
    """``<int:...>`` in a URL is a database key: a number past BIGINT's range names nothing (404)
    instead of reaching the database, which would refuse it with an error."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _is_error(status) -> bool:
    return str(status) == "default" or str(status)[:1] in ("4", "5")


class ProblemJsonPlugin(BasePlugin):
    """flask-smorest documents every response as application/json; errors are answered as
    application/problem+json, and the document must say what clients will get."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            for status, response in (operation.get("responses") or {}).items():
                content = response.get("content") if isinstance(response, dict) else None
                if _is_error(status) and content and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")


class TaijiApi(Api):
    """flask-smorest's Api, with the OpenAPI document built when it is first read.

    Building it (every operation's schemas resolved, deep copies of each view's docs) was about a
    third of ``create_app``: paid by every process at start, the workers, runners and scheduler that
    never serve the document among them. A blueprint's rules are registered at once, as before; its
    operations join the document, in registration order, the first time ``spec`` is read.
    """

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, *args, **kwargs):
        self._spec = None
        self._pending_docs: list[tuple] = []
        self._docs_lock = threading.RLock()
        self._building = False
        super().__init__(*args, **kwargs)

    @property
    def spec(self):
        if self._pending_docs:
            # A second reader meanwhile waits for the whole document; a blueprint is taken off the
            # list only once it is in, and a reading from inside the building returns at once.
            with self._docs_lock:
                if not self._building:
                    self._building = True
                    try:
                        while self._pending_docs:
                            app, blp, name, parameters = self._pending_docs[0]
                            blp.register_views_in_doc(self, app, self._spec, name=name, parameters=parameters)
                            self._spec.tag({"name": name, "description": blp.description})
                            self._pending_docs.pop(0)
                    finally:
                        self._building = False
        return self._spec

    @spec.setter
    def spec(self, value):
        self._spec = value  # a new application's document: nothing of the last one is pending
        self._pending_docs = []

    def register_blueprint(self, blp, *, parameters=None, **options):
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._pending_docs.append((self._app, blp, name, parameters))

    def init_app(self, app, *args, **kwargs):
        # Before any module adds its rules, so that every ``<int:...>`` of the app is bounded.
        app.url_map.converters["int"] = IdConverter
        super().init_app(app, *args, **kwargs)
        from taiji.platform import auth

        for endpoint in [e for e in app.view_functions if e.startswith("api-docs.")]:
            auth.public_endpoint(app, endpoint)  # the OpenAPI document and its viewer

    def _register_responses(self):
        """The shared responses (NOT_FOUND, DEFAULT_ERROR …) that operations refer to, errors as
        problem+json (flask-smorest's own method writes application/json)."""
        for status in HTTPStatus:
            response = {"description": status.phrase}
            if not 100 <= status < 200 and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            content_type = PROBLEM_JSON if _is_error(status.value) else self.DEFAULT_RESPONSE_CONTENT_TYPE
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        detail = data.get("message") or error.description
        headers = dict(data.get("headers") or {})
        if error.code == 401:
            # RFC 6750 §3.1: a token that was sent and refused is named invalid_token; a request
            # that sent none gets the bare challenge, with no error code.
            challenge = 'Bearer realm="taiji"'
            if g.get("auth_attempted"):
                challenge += ', error="invalid_token", error_description="The access token is not valid, ' \
                             'or expired, or revoked."'
            headers.setdefault("WWW-Authenticate", challenge)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            headers.setdefault("Allow", ", ".join(error.valid_methods))
        if not is_api_request():
            return _console_error(error, detail, headers)
        body = {
            "type": "about:blank",
            "title": problem_title(data.get("title") or error.name),
            "status": error.code,
            "detail": detail,
            "instance": request.path,
            "request_id": g.get("request_id"),
        }
        errors = data.get("errors") or data.get("messages")
        if errors:
            body["errors"] = errors
            if error.code == 422 and not data.get("message"):
                body["detail"] = gettext("The request has invalid fields; see errors.")
        response = current_app.response_class(
            json.dumps(body, ensure_ascii=False, default=str), status=error.code, mimetype=PROBLEM_JSON
        )
        for key, value in headers.items():
            response.headers[key] = value
        return response


def _console_error(error: HTTPException, detail: str, headers: dict):
    from flask import redirect

    from taiji.platform.web import kernel_url

    if error.code == 401:
        return redirect(kernel_url("login", next=request.full_path.rstrip("?")))
    html = render_template("errors/error.html", error=error, detail=detail)
    return html, error.code, {k: v for k, v in headers.items() if k != "WWW-Authenticate"}


api = TaijiApi(spec_kwargs={"extra_plugins": [ProblemJsonPlugin()]})


def handle_unexpected(error: Exception):
    """Anything not an HTTP error: log it with the request id, answer a 500 problem."""
    # An error raised while the response was finished (the commit) reaches here wrapped.
    cause = getattr(error, "original_exception", None) or error
    if is_sqlite_busy(cause):
        return _database_busy()
    if isinstance(error, HTTPException):
        return api.handle_http_exception(error)
    log.exception("unhandled error", extra={"request_id": g.get("request_id")})
    db.session.rollback()
    wrapped = InternalServerError(
        description=gettext("Something went wrong on our side. Quote the request id when you report it.")
    )
    return api.handle_http_exception(wrapped)


def _database_busy():
    """SQLite refused for another writer: the change was rolled back and can simply be sent again.

    The request runs again with the write lock before anyone sees this (app._ReplayRefusedRequests);
    it is answered only when that cannot be (a streamed body) or the lock stayed taken longer than
    the busy timeout: a 503 with Retry-After, not a 500, since nothing broke.
    """
    db.session.rollback()
    request.environ[DATABASE_BUSY_ENVIRON] = True
    log.warning("database busy", extra={"request_id": g.get("request_id")})
    busy = ServiceUnavailable(description="The database was busy with other changes; nothing was changed. "
                                          "Send the request again.")
    busy.data = {"message": busy.description, "headers": {"Retry-After": "1"}}
    return api.handle_http_exception(busy)


def _unstorable(value: str) -> str | None:
    """Why a string cannot be stored as text (PostgreSQL refuses NUL; UTF-8 refuses lone surrogates)."""
    if "\x00" in value:
        return "Must not contain the NUL character."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text."
    return None


MAX_JSON_DEPTH = 32


def _text_errors(data, path: tuple = ()) -> dict:
    if len(path) > MAX_JSON_DEPTH:
        return {"_schema": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]}
    errors: dict = {}
    if isinstance(data, str):
        reason = _unstorable(data)
        if reason:
            errors[".".join(map(str, path)) or "_schema"] = [reason]
    elif isinstance(data, dict):
        for key, value in data.items():
            errors.update(_text_errors(key, (*path, "<key>")) if isinstance(key, str) else {})
            errors.update(_text_errors(value, (*path, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            errors.update(_text_errors(value, (*path, index)))
    return errors


class TaijiParser(FlaskParser):
    """webargs parser that refuses text the database cannot store, as a field error (422)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, Schema] = {}

    def _get_schema(self, argmap, req):
        # A schema class is made once, not per request: making one deep-copies its declared fields,
        # which cost more than parsing the arguments. (Loading does not change a schema.)
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def load_json(self, req, schema):
        try:
            data = super().load_json(req, schema)
        except RecursionError:
            # The JSON decoder recurses per nesting level; a hostile body can exhaust the stack.
            raise ValidationError({"_schema": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]}) from None
        errors = _text_errors(data)
        if errors:
            raise ValidationError(errors)
        return data

    def load_querystring(self, req, schema):
        errors = _text_errors({key: value for key, value in req.args.items(multi=True)})
        if errors:
            raise ValidationError(errors)
        return super().load_querystring(req, schema)


class PaginationParser(TaijiParser):
    """A ``page_size`` over the maximum is served as the maximum rather than refused, and a page
    past any real one is simply empty (it must not overflow the database's OFFSET)."""

    def load_querystring(self, req, schema):
        proxy = super().load_querystring(req, schema)
        size = req.args.get("page_size", type=int)
        page = req.args.get("page", type=int)
        if (size is None or size <= MAX_PAGE_SIZE) and (page is None or page <= MAX_PAGE):
            return proxy
        args = MultiDict(req.args)
        if size is not None and size > MAX_PAGE_SIZE:
            args["page_size"] = str(MAX_PAGE_SIZE)
        if page is not None and page > MAX_PAGE:
            args["page"] = str(MAX_PAGE)
        return self._makeproxy(args, schema)


class Blueprint(SmorestBlueprint):
    """flask-smorest blueprint; routes declare their permission with ``auth.require``."""

    ARGUMENTS_PARSER = TaijiParser()
    PAGINATION_ARGUMENTS_PARSER = PaginationParser()
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": DEFAULT_PAGE_SIZE,
                                     "max_page_size": MAX_PAGE_SIZE}

    @staticmethod
    def _make_pagination_metadata(page, page_size, item_count):
        # flask-smorest's, without dumping these integers through a schema made for each response.
        meta = {"total": item_count, "total_pages": 0}
        if item_count:
            last = (item_count - 1) // page_size + 1
            meta.update(total_pages=last, first_page=1, last_page=last)
            if page <= last:
                meta["page"] = page
                if page > 1:
                    meta["previous_page"] = page - 1
                if page < last:
                    meta["next_page"] = page + 1
        return meta


def set_page_count(pagination_parameters, page) -> None:
    pagination_parameters.item_count = page.total


# -- Idempotency-Key ------------------------------------------------------------------------


class IdempotencyRecord(Model):
    """The first answer to a creating POST, replayed for a retry with the same key."""

    __tablename__ = "kernel_idempotency"
    __table_args__ = (sa.UniqueConstraint("principal", "key"),)

    id: Mapped[intpk]
    principal: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(255))
    method_path: Mapped[str] = mapped_column(sa.String(500))
    body_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int]
    response_body: Mapped[str] = mapped_column(sa.Text)
    response_headers: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow, index=True)


def _idempotency_identity():
    from taiji.platform.auth import current_principal

    key = request.headers.get("Idempotency-Key")
    if not key or request.method != "POST" or not request.path.startswith(API_PREFIX):
        return None
    principal = current_principal()
    if principal is None:
        return None
    key = key.strip()
    if not key or not key.isprintable() or len(key) > 255:
        problem(400, "Idempotency-Key must be 1 to 255 printable characters.")
    return f"user:{principal.user_id}", key


def _body_hash() -> str:
    return hashlib.sha256(f"{request.method} {request.path}\n".encode() + request.get_data()).hexdigest()


def idempotency_replay():
    """before_request: answer a retried POST from the stored first answer."""
    identity = _idempotency_identity()
    if identity is None:
        return None
    principal, key = identity
    record = db.session.execute(
        sa.select(IdempotencyRecord).where(IdempotencyRecord.principal == principal,
                                           IdempotencyRecord.key == key)
    ).scalar_one_or_none()
    if record is None:
        g.idempotency = (principal, key)
        return None
    if record.body_hash != _body_hash():
        problem(422, "This Idempotency-Key was used with a different request; "
                     "use a new key for a new request.")
    response = current_app.response_class(record.response_body, status=record.status)
    for name, value in record.response_headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotency_store(response):
    identity = g.pop("idempotency", None)
    if identity is None or response.status_code >= 500 or response.status_code == 409:
        return
    principal, key = identity
    kept = {k: v for k, v in response.headers.items() if k in ("Content-Type", "Location", "ETag")}
    db.session.add(
        IdempotencyRecord(
            principal=principal,
            key=key,
            method_path=f"{request.method} {request.path}"[:500],
            body_hash=_body_hash(),
            status=response.status_code,
            response_body=response.get_data(as_text=True),
            response_headers=kept,
        )
    )
