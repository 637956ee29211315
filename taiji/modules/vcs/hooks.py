"""The other end of the repository hooks: a Unix socket opened by the request serving one push.

The pre-receive hook sends the ref updates (and where git quarantined the objects received) and
gets back whether to accept; nothing is written when it refuses. The post-receive hook, after the
refs moved, sends them again and Taiji publishes ``vcs.push`` once per ref update and measures
the repository. Each hook call is answered in its own unit of work, with its own app context:
the serving request's session is not shared with this thread. See services/hookscript.py for why
a socket rather than anything that would carry platform secrets into the hook's environment.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import secrets
import shutil
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from taiji.platform.db import db
from taiji.platform.tenancy import Tenant

from . import services
from .models import Repository

log = logging.getLogger("taiji.vcs.hooks")

MAX_REQUEST = 4 * 1024 * 1024
SHA = frozenset("0123456789abcdef")
FAILED = ("Taiji could not check this push; nothing was written. "
          "Try again, and tell an administrator if it persists.")


@dataclass(frozen=True)
class PushContext:
    tenant_id: int
    repository_id: int
    pusher: dict
    roles: tuple[str, ...]
    is_admin: bool


def _updates(raw) -> list[tuple[str, str, str]]:
    updates = []
    for item in raw or []:
        if (not isinstance(item, list) or len(item) != 3 or not all(isinstance(v, str) for v in item)
                or not set(item[0]) <= SHA or not set(item[1]) <= SHA or not item[2].startswith("refs/")):
            raise ValueError("malformed ref update")
        updates.append((item[0], item[1], item[2]))
    return updates


class HookListener:
    """One push's socket: started before ``git http-backend``, closed when it has exited."""

    def __init__(self, app, context: PushContext):
        self.app = app
        self.context = context
        self.token = secrets.token_urlsafe(32)
        self.push_id = uuid.uuid4().hex
        self._dir = Path(tempfile.mkdtemp(prefix="taiji-hook-"))  # mode 0700: only this user
        self.path = str(self._dir / "s")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(4)
        self._thread = threading.Thread(target=self._serve, name="vcs-hook", daemon=True)
        self._thread.start()

    def environ(self) -> dict:
        return {"TAIJI_HOOK_SOCKET": self.path, "TAIJI_HOOK_TOKEN": self.token}

    def close(self) -> None:
        try:
            # shutdown() wakes the thread blocked in accept(); close() alone does not on Linux.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        finally:
            self._thread.join(timeout=5)
            shutil.rmtree(self._dir, ignore_errors=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            with conn:
                try:
                    reply = self._answer(self._read(conn))
                except Exception:
                    log.exception("push hook failed", extra={"push_id": self.push_id})
                    reply = {"ok": False, "messages": [FAILED]}
                with contextlib.suppress(OSError):  # the hook gave up waiting
                    conn.sendall(json.dumps(reply).encode())

    def _read(self, conn) -> dict:
        conn.settimeout(60)
        data = b""
        while len(data) <= MAX_REQUEST:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return json.loads(data)

    def _answer(self, message: dict) -> dict:
        if not hmac.compare_digest(str(message.get("token", "")), self.token):
            return {"ok": False, "messages": ["Taiji: this push was not authorized."]}
        updates = _updates(message.get("updates"))
        hook = message.get("hook")
        with self.app.app_context():
            try:
                if hook == "pre-receive":
                    return self._pre_receive(updates, message.get("env") or {})
                if hook == "post-receive":
                    return self._post_receive(updates)
                return {"ok": False, "messages": [f"Taiji: unknown hook {hook!r}."]}
            finally:
                db.session.remove()

    def _load(self) -> tuple[Tenant, Repository]:
        tenant = db.session.get(Tenant, self.context.tenant_id)
        repo = db.session.get(Repository, self.context.repository_id)
        return tenant, repo

    def _pre_receive(self, updates, env) -> dict:
        tenant, repo = self._load()
        if repo is None or repo.is_deleted:
            return {"ok": False, "messages": ["Taiji: the repository was deleted."]}
        pusher = services.Pusher(self.context.pusher.get("id"), self.context.roles, self.context.is_admin)
        refusals = services.check_push(tenant, repo, updates, pusher, env)
        db.session.rollback()
        if refusals:
            return {"ok": False, "messages": [f"Taiji refused this push: {r}" for r in refusals]}
        return {"ok": True, "messages": []}

    def _post_receive(self, updates) -> dict:
        _, repo = self._load()
        published = 0
        already = services.published_tips(repo)
        for before, after, ref in updates:
            if already.get(ref) == (before, after):
                continue  # the reconciliation task got here first (this hook was that late)
            commits = services.push_commits(repo, ref, before, after)
            if services.publish_push(repo, ref, before, after, self.context.pusher, commits,
                                     key=f"http:{self.push_id}:{ref}"):
                published += 1
        services.refresh_size(repo)
        db.session.commit()
        return {"ok": True, "messages": []}
