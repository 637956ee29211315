"""How large a request body may be, by kind of route; too large is a 413 before a byte is read.

JSON, YAML and form bodies are parsed in memory, so they are held to ``TAIJI_MAX_BODY_BYTES``
(Flask's ``MAX_CONTENT_LENGTH``). Routes that stream their body to disk or to a process (package
uploads, git pushes) say so with ``@body_limit(...)``: they are bounded by what they write to
(storage quotas, the receiving process), not by this setting.
"""

from __future__ import annotations

import sys

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

_LIMIT = "_taiji_body_limit"
_UNSET = object()


def body_limit(limit: int | None):
    """Decorate a view whose body may be larger than the default: ``limit`` bytes, or None for a
    view that streams the body and bounds it itself."""

    def mark(view):
        setattr(view, _LIMIT, limit)
        return view

    return mark


def limit_of_request() -> int | None:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    declared = getattr(view, _LIMIT, _UNSET)
    return current_app.config["MAX_CONTENT_LENGTH"] if declared is _UNSET else declared


def check() -> None:
    """before_request, first of all: refuse an announced body over the route's limit at once.

    A chunked body announces no length; werkzeug would silently cut it at the limit (a truncated
    JSON document, a 400 that says nothing of size), so it is read here, one byte past the limit at
    most, and kept for the route's parser."""
    limit = limit_of_request()
    # Flask reads None on a request as "the configured default": no limit is spelled as a huge one.
    request.max_content_length = sys.maxsize if limit is None else limit
    if limit is None:
        return
    if (request.content_length or 0) > limit:
        _too_large(limit, f"The request body has {request.content_length} bytes")
    if request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        request.max_content_length = limit + 1
        if len(request.get_data(cache=True)) > limit:
            _too_large(limit, "The request body is larger")
        request.max_content_length = limit


def _too_large(limit: int, what: str):
    raise RequestEntityTooLarge(description=f"{what}; this address takes at most {limit} bytes.")
