"""External repositories: registration, webhook secrets and deliveries, and local mirrors.

An external repository is a ``vcs_repository`` row of kind "external" plus an
``ExternalSource`` saying where it lives. Its forge calls our webhook receiver on every push;
with ``mirror`` on, Taiji also keeps a ``git clone --mirror`` of it at the place a hosted
repository would live, so browsing and pipelines work without reaching the forge.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from taiji.platform import audit, crypto
from taiji.platform.db import db, utcnow
from taiji.platform.errors import Conflict, Invalid, NotFound, field_error

from ..models import Repository
from ..models_external import DEFAULT_MIRROR_INTERVAL_S, PROVIDERS, ExternalSource, WebhookDelivery

SECRET_PURPOSE = "vcs.webhook"  # noqa: S105 - the name of a kind of secret, not a secret
CREDENTIALS_PURPOSE = "vcs.mirror"
MIN_INTERVAL_S, MAX_INTERVAL_S = 60, 7 * 86400
FETCH_TIMEOUT_S = 900
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+$")
# Only network transports: ``file://`` or ``ext::`` would let a tenant read the server's own disk.
ALLOWED_PROTOCOLS = "http:https:ssh:git"


# -- validation ----------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """An http(s), ssh or git URL (or ``user@host:path``) of a remote repository, with no password."""
    url = (url or "").strip()
    if not url or len(url) > 500 or url.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise field_error("url", "Give the repository's http(s), ssh or git URL.")
    if _SCP_LIKE.match(url):
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise field_error("url", "This is not a valid URL.") from exc
    if parts.scheme not in ("http", "https", "ssh", "git") or not parts.hostname:
        raise field_error("url", "Use an http://, https://, ssh:// or git:// URL.")
    if parts.password is not None:
        raise field_error("url", "Leave credentials out of the URL; give them as mirror credentials, "
                                 "which are stored encrypted.")
    return url


def _check_spec(spec: dict) -> dict:
    if not isinstance(spec, dict):
        raise field_error("external", "Describe the external repository as an object.")
    provider = spec.get("provider") or "git"
    if provider not in PROVIDERS:
        raise field_error("provider", f"Must be one of: {', '.join(PROVIDERS)}.")
    interval = spec.get("mirror_interval_s", DEFAULT_MIRROR_INTERVAL_S)
    if isinstance(interval, bool) or not isinstance(interval, int) \
            or not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
        raise field_error("mirror_interval_s", f"Between {MIN_INTERVAL_S} and {MAX_INTERVAL_S} seconds.")
    credentials = spec.get("mirror_credentials")
    if credentials is None and spec.get("password"):  # the REST schema's flat username/password
        credentials = {"username": spec.get("username"), "password": spec["password"]}
    if credentials is not None:
        if not isinstance(credentials, dict) or not isinstance(credentials.get("password"), str) \
                or not credentials["password"] or not isinstance(credentials.get("username") or "", str):
            raise field_error("mirror_credentials",
                              'Give {"username": ..., "password": ...}; the password may be an access token.')
        credentials = {"username": credentials.get("username") or "git", "password": credentials["password"]}
    return {"provider": provider, "url": check_url(spec.get("url")), "mirror": bool(spec.get("mirror")),
            "mirror_interval_s": interval, "mirror_credentials": credentials}


# -- reads ---------------------------------------------------------------------------------------


def source_of(repo) -> ExternalSource | None:
    return db.session.execute(
        sa.select(ExternalSource).where(ExternalSource.repository_id == repo.id)).scalar_one_or_none()


def source_by_hook(hook_id: str) -> tuple[ExternalSource, Repository] | None:
    """The source and repository a webhook URL names; None when unknown or deleted."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,40}", hook_id or ""):
        return None
    row = db.session.execute(
        sa.select(ExternalSource, Repository).join(Repository, Repository.id == ExternalSource.repository_id)
        .where(ExternalSource.hook_id == hook_id, Repository.deleted_at.is_(None))).first()
    return (row[0], row[1]) if row else None


def remote_url(repo) -> str:
    """Where the repository lives on its forge."""
    source = source_of(repo)
    if source is None:
        raise NotFound("This repository has no external source.")
    return source.url


def mirror_dir(repo) -> Path:
    """Where the mirror lives: the same place a hosted repository of that name would."""
    from .repositories import repository_path

    return repository_path(repo)


def webhook_url(source: ExternalSource) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/hooks/vcs/{source.hook_id}"


def webhook_secret(source: ExternalSource) -> str:
    return crypto.unseal(source.webhook_secret, SECRET_PURPOSE).decode()


