"""Accepted pushes: the ``vcs.push`` event, published once per ref update."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from taiji.platform import audit, events
from taiji.platform.db import db
from taiji.platform.tenancy import Tenant

from ..events import PUSH
from ..models import Push, Repository

MAX_COMMITS = 100


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
