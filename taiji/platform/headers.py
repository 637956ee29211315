"""Security headers on every answer, whatever produced it (a page, the API, an error, a file).

The console runs only scripts it serves itself (``script-src 'self'``): an injected ``<script>``
or ``onclick=`` does not run, so an escaping mistake in a template stays a cosmetic bug. Styles
keep ``'unsafe-inline'``: the console's pages carry server-computed ``style=`` widths and colours,
Pygments' and the diff view's ``<style>`` blocks, htmx adds its indicator style and Redoc's
styled-components write ``<style>`` tags; injecting CSS takes an HTML injection first, which
autoescaping stops, and CSS cannot run code or read the session.

A response that set its own ``Content-Security-Policy`` keeps it: user content (``content.py``)
is served with a sandbox policy that is stricter than the console's.
"""

from __future__ import annotations

from flask import current_app, request

CONSOLE_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    # Tabler draws its form controls with data: SVG images.
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
))

# Redoc (the API reference) builds its search index in a Web Worker made from a blob: URL.
DOCS_POLICY = CONSOLE_POLICY + "; worker-src 'self' blob:"
DOCS_ENDPOINT = "api-docs.openapi_redoc"

HSTS = "max-age=31536000"


def apply(response):
    """after_request, for every response of the application."""
    headers = response.headers
    if "Content-Security-Policy" not in headers:
        docs = request.endpoint == DOCS_ENDPOINT
        headers["Content-Security-Policy"] = DOCS_POLICY if docs else CONSOLE_POLICY
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Tenant and repository names are in our URLs: other sites learn nothing of them.
    headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config["BASE_URL"].startswith("https://"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response
