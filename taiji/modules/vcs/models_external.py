"""Repositories that live on a forge (GitHub, GitLab, Gitea, any Git server): where they are,
how their webhooks are verified, their optional local mirror, and the deliveries received."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, timestamp, utcnow

PROVIDERS = ("github", "gitlab", "gitea", "git")
DEFAULT_MIRROR_INTERVAL_S = 300


class ExternalSource(TenantOwnedMixin, TimestampMixin, Model):
    """One external repository, attached to the ``vcs_repository`` row that stands for it."""

    __tablename__ = "vcs_external_source"

    id: Mapped[intpk]
    repository_id: Mapped[int] = mapped_column(
        sa.ForeignKey("vcs_repository.id", ondelete="CASCADE"), unique=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    url: Mapped[str] = mapped_column(sa.String(500))
    # The receiver's URL names the source by this random id rather than by tenant and
    # repository, so an unauthenticated caller cannot probe which repositories exist.
    hook_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    webhook_secret: Mapped[str] = mapped_column(sa.Text)  # sealed, purpose "vcs.webhook"
    mirror: Mapped[bool] = mapped_column(default=False)
    mirror_credentials: Mapped[str | None] = mapped_column(sa.Text)  # sealed JSON, purpose "vcs.mirror"
    mirror_interval_s: Mapped[int] = mapped_column(default=DEFAULT_MIRROR_INTERVAL_S)
    last_fetched_at: Mapped[timestamp | None]  # last successful fetch
    # Last attempt, successful or not: a failing mirror waits its interval like a working one.
    last_attempt_at: Mapped[timestamp | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # The fetch running now, if any (services/mirrors.py): a worker takes the mirror with a
    # conditional UPDATE and holds it until ``fetch_claimed_until`` (a lease, so that a worker that
    # died does not keep it), with no database transaction open while git runs.
    fetch_claim: Mapped[str | None] = mapped_column(sa.String(40))
    fetch_claimed_until: Mapped[timestamp | None]
    # Someone asked for a fetch while one ran (a push arrived): fetch again when it ends.
    fetch_again: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    def fetch_due(self, now: dt.datetime | None = None) -> bool:
        if not self.mirror:
            return False
        if self.last_attempt_at is None:
            return True
        return (now or utcnow()) >= self.last_attempt_at + dt.timedelta(seconds=self.mirror_interval_s)


class WebhookDelivery(Model):
    """One delivery a forge sent; the unique pair makes a redelivery a no-op."""

    __tablename__ = "vcs_webhook_delivery"
    __table_args__ = (sa.UniqueConstraint("source_id", "delivery_id"),)

    id: Mapped[intpk]
    source_id: Mapped[int] = mapped_column(
        sa.ForeignKey("vcs_external_source.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[str] = mapped_column(sa.String(100))
    event: Mapped[str] = mapped_column(sa.String(50))
    received_at: Mapped[timestamp] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(sa.String(50))


class PendingPush(Model):
    """A push a forge announced whose commit the mirror does not have yet.

    ``vcs.push`` promises that its commit exists in Taiji: CI reads ``.taiji.yml`` at ``after``
    and clones the mirror. For a mirrored repository the webhook therefore only records the push
    and asks for a fetch; the fetch that brings the commit publishes it (services/mirror_pushes.py).
    """

    __tablename__ = "vcs_pending_push"
    __table_args__ = (sa.UniqueConstraint("repository_id", "key"),)

    id: Mapped[intpk]
    repository_id: Mapped[int] = mapped_column(sa.ForeignKey("vcs_repository.id", ondelete="CASCADE"),
                                               index=True)
    key: Mapped[str] = mapped_column(sa.String(255))  # publish_push's key: a retry publishes once
    delivery_id: Mapped[str | None] = mapped_column(sa.String(100))
    ref: Mapped[str] = mapped_column(sa.String(255))
    before: Mapped[str] = mapped_column(sa.String(64))
    after: Mapped[str] = mapped_column(sa.String(64))
    pusher: Mapped[dict | None] = mapped_column(sa.JSON)
    commits: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
