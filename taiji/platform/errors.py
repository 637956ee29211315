"""Errors services raise; the API answers them as problem+json, the console as messages."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    title = "Bad Request"

    def __init__(self, detail: str, errors: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFound(ServiceError):
    status = 404
    title = "Not Found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Invalid(ServiceError):
    """Input that passed the schema but not the rules; ``errors`` maps field -> messages."""

    status = 422
    title = "Unprocessable Entity"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


def field_error(field: str, message: str) -> Invalid:
    return Invalid(message, errors={"json": {field: [message]}})
