"""SCM's tables: configuration items in their layers, immutable releases with their snapshots,
per-environment policies, component schemas, access keys, instances seen by clients, history.

Components and products are SPM's: SCM keeps their ids (``scope_id``, ``component_id``) and never
joins their tables. An item's *scope* is what its layer needs:

=============  ==================  ===============  ==============
layer          scope_id            environment      selector
=============  ==================  ===============  ==============
tenant         0                   ""               ""
product        the product's id    ""               ""
component      the component's id  ""               ""
environment    the component's id  the profile      ""
label          the component's id  the profile      label selector
=============  ==================  ===============  ==============

Values are stored as their JSON text (``value``); a secret's is sealed
(``crypto.seal(text, "scm.config.value")``) in ``sealed`` and ``value`` stays NULL, in items,
release snapshots and history alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, timestamp, utcnow

LAYERS = ("tenant", "product", "component", "environment", "label")  # lowest precedence first
TYPES = ("string", "int", "float", "bool", "json", "file")
STATUSES = ("pending", "gray", "published", "abandoned", "rejected")


class Item(TenantOwnedMixin, TimestampMixin, Model):
    """One key of one namespace in one layer scope (see the table above)."""

    __tablename__ = "scm_item"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "layer", "scope_id", "environment", "selector", "namespace", "key",
                            name="uq_scm_item_scope_key"),
        sa.Index("ix_scm_item_scope", "tenant_id", "scope_id", "environment"),
    )

    id: Mapped[intpk]
    layer: Mapped[str] = mapped_column(sa.String(20))
    scope_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    environment: Mapped[str] = mapped_column(sa.String(32), default="")
    selector: Mapped[str] = mapped_column(sa.String(255), default="")
    namespace: Mapped[str] = mapped_column(sa.String(63), default="application")
    key: Mapped[str] = mapped_column(sa.String(200))
    type: Mapped[str] = mapped_column(sa.String(10), default="string")
    value: Mapped[str | None] = mapped_column(sa.Text)  # JSON text; NULL for a secret
    sealed: Mapped[str | None] = mapped_column(sa.Text)  # the sealed JSON text of a secret
    secret: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    updated_by: Mapped[str] = mapped_column(sa.String(255), default="")


class Release(TenantOwnedMixin, Model):
    """An immutable, numbered release of (component, environment): every layer's items of every
    namespace at publish time (``snapshot``: a list of item dicts, secrets still sealed)."""

    __tablename__ = "scm_release"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "component_id", "environment", "number"),
        sa.Index("ix_scm_release_status", "tenant_id", "component_id", "environment", "status"),
    )

    id: Mapped[intpk]
    component_id: Mapped[int] = mapped_column(sa.BigInteger)
    product_id: Mapped[int] = mapped_column(sa.BigInteger)
    component: Mapped[str] = mapped_column(sa.String(63))  # its name at publish time, for events
    product: Mapped[str] = mapped_column(sa.String(63))
    environment: Mapped[str] = mapped_column(sa.String(32))
    number: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(20))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    author_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    author: Mapped[str] = mapped_column(sa.String(255), default="")
    reviewer: Mapped[str | None] = mapped_column(sa.String(255))  # who approved or rejected
    gray_selector: Mapped[str | None] = mapped_column(sa.String(500))
    gray_percentage: Mapped[float | None] = mapped_column(sa.Float)
    rolled_back_from: Mapped[int | None] = mapped_column(sa.Integer)
    snapshot: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    published_at: Mapped[timestamp | None]  # became the current release (published, promoted)
    closed_at: Mapped[timestamp | None]  # rejected or abandoned

    @property
    def gray(self) -> dict | None:
        if self.gray_selector is None and self.gray_percentage is None:
            return None
        return {"selector": self.gray_selector, "percentage": self.gray_percentage}


class Policy(TenantOwnedMixin, Model):
    """What an environment (profile name) of the tenant requires of a publish."""

    __tablename__ = "scm_policy"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "environment"),)

    id: Mapped[intpk]
    environment: Mapped[str] = mapped_column(sa.String(32))
    four_eyes: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(sa.String(255), default="")


class ConfigComponent(TenantOwnedMixin, Model):
    """An SPM component that has configuration (registered by its first item or release), with
    the JSON Schema (Draft 2020-12) its resolved ``application`` namespace must satisfy when
    published. SPM never renames a component or a product, so their names are kept here."""

    __tablename__ = "scm_component"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "component_id"),)

    id: Mapped[intpk]
    component_id: Mapped[int] = mapped_column(sa.BigInteger)
    product_id: Mapped[int] = mapped_column(sa.BigInteger)
    name: Mapped[str] = mapped_column(sa.String(63))
    product: Mapped[str] = mapped_column(sa.String(63))
    json_schema: Mapped[dict | None] = mapped_column(sa.JSON)
    schema_updated_at: Mapped[timestamp | None]
    schema_updated_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)


class AccessKey(TenantOwnedMixin, Model):
    """A client credential reading every component's configuration of one environment of the tenant.
    The token (``tjc_<id>_<secret>``) is shown once; its SHA-256 is kept."""

    __tablename__ = "scm_access_key"

    id: Mapped[intpk]
    environment: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(255), default="")
    last_used_at: Mapped[timestamp | None]
    revoked_at: Mapped[timestamp | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Instance(TenantOwnedMixin, Model):
    """A client instance that read a component's configuration: its labels and the release it holds."""

    __tablename__ = "scm_instance"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "component_id", "environment", "instance"),)

    id: Mapped[intpk]
    component_id: Mapped[int] = mapped_column(sa.BigInteger)
    environment: Mapped[str] = mapped_column(sa.String(32))
    instance: Mapped[str] = mapped_column(sa.String(100))
    labels: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    release_number: Mapped[int | None] = mapped_column(sa.Integer)
    first_seen: Mapped[timestamp] = mapped_column(default=utcnow)
    last_seen: Mapped[timestamp] = mapped_column(default=utcnow)


class HistoryEntry(TenantOwnedMixin, Model):
    """One change: an item set or deleted (old → new, as JSON text; a secret's values never), or a
    release published, approved, rejected, promoted, abandoned or rolled back."""

    __tablename__ = "scm_history"
    __table_args__ = (sa.Index("ix_scm_history_scope", "tenant_id", "scope_id", "environment", "id"),)

    id: Mapped[intpk]
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(255), default="")
    action: Mapped[str] = mapped_column(sa.String(40))
    layer: Mapped[str] = mapped_column(sa.String(20))  # "release" for a release's change
    scope_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    environment: Mapped[str] = mapped_column(sa.String(32), default="")
    selector: Mapped[str] = mapped_column(sa.String(255), default="")
    namespace: Mapped[str] = mapped_column(sa.String(63), default="")
    key: Mapped[str] = mapped_column(sa.String(200), default="")
    secret: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    old_value: Mapped[str | None] = mapped_column(sa.Text)
    new_value: Mapped[str | None] = mapped_column(sa.Text)
    release_number: Mapped[int | None] = mapped_column(sa.Integer)
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)

