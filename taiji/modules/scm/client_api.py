"""The client wire API: ``GET /config/<tenant>/<component>/<environment>`` and its notifications.

- ``GET /config/<tenant>/<component>/<environment>[?namespace=&instance=&labels=]`` -> 200
  ``{"tenant", "component", "product", "environment", "release", "gray", "namespace", "values",
  "namespaces"}`` with a strong ``ETag``; ``If-None-Match`` -> 304; nothing published -> 404.
  ``values`` merges every namespace (alphabetical, ``application`` last: it wins) unless
  ``namespace`` names one. Secrets arrive decrypted: the client is their consumer.
- ``GET …/notifications?release=<n>[&instance=&labels=&timeout=30]``: a long poll. It answers at
  once ``200 {"release": m}`` when the release this instance should hold is not ``n``, else waits
  up to ``timeout`` seconds (at most 60) and answers ``304`` when nothing changed. With
  ``Accept: text/event-stream`` it is a stream of ``release`` events instead
  (``taiji.platform.live``).

A waiting poll holds no API thread and no database connection: like a live stream it gives the
request gate's place back (taiji/wsgi.py) and takes one of the process's stream places
(``TAIJI_LIVE_MAX_STREAMS``; 503 with Retry-After past it); a publish's live notice wakes it at
once, and it also looks again every second (a look that finds nothing changed is answered from
memory, see client_cache). All the instances of a fleet share one access key, so the process's
stream places are their only bound. The event-stream form is a ``live.stream`` and counts as the
kernel counts streams: per user for a token, per client address for an access key
(``TAIJI_LIVE_MAX_STREAMS_PER_USER``): fleets should long-poll. Who may read: client_auth. Spring's
API: client_spring.
"""

from __future__ import annotations

import hashlib
import json
import select
import socket
import time

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from taiji.platform import api, auth, live, protocol_auth
from taiji.platform.db import db
from taiji.platform.errors import NotFound, ServiceError, msg

from . import client_auth, client_config, services
from .permissions import Perm

bp = Blueprint("scm_client", __name__)

CONFIG = "/config/<tenant_slug>/<component>/<environment>"
MAX_WAIT = 60
DEFAULT_WAIT = 30
LOOK_SECONDS = 1.0  # a waiting poll looks again this often (answered from memory when nothing changed)


# -- answers and refusals: problem+json for every client, never the console's pages -----------------


def problem(status: int, detail: str, headers: dict | None = None, errors: dict | None = None) -> Response:
    title = HTTP_STATUS_CODES.get(status, "Error")
    body = {"type": "about:blank", "title": api.problem_title(title), "status": status, "detail": detail,
            "instance": request.path, "request_id": g.get("request_id")}
    if errors:
        body["errors"] = errors
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=api.PROBLEM_JSON,
                    headers=headers or {})


def refused(refusal: protocol_auth.Refusal):
    return problem(refusal.status, refusal.detail, refusal.headers)


def service_error(error: ServiceError):
    db.session.rollback()
    return problem(error.status, error.detail, errors=error.errors)


def http_error(error: HTTPException):
    headers = dict((getattr(error, "data", None) or {}).get("headers") or {})
    if error.code == 401:
        headers["WWW-Authenticate"] = client_auth.PROTOCOL.challenge
    if error.code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return problem(error.code or 500, error.description or error.name, headers)


def install_error_handlers(blueprint: Blueprint) -> None:
    blueprint.register_error_handler(protocol_auth.Refusal, refused)
    blueprint.register_error_handler(ServiceError, service_error)
    blueprint.register_error_handler(HTTPException, http_error)


install_error_handlers(bp)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def send(body: bytes, etag: str, mimetype: str, **headers) -> Response:
    """``body`` with its ETag, or 304 when the client holds it already."""
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", **headers}
    if request.if_none_match and (request.if_none_match.star_tag or request.if_none_match.contains_weak(
            etag.strip('"'))):
        return Response(status=304, headers=headers)
    return Response(body, mimetype=mimetype, headers=headers)


