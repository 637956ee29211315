"""REST conventions: problem+json errors, pagination, ETags, Idempotency-Key, OpenAPI.

Every module's REST blueprint is a ``flask_smorest.Blueprint`` registered on the one
``api`` object below, so all of them land in ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging

import sqlalchemy as sa
from flask import current_app, g, render_template, request
from flask_smorest import Api, abort
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import HTTPException, InternalServerError

from taiji.platform.db import Model, db, intpk, timestamp, utcnow

log = logging.getLogger("taiji.api")

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/v1"


class ProblemSchema(Schema):
    """RFC 9457 problem details, with Taiji's field errors and request id."""

    type = fields.String(metadata={"description": "A URI naming the kind of problem"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String()
    errors = fields.Dict(metadata={"description": "Field errors: location -> field -> messages"})


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
    return request.path.startswith(API_PREFIX) or request.path in ("/healthz", "/readyz")


class TaijiApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        detail = data.get("message") or error.description
        headers = dict(data.get("headers") or {})
        if error.code == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer realm="taiji"')
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            headers.setdefault("Allow", ", ".join(error.valid_methods))
        if not is_api_request():
            return _console_error(error, detail, headers)
        body = {
            "type": "about:blank",
            "title": data.get("title") or error.name,
            "status": error.code,
            "detail": detail,
            "instance": request.path,
            "request_id": g.get("request_id"),
        }
        errors = data.get("errors") or data.get("messages")
        if errors:
            body["errors"] = errors
            if error.code == 422 and not data.get("message"):
                body["detail"] = "The request has invalid fields; see errors."
        response = current_app.response_class(
            json.dumps(body, ensure_ascii=False, default=str), status=error.code, mimetype=PROBLEM_JSON
        )
        for key, value in headers.items():
            response.headers[key] = value
        return response


def _console_error(error: HTTPException, detail: str, headers: dict):
    from flask import redirect, url_for

    if error.code == 401:
        return redirect(url_for("iam.login", next=request.full_path.rstrip("?")))
    html = render_template("errors/error.html", error=error, detail=detail)
    return html, error.code, {k: v for k, v in headers.items() if k != "WWW-Authenticate"}


api = TaijiApi()


def handle_unexpected(error: Exception):
    """Anything not an HTTP error: log it with the request id, answer a 500 problem."""
    if isinstance(error, HTTPException):
        return api.handle_http_exception(error)
    log.exception("unhandled error", extra={"request_id": g.get("request_id")})
    db.session.rollback()
    wrapped = InternalServerError(
        description="Something went wrong on our side. Quote the request id when you report it."
    )
    return api.handle_http_exception(wrapped)


class Blueprint(SmorestBlueprint):
    """flask-smorest blueprint; routes declare their permission with ``auth.require``."""


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
    return f"user:{principal.user_id}", key.strip()[:255]


def _body_hash() -> str:
    return hashlib.sha256(f"{request.method} {request.path}\n".encode() + request.get_data()).hexdigest()


def idempotency_replay():
    """before_request: answer a retried POST from the stored first answer."""
    identity = _idempotency_identity()
    if identity is None:
        return None
    principal, key = identity
    record = db.session.execute(
        sa.select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
    ).scalar_one_or_none()
    if record is None:
        g.idempotency = (principal, key)
        return None
    if record.body_hash != _body_hash():
        problem(422, "This Idempotency-Key was used with a different request; use a new key for a new request.")
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