def recent_deliveries(source: ExternalSource, limit: int = 20) -> list[WebhookDelivery]:
    stmt = (sa.select(WebhookDelivery).where(WebhookDelivery.source_id == source.id)
            .order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc()).limit(limit))
    return list(db.session.execute(stmt).scalars())


# -- changes -------------------------------------------------------------------------------------


def register(tenant, repo, spec: dict, *, actor=None) -> dict:
    """Attach an external source to ``repo`` (kind "external").

    Returns ``{"webhook_url", "webhook_secret"}``: the secret is shown this once; it is stored
    sealed. With ``mirror`` on, the first fetch is queued after commit.
    """
    data = _check_spec(spec)
    if repo.kind != "external":
        raise Invalid("Only an external repository can follow a forge.")
    if source_of(repo) is not None:
        raise Conflict("This repository already has an external source.")
    secret = secrets.token_urlsafe(32)
    source = ExternalSource(
        tenant_id=tenant.id, repository_id=repo.id, provider=data["provider"], url=data["url"],
        hook_id=secrets.token_urlsafe(18), webhook_secret=crypto.seal(secret, SECRET_PURPOSE),
        mirror=data["mirror"], mirror_interval_s=data["mirror_interval_s"],
        mirror_credentials=(crypto.seal(json.dumps(data["mirror_credentials"]), CREDENTIALS_PURPOSE)
                            if data["mirror_credentials"] else None),
    )
    db.session.add(source)
    db.session.flush()
    audit.record("vcs.external.registered", "repository", repo.name, tenant=tenant, actor=actor,
                 details={"provider": source.provider, "url": source.url, "mirror": source.mirror})
    if source.mirror:
        _queue_fetch(repo.id)
    return {"webhook_url": webhook_url(source), "webhook_secret": secret}


def create_external(tenant, data: dict, *, actor=None) -> tuple[Repository, dict]:
    """Create a repository of kind "external" from ``{"name", ..., "external": {...}}`` and register it."""
    from .repositories import create_repository

    _check_spec(data.get("external"))  # refuse bad input before anything is created
    repo = create_repository(tenant, {k: v for k, v in data.items() if k != "external"}, actor=actor,
                             kind="external")
    return repo, register(tenant, repo, data["external"], actor=actor)


def rotate_secret(tenant, repo, *, actor=None) -> dict:
    """A new webhook secret (the old one stops working at once); shown this once."""
    source = source_of(repo)
    if source is None:
        raise NotFound("This repository has no external source.")
    secret = secrets.token_urlsafe(32)
    source.webhook_secret = crypto.seal(secret, SECRET_PURPOSE)
    db.session.flush()
    audit.record("vcs.external.secret_rotated", "repository", repo.name, tenant=tenant, actor=actor)
    return {"webhook_url": webhook_url(source), "webhook_secret": secret}


def update_source(tenant, repo, spec: dict, *, actor=None) -> ExternalSource:
    """Change where the repository lives or how it is mirrored (a new token, another interval).

    Keys left out keep their value; ``mirror_credentials: null`` removes the credentials.
    Turning the mirror on queues a fetch.
    """
    source = source_of(repo)
    if source is None:
        raise NotFound("This repository has no external source.")
    current = {"provider": source.provider, "url": source.url, "mirror": source.mirror,
               "mirror_interval_s": source.mirror_interval_s}
    data = _check_spec({**current, **spec})
    changes = {key: data[key] for key in current if data[key] != current[key]}
    for key, value in changes.items():
        setattr(source, key, value)
    if "mirror_credentials" in spec or "password" in spec:
        source.mirror_credentials = (crypto.seal(json.dumps(data["mirror_credentials"]), CREDENTIALS_PURPOSE)
                                     if data["mirror_credentials"] else None)
        changes["mirror_credentials"] = "changed" if data["mirror_credentials"] else "removed"
    if changes.get("url") or changes.get("mirror") or "mirror_credentials" in changes:
        source.last_error = None
        source.last_attempt_at = None  # due at once
    db.session.flush()
    audit.record("vcs.external.updated", "repository", repo.name, tenant=tenant, actor=actor, details=changes)
    if source.mirror and (changes.get("mirror") or "url" in changes or "mirror_credentials" in changes):
        _queue_fetch(repo.id)
    return source


def record_delivery(source: ExternalSource, delivery_id: str, event: str, outcome: str) -> bool:
    """Remember a delivery; False when the forge sent this delivery id before (a redelivery)."""
    try:
        with db.session.begin_nested():
            db.session.add(WebhookDelivery(source_id=source.id, delivery_id=delivery_id[:100],
                                           event=event[:50], outcome=outcome[:50]))
    except IntegrityError:
        return False
    return True


