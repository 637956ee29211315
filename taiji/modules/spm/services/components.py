"""Components of a product, the APIs they provide and consume, and their dependencies."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from taiji.platform import audit, events
from taiji.platform.db import Page, db, paginate
from taiji.platform.errors import Conflict, NotFound, field_error, msg

from ..models import Component, ComponentApi, Dependency, Product
from . import fields, rules
from .products import find_product


def find_component(tenant, product: Product, name: str) -> Component | None:
    return db.session.execute(
        sa.select(Component).where(
            Component.tenant_id == tenant.id,
            Component.product_id == product.id,
            Component.name == (name or "").lower(),
        )
    ).scalar_one_or_none()


def get_component(tenant, product: Product, name: str) -> Component:
    component = find_component(tenant, product, name)
    if component is None:
        raise NotFound(msg("No component '%(name)s' in product '%(product_slug)s'.",
                           name=name, product_slug=product.slug))
    return component


def resolve_ref(tenant, ref: str, default_product: Product, field: str = "component") -> Component:
    """``name`` (in ``default_product``) or ``product/name`` (anywhere in the tenant)."""
    ref = (ref or "").strip().lower()
    product_slug, _, name = ref.rpartition("/")
    product = default_product if not product_slug else find_product(tenant, product_slug)
    component = find_component(tenant, product, name) if product is not None else None
    if component is None:
        raise field_error(field, msg("No component '%(ref)s' in this tenant; name one as "
                                     "'product/component'.", ref=ref))
    return component


def list_components(
    tenant,
    product: Product | None = None,
    *,
    q: str | None = None,
    layer: str | None = None,
    owner: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    lifecycle: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> Page[Component]:
    """Components of one product, or of the whole tenant's catalog when ``product`` is None."""
    stmt = (
        sa.select(Component)
        .where(Component.tenant_id == tenant.id)
        .options(selectinload(Component.product), selectinload(Component.apis))
    )
    if product is not None:
        stmt = stmt.where(Component.product_id == product.id)
    if q:
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            sa.or_(Component.name.like(pattern), sa.func.lower(Component.description).like(pattern))
        )
    if layer:
        stmt = stmt.where(Component.layer == layer)
    if owner:
        stmt = stmt.where(Component.owner == owner.strip().lower())
    if kind:
        stmt = stmt.where(Component.kind == kind)
    if tag:
        stmt = stmt.where(Component.tag_index.like(f"%|{tag.strip().lower()}|%"))
    if lifecycle:
        stmt = stmt.where(Component.lifecycle == lifecycle)
    return paginate(stmt.order_by(Component.name, Component.id), page, page_size)


def _apis(values, field: str) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for index, api in enumerate(values or []):
        if not isinstance(api, dict):
            raise field_error(field, msg("Entry %(index)s must be an object with name, type and version.",
                                         index=index))
        name = fields.name(api.get("name"), f"{field}.{index}.name")
        kind = fields.choice(api.get("type") or "rest", fields.API_TYPES, f"{field}.{index}.type")
        version = (str(api.get("version") or "v1")).strip().lower()
        if not version or len(version) > 30 or " " in version:
            raise field_error(f"{field}.{index}.version", msg("Use a short version such as v1 or 2.3."))
        if any(n == name and v == version for n, _, v in out):
            raise field_error(field, msg("'%(name)s' version %(version)s is listed twice.",
                                         name=name, version=version))
        out.append((name, kind, version))
    return out


def _validated(tenant, data: dict, *, partial: bool) -> dict:
    out: dict = {}
    if not partial or "kind" in data:
        out["kind"] = fields.choice(data.get("kind") or "service", fields.KINDS, "kind")
    if "layer" in data:
        layer = (data.get("layer") or "").strip().lower() or None
        if layer is not None and layer not in rules.layers(tenant):
            raise field_error(
                "layer", msg("'%(layer)s' is not one of this tenant's layers: %(tenant)s.",
                             layer=layer, tenant=', '.join(rules.layers(tenant)))
            )
        out["layer"] = layer
    for key in ("description", "owner"):
        if key in data:
            value = (data.get(key) or "").strip()
            out[key] = value.lower()[:255] if key == "owner" else value[:5000]
    if "lifecycle" in data:
        out["lifecycle"] = fields.choice(data["lifecycle"], fields.LIFECYCLES, "lifecycle")
    if "version" in data:
        fields.semver(data["version"])
        out["version"] = data["version"].strip()
    if "repository_url" in data:
        out["repository_url"] = fields.url(data["repository_url"])
    if "owns_database" in data:
        value = (data.get("owns_database") or "").strip().lower()
        out["owns_database"] = fields.name(value, "owns_database") if value else None
    if "tags" in data:
        out["tags"] = fields.labels(data["tags"], "tags")
    for key in ("provides", "consumes"):
        if key in data:
            out[key] = _apis(data[key], key)
    return out


