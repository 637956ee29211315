"""The webhook receiver for external repositories: ``POST /hooks/vcs/<hook_id>``.

Unauthenticated except by the forge's signature over the raw body, checked in constant time:
GitHub ``X-Hub-Signature-256: sha256=<hex>``, Gitea ``X-Gitea-Signature: <hex>`` and Forgejo
``X-Forgejo-Signature: <hex>`` (all HMAC-SHA256), GitLab ``X-Gitlab-Token: <secret>``. The body is
JSON, or for GitHub's ``content_type: form`` a form with the JSON in its ``payload`` field (signed
as sent, so the form is decoded only after the signature matched). A push becomes the same
``vcs.push`` event as a push to a hosted repository; a redelivery (same delivery id) is
acknowledged and ignored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from urllib.parse import parse_qs

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.http import HTTP_STATUS_CODES

from taiji.platform import api as api_mod
from taiji.platform import auth
from taiji.platform.limits import body_limit

from .services import external, mirror_pushes

log = logging.getLogger("taiji.vcs.webhooks")

bp = Blueprint("vcs_hooks", __name__)


@bp.record_once
def _exempt_from_csrf(state) -> None:
    # Forges sign their deliveries; they have no session and no CSRF token.
    state.app.extensions["csrf"].exempt(bp)

ZERO_SHA = "0" * 40
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
MAX_BODY = 25 * 1024 * 1024
# Which signature headers each provider's deliveries are checked against.
SCHEMES = {
    "github": ("hub",),
    "gitea": ("gitea", "hub"),  # Forgejo, Gitea's fork, signs the same way under its own name
    "gitlab": ("gitlab",),
    "git": ("hub", "gitea", "gitlab"),  # any tool that signs like one of the forges
}


def signature_ok(provider: str, headers, body: bytes, secret: str) -> bool:
    """Whether one of the provider's signature headers matches ``body`` under ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    for scheme in SCHEMES.get(provider, ()):
        # Compared as bytes: compare_digest refuses str with non-ASCII characters, which a
        # hostile header can carry.
        if scheme == "hub":
            given = headers.get("X-Hub-Signature-256", "")
            hexdigest = given[7:].strip().lower().encode()
            if given.startswith("sha256=") and hmac.compare_digest(hexdigest, digest):
                return True
        elif scheme == "gitea":
            for name in ("X-Gitea-Signature", "X-Forgejo-Signature"):
                given = headers.get(name, "")
                if given and hmac.compare_digest(given.strip().lower().encode(), digest):
                    return True
        elif scheme == "gitlab":
            given = headers.get("X-Gitlab-Token", "")
            if given and hmac.compare_digest(given.encode(), secret.encode()):
                return True
    return False


def event_of(headers) -> str:
    """The forge's event name, normalised: "push", "ping" or the forge's own word."""
    raw = (headers.get("X-GitHub-Event") or headers.get("X-Gitea-Event") or headers.get("X-Forgejo-Event")
           or headers.get("X-Gitlab-Event") or "").strip()
    lowered = raw.lower()
    if lowered in ("push", "push hook", "tag push hook"):
        return "push"
    return lowered or "unknown"


