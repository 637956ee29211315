"""The other end of the repository hooks: a Unix socket opened by the request serving one push.

The pre-receive hook sends the ref updates (and where git quarantined the objects received) and
gets back whether to accept; nothing is written when it refuses. The post-receive hook, after the
refs moved, sends them again and Taiji publishes ``vcs.push`` once per ref update and measures
the repository. Each hook call is answered in its own unit of work, with its own app context:
the serving request's session is not shared with this thread. See services/hookscript.py for why
a socket rather than anything that would carry platform secrets into the hook's environment.

By the time post-receive runs the push has landed, whatever happens next: recording it may fail
(SQLite busy with another writer, the database restarting) but must neither be lost nor be
reported to the pusher as "nothing was written". So post-receive tries again for
``VCS_HOOK_RETRY_SECONDS``; then it hands the push to a task that keeps trying, tells the pusher
the truth (written, announced later), and the reconciliation task (services/reconcile.py)
remains the net under both.
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
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from taiji.platform.db import db
from taiji.platform.errors import Conflict
from taiji.platform.tenancy import Tenant

from . import services
from .models import Repository
from .services import storage

log = logging.getLogger("taiji.vcs.hooks")

MAX_REQUEST = 4 * 1024 * 1024
SHA = frozenset("0123456789abcdef")
FAILED = ("Taiji could not check this push; nothing was written. "
          "Try again, and tell an administrator if it persists.")
# Post-receive runs after the refs moved: its failures must not claim otherwise.
RECORDED_LATER = ("Taiji: your push was written, but Taiji could not record it yet; it will be announced "
                  "(pipelines, notifications) within a few minutes.")


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
            self._release()

    def _release(self) -> None:
        """The push is over (git exited): room still held for it (refused after the check, cut off,
        or not measured by a post-receive that gave up) goes, and the repository is measured."""
        with self.app.app_context():
            try:
                if storage.release(self.push_id):
                    repo = db.session.get(Repository, self.context.repository_id)
                    if repo is not None:
                        services.refresh_size(repo)
                    db.session.commit()
            except Exception:  # the hourly tidy-up drops it then
                db.session.rollback()
                log.warning("could not let go of a push's storage reservation", exc_info=True,
                            extra={"push_id": self.push_id})
            finally:
                db.session.remove()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            with conn:
                hook = None
                try:
                    message = self._read(conn)
                    hook = message.get("hook") if isinstance(message, dict) else None
                    reply = self._answer(message)
                except Exception:
                    log.exception("push hook failed", extra={"push_id": self.push_id, "hook": hook})
                    landed = hook == "post-receive"
                    reply = {"ok": landed, "messages": [RECORDED_LATER if landed else FAILED]}
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
        quarantine = services.quarantine_of(repo, env)
        db.session.rollback()
        if not refusals:
            refusal = self._reserve(quarantine)
            refusals = [refusal] if refusal else []
        if refusals:
            return {"ok": False, "messages": [f"Taiji refused this push: {r}" for r in refusals]}
        return {"ok": True, "messages": []}

    def _reserve(self, quarantine) -> str | None:
        """Hold the push's room in the storage quota, in a transaction of its own that begins with
        the quota's lock; on SQLite a commit that slipped in before the lock is met by trying again."""
        for attempt in range(5):
            try:
                refusal = storage.reserve(self.context.tenant_id, self.context.repository_id, self.push_id,
                                          quarantine)
                if refusal:
                    db.session.rollback()
                else:
                    db.session.commit()
                return refusal
            except Conflict:
                db.session.rollback()
                time.sleep(0.1 * (attempt + 1))
        raise RuntimeError("the storage quota stayed busy")

    def _post_receive(self, updates) -> dict:
        deadline = time.monotonic() + float(self.app.config.get("VCS_HOOK_RETRY_SECONDS", 30))
        pause = 0.25
        while True:
            try:
                _, repo = self._load()
                if repo is not None:
                    services.announce_push(repo, updates, self.context.pusher, self.push_id)
                    db.session.commit()
                return {"ok": True, "messages": []}
            except Exception:
                db.session.rollback()
                if time.monotonic() + pause >= deadline:
                    log.exception("could not record a push that landed; handing it over",
                                  extra={"push_id": self.push_id, "repository": self.context.repository_id})
                    break
                log.warning("could not record a push that landed yet; trying again", exc_info=True,
                            extra={"push_id": self.push_id, "repository": self.context.repository_id})
                time.sleep(pause)
                pause = min(pause * 2, 4)
        self._hand_over(updates)
        return {"ok": True, "messages": [RECORDED_LATER]}

    def _hand_over(self, updates) -> None:
        """Queue the push's announcement for a worker, which keeps trying; if the broker is away
        too, the reconciliation task finds the moved refs (without the pusher's name)."""
        from .tasks import announce_push

        try:
            announce_push.apply_async((self.context.repository_id, self.push_id, [list(u) for u in updates],
                                       self.context.pusher), countdown=30, retry=False)
        except Exception:
            log.warning("could not queue the announcement of a push; reconciliation will find it",
                        exc_info=True, extra={"push_id": self.push_id})
