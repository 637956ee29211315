"""Repositories: create, find, change, delete; the ``bpr.repositories`` and ``bpr.storage_bytes``
quota meters."""

from __future__ import annotations

import re

import sqlalchemy as sa

from taiji.platform import audit, quotas
from taiji.platform.db import Page, after_commit, db, paginate
from taiji.platform.errors import Conflict, NotFound, field_error, msg

from .. import storage as storage_mod
from ..models import KINDS, VISIBILITIES, BprFile, BprRepository

REPOSITORIES_METER = "bpr.repositories"
STORAGE_METER = "bpr.storage_bytes"
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")
EDITABLE = ("description", "immutable", "visibility", "keep_last", "max_age_days")


def count_repositories(tenant) -> int:
    return db.session.execute(
        sa.select(sa.func.count(BprRepository.id)).where(BprRepository.tenant_id == tenant.id)
    ).scalar_one()


def storage_used(tenant) -> int:
    return int(
        db.session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(BprRepository.size_bytes), 0)).where(
                BprRepository.tenant_id == tenant.id
            )
        ).scalar_one()
    )


def quota_meters() -> list:
    """BPR's quota meters (Module.quota_meters)."""
    from flask_babel import lazy_gettext as _l

    return [
        quotas.Meter(REPOSITORIES_METER, _l("Binary repositories"), 100, count_repositories),
        quotas.Meter(STORAGE_METER, _l("Binary repository storage"), 10 * 1024**3, storage_used,
                     unit="bytes"),
    ]


def find_repository(tenant, name: str) -> BprRepository | None:
    return db.session.execute(
        sa.select(BprRepository).where(
            BprRepository.tenant_id == tenant.id, BprRepository.name == (name or "").lower()
        )
    ).scalar_one_or_none()


def get_repository(tenant, name: str) -> BprRepository:
    """The tenant's repository called ``name``; 404 otherwise."""
    repository = find_repository(tenant, name)
    if repository is None:
        raise NotFound(msg("No binary repository '%(name)s' in this tenant.", name=name))
    return repository


def repository_exists(tenant, name: str) -> bool:
    """Whether the tenant has a repository called ``name`` (for pipelines checking ``publish``)."""
    return find_repository(tenant, name) is not None


def repository_kind(tenant, name: str) -> str | None:
    """``generic``, ``pypi``, or None when the tenant has no such repository."""
    repository = find_repository(tenant, name)
    return repository.kind if repository is not None else None


def list_repositories(
    tenant, *, kind: str | None = None, q: str | None = None, page: int = 1, page_size: int = 20
) -> Page[BprRepository]:
    """Repositories of the tenant by name; ``public=True`` keeps those anyone may read."""
    stmt = sa.select(BprRepository).where(BprRepository.tenant_id == tenant.id)
    if kind:
        stmt = stmt.where(BprRepository.kind == kind)
    if q:
        stmt = stmt.where(BprRepository.name.like(f"%{q.strip().lower()}%"))
    return paginate(stmt.order_by(BprRepository.name, BprRepository.id), page, page_size)


def _count(value, field: str, maximum: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise field_error(field, msg("Must be a whole number from 1 to %(maximum)s, or empty for no rule.",
                                     maximum=maximum))
    return value


def _validated(data: dict) -> dict:
    out: dict = {}
    if "description" in data:
        out["description"] = (data.get("description") or "").strip()[:5000]
    if "immutable" in data:
        if not isinstance(data["immutable"], bool):
            raise field_error("immutable", msg("Must be true or false."))
        out["immutable"] = data["immutable"]
    if "visibility" in data:
        if data["visibility"] not in VISIBILITIES:
            raise field_error("visibility", msg("Must be 'private' or 'public'."))
        out["visibility"] = data["visibility"]
    if "keep_last" in data:
        out["keep_last"] = _count(data["keep_last"], "keep_last", 10000)
    if "max_age_days" in data:
        out["max_age_days"] = _count(data["max_age_days"], "max_age_days", 36500)
    return out


def create_repository(tenant, data: dict, *, actor=None) -> BprRepository:
    """Create a repository (``name``, ``kind``, optional description, immutable, visibility,
    keep_last, max_age_days); counts against the ``bpr.repositories`` quota."""
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise field_error(
            "name",
            msg("Use 1 to 100 lowercase letters, digits, '.', '-' or '_', starting and ending with a "
                "letter or digit."),
        )
    if data.get("kind") not in KINDS:
        raise field_error("kind", msg("Must be 'generic' or 'pypi'."))
    values = _validated(data)
    if find_repository(tenant, name) is not None:
        raise Conflict(msg("The repository '%(name)s' exists.",
                           name=name), errors={"json": {"name": [msg("Already taken.")]}})
    quotas.check(tenant, REPOSITORIES_METER)
    repository = BprRepository(tenant_id=tenant.id, name=name, kind=data["kind"], **values)
    if repository.kind == "pypi":
        repository.immutable = True  # a released file name is never reused (PyPI's rule)
    db.session.add(repository)
    db.session.flush()
    audit.record(
        "bpr.repository.created",
        "bpr_repository",
        name,
        tenant=tenant,
        actor=actor,
        details={"kind": repository.kind, **values},
    )
    return repository


def update_repository(tenant, repository: BprRepository, data: dict, *, actor=None) -> BprRepository:
    """Change description, immutability (generic only), visibility and retention rules."""
    values = _validated(data)
    if repository.kind == "pypi" and values.get("immutable") is False:
        raise field_error("immutable", msg("A package index is always immutable: a file name is never "
                                           "reused."))
    for key, value in values.items():
        setattr(repository, key, value)
    db.session.flush()
    audit.record(
        "bpr.repository.updated",
        "bpr_repository",
        repository.name,
        tenant=tenant,
        actor=actor,
        details=values,
    )
    return repository


def delete_repository(tenant, repository: BprRepository, *, actor=None) -> None:
    """Delete a repository with all its files; the blobs go once the deletion is committed."""
    keys = set(
        db.session.execute(
            sa.select(BprFile.storage_key).where(BprFile.repository_id == repository.id)
        ).scalars()
    )
    audit.record(
        "bpr.repository.deleted",
        "bpr_repository",
        repository.name,
        tenant=tenant,
        actor=actor,
        details={"files": repository.file_count, "size_bytes": repository.size_bytes},
    )
    db.session.execute(sa.delete(BprFile).where(BprFile.repository_id == repository.id))
    db.session.delete(repository)
    db.session.flush()
    store = storage_mod.storage()
    after_commit(lambda: [store.delete(key) for key in keys])
