"""External repositories: registration, webhook secrets and deliveries, and local mirrors.

An external repository is a ``vcs_repository`` row of kind "external" plus an
``ExternalSource`` saying where it lives. Its forge calls our webhook receiver on every push;
with ``mirror`` on, Taiji also keeps a ``git clone --mirror`` of it at the place a hosted
repository would live, so browsing and pipelines work without reaching the forge.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from taiji.platform import audit, crypto
from taiji.platform.db import db
from taiji.platform.errors import Conflict, Invalid, NotFound, field_error, msg

from ..models import Repository
from ..models_external import DEFAULT_MIRROR_INTERVAL_S, PROVIDERS, ExternalSource, WebhookDelivery
from . import mirror_policy

SECRET_PURPOSE = "vcs.webhook"  # noqa: S105 - the name of a kind of secret, not a secret
CREDENTIALS_PURPOSE = "vcs.mirror"
MIN_INTERVAL_S, MAX_INTERVAL_S = 60, 7 * 86400


# -- validation ----------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """An http(s) or ssh URL (or ``user@host:path``) of a remote repository, with no password.

    Only network transports: ``file://`` or ``ext::`` would let a tenant read the server's own
    disk or run commands; ``git://`` is unauthenticated and unencrypted.
    """
    url = (url or "").strip()
    if not url or len(url) > 500 or url.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise field_error("url", msg("Give the repository's http(s) or ssh URL."))
    if mirror_policy.SCP_LIKE.match(url):
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise field_error("url", msg("This is not a valid URL.")) from exc
    if parts.scheme not in mirror_policy.SCHEMES or not parts.hostname:
        raise field_error("url", msg("Use an http://, https:// or ssh:// URL."))
    if parts.password is not None:
        raise field_error("url", msg("Leave credentials out of the URL; give them as mirror credentials, "
                                     "which are stored encrypted."))
    return url


def _check_spec(spec: dict) -> dict:
    if not isinstance(spec, dict):
        raise field_error("external", msg("Describe the external repository as an object."))
    provider = spec.get("provider") or "git"
    if provider not in PROVIDERS:
        raise field_error("provider", msg("Must be one of: %(providers)s.", providers=', '.join(PROVIDERS)))
    interval = spec.get("mirror_interval_s", DEFAULT_MIRROR_INTERVAL_S)
    if isinstance(interval, bool) or not isinstance(interval, int) \
            or not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
        raise field_error("mirror_interval_s", msg("Between %(low)s and %(high)s seconds.",
                                                   low=MIN_INTERVAL_S, high=MAX_INTERVAL_S))
    credentials = spec.get("mirror_credentials")
    if credentials is None and spec.get("password"):  # the REST schema's flat username/password
        credentials = {"username": spec.get("username"), "password": spec["password"]}
    if credentials is not None:
        if not isinstance(credentials, dict) or not isinstance(credentials.get("password"), str) \
                or not credentials["password"] or not isinstance(credentials.get("username") or "", str):
            raise field_error("mirror_credentials",
                              msg('Give {"username": ..., "password": ...}; the password may be an access '
                                  "token."))
        credentials = {"username": credentials.get("username") or "git", "password": credentials["password"]}
    return {"provider": provider, "url": check_url(spec.get("url")), "mirror": bool(spec.get("mirror")),
            "mirror_interval_s": interval, "mirror_credentials": credentials}


def _check_mirror_address(data: dict) -> None:
    """A mirror may fetch only from an address the egress policy allows (mirror_policy.py).

    A name that does not resolve from here is let through: the check before each fetch, on the
    worker, decides then. A repository that is only followed (no mirror) is never fetched from.
    """
    if data["mirror"]:
        verdict = mirror_policy.check(data["url"], unresolved_ok=True)
        if verdict.refused:
            raise field_error("url", verdict.refused)


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
        raise NotFound(msg("This repository has no external source."))
    return source.url


def mirror_dir(repo) -> Path:
    """Where the mirror lives: the same place a hosted repository of that name would."""
    from .repositories import repository_path

    return repository_path(repo)


def mirror_credentials(source: ExternalSource) -> dict | None:
    """``{"username", "password"}`` the mirror fetches with, unsealed; None when it has none."""
    if not source.mirror_credentials:
        return None
    return json.loads(crypto.unseal(source.mirror_credentials, CREDENTIALS_PURPOSE))


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
    _check_mirror_address(data)
    if repo.kind != "external":
        raise Invalid(msg("Only an external repository can follow a forge."))
    if source_of(repo) is not None:
        raise Conflict(msg("This repository already has an external source."))
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
        queue_fetch(repo.id)
    return {"webhook_url": webhook_url(source), "webhook_secret": secret}


def create_external(tenant, data: dict, *, actor=None) -> tuple[Repository, dict]:
    """Create a repository of kind "external" from ``{"name", ..., "external": {...}}`` and register it."""
    from .repositories import create_repository

    _check_mirror_address(_check_spec(data.get("external")))  # refuse bad input before anything is created
    repo = create_repository(tenant, {k: v for k, v in data.items() if k != "external"}, actor=actor,
                             kind="external")
    return repo, register(tenant, repo, data["external"], actor=actor)


def rotate_secret(tenant, repo, *, actor=None) -> dict:
    """A new webhook secret (the old one stops working at once); shown this once."""
    source = source_of(repo)
    if source is None:
        raise NotFound(msg("This repository has no external source."))
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
        raise NotFound(msg("This repository has no external source."))
    current = {"provider": source.provider, "url": source.url, "mirror": source.mirror,
               "mirror_interval_s": source.mirror_interval_s}
    data = _check_spec({**current, **spec})
    changes = {key: data[key] for key in current if data[key] != current[key]}
    if "url" in changes or "mirror" in changes:
        _check_mirror_address(data)
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
        queue_fetch(repo.id)
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


def set_delivery_outcome(source: ExternalSource, delivery_id: str, outcome: str) -> None:
    db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.source_id == source.id,
                                                        WebhookDelivery.delivery_id == delivery_id[:100])
                       .values(outcome=outcome[:50]).execution_options(synchronize_session=False))


def request_fetch(repo) -> None:
    """Queue a mirror fetch after commit (a push webhook arrived, or someone asked)."""
    source = source_of(repo)
    if source is not None and source.mirror:
        queue_fetch(repo.id)


def queue_fetch(repo_id: int) -> None:
    """Send the fetch task for ``repo_id`` once the current unit of work has committed."""
    from taiji.platform.db import after_commit

    def send():
        from ..mirror_tasks import enqueue_fetch

        enqueue_fetch(repo_id)

    after_commit(send)


def scrub(text: str, credentials: dict | None) -> str:
    """An error message fit to store and show: no credentials, no user info in URLs."""
    text = re.sub(r"(://)[^/@\s]+@", r"\1***@", text or "")
    for secret in ((credentials or {}).get("password"), ):
        if secret:
            text = text.replace(secret, "***")
    return text.strip()[-2000:]
