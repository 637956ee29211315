"""Product versions: draft → released → deprecated → retired.

Releasing freezes a snapshot of the product: every component with its version and every
dependency (to components, with the version they had then, and to third parties). A
released version never changes; what changes next belongs to a new version.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import has_request_context
from sqlalchemy.orm import selectinload

from taiji.platform import audit, events
from taiji.platform.auth import current_principal
from taiji.platform.db import Page, db, paginate, utcnow
from taiji.platform.errors import Conflict, NotFound, msg

from ..models import Component, Dependency, Product, ProductVersion
from . import fields, graph

STATUSES = ("draft", "released", "deprecated", "retired")


def _immutable(version: ProductVersion) -> Conflict:
    nxt = f"{version.major}.{version.minor}.{version.patch + 1}"
    return Conflict(
        msg("Version %(version)s is %(version_status)s and can no longer change. Cut a new version (for "
            "instance %(nxt)s) and make the change there.",
            version=version.version, version_status=version.status, nxt=nxt)
    )


def find_version(product: Product, version: str) -> ProductVersion | None:
    return db.session.execute(
        sa.select(ProductVersion).where(
            ProductVersion.product_id == product.id, ProductVersion.version == (version or "").strip()
        )
    ).scalar_one_or_none()


def get_version(product: Product, version: str) -> ProductVersion:
    found = find_version(product, version)
    if found is None:
        raise NotFound(msg("No version '%(version)s' of '%(product_slug)s'.",
                           version=version, product_slug=product.slug))
    return found


def list_versions(
    product: Product, *, status: str | None = None, page: int = 1, page_size: int = 20
) -> Page[ProductVersion]:
    """Versions, newest first by semantic-version order (a pre-release before its release)."""
    stmt = sa.select(ProductVersion).where(ProductVersion.product_id == product.id)
    if status:
        stmt = stmt.where(ProductVersion.status == status)
    stmt = stmt.order_by(
        ProductVersion.major.desc(),
        ProductVersion.minor.desc(),
        ProductVersion.patch.desc(),
        (ProductVersion.prerelease == "").desc(),
        ProductVersion.prerelease.desc(),
    )
    return paginate(stmt, page, page_size)


def create_version(tenant, product: Product, version: str, notes: str = "") -> ProductVersion:
    """Cut a draft version; it shows the product as it is until it is released."""
    match = fields.semver(version)
    version = version.strip()
    if find_version(product, version) is not None:
        raise Conflict(msg("Version %(version)s exists.",
                           version=version), errors={"json": {"version": [msg("Already exists.")]}})
    row = ProductVersion(
        tenant_id=tenant.id,
        product_id=product.id,
        version=version,
        major=int(match[1]),
        minor=int(match[2]),
        patch=int(match[3]),
        prerelease=match[4] or "",
        status="draft",
        notes=(notes or "").strip()[:10000],
    )
    db.session.add(row)
    db.session.flush()
    audit.record("spm.version.created", "version", f"{product.slug}@{version}", tenant=tenant)
    return row


def update_version(tenant, product: Product, version: ProductVersion, notes: str) -> ProductVersion:
    """Change a draft's notes; a released version answers 409."""
    if version.status != "draft":
        raise _immutable(version)
    notes = (notes or "").strip()[:10000]
    if notes != version.notes:
        version.notes = notes
        audit.record("spm.version.updated", "version", f"{product.slug}@{version.version}", tenant=tenant)
        db.session.flush()
    return version


def delete_version(tenant, product: Product, version: ProductVersion) -> None:
    if version.status != "draft":
        raise _immutable(version)
    db.session.delete(version)
    audit.record("spm.version.deleted", "version", f"{product.slug}@{version.version}", tenant=tenant)
    db.session.flush()


def snapshot(product: Product) -> dict:
    """The product as it is now, in the form a release freezes."""
    components = list(
        db.session.execute(
            sa.select(Component)
            .where(Component.product_id == product.id)
            .options(selectinload(Component.apis))
            .order_by(Component.name)
        ).scalars()
    )
    deps = list(
        db.session.execute(
            sa.select(Dependency)
            .where(Dependency.product_id == product.id)
            .options(
                selectinload(Dependency.source),
                selectinload(Dependency.target).selectinload(Component.product),
            )
        ).scalars()
    )
    out_components = []
    for c in components:
        out_components.append(
            {
                "name": c.name,
                "kind": c.kind,
                "layer": c.layer,
                "owner": c.owner,
                "lifecycle": c.lifecycle,
                "version": c.version,
                "repository_url": c.repository_url,
                "owns_database": c.owns_database,
                "provides": [
                    {"name": a.name, "type": a.type, "version": a.version}
                    for a in c.apis
                    if a.direction == "provides"
                ],
                "consumes": [
                    {"name": a.name, "type": a.type, "version": a.version}
                    for a in c.apis
                    if a.direction == "consumes"
                ],
            }
        )
    dependencies, third_party = [], []
    for d in deps:
        if d.target is not None:
            dependencies.append(
                {
                    "source": d.source.name,
                    "target": d.target.ref,
                    "version_range": d.version_range,
                    "target_version": d.target.version,
                }
            )
        else:
            third_party.append(
                {
                    "source": d.source.name,
                    "name": d.name,
                    "version_range": d.version_range,
                    "license": d.license,
                    "purl": d.purl,
                }
            )
    dependencies.sort(key=lambda d: (d["source"], d["target"]))
    third_party.sort(key=lambda d: (d["source"], d["name"]))
    return {
        "product": {
            "slug": product.slug,
            "name": product.name,
            "description": product.description,
            "lifecycle": product.lifecycle,
            "owners": list(product.owners),
            "tags": list(product.tags),
        },
        "components": out_components,
        "dependencies": dependencies,
        "third_party": third_party,
    }


