"""The catalog's tables: products, their components (with the APIs they provide and consume),
dependencies between components and on third-party products, product versions, and the
tenant's architecture rules.

Tags and owners are kept twice: as a JSON list for reading and as a ``|a|b|`` string that a
plain ``LIKE`` can filter on every database we support.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, timestamp


def label_index(values: list[str]) -> str:
    return "|" + "|".join(values) + "|" if values else ""


class RuleSettings(TenantOwnedMixin, Model):
    """A tenant's layers (highest first) and the severity of each architecture rule.

    ``revision`` counts catalog changes, so a cached dependency graph knows when it is stale.
    """

    __tablename__ = "spm_rule_settings"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    id: Mapped[intpk]
    layers: Mapped[list] = mapped_column(sa.JSON)
    severities: Mapped[dict] = mapped_column(sa.JSON)
    revision: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[timestamp | None]


class Product(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "spm_product"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "slug"),)

    id: Mapped[intpk]
    slug: Mapped[str] = mapped_column(sa.String(63))
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    lifecycle: Mapped[str] = mapped_column(sa.String(20), default="experimental")
    owners: Mapped[list] = mapped_column(sa.JSON, default=list)
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    owner_index: Mapped[str] = mapped_column(sa.String(2000), default="")
    tag_index: Mapped[str] = mapped_column(sa.String(2000), default="")

    components: Mapped[list[Component]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Component.name",
    )

    def set_labels(self, owners: list[str], tags: list[str]) -> None:
        self.owners, self.tags = owners, tags
        self.owner_index, self.tag_index = label_index(owners), label_index(tags)


class Component(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "spm_component"
    __table_args__ = (
        sa.UniqueConstraint("product_id", "name"),
        sa.Index("ix_spm_component_tenant_name", "tenant_id", "name"),
        sa.Index("ix_spm_component_tenant_layer", "tenant_id", "layer"),
    )

    id: Mapped[intpk]
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("spm_product.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(63))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    kind: Mapped[str] = mapped_column(sa.String(20))
    layer: Mapped[str | None] = mapped_column(sa.String(50))
    owner: Mapped[str] = mapped_column(sa.String(255), default="")
    lifecycle: Mapped[str] = mapped_column(sa.String(20), default="experimental")
    version: Mapped[str] = mapped_column(sa.String(50), default="0.1.0")
    repository_url: Mapped[str | None] = mapped_column(sa.String(500))
    owns_database: Mapped[str | None] = mapped_column(sa.String(100))
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    tag_index: Mapped[str] = mapped_column(sa.String(2000), default="")

    product: Mapped[Product] = relationship(back_populates="components")
    apis: Mapped[list[ComponentApi]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(ComponentApi.direction, ComponentApi.name, ComponentApi.version)",
    )

    @property
    def ref(self) -> str:
        """The tenant-wide name: ``product/component``."""
        return f"{self.product.slug}/{self.name}"

    def set_tags(self, tags: list[str]) -> None:
        self.tags, self.tag_index = tags, label_index(tags)


class ComponentApi(TenantOwnedMixin, Model):
    """An API a component provides or consumes: name, type (rest, grpc, event) and version."""

    __tablename__ = "spm_component_api"
    __table_args__ = (
        sa.UniqueConstraint("component_id", "direction", "name", "version"),
        sa.Index("ix_spm_component_api_lookup", "tenant_id", "name", "version"),
    )

    id: Mapped[intpk]
    component_id: Mapped[int] = mapped_column(
        sa.ForeignKey("spm_component.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(sa.String(10))  # provides | consumes
    name: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[str] = mapped_column(sa.String(10))
    version: Mapped[str] = mapped_column(sa.String(30))


class Dependency(TenantOwnedMixin, TimestampMixin, Model):
    """``source`` depends on another component (``target_id``) or on a third-party product
    (``name`` with license and purl); exactly one of the two is set.

    NULLs never collide in a unique constraint, so each of the two constraints below only
    bites on its own kind of row.
    """

    __tablename__ = "spm_dependency"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "target_id"),
        sa.UniqueConstraint("source_id", "name"),
    )

    id: Mapped[intpk]
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("spm_product.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("spm_component.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("spm_component.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(sa.String(200))
    version_range: Mapped[str] = mapped_column(sa.String(100), default="*")
    license: Mapped[str | None] = mapped_column(sa.String(200))
    purl: Mapped[str | None] = mapped_column(sa.String(500))

    source: Mapped[Component] = relationship(foreign_keys=[source_id])
    target: Mapped[Component | None] = relationship(foreign_keys=[target_id])

    @property
    def kind(self) -> str:
        return "component" if self.target_id is not None else "third-party"


class ProductVersion(TenantOwnedMixin, TimestampMixin, Model):
    """A semantic version of a product. Releasing freezes ``snapshot``: every component with
    its version and every dependency, as they were at that moment."""

    __tablename__ = "spm_version"
    __table_args__ = (sa.UniqueConstraint("product_id", "version"),)

    id: Mapped[intpk]
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("spm_product.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(sa.String(50))
    major: Mapped[int]
    minor: Mapped[int]
    patch: Mapped[int]
    prerelease: Mapped[str] = mapped_column(sa.String(50), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default="draft")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    snapshot: Mapped[dict | None] = mapped_column(sa.JSON)
    released_at: Mapped[timestamp | None]
    released_by: Mapped[str | None] = mapped_column(sa.String(255))

    product: Mapped[Product] = relationship()
