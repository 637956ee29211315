"""Pushes to mirrored external repositories, announced once the mirror has their commit.

``vcs.push`` tells its subscribers that a commit exists in Taiji: CI reads ``.taiji.yml`` at
``after`` and clones the repository's local copy. A forge's webhook arrives before Taiji's mirror
has fetched the commit, and a large push can take the fetch longer than the event takes to reach
CI — which then found no file at that commit and, nothing retrying, the push lost its pipeline.
So for a mirrored repository the webhook keeps the push (``PendingPush``) and asks for a fetch,
and the fetch that brings the commit publishes it, in the transaction recording the fetch.

Pushes of one repository are announced in the order their webhooks came: a push whose commit is
already in the mirror still waits behind earlier ones. A push whose commit a completed fetch did
not bring, though the fetch started after the webhook, is no longer on the forge (force-pushed
away before Taiji looked): it is dropped, and its delivery says so. Repositories followed without
a mirror have no local commit to wait for: their pushes are published at once, as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from taiji.platform.db import db

from ..models import Repository
from ..models_external import ExternalSource, PendingPush, WebhookDelivery
from .external import queue_fetch, source_of
from .pushes import publish_push
from .repositories import local_git_dir, run_git

log = logging.getLogger("taiji.vcs.mirrors")

ZERO = "0" * 40
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
PUBLISHED, WAITING, GONE = "published", "awaiting mirror", "gone upstream"


def has_commit(repo: Repository, sha: str) -> bool:
    """Whether the repository's local copy holds commit ``sha``."""
    path = local_git_dir(repo)
    if path is None or not SHA.match(sha or ""):
        return False
    return run_git("-C", str(path), "cat-file", "-e", f"{sha}^{{commit}}").returncode == 0


def _waiting(repo: Repository) -> bool:
    return db.session.execute(sa.select(PendingPush.id).where(PendingPush.repository_id == repo.id)
                              .limit(1)).first() is not None


def accept(repo: Repository, push: dict, *, key: str, delivery_id: str | None = None) -> str:
    """A push a webhook announced: publish it now, or keep it for the fetch that brings its commit.

    Returns the delivery's outcome: "published" or "awaiting mirror". A mirror fetch is queued
    after commit either way (the mirror follows the forge).
    """
    source = source_of(repo)
    mirrored = source is not None and source.mirror
    if mirrored:
        queue_fetch(repo.id)
    arrived = push["after"] == ZERO or has_commit(repo, push["after"])
    if not mirrored or (arrived and not _waiting(repo)):
        publish_push(repo, push["ref"], push["before"], push["after"], push["pusher"], push["commits"],
                     key=key)
        return PUBLISHED
    try:
        with db.session.begin_nested():
            db.session.add(PendingPush(repository_id=repo.id, key=key[:255], delivery_id=delivery_id,
                                       ref=push["ref"], before=push["before"], after=push["after"],
                                       pusher=push["pusher"], commits=push["commits"]))
    except IntegrityError:
        pass  # the same push kept already
    return WAITING


def _outcome(repo_id: int, delivery_id: str | None, outcome: str) -> None:
    if not delivery_id:
        return
    sources = sa.select(ExternalSource.id).where(ExternalSource.repository_id == repo_id)
    mine = WebhookDelivery.source_id.in_(sources) & (WebhookDelivery.delivery_id == delivery_id)
    db.session.execute(sa.update(WebhookDelivery).where(mine).values(outcome=outcome)
                       .execution_options(synchronize_session=False))


def publish_arrived(repo_id: int, fetch_started: dt.datetime) -> int:
    """After a successful fetch of the mirror of ``repo_id`` (claimed at ``fetch_started``):
    publish the waiting pushes whose commit it has, in order; drop those it should have brought
    and did not. Returns how many were published."""
    rows = list(db.session.execute(sa.select(PendingPush).where(PendingPush.repository_id == repo_id)
                                   .order_by(PendingPush.id)).scalars())
    if not rows:
        return 0
    repo = db.session.get(Repository, repo_id)
    published = 0
    for row in rows:
        if row.after == ZERO or has_commit(repo, row.after):
            publish_push(repo, row.ref, row.before, row.after, row.pusher, row.commits or [], key=row.key)
            _outcome(repo_id, row.delivery_id, PUBLISHED)
            published += 1
        elif row.created_at <= fetch_started:
            log.warning("a pushed commit was not on the forge any more when the mirror fetched; "
                        "the push is not announced", extra={"repository": repo_id, "ref": row.ref,
                                                            "after": row.after})
            _outcome(repo_id, row.delivery_id, GONE)
        else:
            # The webhook came after this fetch had started: the next fetch (already asked for) decides.
            break
        db.session.delete(row)
    db.session.flush()
    return published