def _apply(component: Component, values: dict) -> dict:
    changed = {}
    for key in (
        "kind",
        "layer",
        "description",
        "owner",
        "lifecycle",
        "version",
        "repository_url",
        "owns_database",
    ):
        if key in values and getattr(component, key) != values[key]:
            changed[key] = values[key]
            setattr(component, key, values[key])
    if "tags" in values and values["tags"] != component.tags:
        changed["tags"] = values["tags"]
        component.set_tags(values["tags"])
    for direction in ("provides", "consumes"):
        if direction not in values:
            continue
        current = sorted((a.name, a.type, a.version) for a in component.apis if a.direction == direction)
        wanted = sorted(values[direction])
        if current == wanted:
            continue
        changed[direction] = [{"name": n, "type": t, "version": v} for n, t, v in wanted]
        component.apis = [a for a in component.apis if a.direction != direction] + [
            ComponentApi(tenant_id=component.tenant_id, direction=direction, name=n, type=t, version=v)
            for n, t, v in wanted
        ]
    return changed


def _changed(tenant, component: Component, change: str, details: dict | None = None) -> None:
    rules.touch(tenant)
    audit.record(f"spm.component.{change}", "component", component.ref, tenant=tenant, details=details or {})
    events.publish(
        "spm.component.changed",
        {
            "tenant": tenant.slug,
            "tenant_id": tenant.id,
            "product": component.product.slug,
            "component": component.name,
            "component_id": component.id,
            "change": change,
        },
        tenant=tenant,
    )


def validate_component(tenant, data: dict) -> None:
    """Raise the field error a new component described by ``data`` would meet; change nothing."""
    fields.name(data.get("name"))
    _validated(tenant, data, partial=False)


def flush_changes(tenant, batch: list) -> None:
    """Write what a bulk caller collected in ``batch`` with one flush, then record and announce
    each change (their audit entries and events need the rows' ids)."""
    db.session.flush()
    for component, change, details in batch:
        _changed(tenant, component, change, details)
    batch.clear()


def _done(tenant, component: Component, change: str, details: dict, batch: list | None) -> None:
    if batch is None:
        db.session.flush()
        _changed(tenant, component, change, details)
    else:
        batch.append((component, change, details))


def create_component(
    tenant, product: Product, data: dict, *, name_free: bool = False, batch: list | None = None
) -> Component:
    """Add a component to ``product``; publishes ``spm.component.changed`` (change=created).

    Bulk callers (the catalog import) pass ``name_free`` when they know the name is not taken
    and a ``batch`` list: the row is then only added, and ``flush_changes`` writes it later."""
    name = fields.name(data.get("name"))
    values = _validated(tenant, data, partial=False)
    if not name_free and find_component(tenant, product, name) is not None:
        raise Conflict(
            msg("The component '%(name)s' exists in '%(product_slug)s'.",
                name=name, product_slug=product.slug),
            errors={"json": {"name": [msg("Already taken.")]}},
        )
    component = Component(tenant_id=tenant.id, product=product, name=name, kind=values["kind"], apis=[])
    component.set_tags([])
    db.session.add(component)
    _apply(component, values)
    _done(tenant, component, "created", {"kind": component.kind, "layer": component.layer}, batch)
    return component


def update_component(tenant, component: Component, data: dict, *, batch: list | None = None) -> Component:
    """Change what ``data`` names; records and announces only a real change."""
    changed = _apply(component, _validated(tenant, data, partial=True))
    if changed:
        _done(tenant, component, "updated", changed, batch)
    return component


def dependents(component: Component, limit: int = 10) -> list[Component]:
    """Components (of any product of the tenant) that depend directly on ``component``."""
    return list(
        db.session.execute(
            sa.select(Component)
            .join(Dependency, Dependency.source_id == Component.id)
            .where(Dependency.target_id == component.id, Component.id != component.id)
            .order_by(Component.name)
            .limit(limit)
        ).scalars()
    )


def delete_component(tenant, component: Component) -> None:
    """Delete a component; refused while other components depend on it."""
    users = dependents(component)
    if users:
        raise Conflict(
            msg("%(users)s depend on '%(component_ref)s'. Remove those dependencies first.",
                users=', '.join(c.ref for c in users), component_ref=component.ref)
        )
    _changed(tenant, component, "deleted")
    db.session.delete(component)
    db.session.flush()