def delivery_id_of(headers, body: bytes) -> str:
    """The forge's delivery id; without one the body's digest stands in (same body, same delivery)."""
    for name in ("X-GitHub-Delivery", "X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gitlab-Event-UUID",
                 "X-Gitlab-Webhook-UUID"):
        value = (headers.get(name) or "").strip()
        if value:
            return value[:100]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _text(value, limit: int = 1000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _when(commit: dict) -> dt.datetime | None:
    try:
        stamp = dt.datetime.fromisoformat(commit["timestamp"])
    except (KeyError, TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


def newest_first(commits: list[dict], after: str, provider: str = "") -> list[dict]:
    """The push's commits newest first, as ``vcs.push`` lists them, whatever order the forge used.

    Forges disagree, and one forge's order has changed between its versions: GitHub lists them
    oldest first, Gitea and Forgejo newest first, GitLab oldest first before 14.x and newest first
    since. So the payload decides: ``after`` is the newest commit, at one end of the list. When it is
    not listed (a list cut short, a tag's own object), the timestamps at both ends decide, and only
    when they cannot, the forge's known habit.
    """
    if len(commits) < 2:
        return list(commits)
    if commits[0]["id"] == after:
        return list(commits)
    if commits[-1]["id"] == after:
        return commits[::-1]
    first, last = _when(commits[0]), _when(commits[-1])
    if first is not None and last is not None and first != last:
        return list(commits) if first > last else commits[::-1]
    return list(commits) if provider == "gitea" else commits[::-1]


def normalise_push(payload: dict, provider: str = "") -> dict:
    """A GitHub-, Gitea-, Forgejo- or GitLab-shaped push as the arguments of ``publish_push``."""
    ref = _text(payload.get("ref"), 255)
    before, after = _text(payload.get("before"), 64).lower(), _text(payload.get("after"), 64).lower()
    if not ref.startswith("refs/") or not before or not after:
        raise ValueError("a push names ref, before and after")
    if not SHA.match(before) or not SHA.match(after):
        raise ValueError("before and after are commit ids (40 or 64 hexadecimal digits)")
    pusher = payload.get("pusher") if isinstance(payload.get("pusher"), dict) else {}
    if "user_username" in payload or "user_name" in payload:  # GitLab
        pusher = {"name": _text(payload.get("user_username") or payload.get("user_name"), 255),
                  "email": _text(payload.get("user_email"), 255)}
    pusher = {"name": _text(pusher.get("name") or pusher.get("login") or pusher.get("username"), 255),
              "email": _text(pusher.get("email"), 255)}
    commits = []
    if after != ZERO_SHA:  # a deleted branch or tag brings no commits
        for item in payload.get("commits") or []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            author = item.get("author") if isinstance(item.get("author"), dict) else {}
            commits.append({
                "id": item["id"][:64],
                "message": _text(item.get("message"), 10_000),
                "author": {"name": _text(author.get("name"), 255), "email": _text(author.get("email"), 255)},
                "timestamp": _text(item.get("timestamp"), 64),
            })
    commits = newest_first(commits, after, provider)
    return {"ref": ref, "before": before, "after": after, "pusher": pusher, "commits": commits}


def _problem(status: int, detail: str):
    # Built here: outside /api/ the platform's handler would answer with a console page.
    body = {"type": "about:blank", "title": HTTP_STATUS_CODES.get(status, "Error"), "status": status,
            "detail": detail, "instance": request.path, "request_id": g.get("request_id")}
    return current_app.response_class(json.dumps(body), status=status, mimetype=api_mod.PROBLEM_JSON)


def _read_body() -> bytes | None:
    """The raw body, or None past MAX_BODY (a chunked body announces no length to check first)."""
    if (request.content_length or 0) > MAX_BODY:
        return None
    parts, size = [], 0
    while chunk := request.stream.read(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _json_of(body: bytes) -> bytes | str:
    """The JSON a delivery carries: the body itself, or the ``payload`` field of a form-encoded
    body (GitHub's ``content_type: form``, the default of its API and of several tools)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return body
    # A form is ASCII; the JSON inside is percent-encoded UTF-8, decoded strictly (no silent
    # replacement characters in what is published).
    fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True,
                      encoding="utf-8", errors="strict", max_num_fields=20)
    values = fields.get("payload") or []
    if len(values) != 1:
        raise ValueError("a form-encoded delivery carries its JSON in one 'payload' field")
    return values[0]


@bp.post("/hooks/vcs/<hook_id>")
@auth.protocol()  # a forge's delivery, authenticated by its signature or token (verify below)
@body_limit(None)  # _read_body stops at MAX_BODY, the forges' own limit
def receive(hook_id):
    found = external.source_by_hook(hook_id)
    if found is None:
        return _problem(404, "No external repository receives webhooks at this address.")
    source, repo = found
    body = _read_body()
    if body is None:
        return _problem(413, "The delivery is too large.")
    if not signature_ok(source.provider, request.headers, body, external.webhook_secret(source)):
        return _problem(401, "The signature of this delivery does not match the repository's webhook secret.")
    event = event_of(request.headers)
    if event == "ping":
        return jsonify(status="pong")
    try:
        payload = json.loads(_json_of(body))
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        push = normalise_push(payload, source.provider) if event == "push" else None
    except ValueError as exc:
        return _problem(400, f"The delivery is not a push event this receiver understands: {exc}.")
    delivery = delivery_id_of(request.headers, body)
    if not external.record_delivery(source, delivery, event, "received" if push else "ignored"):
        return jsonify(status="duplicate")
    if push is None:
        return jsonify(status="ignored", event=event)
    # Published now, or (a mirrored repository) once the mirror has fetched the pushed commit.
    outcome = mirror_pushes.accept(repo, push, key=f"webhook:{delivery}:{push['ref']}", delivery_id=delivery)
    external.set_delivery_outcome(source, delivery, outcome)
    log.info("webhook push accepted", extra={"repository": repo.id, "ref": push["ref"], "outcome": outcome})
    return jsonify(status="accepted")