def request_fetch(repo) -> None:
    """Queue a mirror fetch after commit (a push webhook arrived, or someone asked)."""
    source = source_of(repo)
    if source is not None and source.mirror:
        _queue_fetch(repo.id)


def _queue_fetch(repo_id: int) -> None:
    from taiji.platform.db import after_commit

    def send():
        from ..mirror_tasks import enqueue_fetch

        enqueue_fetch(repo_id)

    after_commit(send)


# -- mirrors -------------------------------------------------------------------------------------


def claim_due_mirrors(now=None, limit: int = 200) -> list[int]:
    """Ids of the repositories whose mirror should be fetched now, marked as attempted so that
    the next scan does not queue them again while their fetch waits for a worker."""
    now = now or utcnow()
    stmt = (sa.select(ExternalSource).join(Repository, Repository.id == ExternalSource.repository_id)
            .where(ExternalSource.mirror.is_(True), Repository.deleted_at.is_(None))
            .order_by(ExternalSource.last_attempt_at.is_not(None), ExternalSource.last_attempt_at))
    due = [s for s in db.session.execute(stmt.limit(limit * 4)).scalars() if s.fetch_due(now)][:limit]
    for source in due:
        source.last_attempt_at = now
    db.session.flush()
    return [s.repository_id for s in due]


def _credentials(source: ExternalSource) -> dict | None:
    if not source.mirror_credentials:
        return None
    return json.loads(crypto.unseal(source.mirror_credentials, CREDENTIALS_PURPOSE))


def _askpass() -> Path:
    """A script git asks for the username and password: it answers from the environment, so the
    credentials never appear in a URL, a command line or a config file."""
    path = Path(current_app.config["DATA_DIR"]) / "vcs" / "askpass.sh"
    body = ("#!/bin/sh\n"
            "case \"$1\" in\n"
            "  Username*) printf '%s\\n' \"$TAIJI_MIRROR_USERNAME\" ;;\n"
            "  *) printf '%s\\n' \"$TAIJI_MIRROR_PASSWORD\" ;;\n"
            "esac\n")
    if not path.exists() or path.read_text() != body:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        path.chmod(stat.S_IRWXU)
    return path


def _git_env(credentials: dict | None) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "TAIJI_MIRROR_"))}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
                "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"})
    if credentials:
        env.update({"GIT_ASKPASS": str(_askpass()), "TAIJI_MIRROR_USERNAME": credentials["username"],
                    "TAIJI_MIRROR_PASSWORD": credentials["password"]})
    return env


def scrub(text: str, credentials: dict | None) -> str:
    """An error message fit to store and show: no credentials, no user info in URLs."""
    text = re.sub(r"(://)[^/@\s]+@", r"\1***@", text or "")
    for secret in ((credentials or {}).get("password"), ):
        if secret:
            text = text.replace(secret, "***")
    return text.strip()[-2000:]


def _git(args: list[str], env: dict) -> None:
    # credential.helper is emptied so that no helper of the host stores or supplies credentials.
    result = subprocess.run(["git", "-c", "credential.helper=", *args], env=env, capture_output=True,  # noqa: S603,S607
                            timeout=FETCH_TIMEOUT_S, text=True, errors="replace")
    if result.returncode != 0:
        raise RuntimeError(result.stderr or result.stdout or f"git exited with {result.returncode}")


def fetch_mirror(repo_id: int) -> bool:
    """Clone (the first time) or fetch the mirror of repository ``repo_id``; True when it worked.

    Errors are recorded on the source, scrubbed of credentials, and shown in the console;
    the next attempt comes after the mirror's interval (or with the next push webhook).
    """
    from .repositories import refresh_size

    repo = db.session.get(Repository, repo_id)
    source = source_of(repo) if repo is not None and not repo.is_deleted else None
    if source is None or not source.mirror:
        return False
    credentials = _credentials(source)
    env = _git_env(credentials)
    path = mirror_dir(repo)
    source.last_attempt_at = utcnow()
    try:
        if not (path / "HEAD").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _git(["clone", "--quiet", "--mirror", "--", source.url, str(path)], env)
        else:
            _git(["-C", str(path), "remote", "set-url", "origin", "--", source.url], env)
            _git(["-C", str(path), "fetch", "--quiet", "--prune", "origin"], env)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        message = "git timed out" if isinstance(exc, subprocess.TimeoutExpired) else str(exc)
        source.last_error = scrub(message, credentials) or "git failed"
        db.session.flush()
        return False
    source.last_error = None
    source.last_fetched_at = utcnow()
    refresh_size(repo)
    db.session.flush()
    return True