# -- dependencies -------------------------------------------------------------------------------


def list_dependencies(component: Component) -> list[Dependency]:
    return list(
        db.session.execute(
            sa.select(Dependency)
            .where(Dependency.source_id == component.id)
            .options(selectinload(Dependency.target).selectinload(Component.product))
            .order_by(Dependency.name.is_not(None), Dependency.name, Dependency.id)
        ).scalars()
    )


def product_dependencies(product: Product) -> list[Dependency]:
    return list(
        db.session.execute(
            sa.select(Dependency)
            .where(Dependency.product_id == product.id)
            .options(
                selectinload(Dependency.source).selectinload(Component.product),
                selectinload(Dependency.target).selectinload(Component.product),
            )
            .order_by(Dependency.source_id, Dependency.id)
        ).scalars()
    )


def get_dependency(component: Component, dependency_id: int) -> Dependency:
    dependency = db.session.execute(
        sa.select(Dependency).where(Dependency.source_id == component.id, Dependency.id == dependency_id)
    ).scalar_one_or_none()
    if dependency is None:
        raise NotFound(msg("No dependency %(dependency_id)s of '%(component_ref)s'.",
                           dependency_id=dependency_id, component_ref=component.ref))
    return dependency


def add_dependency(
    tenant, component: Component, data: dict, *, target: Component | None = None, batch: list | None = None
) -> Dependency:
    """Declare that ``component`` depends on another component (``component``: "name" in the same
    product or "product/name") or on a third-party product (``name``, license, purl).

    Bulk callers pass the ``target`` they resolved (and know is not depended on yet) and a
    ``batch`` list, as for ``create_component``."""
    version_range = fields.version_range(data.get("version_range"))
    if target is not None:
        dependency = Dependency(
            tenant_id=tenant.id,
            product_id=component.product_id,
            source=component,
            target=target,
            version_range=version_range,
        )
        described = target.ref
    elif data.get("component"):
        if data.get("name"):
            raise field_error("name", msg("Give either a component or a third-party name, not both."))
        target = resolve_ref(tenant, data["component"], component.product)
        exists = db.session.execute(
            sa.select(Dependency.id).where(
                Dependency.source_id == component.id, Dependency.target_id == target.id
            )
        ).first()
        if exists:
            raise Conflict(
                msg("'%(component_ref)s' already depends on '%(target_ref)s'; change its version range "
                    "instead.", component_ref=component.ref, target_ref=target.ref)
            )
        dependency = Dependency(
            tenant_id=tenant.id,
            product_id=component.product_id,
            source=component,
            target=target,
            version_range=version_range,
        )
        described = target.ref
    elif data.get("name"):
        name = fields.title(data["name"], "name", 200).lower()
        exists = batch is None and db.session.execute(
            sa.select(Dependency.id).where(Dependency.source_id == component.id, Dependency.name == name)
        ).first()
        if exists:
            raise Conflict(msg("'%(component_ref)s' already depends on '%(name)s'; change it instead.",
                               component_ref=component.ref, name=name))
        dependency = Dependency(
            tenant_id=tenant.id,
            product_id=component.product_id,
            source=component,
            name=name,
            version_range=version_range,
            license=(data.get("license") or "").strip()[:200] or None,
            purl=fields.purl(data.get("purl")),
        )
        described = name
    else:
        raise field_error("component", msg("Name the component depended on, or a third-party 'name'."))
    db.session.add(dependency)
    _done(tenant, component, "dependency-added", {"on": described, "version_range": version_range}, batch)
    return dependency


def update_dependency(tenant, dependency: Dependency, data: dict, *, batch: list | None = None) -> Dependency:
    changed = {}
    if "version_range" in data:
        changed["version_range"] = fields.version_range(data["version_range"])
    if dependency.kind == "third-party":
        if "license" in data:
            changed["license"] = (data.get("license") or "").strip()[:200] or None
        if "purl" in data:
            changed["purl"] = fields.purl(data.get("purl"))
    elif "license" in data or "purl" in data:
        raise field_error("license", msg("License and purl belong to third-party dependencies."))
    changed = {k: v for k, v in changed.items() if getattr(dependency, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(dependency, key, value)
        details = {"dependency": dependency.id, **changed}
        _done(tenant, dependency.source, "dependency-updated", details, batch)
    return dependency


def remove_dependency(tenant, dependency: Dependency, *, batch: list | None = None) -> None:
    source = dependency.source
    on = dependency.target.ref if dependency.target is not None else dependency.name
    db.session.delete(dependency)
    _done(tenant, source, "dependency-removed", {"on": on}, batch)
