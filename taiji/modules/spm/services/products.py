"""Products: create, find, search, change, delete; the ``products`` quota meter."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from taiji.platform import audit, events, quotas
from taiji.platform.db import Page, db, paginate
from taiji.platform.errors import Conflict, NotFound, msg

from ..models import Component, Dependency, Product, ProductVersion
from . import fields, rules

PRODUCTS_METER = "products"


def count_products(tenant) -> int:
    return db.session.execute(
        sa.select(sa.func.count(Product.id)).where(Product.tenant_id == tenant.id)
    ).scalar_one()


def quota_meters() -> list:
    """SPM's quota meters (Module.quota_meters)."""
    from flask_babel import lazy_gettext as _l

    return [quotas.Meter(PRODUCTS_METER, _l("Products"), 1000, count_products)]


def find_product(tenant, slug: str) -> Product | None:
    return db.session.execute(
        sa.select(Product).where(Product.tenant_id == tenant.id, Product.slug == (slug or "").lower())
    ).scalar_one_or_none()


def get_product(tenant, slug: str) -> Product:
    """The tenant's product named ``slug``; 404 otherwise."""
    product = find_product(tenant, slug)
    if product is None:
        raise NotFound(msg("No product '%(slug)s' in this tenant.", slug=slug))
    return product


def list_products(
    tenant,
    *,
    q: str | None = None,
    tag: str | None = None,
    owner: str | None = None,
    lifecycle: str | None = None,
    layer: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> Page[Product]:
    """Products of the tenant, by name; filters combine. ``layer`` keeps products that have a
    component in that layer."""
    stmt = sa.select(Product).where(Product.tenant_id == tenant.id)
    if q:
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            sa.or_(
                Product.slug.like(pattern),
                sa.func.lower(Product.name).like(pattern),
                sa.func.lower(Product.description).like(pattern),
            )
        )
    if tag:
        stmt = stmt.where(Product.tag_index.like(f"%|{tag.strip().lower()}|%"))
    if owner:
        stmt = stmt.where(Product.owner_index.like(f"%|{owner.strip().lower()}|%"))
    if lifecycle:
        stmt = stmt.where(Product.lifecycle == lifecycle)
    if layer:
        stmt = stmt.where(
            Product.id.in_(
                sa.select(Component.product_id).where(
                    Component.tenant_id == tenant.id, Component.layer == layer
                )
            )
        )
    return paginate(stmt.order_by(Product.name, Product.id), page, page_size)


def _validated(data: dict, *, partial: bool) -> dict:
    out = {}
    if "name" in data or not partial:
        out["name"] = fields.title(data.get("name"))
    if "description" in data:
        out["description"] = (data.get("description") or "").strip()[:5000]
    if "lifecycle" in data:
        out["lifecycle"] = fields.choice(data["lifecycle"], fields.LIFECYCLES, "lifecycle")
    if "owners" in data:
        out["owners"] = fields.labels(data["owners"], "owners")
    if "tags" in data:
        out["tags"] = fields.labels(data["tags"], "tags")
    return out


def create_product(tenant, data: dict) -> Product:
    """Create a product (``slug``, ``name``, optional description, owners, tags, lifecycle);
    counts against the ``products`` quota; publishes ``spm.product.created``."""
    slug = fields.name(data.get("slug"), "slug")
    values = _validated(data, partial=False)
    if find_product(tenant, slug) is not None:
        raise Conflict(msg("The product '%(slug)s' exists.",
                           slug=slug), errors={"json": {"slug": [msg("Already taken.")]}})
    quotas.check(tenant, PRODUCTS_METER)
    rules.settings(tenant)
    product = Product(
        tenant_id=tenant.id,
        slug=slug,
        name=values["name"],
        description=values.get("description", ""),
        lifecycle=values.get("lifecycle", "experimental"),
    )
    product.set_labels(values.get("owners", []), values.get("tags", []))
    db.session.add(product)
    db.session.flush()
    rules.touch(tenant)
    audit.record(
        "spm.product.created",
        "product",
        slug,
        tenant=tenant,
        details={"name": product.name, "lifecycle": product.lifecycle},
    )
    events.publish(
        "spm.product.created",
        {
            "tenant": tenant.slug,
            "tenant_id": tenant.id,
            "product": slug,
            "product_id": product.id,
            "name": product.name,
        },
        tenant=tenant,
    )
    return product


def update_product(tenant, product: Product, data: dict) -> Product:
    """Change name, description, lifecycle, owners or tags."""
    values = _validated(data, partial=True)
    changed = {}
    for key in ("name", "description", "lifecycle"):
        if key in values and getattr(product, key) != values[key]:
            changed[key] = values[key]
            setattr(product, key, values[key])
    owners = values.get("owners", product.owners)
    tags = values.get("tags", product.tags)
    if owners != product.owners or tags != product.tags:
        changed.update({"owners": owners, "tags": tags})
        product.set_labels(owners, tags)
    if changed:
        audit.record("spm.product.updated", "product", product.slug, tenant=tenant, details=changed)
        db.session.flush()
    return product


def delete_product(tenant, product: Product) -> None:
    """Delete a product with its components; publishes ``spm.component.changed`` (change=deleted)
    for each component, then ``spm.product.deleted``. Refused while a version is released or
    deprecated (retire it first) or while another product's components depend on this one's."""
    live = (
        db.session.execute(
            sa.select(ProductVersion.version).where(
                ProductVersion.product_id == product.id, ProductVersion.status.in_(("released", "deprecated"))
            )
        )
        .scalars()
        .all()
    )
    if live:
        raise Conflict(
            msg("Versions %(live)s are still in use; retire them before deleting the product.",
                live=', '.join(live))
        )
    src, tgt = aliased(Component), aliased(Component)
    outside = db.session.execute(
        sa.select(Product.slug, src.name)
        .join(src, src.product_id == Product.id)
        .join(Dependency, Dependency.source_id == src.id)
        .join(tgt, tgt.id == Dependency.target_id)
        .where(tgt.product_id == product.id, src.product_id != product.id)
        .limit(5)
    ).all()
    if outside:
        names = ", ".join(f"{p}/{c}" for p, c in outside)
        raise Conflict(
            msg("Components of other products depend on this one: %(names)s. Remove those dependencies "
                "first.", names=names)
        )
    components = db.session.execute(
        sa.select(Component.id, Component.name)
        .where(Component.product_id == product.id)
        .order_by(Component.id)
    ).all()
    product_id = product.id
    db.session.delete(product)
    rules.touch(tenant)
    audit.record("spm.product.deleted", "product", product.slug, tenant=tenant)
    # Subscribers keep data of components and products by id (SCM's configuration, for one):
    # each component goes as if deleted alone, then the product itself.
    for component_id, name in components:
        events.publish(
            "spm.component.changed",
            {
                "tenant": tenant.slug,
                "tenant_id": tenant.id,
                "product": product.slug,
                "component": name,
                "component_id": component_id,
                "change": "deleted",
            },
            tenant=tenant,
        )
    events.publish(
        "spm.product.deleted",
        {"tenant": tenant.slug, "tenant_id": tenant.id, "product": product.slug, "product_id": product_id},
        tenant=tenant,
    )
    db.session.flush()
