"""VCS tables: repositories (hosted or external), their protected branches, and accepted pushes.

A repository's name is unique in its tenant among the repositories that are not deleted. The
unique constraint is on ``live_name``, which holds the name while the repository exists and
NULL once it is soft-deleted: both SQLite and PostgreSQL let NULLs repeat, so a deleted
repository does not block a new one of the same name, with no partial index to keep portable.

A name is therefore not an identity: a deleted ``x`` and a new ``x`` are two repositories, and
their files must never share a directory (purging one would delete the other, and a push through
one would skip the other's branch protection). So the directory is named by ``storage_key``, drawn
at random when the row is made and unique among all rows, never derived from the name.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, timestamp, utcnow

KINDS = ("hosted", "external")
VISIBILITIES = ("private", "public")
# Where repositories made since storage keys are random live, under the git root. Not a possible
# tenant slug (slugs start with a letter or digit), so no key of the older "<tenant>/<name>.git"
# layout, which existing repositories keep, can ever name a directory here.
STORAGE_DIR = "_repositories"


def new_storage_key() -> str:
    """A directory no repository has had before: random, fanned out over 256 folders."""
    token = uuid.uuid4().hex
    return f"{STORAGE_DIR}/{token[:2]}/{token}.git"


class Repository(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "vcs_repository"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "live_name"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(sa.String(63))
    live_name: Mapped[str | None] = mapped_column(sa.String(63))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    kind: Mapped[str] = mapped_column(sa.String(20), default="hosted")
    visibility: Mapped[str] = mapped_column(sa.String(20), default="private")
    default_branch: Mapped[str] = mapped_column(sa.String(255), default="main")
    component_id: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    # The component as people name it ("product/component"), kept beside its id for display.
    component_ref: Mapped[str | None] = mapped_column(sa.String(130))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_by: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    deleted_at: Mapped[timestamp | None] = mapped_column(index=True)
    # Where the files live under the git root, fixed at creation and never reused (see above).
    storage_key: Mapped[str] = mapped_column(sa.String(200), default=new_storage_key, unique=True)
    # Optimistic-concurrency counter; also the ETag's basis.
    version: Mapped[int] = mapped_column(default=1)

    protected_branches: Mapped[list[ProtectedBranch]] = relationship(
        "taiji.modules.vcs.models.ProtectedBranch", back_populates="repository",
        cascade="all, delete-orphan", passive_deletes=True,
        order_by="taiji.modules.vcs.models.ProtectedBranch.pattern",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def purge_due(self, now: dt.datetime | None = None) -> bool:
        from taiji.modules.vcs.services.repositories import RESTORE_WINDOW

        return self.deleted_at is not None and (now or utcnow()) - self.deleted_at >= RESTORE_WINDOW

    def __repr__(self) -> str:
        return f"<Repository {self.name}>"


class ProtectedBranch(Model):
    """Rules for the branches matching ``pattern`` (fnmatch: ``main``, ``release/*``)."""

    __tablename__ = "vcs_protected_branch"
    __table_args__ = (sa.UniqueConstraint("repository_id", "pattern"),)

    id: Mapped[intpk]
    repository_id: Mapped[int] = mapped_column(sa.ForeignKey("vcs_repository.id", ondelete="CASCADE"),
                                               index=True)
    pattern: Mapped[str] = mapped_column(sa.String(255))
    allow_force_push: Mapped[bool] = mapped_column(default=False)
    allow_deletion: Mapped[bool] = mapped_column(default=False)
    # Tenant role keys allowed to push; empty means anyone who may write to the repository.
    push_roles: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Merge requests into these branches: approvals needed (the author's own never counts), the
    # roles whose approvals count (empty: anyone who may write), whether a push voids them.
    required_approvals: Mapped[int] = mapped_column(default=0, server_default="0")
    approval_roles: Mapped[list] = mapped_column(sa.JSON, default=list)
    reset_approvals_on_push: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Which merge methods a merge request may use ("merge", "squash", "ff"); empty: all of them.
    merge_methods: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Changes land only through a merge request (direct pushes refused), with a green pipeline if asked.
    require_merge_request: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    require_green_pipeline: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)

    repository: Mapped[Repository] = relationship("taiji.modules.vcs.models.Repository",
                                                 back_populates="protected_branches")


class Push(Model):
    """One ref update that was published as ``vcs.push``; ``key`` makes a retried hook harmless."""

    __tablename__ = "vcs_push"
    __table_args__ = (sa.UniqueConstraint("repository_id", "key"),)

    id: Mapped[intpk]
    repository_id: Mapped[int] = mapped_column(sa.ForeignKey("vcs_repository.id", ondelete="CASCADE"),
                                               index=True)
    key: Mapped[str] = mapped_column(sa.String(255))
    ref: Mapped[str] = mapped_column(sa.String(255))
    before: Mapped[str] = mapped_column(sa.String(64))
    after: Mapped[str] = mapped_column(sa.String(64))
    pusher_id: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    commit_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow, index=True)


class StorageReservation(TenantOwnedMixin, Model):
    """Room a push holds in its tenant's repository storage quota, from the pre-receive check that
    granted it until the post-receive measures the repository (or the push ends without landing).

    Concurrent pushes are each checked against what the others hold, under the quota's lock; a
    reservation whose push vanished (the server stopped mid-push) is dropped by ``vcs.tidy_storage``.
    """

    __tablename__ = "vcs_storage_reservation"

    id: Mapped[intpk]
    repository_id: Mapped[int] = mapped_column(sa.ForeignKey("vcs_repository.id", ondelete="CASCADE"),
                                               index=True)
    push_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow, index=True)


from .models_merge import CommitStatus, MergeRequest, MergeRequestApproval, MergeRequestNote  # noqa: E402,F401
