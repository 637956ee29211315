"""Backstage ``catalog-info.yaml`` import: create or update the products and components a file
describes, and report what was created, updated, left unchanged and rejected (with why).

Idempotent: importing the same file twice changes nothing the second time. An entity is
checked completely before anything of it is written, so one bad entity never leaves half of
itself behind.

Built for files of a thousand entities: the tenant's products, components and dependencies
are loaded once per import rather than looked up per entity, and new and changed rows are
written in batches of ``FLUSH_EVERY`` (their audit entries and events follow each batch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from taiji.platform import safeyaml
from taiji.platform.db import db
from taiji.platform.errors import ServiceError, field_error, msg
from taiji.platform.quotas import QuotaExceeded

from ..models import Component, ComponentApi, Dependency, Product
from . import components as comps
from . import fields
from . import products as prods
from .backstage import API_TYPES_BACK, FROM_BACKSTAGE_TYPE, MAX_ENTITIES, A, _api_name

FLUSH_EVERY = 200
# Room for MAX_ENTITIES entities of a few hundred bytes each; an entity is a few levels deep and
# has tens of values (the node bound is per document, and each document is one entity).
YAML_LIMITS = safeyaml.Limits(max_bytes=16 * 1024 * 1024, max_depth=32, max_nodes=20_000)


class _Known:
    """The tenant's catalog as one import sees it: loaded once, kept current as it writes."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.products = {
            p.slug: p
            for p in db.session.execute(sa.select(Product).where(Product.tenant_id == tenant.id)).scalars()
        }
        self.components = {
            (c.product_id, c.name): c
            for c in db.session.execute(
                sa.select(Component)
                .where(Component.tenant_id == tenant.id)
                .options(selectinload(Component.apis))
            ).scalars()
        }
        self.batch: list = []

    def product(self, slug: str | None) -> Product | None:
        return self.products.get((slug or "").lower())

    def component(self, product: Product | None, name: str) -> Component | None:
        if product is None:
            return None
        return self.components.get((product.id, name.lower()))

    def dependencies(self, ids: list[int]) -> dict[int, list[Dependency]]:
        out: dict[int, list[Dependency]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            for dep in db.session.execute(
                sa.select(Dependency)
                .where(Dependency.source_id.in_(ids[start : start + 500]))
                .order_by(Dependency.id)
            ).scalars():
                out[dep.source_id].append(dep)
        return out

    def written(self) -> None:
        if len(self.batch) >= FLUSH_EVERY:
            comps.flush_changes(self.tenant, self.batch)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def reject(self, key: str, reason) -> None:
        """``reason``: text or a message (read in the caller's language)."""
        self.rejected.append({"entity": key, "reason": str(reason)})


def _ref(value, default_kind: str, default_ns: str) -> tuple[str, str, str]:
    """An entity reference ``[kind:][namespace/]name`` -> (kind, namespace, name)."""
    text = str(value or "").strip().lower()
    kind, _, rest = text.rpartition(":") if ":" in text else (default_kind, "", text)
    ns, _, name = rest.rpartition("/")
    return kind or default_kind, ns or default_ns, name


def _reason(exc: Exception) -> str:
    if isinstance(exc, ServiceError) and exc.errors and "json" in exc.errors:
        return "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.errors["json"].items())
    return str(exc)


def parse(text: str) -> list:
    docs = []
    try:
        for doc in safeyaml.load_all(text, YAML_LIMITS):
            if doc is None:
                continue
            # Stop reading at the bound rather than after it: a file of a million empty
            # documents is refused before a million values are built.
            if len(docs) == MAX_ENTITIES:
                raise field_error("body", msg("At most %(max_entities)s entities per import.",
                                              max_entities=MAX_ENTITIES))
            docs.append(doc)
    except safeyaml.UntrustedYAML as exc:
        raise field_error("body", str(exc)) from None
    if not docs:
        raise field_error("body", msg("The file holds no entities."))
    return docs


def import_catalog(tenant, text: str) -> ImportReport:
    """Create or update the products and components described by ``text``; report what was
    created, updated, left unchanged and rejected (with the reason)."""
    report = ImportReport()
    entities = []
    for index, doc in enumerate(parse(text)):
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if not isinstance(meta, dict) or not meta.get("name") or not doc.get("kind"):
            report.reject(
                f"document {index + 1}", msg("Not a catalog entity: kind and metadata.name are required.")
            )
            continue
        spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
        kind = str(doc["kind"])
        ns = str(meta.get("namespace") or "default").lower()
        system = spec.get("system") or (meta["name"] if kind == "System" else None)
        product = _ref(system, "system", ns)[2] if system else (ns if ns != "default" else None)
        key = f"{kind.lower()}:{ns}/{str(meta['name']).lower()}"
        entities.append((key, kind, ns, meta, spec, product))
    known_apis = {
        _api_name(n, v): (n, t, v)
        for n, t, v in db.session.execute(
            sa.select(ComponentApi.name, ComponentApi.type, ComponentApi.version)
            .where(ComponentApi.tenant_id == tenant.id)
            .distinct()
        )
    }
    apis: dict[tuple[str, str], tuple[str, str, str]] = {}
    for key, kind, ns, meta, spec, _ in entities:
        if kind != "API":
            continue
        ann = meta.get("annotations") or {}
        name = str(ann.get(A + "api-name") or meta["name"]).lower()
        version = str(ann.get(A + "api-version") or "v1").lower()
        api_type = API_TYPES_BACK.get(str(spec.get("type") or "openapi").lower())
        if api_type is None:
            report.reject(key, msg("API type '%(type)s' is not openapi, grpc or asyncapi.",
                                   type=spec.get("type")))
            continue
        apis[(ns, str(meta["name"]).lower())] = (name, api_type, version)
        (report.unchanged if _api_name(name, version) in known_apis else report.created).append(key)
    known = _Known(tenant)
    for kind_wanted in ("System", "Resource", "Component"):
        for key, kind, ns, meta, spec, product in entities:
            if kind != kind_wanted:
                continue
            try:
                outcome = _import_one(known, kind, ns, meta, spec, product, apis, known_apis)
            except (ServiceError, QuotaExceeded) as exc:
                report.reject(key, _reason(exc))
                continue
            getattr(report, outcome).append(key)
            known.written()
    comps.flush_changes(tenant, known.batch)
    for key, kind, _, _, _, _ in entities:
        if kind not in ("System", "Component", "Resource", "API"):
            report.reject(key, msg("Kind '%(kind)s' is not imported; use System, Component, API or Resource.",
                                   kind=kind))
    deps_changed = _import_dependencies(known, entities, report)
    comps.flush_changes(tenant, known.batch)
    for key in deps_changed:
        if key in report.unchanged:
            report.unchanged.remove(key)
            report.updated.append(key)
    return report


def _product_for(known: _Known, slug: str | None) -> Product:
    if not slug:
        raise field_error("spec.system", msg("spec.system names the product; it is missing."))
    product = known.product(slug)
    if product is None:
        product = prods.create_product(known.tenant, {"slug": slug, "name": slug})
        known.products[product.slug] = product
    return product


def _import_one(known: _Known, kind, ns, meta, spec, product_slug, apis, known_apis) -> str:
    tenant = known.tenant
    ann = meta.get("annotations") or {}
    if kind == "System":
        existing = known.product(str(meta["name"]))
        owners = (
            str(ann[A + "owners"]).split(",")
            if A + "owners" in ann
            else [o for o in [spec.get("owner")] if o and o != "unknown"]
        )
        data = {
            "slug": str(meta["name"]),
            "name": meta.get("title") or str(meta["name"]),
            "description": meta.get("description") or "",
            "tags": meta.get("tags") or [],
            "owners": owners,
            "lifecycle": ann.get(A + "lifecycle") or "experimental",
        }
        if existing is None:
            product = prods.create_product(tenant, data)
            known.products[product.slug] = product
            return "created"
        before = (
            existing.name,
            existing.description,
            existing.lifecycle,
            list(existing.owners),
            list(existing.tags),
        )
        prods.update_product(tenant, existing, data)
        after = (existing.name, existing.description, existing.lifecycle, existing.owners, existing.tags)
        return "unchanged" if before == after else "updated"
    if kind == "Resource" and str(spec.get("type") or "").lower() != "database":
        raise field_error("spec.type", msg("Only Resources of type database are imported."))
    ctype = "database" if kind == "Resource" else FROM_BACKSTAGE_TYPE.get(str(spec.get("type") or "").lower())
    if ctype is None:
        raise field_error(
            "spec.type",
            msg("Component type '%(type)s' is not one of %(types)s.",
                type=spec.get('type'), types=', '.join(FROM_BACKSTAGE_TYPE)),
        )
    owner = str(spec.get("owner") or "")
    source = str(ann.get("backstage.io/source-location") or "")
    data = {
        "name": str(meta["name"]),
        "kind": ctype,
        "description": meta.get("description") or "",
        "owner": "" if owner == "unknown" else owner,
        "tags": meta.get("tags") or [],
        "lifecycle": spec.get("lifecycle") or ann.get(A + "lifecycle") or "experimental",
        "layer": ann.get(A + "layer"),
        "owns_database": ann.get(A + "owns-database"),
        "version": str(ann.get(A + "version") or "0.1.0"),
        "repository_url": source[4:] if source.startswith("url:") else (source or None),
    }
    for direction, field_name in (("provides", "providesApis"), ("consumes", "consumesApis")):
        listed = []
        for ref in spec.get(field_name) or []:
            _, ref_ns, name = _ref(ref, "api", ns)
            found = apis.get((ref_ns, name)) or known_apis.get(name)
            if found is None:
                raise field_error(field_name, msg("API '%(ref)s' is not defined in this file or the "
                                                  "catalog.", ref=ref))
            listed.append({"name": found[0], "type": found[1], "version": found[2]})
        data[direction] = listed
    # Everything is checked before the product named by spec.system may be created for it.
    comps.validate_component(tenant, data)
    product = _product_for(known, product_slug)
    existing = known.component(product, data["name"])
    if existing is None:
        component = comps.create_component(tenant, product, data, name_free=True, batch=known.batch)
        known.components[(product.id, component.name)] = component
        return "created"
    before = _state(existing)
    comps.update_component(tenant, existing, data, batch=known.batch)
    return "unchanged" if before == _state(existing) else "updated"


def _state(c: Component) -> tuple:
    return (
        c.kind,
        c.layer,
        c.description,
        c.owner,
        c.lifecycle,
        c.version,
        c.repository_url,
        c.owns_database,
        tuple(c.tags),
        tuple(sorted((a.direction, a.name, a.type, a.version) for a in c.apis)),
    )


def _import_dependencies(known: _Known, entities, report: ImportReport) -> set[str]:
    """Second pass: make each imported component's dependencies what the file says."""
    rejected = {r["entity"] for r in report.rejected}
    todo = []
    for key, kind, ns, meta, spec, product_slug in entities:
        if kind not in ("Component", "Resource") or key in rejected:
            continue
        product = known.product(product_slug)
        component = known.component(product, str(meta["name"]))
        if component is not None:
            todo.append((key, ns, meta, spec, product, component))
    current = known.dependencies([c.id for *_, c in todo if c.id is not None])
    changed: set[str] = set()
    for key, ns, meta, spec, product, component in todo:
        try:
            wanted, wanted_third = _wanted(known, key, ns, meta, spec, product, report)
        except ServiceError as exc:
            report.reject(key, msg("dependencies: %(reason)s", reason=_reason(exc)))
            continue
        if wanted is None:
            continue
        if _sync(known, component, current.get(component.id, []), wanted, wanted_third):
            changed.add(key)
        known.written()
    return changed


def _wanted(known: _Known, key, ns, meta, spec, product, report: ImportReport):
    """The dependencies the file asks for, every value checked; (None, None) if unreadable."""
    ann = meta.get("annotations") or {}
    try:
        ranges = {k.lower(): v for k, v in json.loads(ann.get(A + "dependency-ranges") or "{}").items()}
        third = json.loads(ann.get(A + "third-party") or "[]")
    except (ValueError, AttributeError):
        report.reject(
            key, msg("The taiji.io/dependency-ranges or taiji.io/third-party annotation is not valid JSON.")
        )
        return None, None
    wanted: dict[int, tuple[Component, str]] = {}
    for ref in spec.get("dependsOn") or []:
        ref_kind, ref_ns, name = _ref(ref, "component", ns)
        target = known.component(known.product(ref_ns if ref_ns != "default" else product.slug), name)
        if target is None:
            report.reject(key, msg("dependsOn '%(ref)s': no such component in this tenant.", ref=ref))
            continue
        version_range = str(ranges.get(f"{ref_kind}:{ref_ns}/{name}") or ranges.get(str(ref).lower()) or "*")
        wanted[target.id] = (target, fields.version_range(version_range))
    wanted_third: dict[str, dict] = {}
    for t in third if isinstance(third, list) else []:
        if not isinstance(t, dict):
            continue
        name = fields.title(t.get("name"), "name", 200).lower()
        wanted_third[name] = {
            "name": name,
            "version_range": fields.version_range(t.get("version_range")),
            "license": t.get("license"),
            "purl": fields.purl(t.get("purl")),
        }
    return wanted, wanted_third


def _sync(known: _Known, component: Component, current: list[Dependency], wanted, wanted_third) -> bool:
    tenant, batch = known.tenant, known.batch
    changed = False
    for dep in current:
        if dep.target_id is not None and dep.target_id not in wanted:
            comps.remove_dependency(tenant, dep, batch=batch)
            changed = True
        elif dep.target_id is not None:
            _, version_range = wanted.pop(dep.target_id)
            if dep.version_range != version_range:
                comps.update_dependency(tenant, dep, {"version_range": version_range}, batch=batch)
                changed = True
        elif dep.name not in wanted_third:
            comps.remove_dependency(tenant, dep, batch=batch)
            changed = True
        else:
            t = wanted_third.pop(dep.name)
            data = {"version_range": t["version_range"], "license": t["license"], "purl": t["purl"]}
            before = (dep.version_range, dep.license, dep.purl)
            comps.update_dependency(tenant, dep, data, batch=batch)
            changed |= before != (dep.version_range, dep.license, dep.purl)
    for target, version_range in wanted.values():
        comps.add_dependency(tenant, component, {"version_range": version_range}, target=target, batch=batch)
        changed = True
    for t in wanted_third.values():
        comps.add_dependency(tenant, component, t, batch=batch)
        changed = True
    return changed
