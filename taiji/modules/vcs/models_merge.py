"""Merge requests and commit statuses.

A commit status is what VCS knows of the newest pipeline run for one commit, learnt from CI's
``cicd.pipeline.*`` events (VCS never calls CI). A merge request proposes to merge one branch of a
repository into another; its number counts per repository (``!1``, ``!2``). Notes are its comments:
a note without ``reply_to_id`` opens a thread, inline when it names a diff line (path, line, side).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TenantOwnedMixin, intpk, timestamp, utcnow

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")
STATES = ("open", "closed", "merged")
METHODS = ("merge", "squash", "ff")
SIDES = ("old", "new")


class CommitStatus(TenantOwnedMixin, Model):
    __tablename__ = "vcs_commit_status"
    __table_args__ = (sa.UniqueConstraint("repository_id", "sha"),)

    id: Mapped[intpk]
    repository_id: Mapped[int] = mapped_column(sa.ForeignKey("vcs_repository.id", ondelete="CASCADE"),
                                               index=True)
    sha: Mapped[str] = mapped_column(sa.String(64))
    pipeline_id: Mapped[int] = mapped_column(BIGINT)
    pipeline_number: Mapped[int] = mapped_column(BIGINT)
    status: Mapped[str] = mapped_column(sa.String(20))
    ref: Mapped[str] = mapped_column(sa.String(255), default="")
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow)


class MergeRequest(TenantOwnedMixin, Model):
    __tablename__ = "vcs_merge_request"
    __table_args__ = (sa.UniqueConstraint("repository_id", "number"),)

    id: Mapped[intpk]
    repository_id: Mapped[int] = mapped_column(sa.ForeignKey("vcs_repository.id", ondelete="CASCADE"),
                                               index=True)
    number: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    source_branch: Mapped[str] = mapped_column(sa.String(255))
    target_branch: Mapped[str] = mapped_column(sa.String(255))
    state: Mapped[str] = mapped_column(sa.String(20), default="open", index=True)
    draft: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[int | None] = mapped_column(BIGINT)
    author_name: Mapped[str] = mapped_column(sa.String(255), default="")
    # Kept when it is merged (the branches may move or go): what was merged, from where.
    head_sha: Mapped[str | None] = mapped_column(sa.String(64))
    base_sha: Mapped[str | None] = mapped_column(sa.String(64))
    merge_sha: Mapped[str | None] = mapped_column(sa.String(64))
    merge_method: Mapped[str | None] = mapped_column(sa.String(20))
    merged_by: Mapped[str | None] = mapped_column(sa.String(255))
    merged_at: Mapped[timestamp | None]
    closed_at: Mapped[timestamp | None]
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def reference(self) -> str:
        return f"!{self.number}"


class MergeRequestNote(Model):
    __tablename__ = "vcs_merge_request_note"

    id: Mapped[intpk]
    merge_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("vcs_merge_request.id", ondelete="CASCADE"), index=True)
    reply_to_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("vcs_merge_request_note.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(BIGINT)
    author_name: Mapped[str] = mapped_column(sa.String(255), default="")
    body: Mapped[str] = mapped_column(sa.Text)
    # An inline thread's place: a file of the diff, a line number on the old or new side.
    path: Mapped[str | None] = mapped_column(sa.String(1024))
    line: Mapped[int | None]
    side: Mapped[str | None] = mapped_column(sa.String(3))
    commit_sha: Mapped[str | None] = mapped_column(sa.String(64))
    resolved: Mapped[bool] = mapped_column(default=False)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)


class MergeRequestApproval(Model):
    __tablename__ = "vcs_merge_request_approval"
    __table_args__ = (sa.UniqueConstraint("merge_request_id", "user_id"),)

    id: Mapped[intpk]
    merge_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("vcs_merge_request.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(BIGINT)
    user_name: Mapped[str] = mapped_column(sa.String(255), default="")
    roles: Mapped[list] = mapped_column(sa.JSON, default=list)
    # The source head the approval was given for: a push after it may void it (see the rule).
    sha: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