def dumps(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


# -- GET /config/... --------------------------------------------------------------------------------


def _config_body(target, number: int, namespace: str | None):
    gray = number == target.gray and number != target.current

    def render(resolved):
        if namespace is not None and namespace not in resolved.namespaces:
            raise NotFound(msg("Release #%(number)s of %(component)s in %(environment)s has no namespace "
                               "'%(namespace)s'.", number=number, component=target.component,
                               environment=target.environment, namespace=namespace))
        names = [namespace] if namespace is not None else list(resolved.namespaces)
        body = dumps({
            "tenant": target.tenant_values[1], "component": target.component, "product": target.product,
            "environment": target.environment, "release": number, "gray": gray, "namespace": namespace,
            "values": resolved.merged(namespace),
            "namespaces": {ns: resolved.merged(ns) for ns in names},
        })
        return body, etag_of(body)

    return render, ("config", namespace, gray)


@bp.get(CONFIG)
@auth.protocol(Perm.CONFIG_READ)
def config(tenant_slug, component, environment):
    caller = client_auth.reader(tenant_slug, environment)
    environment = client_config.environment_arg(environment)
    namespace = client_config.namespace_arg(request.args.get("namespace"))
    instance = client_config.instance_arg(request.args.get("instance"))
    labels = client_config.labels_arg(request.args.get("labels"))
    target = client_config.target(caller, component, environment)
    number = target.number_for(instance, labels)
    if not number:
        raise client_config.nothing_published(target)
    render, form = _config_body(target, number, namespace)
    body, etag = client_config.answer(caller, target, number, labels, form, render)
    client_config.report(caller, target, instance, labels, number)
    return send(body, etag, "application/json", **{"X-Taiji-Config-Release": str(number)})


# -- GET /config/.../notifications --------------------------------------------------------------------


def _int_arg(name: str, default: int | None, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None or text == "":
        if default is None:
            raise client_config.BadArgument(msg("Give ?%(name)s=<number>: the release the client "
                                                "holds (0 for none).", name=name), name)
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise client_config.BadArgument(msg("'%(name)s' is a whole number from %(low)s to %(high)s.",
                                            name=name, low=low, high=high), name)
    return int(text)


def _look(caller, component: str, environment: str, instance, labels) -> int:
    """The release the instance should hold now (from memory unless a release changed)."""
    g.pop("_scm_memo_ready", None)  # a long request: ask again whether changes are heard
    try:
        return client_config.target(caller, component, environment).number_for(instance, labels)
    finally:
        db.session.remove()  # no connection is held while waiting


@bp.get(CONFIG + "/notifications")
@auth.protocol(Perm.CONFIG_READ)
@live.endpoint
def notifications(tenant_slug, component, environment):
    caller = client_auth.reader(tenant_slug, environment)
    environment = client_config.environment_arg(environment)
    held = _int_arg("release", None, 0, 2**31 - 1)
    instance = client_config.instance_arg(request.args.get("instance"))
    labels = client_config.labels_arg(request.args.get("labels"))
    wait = _int_arg("timeout", DEFAULT_WAIT, 0, MAX_WAIT)
    target = client_config.target(caller, component, environment)
    topic = services.live_topic(caller.tenant_id, target.component_id, environment)
    if "text/event-stream" in request.headers.get("Accept", ""):
        return _events(caller, component, environment, instance, labels, topic, held)
    number = target.number_for(instance, labels)
    if number != held:
        return _changed(number)
    if wait == 0:
        return _unchanged()
    return _wait(caller, component, environment, instance, labels, topic, held, wait)


def _changed(number: int) -> Response:
    return Response(dumps({"release": number}), mimetype="application/json",
                    headers={"Cache-Control": "no-store"})


def _unchanged() -> Response:
    return Response(status=304, headers={"Cache-Control": "no-store"})


def _wait(caller, component, environment, instance, labels, topic: str, held: int, wait: int) -> Response:
    config_ = current_app.config
    hub = live.hub()
    limit = config_["LIVE_MAX_STREAMS"]
    # A fleet's instances share one access key: the process's stream places are the bound.
    if hub.admit(caller.who, limit, limit) is not None:
        return problem(503, str(msg("This server holds as many waiting clients as it may; try again "
                                    "shortly.")), {"Retry-After": "5"})
    subscription = hub.subscribe([topic])
    try:
        live.listening(hub)  # other processes' publishes reach this one (with Redis)
        db.session.remove()
        release_api_slot = request.environ.get("taiji.release_api_slot")
        if release_api_slot is not None:
            release_api_slot()  # from here on a stream place, not one of the API's threads
        look_every = LOOK_SECONDS if current_app.config["READ_CACHE_SECONDS"] > 0 \
            else float(config_["LIVE_RECHECK_SECONDS"])
        deadline = time.monotonic() + wait
        sock = request.environ.get("gunicorn.socket")
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or subscription.closed or _gone(sock):
                return _unchanged()
            subscription.wait(min(left, look_every))
            number = _look(caller, component, environment, instance, labels)
            if number != held:
                return _changed(number)
    finally:
        hub.unsubscribe(subscription)
        hub.release(caller.who)


def _gone(sock) -> bool:
    """Whether the client closed its connection (its place is given back rather than held until
    the timeout)."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _events(caller, component, environment, instance, labels, topic: str, held: int) -> Response:
    """The SSE form: a ``release`` event {"release": m} each time the release to hold changes."""
    cursor = live.last_event_id()
    start = int(cursor) if cursor and cursor.isdigit() else held

    def step(position):
        number = _look(caller, component, environment, instance, labels)
        if number == position:
            return live.Round([], position)
        return live.Round([live.Event({"release": number}, "release", str(number))], number)

    def still_allowed() -> bool:
        try:
            client_auth.reader(caller.tenant_slug, environment)
        except protocol_auth.Refusal:
            return False
        return True

    return live.stream([topic], step, start, still_allowed=still_allowed)


blueprints = [bp]
