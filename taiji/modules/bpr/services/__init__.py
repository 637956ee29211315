"""BPR's public face: binary repositories, their files and packages. Other modules (CI
publishing artifacts) call only what this package exports.

Services take the tenant explicitly, flush and never commit.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import current_app, has_app_context

from taiji.platform.errors import Invalid, msg

from .files import (
    PayloadTooLarge,
    clean_path,
    delete_file,
    find_file,
    get_file,
    list_files,
    remaining_bytes,
    set_yanked,
    store_generic,
)
from .packages import (
    list_packages,
    normalize,
    parse_distribution,
    project_files,
    project_names,
    store_package,
)
from .repositories import (
    REPOSITORIES_METER,
    STORAGE_METER,
    create_repository,
    delete_repository,
    find_repository,
    get_repository,
    list_repositories,
    quota_meters,
    repository_exists,
    repository_kind,
    storage_used,
    update_repository,
)
from .retention import apply as apply_retention
from .retention import plan as retention_plan
from .retention import released_references, repositories_with_rules


def file_url(tenant, repository, row) -> str:
    """The absolute download address of a file."""
    base = current_app.config["BASE_URL"].rstrip("/") if has_app_context() else ""
    if repository.kind == "pypi":
        return f"{base}/pypi/{tenant.slug}/{repository.name}/files/{row.path}"
    return f"{base}/bpr/{tenant.slug}/{repository.name}/{row.path}"


def repository_url(tenant, repository) -> str:
    """The address clients use: the index root for pypi, the file root for generic."""
    base = current_app.config["BASE_URL"].rstrip("/") if has_app_context() else ""
    if repository.kind == "pypi":
        return f"{base}/pypi/{tenant.slug}/{repository.name}/simple/"
    return f"{base}/bpr/{tenant.slug}/{repository.name}/"


def describe(tenant, repository, row) -> dict:
    """A file as ``publish_artifact`` reports it."""
    out = {
        "repository": repository.name,
        "sha256": row.sha256,
        "size": row.size,
        "url": file_url(tenant, repository, row),
    }
    if repository.kind == "pypi":
        out.update(package=row.package, version=row.version, filename=row.filename)
    else:
        out["path"] = row.path
    return out


def publish_artifact(
    tenant,
    repository: str,
    local_path: Path,
    *,
    path: str | None = None,
    actor=None,
    source: dict | None = None,
) -> dict:
    """Store a local file in the tenant's repository named ``repository`` (for pipelines).

    A package index takes a wheel or sdist, with name and version from the file name; a generic
    repository stores it at ``path`` or under its file name. Returns ``{"repository", "path" |
    "package", "version", "filename", "sha256", "size", "url"}``. Raises ``NotFound`` (no such
    repository), ``Conflict`` (the file exists and cannot be replaced), ``PayloadTooLarge``
    (storage quota), ``Invalid`` (not a distribution file).
    """
    target = get_repository(tenant, repository)
    local_path = Path(local_path)
    if not local_path.is_file():
        raise Invalid(msg("No file at %(local_path)s to publish.", local_path=local_path))
    length = local_path.stat().st_size
    with local_path.open("rb") as stream:
        if target.kind == "pypi":
            # store_package reads the distribution's own metadata (and refuses an unsafe archive).
            meta = {"source": source} if source else {}
            row = store_package(
                tenant, target, local_path.name, stream, length=length, meta=meta, actor=actor
            )
        else:
            row = store_generic(
                tenant,
                target,
                path or local_path.name,
                stream,
                length=length,
                content_type=mimetypes.guess_type(local_path.name)[0],
                actor=actor,
                source=source,
            )
    return describe(tenant, target, row)


__all__ = [
    "REPOSITORIES_METER",
    "STORAGE_METER",
    "PayloadTooLarge",
    "apply_retention",
    "clean_path",
    "create_repository",
    "delete_file",
    "delete_repository",
    "describe",
    "file_url",
    "find_file",
    "find_repository",
    "get_file",
    "get_repository",
    "list_files",
    "list_packages",
    "list_repositories",
    "normalize",
    "parse_distribution",
    "project_files",
    "project_names",
    "publish_artifact",
    "quota_meters",
    "released_references",
    "remaining_bytes",
    "repositories_with_rules",
    "repository_exists",
    "repository_kind",
    "repository_url",
    "retention_plan",
    "set_yanked",
    "storage_used",
    "store_generic",
    "store_package",
    "update_repository",
]
