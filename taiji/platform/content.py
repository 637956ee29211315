"""Serving what users uploaded (package files, generic files, CI artifacts, files of repositories)
from the console's own origin without letting it act as a page of the console.

The uploader chooses the bytes and, for generic files, the ``Content-Type``: served as sent, an
HTML or SVG file would run its script with the session of whoever follows a link to it. So user
content is a download (``application/octet-stream``, ``Content-Disposition: attachment``) unless
its type is on a short list of types that browsers only ever display as inert text or pictures:
plain text (sent with a charset, so that no encoding is guessed) and the common raster images.
Never HTML, SVG, XML or PDF (PDF viewers run scripts of their own). Every such answer also carries
``nosniff`` (the browser may not guess a more dangerous type from the bytes) and a sandboxing
policy (``default-src 'none'; sandbox``): were a file rendered as a document after all, it would
have a unique origin, no script and no access to the console.

A separate content origin (as GitHub's raw.githubusercontent.com) would need signed, cookie-less
download links for private repositories; the headers above close the hole without one.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from flask import request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

SANDBOX_POLICY = "default-src 'none'; sandbox"

INLINE_TYPES = {
    "text/plain": "text/plain; charset=utf-8",
    "image/png": "image/png",
    "image/jpeg": "image/jpeg",
    "image/gif": "image/gif",
    "image/webp": "image/webp",
}


def disposition(kind: str, filename: str) -> str:
    """A Content-Disposition header: an ASCII stand-in for old clients and the real name (RFC 6266)."""
    plain = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename) or "download"
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def served_type(content_type: str | None) -> tuple[str, bool]:
    """(the Content-Type to send, whether the browser may show it inline) for a stored type."""
    essence = (content_type or "").split(";", 1)[0].strip().lower()
    if essence in INLINE_TYPES:
        return INLINE_TYPES[essence], True
    return "application/octet-stream", False


def harden(response, filename: str, content_type: str | None = None, *, inline_allowed: bool = True):
    """Make ``response`` (a file a user stored) safe to serve from the console's origin."""
    mimetype, inline = served_type(content_type) if inline_allowed else ("application/octet-stream", False)
    response.headers["Content-Type"] = mimetype
    response.headers["Content-Disposition"] = disposition("inline" if inline else "attachment", filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = SANDBOX_POLICY
    return response


def _single_range_only() -> None:
    """Ignore a Range header that asks for several ranges or cannot be parsed, as RFC 9110 allows:
    the client gets the whole file (200) rather than a 416 it cannot act on."""
    value = request.environ.get("HTTP_RANGE")
    if value is None:
        return
    parsed = parse_range_header(value)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        request.environ.pop("HTTP_RANGE", None)


class RangeNotSatisfiable(RequestedRangeNotSatisfiable):
    """416 that names the file's length (``Content-Range: bytes */N``) through every error handler."""

    def __init__(self, length: int):
        super().__init__(length=length, description=f"The file has {length} bytes; the range asked for "
                                                     "starts past its end.")
        self.data = {"headers": {"Content-Range": f"bytes */{length}"}}


def send_user_file(
    path: Path | str,
    filename: str,
    content_type: str | None = None,
    *,
    etag: str | bool = True,
    inline_allowed: bool = True,
):
    """Send a stored file of a user: conditional (ETag, one byte range), hardened by ``harden``."""
    _single_range_only()
    try:
        response = send_file(
            path,
            mimetype="application/octet-stream",
            download_name=filename,
            as_attachment=True,
            conditional=True,
            etag=etag,
            max_age=0,
        )
    except RequestedRangeNotSatisfiable:
        raise RangeNotSatisfiable(os.stat(path).st_size) from None
    return harden(response, filename, content_type, inline_allowed=inline_allowed)
