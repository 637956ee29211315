"""Backstage ``catalog-info.yaml`` import: create or update the products and components a file
describes, and report what was created, updated, left unchanged and rejected (with why).

Idempotent: importing the same file twice changes nothing the second time. Each entity is
applied in its own savepoint, so one bad entity never leaves half of itself behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
import yaml

from taiji.platform.db import db
from taiji.platform.errors import ServiceError, field_error
from taiji.platform.quotas import QuotaExceeded

from ..models import Component, ComponentApi, Product
from . import components as comps
from . import products as prods
from .backstage import API_TYPES_BACK, FROM_BACKSTAGE_TYPE, MAX_ENTITIES, A, _api_name


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def reject(self, key: str, reason: str) -> None:
        self.rejected.append({"entity": key, "reason": reason})


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
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise field_error("body", f"Not valid YAML: {exc}".replace("\n", " ")) from exc
    if not docs:
        raise field_error("body", "The file holds no entities.")
    if len(docs) > MAX_ENTITIES:
        raise field_error("body", f"At most {MAX_ENTITIES} entities per import.")
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
                f"document {index + 1}", "Not a catalog entity: kind and metadata.name are required."
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
            report.reject(key, f"API type '{spec.get('type')}' is not openapi, grpc or asyncapi.")
            continue
        apis[(ns, str(meta["name"]).lower())] = (name, api_type, version)
        (report.unchanged if _api_name(name, version) in known_apis else report.created).append(key)
    for kind_wanted in ("System", "Resource", "Component"):
        for key, kind, ns, meta, spec, product in entities:
            if kind != kind_wanted:
                continue
            if kind not in ("System", "Component", "Resource"):
                continue
            try:
                with db.session.begin_nested():
                    outcome = _import_one(tenant, kind, ns, meta, spec, product, apis, known_apis)
            except (ServiceError, QuotaExceeded) as exc:
                report.reject(key, _reason(exc))
                continue
            getattr(report, outcome).append(key)
    for key, kind, _, _, _, _ in entities:
        if kind not in ("System", "Component", "Resource", "API"):
            report.reject(key, f"Kind '{kind}' is not imported; use System, Component, API or Resource.")
    deps_changed = _import_dependencies(tenant, entities, report)
    for key in deps_changed:
        if key in report.unchanged:
            report.unchanged.remove(key)
            report.updated.append(key)
    return report


def _product_for(tenant, slug: str | None) -> Product:
    if not slug:
        raise field_error("spec.system", "spec.system names the product; it is missing.")
    product = prods.find_product(tenant, slug)
    return product or prods.create_product(tenant, {"slug": slug, "name": slug})


def _import_one(tenant, kind, ns, meta, spec, product_slug, apis, known_apis) -> str:
    ann = meta.get("annotations") or {}
    if kind == "System":
        existing = prods.find_product(tenant, str(meta["name"]))
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
            prods.create_product(tenant, data)
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
    product = _product_for(tenant, product_slug)
    if kind == "Resource" and str(spec.get("type") or "").lower() != "database":
        raise field_error("spec.type", "Only Resources of type database are imported.")
    ctype = "database" if kind == "Resource" else FROM_BACKSTAGE_TYPE.get(str(spec.get("type") or "").lower())
    if ctype is None:
        raise field_error(
            "spec.type",
            f"Component type '{spec.get('type')}' is not one of {', '.join(FROM_BACKSTAGE_TYPE)}.",
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
                raise field_error(field_name, f"API '{ref}' is not defined in this file or the catalog.")
            listed.append({"name": found[0], "type": found[1], "version": found[2]})
        data[direction] = listed
    existing = comps.find_component(tenant, product, data["name"])
    if existing is None:
        comps.create_component(tenant, product, data)
        return "created"
    before = _state(existing)
    comps.update_component(tenant, existing, data)
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


def _import_dependencies(tenant, entities, report: ImportReport) -> set[str]:
    """Second pass: make each imported component's dependencies what the file says."""
    rejected = {r["entity"] for r in report.rejected}
    changed: set[str] = set()
    for key, kind, ns, meta, spec, product_slug in entities:
        if kind not in ("Component", "Resource") or key in rejected:
            continue
        product = prods.find_product(tenant, product_slug or "")
        component = comps.find_component(tenant, product, str(meta["name"])) if product else None
        if component is None:
            continue
        ann = meta.get("annotations") or {}
        try:
            ranges = {k.lower(): v for k, v in json.loads(ann.get(A + "dependency-ranges") or "{}").items()}
            third = json.loads(ann.get(A + "third-party") or "[]")
        except (ValueError, AttributeError):
            report.reject(
                key, "The taiji.io/dependency-ranges or taiji.io/third-party annotation is not valid JSON."
            )
            continue
        wanted: dict[int, str] = {}
        for ref in spec.get("dependsOn") or []:
            ref_kind, ref_ns, name = _ref(ref, "component", ns)
            target_product = prods.find_product(tenant, ref_ns if ref_ns != "default" else product.slug)
            target = comps.find_component(tenant, target_product, name) if target_product else None
            if target is None:
                report.reject(key, f"dependsOn '{ref}': no such component in this tenant.")
                continue
            wanted[target.id] = str(
                ranges.get(f"{ref_kind}:{ref_ns}/{name}") or ranges.get(str(ref).lower()) or "*"
            )
        wanted_third = {str(t.get("name") or "").lower(): t for t in third if isinstance(t, dict)}
        try:
            with db.session.begin_nested():
                if _sync(tenant, component, wanted, wanted_third):
                    changed.add(key)
        except ServiceError as exc:
            report.reject(key, f"dependencies: {_reason(exc)}")
    return changed


def _sync(tenant, component: Component, wanted: dict[int, str], wanted_third: dict[str, dict]) -> bool:
    changed = False
    for dep in comps.list_dependencies(component):
        if dep.target_id is not None and dep.target_id not in wanted:
            comps.remove_dependency(tenant, dep)
            changed = True
        elif dep.target_id is not None:
            version_range = wanted.pop(dep.target_id)
            if dep.version_range != version_range:
                comps.update_dependency(tenant, dep, {"version_range": version_range})
                changed = True
        elif dep.name not in wanted_third:
            comps.remove_dependency(tenant, dep)
            changed = True
        else:
            t = wanted_third.pop(dep.name)
            data = {
                "version_range": t.get("version_range"),
                "license": t.get("license"),
                "purl": t.get("purl"),
            }
            before = (dep.version_range, dep.license, dep.purl)
            comps.update_dependency(tenant, dep, data)
            changed |= before != (dep.version_range, dep.license, dep.purl)
    for target_id, version_range in wanted.items():
        target = db.session.get(Component, target_id)
        comps.add_dependency(tenant, component, {"component": target.ref, "version_range": version_range})
        changed = True
    for t in wanted_third.values():
        comps.add_dependency(
            tenant,
            component,
            {
                "name": t.get("name"),
                "version_range": t.get("version_range"),
                "license": t.get("license"),
                "purl": t.get("purl"),
            },
        )
        changed = True
    return changed
