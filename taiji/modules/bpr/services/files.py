"""Files of a repository: storing a stream, finding, listing, deleting; generic paths."""

from __future__ import annotations

import mimetypes
import posixpath
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.exceptions import ClientDisconnected

from taiji.platform import audit, quotas
from taiji.platform.db import Page, after_commit, db, end_read_only_transaction, paginate, utcnow
from taiji.platform.errors import Conflict, Invalid, NotFound, ServiceError, msg

from .. import storage as storage_mod
from ..models import BprFile, BprRepository
from .repositories import STORAGE_METER, storage_used

_NEW_BLOBS = "bpr_new_blobs"
_PATH_PART = re.compile(r"^[A-Za-z0-9._+~@=,-]+$")


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Payload Too Large"


@event.listens_for(Session, "after_soft_rollback")
def _drop_new_blobs(session, previous_transaction) -> None:
    # A blob written for a unit of work that rolled back (bad digest, conflict found at flush,
    # a failed commit) belongs to no row: remove it so that a failed upload leaves nothing.
    if previous_transaction.parent is None or not session.in_transaction():
        for path in session.info.pop(_NEW_BLOBS, []):
            Path(path).unlink(missing_ok=True)


@event.listens_for(Session, "after_commit")
def _keep_new_blobs(session) -> None:
    session.info.pop(_NEW_BLOBS, None)


def clean_path(path: str) -> str:
    """A generic file's path, checked: relative, no empty, ``.`` or ``..`` segments, plain characters."""
    if not isinstance(path, str) or not path or len(path) > 1000:
        raise Invalid(msg("A file path must be 1 to 1000 characters."),
                      errors={"path": [msg("Invalid path.")]})
    parts = path.strip("/").split("/")
    if posixpath.normpath("/" + path).lstrip("/") != path.strip("/") or any(
        p in ("", ".", "..") or not _PATH_PART.match(p) for p in parts
    ):
        raise Invalid(
            msg("A file path is made of segments of letters, digits and . _ + ~ @ = , - separated by '/'; "
                "no empty, '.' or '..' segments."),
            errors={"path": [msg("Invalid path.")]},
        )
    return "/".join(parts)


def remaining_bytes(tenant) -> int | None:
    limit = quotas.limit_of(tenant, STORAGE_METER)
    return None if limit is None else max(0, limit - storage_used(tenant))


def _quota_refusal(tenant, needed: int | None) -> PayloadTooLarge:
    limit = quotas.limit_of(tenant, STORAGE_METER)
    used = storage_used(tenant)
    if needed is not None:
        return PayloadTooLarge(
            msg("Storage quota '%(meter)s' exceeded: %(used)s of %(limit)s bytes used; this file needs "
                "%(needed)s bytes; nothing was stored. Delete old files (or set retention rules) or ask a "
                "platform administrator to raise the limit.",
                meter=STORAGE_METER, used=used, limit=limit, needed=needed)
        )
    return PayloadTooLarge(
        msg("Storage quota '%(meter)s' exceeded: %(used)s of %(limit)s bytes used; nothing was stored. "
            "Delete old files (or set retention rules) or ask a platform administrator to raise the limit.",
            meter=STORAGE_METER, used=used, limit=limit)
    )


def write_stream(
    tenant, repository: BprRepository, stream, *, length: int | None, freed: int = 0, blake2: bool = False
):
    """Stream into storage within the room the tenant's storage quota has now; returns
    ``storage.Stored``. No lock is held while the body streams (it can take minutes):
    ``add_file`` measures again, under the lock, before the row is written."""
    room = remaining_bytes(tenant)
    if room is not None:
        room += freed
        if length is not None and length > room:
            raise _quota_refusal(tenant, length)
    store = storage_mod.storage()
    folder = storage_mod.folder_of(repository)
    # The body can take minutes: hold no connection and no snapshot meanwhile (the row is
    # written afterwards in a fresh transaction, under the quota's lock — add_file).
    end_read_only_transaction()
    try:
        stored = store.write_atomic(folder, stream, length=length, limit=room, blake2=blake2)
    except storage_mod.TooLarge:
        raise _quota_refusal(tenant, None) from None
    except (storage_mod.IncompleteUpload, ClientDisconnected) as exc:
        raise ServiceError(
            msg("The upload was interrupted (%(exc)s); nothing was stored. Send the file again.",
                exc=str(exc)[:100])
        ) from None
    except OSError as exc:
        raise ServiceError(
            msg("The upload could not be read or stored (%(name)s); nothing was stored.",
                name=exc.__class__.__name__)
        ) from None
    if stored.created:
        db.session.info.setdefault(_NEW_BLOBS, []).append(str(store.local_path(stored.key)))
    return stored