def contents(version: ProductVersion) -> dict:
    """What the version is made of: frozen for a released version, live for a draft."""
    return version.snapshot if version.snapshot is not None else snapshot(version.product)


def release(tenant, product: Product, version: ProductVersion, *, actor=None) -> ProductVersion:
    """Release a draft: refused (409, with the list) while the product has error violations;
    freezes the snapshot; publishes ``spm.version.released``."""
    if version.status != "draft":
        raise _immutable(version)
    errors = [v for v in graph.check(tenant, product) if v.severity == "error"]
    if errors:
        raise Conflict(
            msg("%(product)s %(version)s cannot be released: the product has %(count)s architecture "
                "errors. Fix them, or lower their severity in the tenant's rules, then release again.",
                product=product.slug, version=version.version, count=len(errors))
            if len(errors) != 1 else
            msg("%(product)s %(version)s cannot be released: the product has 1 architecture error. "
                "Fix them, or lower their severity in the tenant's rules, then release again.",
                product=product.slug, version=version.version),
            errors={"violations": [v.as_dict() for v in errors]},
        )
    frozen = snapshot(product)
    if not frozen["components"]:
        raise Conflict(msg("The product has no components; add them before releasing a version."))
    if actor is None and has_request_context():
        actor = current_principal()
    version.snapshot = frozen
    version.status = "released"
    version.released_at = utcnow()
    version.released_by = getattr(actor, "email", None) or "system"
    db.session.flush()
    audit.record(
        "spm.version.released",
        "version",
        f"{product.slug}@{version.version}",
        tenant=tenant,
        details={"components": len(frozen["components"])},
    )
    events.publish(
        "spm.version.released",
        {
            "tenant": tenant.slug,
            "tenant_id": tenant.id,
            "product": product.slug,
            "version": version.version,
            "version_id": version.id,
            "components": {c["name"]: c["version"] for c in frozen["components"]},
        },
        tenant=tenant,
    )
    return version


def set_status(tenant, product: Product, version: ProductVersion, status: str) -> ProductVersion:
    """Deprecate or retire a released version; the lifecycle only moves forward."""
    if status not in ("deprecated", "retired"):
        raise Conflict(msg("A version becomes '%(status)s' only by release; use deprecate or retire.",
                           status=status))
    if version.status == "draft":
        raise Conflict(msg("Version %(version)s is a draft; release it first or delete it.",
                           version=version.version))
    if STATUSES.index(status) <= STATUSES.index(version.status):
        raise Conflict(msg("Version %(version)s is already %(version_status)s; a version never moves back.",
                           version=version.version, version_status=version.status))
    previous, version.status = version.status, status
    audit.record(
        f"spm.version.{status}",
        "version",
        f"{product.slug}@{version.version}",
        tenant=tenant,
        details={"from": previous},
    )
    db.session.flush()
    return version


def _diff(old: list[dict], new: list[dict], key) -> dict:
    before = {key(x): x for x in old}
    after = {key(x): x for x in new}
    changed = []
    for k in sorted(before.keys() & after.keys()):
        fields_changed = {
            f: {"from": before[k].get(f), "to": after[k].get(f)}
            for f in sorted(before[k].keys() | after[k].keys())
            if before[k].get(f) != after[k].get(f)
        }
        if fields_changed:
            changed.append({"key": k, "changes": fields_changed})
    return {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": changed,
    }


def compare(old: ProductVersion, new: ProductVersion) -> dict:
    """Components and dependencies added, removed and changed from ``old`` to ``new``."""
    a, b = contents(old), contents(new)
    return {
        "from": old.version,
        "to": new.version,
        "components": _diff(a["components"], b["components"], lambda c: c["name"]),
        "dependencies": _diff(
            a["dependencies"], b["dependencies"], lambda d: f"{d['source']} -> {d['target']}"
        ),
        "third_party": _diff(a["third_party"], b["third_party"], lambda d: f"{d['source']} -> {d['name']}"),
    }
