"""Binary repositories and the files stored in them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, timestamp, utcnow

KINDS = ("generic", "pypi")
VISIBILITIES = ("private", "public")


class BprRepository(TenantOwnedMixin, TimestampMixin, Model):
    """A place for binaries: ``generic`` (files by path) or ``pypi`` (a Python package index)."""

    __tablename__ = "bpr_repository"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # Generic: a path once written is never replaced. PyPI files are always immutable.
    immutable: Mapped[bool] = mapped_column(default=False)
    visibility: Mapped[str] = mapped_column(sa.String(20), default="private")
    keep_last: Mapped[int | None]
    max_age_days: Mapped[int | None]
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(default=0)

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"


class BprFile(TenantOwnedMixin, Model):
    """One stored file. ``path`` is unique in its repository: the generic path, or
    ``<normalized package>/<filename>`` in a package index."""

    __tablename__ = "bpr_file"
    __table_args__ = (
        sa.UniqueConstraint("repository_id", "path"),
        sa.Index("ix_bpr_file_repository_package", "repository_id", "package"),
    )

    id: Mapped[intpk]
    repository_id: Mapped[int] = mapped_column(sa.ForeignKey("bpr_repository.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(sa.String(1000))
    filename: Mapped[str] = mapped_column(sa.String(255))
    package: Mapped[str | None] = mapped_column(sa.String(200))
    version: Mapped[str | None] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    blake2_256: Mapped[str | None] = mapped_column(sa.String(64))
    content_type: Mapped[str] = mapped_column(sa.String(100), default="application/octet-stream")
    storage_key: Mapped[str] = mapped_column(sa.String(300))
    uploaded_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    yanked: Mapped[bool] = mapped_column(default=False)
    yank_reason: Mapped[str | None] = mapped_column(sa.Text)
    # PEP 691 fields and where the file came from: requires_python, summary, source (pipeline)...
    meta: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    repository: Mapped[BprRepository] = relationship()

    @property
    def requires_python(self) -> str | None:
        return (self.meta or {}).get("requires_python") or None
