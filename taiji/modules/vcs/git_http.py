"""Git over smart HTTP: ``/git/<tenant>/<repo>.git/...`` served by ``git http-backend``.

This view authenticates (HTTP Basic, any user name, a personal access token as the password, or
Bearer) and authorizes through the kernel's protocol helper (taiji.platform.protocol_auth), and
then streams both ways: the request body is fed to the backend's stdin from a
thread while its stdout is handed to the client piece by piece, so neither a 20 MB push nor a
clone is ever held in memory. Only the three smart-protocol routes are served.

The URL argument is ``tenant_slug`` rather than ``tenant`` on purpose: the kernel's membership
check on ``<tenant>`` URLs answers an anonymous caller with a sign-in redirect, whereas git needs
a 401 with a Basic challenge, and public repositories are readable without being a member;
protocol_auth applies the same membership rule itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import subprocess
import tempfile
import threading

from flask import Blueprint, Response, current_app, request

from taiji.platform import auth, protocol_auth
from taiji.platform.db import db
from taiji.platform.errors import msg
from taiji.platform.limits import body_limit

from . import services
from .hooks import HookListener, PushContext
from .permissions import Perm

log = logging.getLogger("taiji.vcs.git")

bp = Blueprint("vcs_git", __name__)

BACKEND = "/usr/lib/git-core/git-http-backend"
CHUNK = 64 * 1024
SERVICES = ("git-upload-pack", "git-receive-pack")
GIT_PROTOCOL = re.compile(r"^[A-Za-z0-9=:.,_-]{1,200}$")
# git asks for a user name and password on a Basic challenge (any name, a token as the password);
# ``git -c http.extraHeader="Authorization: Bearer ..."`` works too.
FETCH = protocol_auth.Protocol(
    realm="Taiji",
    bad_credentials=msg("Authentication failed: the password must be a valid personal access token."),
    anonymous=msg("Authentication required: a personal access token is the password."),
    not_found=msg("Repository not found."),
    forbidden=msg("You need the permission %(permission)s to read this repository."),
)
PUSH = dataclasses.replace(
    FETCH, forbidden=msg("You need the permission %(permission)s to push to this repository."))


def _text(status: int, message: str, **headers) -> Response:
    return Response(message.rstrip("\n") + "\n", status=status, mimetype="text/plain", headers=headers)


def _service(rest: str) -> str | None:
    """Which smart-protocol service a request is for; None for anything else (dumb HTTP, files)."""
    if rest == "info/refs" and request.method in ("GET", "HEAD"):
        name = request.args.get("service")
        return name if name in SERVICES else None
    if rest in SERVICES and request.method == "POST":
        return rest
    return None


def _repository(tenant):
    return services.find_repository(tenant, request.view_args["repo_name"])


@bp.route("/git/<tenant_slug>/<repo_name>.git/<path:rest>", methods=["GET", "POST"])
@auth.protocol(Perm.REPOSITORY_READ, Perm.REPOSITORY_WRITE)
@body_limit(None)  # a push streams into git; the storage quota bounds it
def smart_http(tenant_slug: str, repo_name: str, rest: str):
    service = _service(rest)
    if service is None:
        return _text(404, "Not a Git smart-HTTP address.")
    writing = service == "git-receive-pack"
    try:
        granted = protocol_auth.authorize(
            PUSH if writing else FETCH, Perm.REPOSITORY_WRITE if writing else Perm.REPOSITORY_READ,
            writing=writing, find=_repository, is_public=lambda repo: repo.visibility == "public")
    except protocol_auth.Refusal as refusal:
        return _text(refusal.status, refusal.detail, **refusal.headers)
    principal, tenant, repo = granted.principal, granted.tenant, granted.resource

    if repo.kind == "external":
        if writing:
            # The forge is the source of truth: the next mirror fetch (--prune) would silently undo
            # anything pushed here, so refuse before git reads a byte.
            return _text(403, f"Taiji refused this push: {repo.name} mirrors an external repository; "
                              f"push to {_forge_url(repo)} instead.")
        path = services.local_git_dir(repo)
        if path is None:
            return _text(404, "This external repository has no mirror in Taiji yet; clone it from "
                              f"{_forge_url(repo)}.")
    else:
        path = services.repository_path(repo)
        if not path.exists():
            return _text(404, "Repository not found.")
    listener = None
    if writing and request.method == "POST":  # the ref advertisement before it runs no hook
        services.install_hooks(path)
        listener = HookListener(current_app._get_current_object(), PushContext(
            tenant_id=tenant.id, repository_id=repo.id,
            pusher={"id": principal.user_id, "email": principal.email, "name": principal.name},
            roles=granted.roles, is_admin=principal.is_admin))
    env = _cgi_environ(path, rest, principal, listener)
    if listener is not None:
        _limit_idle_upload()
    # Nothing of this request's unit of work may stay open while git runs: on SQLite an open write
    # (a token's last use) would lock out the hooks' own units of work.
    db.session.commit()
    return _run_backend(env, listener)


def _limit_idle_upload() -> None:
    """A push whose client went silent mid-pack (a laptop closed, a network gone without a word)
    would otherwise keep git waiting for the rest forever, and with it its quarantine folder and
    a server thread. A read that waits longer than ``VCS_PUSH_IDLE_SECONDS`` fails instead: the
    backend's input ends, git gives up and removes what it received. Set on the connection's
    socket, which both servers Taiji runs under expose (gunicorn resets it for the next request)."""
    seconds = current_app.config.get("VCS_PUSH_IDLE_SECONDS") or 0
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if seconds > 0 and sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.settimeout(seconds)


def _forge_url(repo) -> str:
    from .services import external

    return external.scrub(external.remote_url(repo), None)


def _cgi_environ(path, rest: str, principal, listener) -> dict:
    # A clean environment: the backend and the hooks it runs get no platform secret.
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(path.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PROJECT_ROOT": str(path.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{path.name}/{rest}",
        "QUERY_STRING": request.query_string.decode("latin-1"),
        "REQUEST_METHOD": request.method,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "REMOTE_ADDR": request.remote_addr or "",
    }
    if principal is not None:
        env["REMOTE_USER"] = principal.email  # non-empty: receive-pack is allowed by the backend
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = str(request.content_length)
    encoding = request.headers.get("Content-Encoding")
    if encoding:
        env["HTTP_CONTENT_ENCODING"] = encoding
    protocol = request.headers.get("Git-Protocol")
    if protocol and GIT_PROTOCOL.match(protocol):
        env["GIT_PROTOCOL"] = protocol
    if listener is not None:
        env.update(listener.environ())
    return env


def _feed(stream, stdin) -> None:
    try:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            stdin.write(chunk)
    except Exception as exc:
        # The backend stopped reading (it refused the request; its answer says why), or the client
        # went away or silent (a timeout): git then sees the pack cut short and removes it.
        log.info("the request body ended early", extra={"reason": type(exc).__name__})
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


def _run_backend(env: dict, listener) -> Response:
    stream = request.stream  # taken here: the feeding thread has no request context
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish(), after the response streamed
    proc = subprocess.Popen([BACKEND], stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603 - fixed program
                            stderr=errors, env=env, bufsize=0)
    feeder = threading.Thread(target=_feed, args=(stream, proc.stdin), name="vcs-feed", daemon=True)
    feeder.start()

    def finish():
        feeder.join(timeout=30)
        proc.stdout.close()
        code = proc.wait()
        if listener is not None:
            listener.close()
        if code != 0:
            errors.seek(0)
            log.warning("git http-backend failed", extra={"code": code, "stderr": errors.read(4000).decode(
                "utf-8", "replace")})
        errors.close()

    status, headers = 200, []
    try:
        while True:
            line = proc.stdout.readline()
            if not line or line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "status":
                status = int(value.strip().split(" ", 1)[0])
            else:
                headers.append((name.strip(), value.strip()))
    except Exception:
        proc.kill()
        finish()
        raise

    def body():
        try:
            while True:
                chunk = proc.stdout.read(CHUNK)  # unbuffered: whatever is there, up to CHUNK
                if not chunk:
                    break
                yield chunk
        finally:
            finish()  # also when the client goes away mid-clone: closing stdout stops the backend

    return Response(body(), status=status, headers=headers, direct_passthrough=True)
