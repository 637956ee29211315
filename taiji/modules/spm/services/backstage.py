"""Backstage ``catalog-info.yaml`` export (the import is in ``backstage_import``).

Every entity is placed in the namespace named after its product; a System is a product,
a Component or a database Resource is a component, an API entity names an API that
components provide or consume. What Backstage has no field for travels in ``taiji.io/``
annotations, so an export imported into an empty tenant gives the same catalog.
Import is idempotent: running it twice changes nothing the second time.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import selectinload

from taiji.platform.db import db

from ..models import Component, ComponentApi, Dependency, Product

API_VERSION = "backstage.io/v1alpha1"
A = "taiji.io/"
TO_BACKSTAGE_TYPE = {"service": "service", "frontend": "website", "library": "library", "job": "job"}
FROM_BACKSTAGE_TYPE = {
    "service": "service",
    "website": "frontend",
    "frontend": "frontend",
    "library": "library",
    "job": "job",
}
API_TYPES = {"rest": "openapi", "grpc": "grpc", "event": "asyncapi"}
API_TYPES_BACK = {v: k for k, v in API_TYPES.items()} | {"rest": "rest", "event": "event", "graphql": "rest"}
MAX_ENTITIES = 10000


# -- export -------------------------------------------------------------------------------------


def _api_name(name: str, version: str) -> str:
    return f"{name}-{version}"


def export(tenant, product: Product | None = None) -> str:
    """The catalog (or one product) as multi-document ``catalog-info.yaml``."""
    stmt = (
        sa.select(Product)
        .where(Product.tenant_id == tenant.id)
        .options(selectinload(Product.components).selectinload(Component.apis))
        .order_by(Product.slug)
    )
    if product is not None:
        stmt = stmt.where(Product.id == product.id)
    products = list(db.session.execute(stmt).scalars())
    deps: dict[int, list[Dependency]] = {}
    for dep in db.session.execute(
        sa.select(Dependency)
        .where(Dependency.tenant_id == tenant.id)
        .options(selectinload(Dependency.target).selectinload(Component.product))
    ).scalars():
        deps.setdefault(dep.source_id, []).append(dep)
    # An API entity lives with its first provider (or, unprovided, its first consumer).
    api_home: dict[tuple[str, str], tuple[str, str, str]] = {}
    for row in db.session.execute(
        sa.select(
            Product.slug,
            ComponentApi.name,
            ComponentApi.type,
            ComponentApi.version,
            Component.owner,
            ComponentApi.direction,
        )
        .join(Component, Component.id == ComponentApi.component_id)
        .join(Product, Product.id == Component.product_id)
        .where(ComponentApi.tenant_id == tenant.id)
        .order_by(ComponentApi.direction.desc(), Product.slug, Component.name)
    ):
        api_home.setdefault((row.name, row.version), (row.slug, row.type, row.owner))
    docs = []
    for p in products:
        docs.append(
            _entity(
                "System",
                p.slug,
                p.slug,
                {"owner": p.owners[0] if p.owners else "unknown"},
                title=p.name,
                description=p.description,
                tags=p.tags,
                annotations={A + "owners": ",".join(p.owners), A + "lifecycle": p.lifecycle},
            )
        )
        for c in p.components:
            docs.append(_component_doc(p, c, deps.get(c.id, []), api_home))
        for (name, version), (home, kind, owner) in sorted(api_home.items()):
            if home == p.slug:
                docs.append(
                    _entity(
                        "API",
                        _api_name(name, version),
                        p.slug,
                        {
                            "type": API_TYPES[kind],
                            "lifecycle": p.lifecycle,
                            "owner": owner or "unknown",
                            "system": p.slug,
                            "definition": f"# {name} {version}: defined in its provider's repository\n",
                        },
                        annotations={A + "api-name": name, A + "api-version": version},
                    )
                )
    # libyaml's emitter when PyYAML has it: the same text, many times faster for a big catalog.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(docs, Dumper=dumper, sort_keys=False, allow_unicode=True, explicit_start=True)


def _entity(
    kind: str,
    name: str,
    namespace: str,
    spec: dict,
    *,
    title: str | None = None,
    description: str = "",
    tags=(),
    annotations: dict | None = None,
) -> dict:
    metadata: dict = {"name": name, "namespace": namespace}
    if title:
        metadata["title"] = title
    if description:
        metadata["description"] = description
    if tags:
        metadata["tags"] = list(tags)
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def _component_doc(p: Product, c: Component, deps: list[Dependency], api_home) -> dict:
    annotations = {A + "version": c.version}
    if c.layer:
        annotations[A + "layer"] = c.layer
    if c.owns_database:
        annotations[A + "owns-database"] = c.owns_database
    if c.repository_url:
        annotations["backstage.io/source-location"] = f"url:{c.repository_url}"
    refs, ranges, third = [], {}, []
    for d in sorted(deps, key=lambda d: (d.target.ref if d.target else "", d.name or "")):
        if d.target is not None:
            ref = f"{'resource' if d.target.kind == 'database' else 'component'}:{d.target.ref}"
            refs.append(ref)
            ranges[ref] = d.version_range
        else:
            third.append(
                {"name": d.name, "version_range": d.version_range, "license": d.license, "purl": d.purl}
            )
    if ranges:
        annotations[A + "dependency-ranges"] = json.dumps(ranges, sort_keys=True)
    if third:
        annotations[A + "third-party"] = json.dumps(third, sort_keys=True)
    spec: dict = {"owner": c.owner or "unknown", "system": p.slug}
    if c.kind == "database":
        kind, spec = "Resource", {"type": "database", **spec}
        annotations[A + "lifecycle"] = c.lifecycle
    else:
        kind, spec = "Component", {"type": TO_BACKSTAGE_TYPE[c.kind], "lifecycle": c.lifecycle, **spec}
    if refs:
        spec["dependsOn"] = refs
    for direction, key in (("provides", "providesApis"), ("consumes", "consumesApis")):
        apis = [a for a in c.apis if a.direction == direction]
        if apis:
            spec[key] = [
                f"api:{api_home[(a.name, a.version)][0]}/{_api_name(a.name, a.version)}" for a in apis
            ]
    return _entity(
        kind, c.name, p.slug, spec, description=c.description, tags=c.tags, annotations=annotations
    )
