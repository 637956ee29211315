"""SPM components as SCM names them: ``name``, or ``product-slug:name`` when two products of the
tenant have a component of that name. SCM reaches SPM through its services only."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.modules.spm import services as spm
from taiji.platform.db import Page, db, paginate
from taiji.platform.errors import Conflict, NotFound, msg

from ..models import ConfigComponent
from .storage import insert


def resolve_component(tenant, ref):
    """The SPM component ``ref`` names in ``tenant`` (404 when none, 409 when ambiguous)."""
    if not isinstance(ref, str):
        return ref  # already a component
    text = ref.strip().lower()
    product_slug, sep, name = text.rpartition(":")
    if sep:
        product = spm.find_product(tenant, product_slug) if product_slug else None
        component = spm.find_component(tenant, product, name) if product is not None and name else None
        if component is None:
            raise NotFound(msg("No component '%(ref)s' in this tenant.", ref=ref))
        return component
    found = _named(tenant, name) if name else []
    if not found:
        raise NotFound(msg("No component '%(ref)s' in this tenant.", ref=ref))
    if len(found) > 1:
        choices = ", ".join(sorted(f"{c.product.slug}:{c.name}" for c in found))
        raise Conflict(msg("Several products have a component '%(name)s'; name one as product:component "
                           "(%(choices)s).", name=name, choices=choices))
    return found[0]


def _named(tenant, name: str) -> list:
    found, page = [], 1
    while True:
        batch = spm.list_components(tenant, None, q=name, page=page, page_size=100)
        found.extend(c for c in batch.items if c.name == name)
        if page >= batch.pages:
            return found
        page += 1


def register(tenant, component) -> ConfigComponent:
    """SCM's row of ``component`` (made on its first item or release)."""
    row = find_registered(tenant, component.id)
    if row is None:
        row = ConfigComponent(tenant_id=tenant.id, component_id=component.id, product_id=component.product_id,
                              name=component.name, product=component.product.slug)
        if not insert(row):  # registered meanwhile by another request
            row = find_registered(tenant, component.id)
    return row


def find_registered(tenant, component_id: int) -> ConfigComponent | None:
    return db.session.execute(
        sa.select(ConfigComponent).where(ConfigComponent.tenant_id == tenant.id,
                                         ConfigComponent.component_id == component_id)
    ).scalar_one_or_none()


def list_configured(tenant, page: int = 1, page_size: int = 20) -> Page[ConfigComponent]:
    """Components of the tenant that have configuration, by product and name."""
    stmt = sa.select(ConfigComponent).where(ConfigComponent.tenant_id == tenant.id)
    return paginate(stmt.order_by(ConfigComponent.product, ConfigComponent.name, ConfigComponent.id),
                    page, page_size)
