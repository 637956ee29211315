"""Accepted pushes: the ``vcs.push`` event, published once per ref update."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from taiji.platform import audit, events
from taiji.platform.db import db
from taiji.platform.tenancy import Tenant

from ..events import PUSH
from ..models import Push, Repository
from . import storage
from .gitdata import push_commits
from .repositories import refresh_size

MAX_COMMITS = 100
MAX_REF = 255  # what vcs_push.ref keeps: a longer name could never be matched with its tip again
PREFIXES = ("refs/heads/", "refs/tags/")


def shown_ref(ref: str) -> str:
    """A ref name fit for a message: bytes that are not UTF-8 written as ``\\xe9``."""
    return ref.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def unusable_ref(ref: str) -> str | None:
    """Why Taiji cannot keep ``ref`` (as the hook received it), or None.

    git allows any bytes but a few in a ref name; Taiji keeps names as text in its database, its
    events and its pages, so a name that is not UTF-8 (it arrives with its bytes escaped) or is too
    long to store whole is refused before anything is written, rather than written and then never
    announced.
    """
    try:
        ref.encode("utf-8")
    except UnicodeEncodeError:
        return (f"the ref name '{shown_ref(ref)}' is not valid UTF-8. Taiji keeps ref names as text; "
                f"name the branch or tag in UTF-8.")
    if len(ref) > MAX_REF:
        return f"the ref name '{ref[:60]}…' is longer than {MAX_REF} characters."
    return None


def published_tips(repo: Repository) -> dict[str, tuple[str, str]]:
    """ref -> (before, after) of the newest published update of each branch and tag."""
    newest = (sa.select(sa.func.max(Push.id)).where(Push.repository_id == repo.id)
              .group_by(Push.ref).scalar_subquery())
    rows = db.session.execute(sa.select(Push.ref, Push.before, Push.after).where(Push.id.in_(newest)))
    return {ref: (before, after) for ref, before, after in rows if ref.startswith(PREFIXES)}


def announce_push(repo: Repository, updates: list[tuple[str, str, str]], pusher: dict | None,
                  push_id: str) -> int:
    """Publish ``vcs.push`` for each ref update of one push that landed; returns how many.

    What the post-receive hook does, and what a retry of it does later: an update published
    already (by this push's hook, or by the reconciliation task, which got there first) is not
    published again. Then the repository is measured.
    """
    published = 0
    already = published_tips(repo)
    for before, after, ref in updates:
        if already.get(ref) == (before, after):
            continue
        commits = push_commits(repo, ref, before, after)
        if publish_push(repo, ref, before, after, pusher, commits, key=f"http:{push_id}:{ref}"):
            published += 1
    refresh_size(repo)
    # Measured now, with this push's objects in: the room held for it goes in the same transaction.
    storage.release(push_id)
    return published


def publish_push(repo: Repository, ref: str, before: str, after: str, pusher: dict | None,
                 commits: list[dict], *, key: str | None = None) -> bool:
    """Publish ``vcs.push`` for one ref update; returns False when ``key`` was published already.

    ``key`` identifies the update for its sender (the smart-HTTP push id, a webhook's delivery
    id, each with the ref): a retried hook or a redelivered webhook publishes nothing new.
    """
    key = (key or f"once:{uuid.uuid4()}")[:255]
    tenant = db.session.get(Tenant, repo.tenant_id)
    try:
        with db.session.begin_nested():
            db.session.add(Push(repository_id=repo.id, key=key, ref=ref[:255], before=before, after=after,
                                pusher_id=(pusher or {}).get("id"), commit_count=len(commits)))
    except IntegrityError:
        return False
    payload = {
        "tenant": tenant.slug,
        "repository": repo.name,
        "ref": ref,
        "before": before,
        "after": after,
        "pusher": pusher,
        "commits": commits[:MAX_COMMITS],
    }
    events.publish(PUSH, payload, tenant=tenant)
    audit.record("vcs.repository.pushed", "repository", repo.name, tenant=tenant,
                 actor=_Actor(pusher) if pusher else None,
                 details={"ref": ref, "before": before, "after": after, "commits": len(commits)})
    return True


class _Actor:
    """The pusher as the audit log names an actor."""

    def __init__(self, pusher: dict):
        self.user_id = pusher.get("id")
        self.email = pusher.get("email")
