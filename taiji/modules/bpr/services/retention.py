"""Retention: keep the last N versions of each package, drop files older than D days, never a
file a released product version refers to. Always shown as a plan before it is applied."""

from __future__ import annotations

import datetime as dt
import posixpath
from collections import defaultdict

import sqlalchemy as sa
from packaging.utils import canonicalize_version

from taiji.modules.spm import services as spm
from taiji.platform import audit
from taiji.platform.db import db, utcnow

from ..models import BprFile, BprRepository
from .files import delete_file
from .packages import _version_key, normalize

RELEASED = ("released", "deprecated")  # versions that shipped; a retired one is gone for good


def released_references(tenant) -> set[tuple[str, str]]:
    """(normalized component name, canonical version) of every component of every released
    product version of the tenant, read through SPM's services."""
    refs: set[tuple[str, str]] = set()
    page = 1
    while True:
        products = spm.list_products(tenant, page=page, page_size=100)
        for product in products.items:
            for status in RELEASED:
                vpage = 1
                while True:
                    versions = spm.list_versions(product, status=status, page=vpage, page_size=100)
                    for version in versions.items:
                        for component in (spm.contents(version) or {}).get("components", []):
                            if component.get("name") and component.get("version"):
                                refs.add(
                                    (
                                        normalize(component["name"]),
                                        canonicalize_version(str(component["version"])),
                                    )
                                )
                    if vpage >= versions.pages:
                        break
                    vpage += 1
        if page >= products.pages:
            break
        page += 1
    return refs


def _group(row: BprFile) -> str:
    # A generic repository has no package names: the folder a file is in plays that part.
    return row.package if row.package is not None else posixpath.dirname(row.path)


def plan(tenant, repository: BprRepository, *, now: dt.datetime | None = None) -> list[dict]:
    """What retention would delete now: ``[{"file": BprFile, "reason": str}]``, nothing deleted."""
    if repository.keep_last is None and repository.max_age_days is None:
        return []
    now = now or utcnow()
    rows = list(
        db.session.execute(sa.select(BprFile).where(BprFile.repository_id == repository.id)).scalars()
    )
    refs = released_references(tenant) if repository.kind == "pypi" else set()
    doomed: dict[int, str] = {}
    if repository.keep_last is not None:
        groups: dict[str, list[BprFile]] = defaultdict(list)
        for row in rows:
            groups[_group(row)].append(row)
        for name, members in groups.items():
            if repository.kind == "pypi":
                versions = sorted({m.version for m in members}, key=_version_key, reverse=True)
                old = set(versions[repository.keep_last :])
                for m in members:
                    if m.version in old:
                        doomed[m.id] = f"older than the last {repository.keep_last} versions of {name}"
            else:
                members.sort(key=lambda m: (m.created_at, m.id), reverse=True)
                for m in members[repository.keep_last :]:
                    doomed[m.id] = f"older than the last {repository.keep_last} files in '{name or '/'}'"
    if repository.max_age_days is not None:
        cutoff = now - dt.timedelta(days=repository.max_age_days)
        for row in rows:
            if row.created_at < cutoff and row.id not in doomed:
                doomed[row.id] = f"older than {repository.max_age_days} days"
    out = []
    for row in sorted(rows, key=lambda r: r.path):
        if row.id not in doomed:
            continue
        if row.package is not None and (row.package, canonicalize_version(row.version or "")) in refs:
            continue  # a released product version ships this one
        out.append({"file": row, "reason": doomed[row.id]})
    return out


def apply(tenant, repository: BprRepository, *, actor=None, now: dt.datetime | None = None) -> list[dict]:
    """Delete what ``plan`` names; one audit entry for the run (and one per file)."""
    planned = plan(tenant, repository, now=now)
    for item in planned:
        delete_file(tenant, repository, item["file"], actor=actor, reason=item["reason"])
    audit.record(
        "bpr.retention.applied",
        "bpr_repository",
        repository.name,
        tenant=tenant,
        actor=actor,
        details={
            "deleted": len(planned),
            "bytes": sum(i["file"].size for i in planned),
            "keep_last": repository.keep_last,
            "max_age_days": repository.max_age_days,
        },
    )
    return planned


def repositories_with_rules() -> list[int]:
    """Ids of every repository that has a retention rule (for the daily task)."""
    return list(
        db.session.execute(
            sa.select(BprRepository.id)
            .where(sa.or_(BprRepository.keep_last.is_not(None), BprRepository.max_age_days.is_not(None)))
            .order_by(BprRepository.id)
        ).scalars()
    )