def _referenced(repository: BprRepository, sha256: str, *, besides: int | None = None) -> bool:
    stmt = sa.select(BprFile.id).where(BprFile.repository_id == repository.id, BprFile.sha256 == sha256)
    if besides is not None:
        stmt = stmt.where(BprFile.id != besides)
    return db.session.execute(stmt.limit(1)).first() is not None


def _forget_blob_later(repository: BprRepository, key: str, sha256: str, *, besides: int) -> None:
    if _referenced(repository, sha256, besides=besides):
        return
    store = storage_mod.storage()
    after_commit(lambda: store.delete(key))


def _actor_name(actor) -> str | None:
    return getattr(actor, "email", None)


def find_file(repository: BprRepository, path: str) -> BprFile | None:
    return db.session.execute(
        sa.select(BprFile).where(BprFile.repository_id == repository.id, BprFile.path == path)
    ).scalar_one_or_none()


def get_file(repository: BprRepository, file_id: int) -> BprFile:
    """One file of the repository by id; 404 otherwise."""
    row = db.session.execute(
        sa.select(BprFile).where(BprFile.repository_id == repository.id, BprFile.id == file_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No file %(file_id)s in the repository '%(repository_name)s'.",
                           file_id=file_id, repository_name=repository.name))
    return row


def list_files(
    repository: BprRepository,
    *,
    q: str | None = None,
    package: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> Page[BprFile]:
    """Files newest first; ``q`` searches the path, ``package`` keeps one package's files."""
    stmt = sa.select(BprFile).where(BprFile.repository_id == repository.id)
    if q:
        escaped = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(sa.func.lower(BprFile.path).like(f"%{escaped}%", escape="\\"))
    if package:
        stmt = stmt.where(BprFile.package == package)
    return paginate(stmt.order_by(BprFile.created_at.desc(), BprFile.id.desc()), page, page_size)


def _taken(repository: BprRepository, path: str, filename: str) -> Conflict:
    if repository.kind == "pypi":
        return Conflict(
            msg("File already exists: '%(filename)s' is in '%(repository_name)s'. A released file never "
                "changes; publish a new version instead.", filename=filename, repository_name=repository.name)
        )
    return Conflict(
        msg("'%(path)s' exists in the immutable repository '%(repository_name)s' and cannot be "
            "overwritten. Upload under a new path (for instance with the version in it).",
            path=path, repository_name=repository.name)
    )


def _discard_blob(repository: BprRepository, stored) -> None:
    # Called with the storage lock held: remove this upload's new blob now, before the lock
    # goes with the rollback, so that an identical upload recording after us finds it gone
    # (and says so) instead of pointing at a blob deleted behind it. A blob a committed file
    # points at (the same bytes uploaded meanwhile) stays.
    if not stored.created:
        return
    local = str(storage_mod.storage().local_path(stored.key))
    pending = db.session.info.get(_NEW_BLOBS, [])
    if local in pending:
        pending.remove(local)
    if not _referenced(repository, stored.sha256):
        Path(local).unlink(missing_ok=True)


def _claim(tenant, repository: BprRepository, stored, path: str, filename: str, *, replace: bool):
    """Right before the row is written, look again at what streaming could not hold still.

    Other uploads of the tenant may have finished while this one streamed: take the storage
    quota's lock (held until this unit of work ends, so the next upload counts this one), then
    check the path and measure the room again. Returns the file to replace, if any.
    """
    quotas.lock(tenant, STORAGE_METER)
    try:
        existing = db.session.execute(
            sa.select(BprFile)
            .where(BprFile.repository_id == repository.id, BprFile.path == path)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if existing is not None and not replace:
            raise _taken(repository, path, filename)
        room = remaining_bytes(tenant)
        if room is not None and stored.size > room + (existing.size if existing is not None else 0):
            raise _quota_refusal(tenant, stored.size)
    except ServiceError:
        _discard_blob(repository, stored)
        raise
    if storage_mod.storage().size(stored.key) is None:
        # An identical upload was refused at the same time and took the shared blob with it.
        raise Conflict(msg("Another upload of the same content failed at the same time; nothing was "
                           "stored. Send the file again."))
    return existing


def add_file(
    tenant,
    repository: BprRepository,
    stored,
    *,
    path: str,
    filename: str,
    actor=None,
    package: str | None = None,
    version: str | None = None,
    content_type: str | None = None,
    meta: dict | None = None,
    replace: bool = False,
) -> BprFile:
    """Record a stored blob as the file at ``path``: 409 when the path is taken (unless
    ``replace``, a mutable generic repository), 413 when the tenant's storage quota no longer
    has room for it. Either way this upload's new blob is removed."""
    existing = _claim(tenant, repository, stored, path, filename, replace=replace)
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    # Sizes change in SQL (size + n), not from the values loaded before the upload streamed,
    # so that concurrent uploads and deletions in one repository add up.
    if existing is not None:
        old_key, old_sha, old_size = existing.storage_key, existing.sha256, existing.size
        existing.size, existing.sha256, existing.blake2_256 = stored.size, stored.sha256, stored.blake2_256
        existing.storage_key, existing.content_type = stored.key, content_type[:100]
        existing.uploaded_by, existing.meta = _actor_name(actor), meta or {}
        existing.created_at = utcnow()
        repository.size_bytes = BprRepository.size_bytes + (stored.size - old_size)
        db.session.flush()
        if old_sha != stored.sha256:
            _forget_blob_later(repository, old_key, old_sha, besides=existing.id)
        row = existing
    else:
        row = BprFile(
            tenant_id=tenant.id,
            repository_id=repository.id,
            path=path,
            filename=filename[:255],
            package=package,
            version=version,
            size=stored.size,
            sha256=stored.sha256,
            blake2_256=stored.blake2_256,
            content_type=content_type[:100],
            storage_key=stored.key,
            uploaded_by=_actor_name(actor),
            meta=meta or {},
        )
        db.session.add(row)
        repository.size_bytes = BprRepository.size_bytes + stored.size
        repository.file_count = BprRepository.file_count + 1
        db.session.flush()
    audit.record(
        "bpr.file.uploaded",
        "bpr_file",
        f"{repository.name}/{path}",
        tenant=tenant,
        actor=actor,
        details={
            "id": row.id,  # the audit page links the file's page
            "sha256": stored.sha256,
            "size": stored.size,
            "replaced": existing is not None,
            **({"source": meta["source"]} if meta and meta.get("source") else {}),
        },
    )
    return row


def store_generic(
    tenant,
    repository: BprRepository,
    path: str,
    stream,
    *,
    length: int | None = None,
    content_type: str | None = None,
    actor=None,
    source: dict | None = None,
) -> BprFile:
    """Store a stream at ``path`` of a generic repository: 409 when the path exists in an
    immutable repository, 413 over the storage quota, 400 when the stream breaks off."""
    if repository.kind != "generic":
        raise Invalid(msg("'%(repository_name)s' is a Python package index; upload packages with twine.",
                          repository_name=repository.name))
    path = clean_path(path)
    existing = find_file(repository, path)
    if existing is not None and repository.immutable:
        raise _taken(repository, path, posixpath.basename(path))
    stored = write_stream(tenant, repository, stream, length=length, freed=existing.size if existing else 0)
    meta = {"source": source} if source else {}
    return add_file(
        tenant,
        repository,
        stored,
        path=path,
        filename=posixpath.basename(path),
        actor=actor,
        content_type=content_type,
        meta=meta,
        replace=not repository.immutable,
    )


def delete_file(
    tenant, repository: BprRepository, row: BprFile, *, actor=None, reason: str = "deleted"
) -> None:
    """Delete a file; its blob goes after commit unless another file has the same content."""
    audit.record(
        "bpr.file.deleted",
        "bpr_file",
        f"{repository.name}/{row.path}",
        tenant=tenant,
        actor=actor,
        details={"sha256": row.sha256, "size": row.size, "reason": reason},
    )
    repository.size_bytes = sa.case(
        (BprRepository.size_bytes > row.size, BprRepository.size_bytes - row.size), else_=0
    )
    repository.file_count = sa.case((BprRepository.file_count > 0, BprRepository.file_count - 1), else_=0)
    db.session.delete(row)
    db.session.flush()
    _forget_blob_later(repository, row.storage_key, row.sha256, besides=row.id)


def set_yanked(
    tenant, repository: BprRepository, row: BprFile, yanked: bool, reason: str | None = None, *, actor=None
) -> BprFile:
    """Yank (PEP 592: pip skips the file unless pinned exactly) or unyank a package file."""
    if repository.kind != "pypi":
        raise Invalid(msg("Only files of a package index can be yanked; delete a generic file instead."))
    row.yanked = bool(yanked)
    row.yank_reason = ((reason or "").strip()[:1000] or None) if yanked else None
    db.session.flush()
    audit.record(
        "bpr.file.yanked" if yanked else "bpr.file.unyanked",
        "bpr_file",
        f"{repository.name}/{row.path}",
        tenant=tenant,
        actor=actor,
        details={"id": row.id, "reason": row.yank_reason},
    )
    return row
