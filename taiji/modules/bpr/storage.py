"""Where the bytes live: a ``Storage`` interface and its filesystem implementation.

Files are content-addressed inside their repository's folder (``<repo folder>/<sha256>``):
the name a user gives a file never reaches the filesystem, so no path can escape the
folder; replacing a path in a mutable repository is a database change that swaps which blob
a row points at, never an in-place overwrite under a running download; identical uploads
share one blob. A blob is removed once no row of its repository points at it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024
# An upload writes its temporary file as its bytes arrive; one untouched this long belongs to a
# process that died mid-upload (killed, out of memory, restarted) and is removed (sweep_uploads).
STALE_UPLOAD_SECONDS = 3600
_KEY = re.compile(r"^[0-9]+/[0-9]+/[0-9a-f]{64}$")


class IncompleteUpload(Exception):
    """The stream ended or failed before the announced length arrived; nothing was kept."""


class TooLarge(Exception):
    """The stream went past the byte limit it was allowed; nothing was kept."""

    def __init__(self, limit: int):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Stored:
    key: str
    size: int
    sha256: str
    blake2_256: str | None
    created: bool = True  # False when an identical blob was there already


class Storage(Protocol):
    def write_atomic(
        self,
        folder: str,
        stream: BinaryIO,
        *,
        length: int | None = None,
        limit: int | None = None,
        blake2: bool = False,
    ) -> Stored: ...

    def open(self, key: str) -> BinaryIO: ...

    def local_path(self, key: str) -> Path: ...

    def delete(self, key: str) -> None: ...

    def size(self, key: str) -> int | None: ...


class FileSystemStorage:
    """Blobs under ``root`` (``TAIJI_DATA_DIR/bpr``), one folder per tenant and repository."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    def _folder(self, folder: str) -> Path:
        if not re.match(r"^[0-9]+/[0-9]+$", folder):
            raise ValueError(f"not a storage folder: {folder!r}")
        return self.root / folder

    def write_atomic(
        self,
        folder: str,
        stream: BinaryIO,
        *,
        length: int | None = None,
        limit: int | None = None,
        blake2: bool = False,
    ) -> Stored:
        """Stream into a temporary file beside the final one, hashing as it goes; fsync; rename.

        ``length``: the bytes announced (Content-Length); fewer is an ``IncompleteUpload``.
        ``limit``: more than this many bytes is ``TooLarge``. On any error the temporary file
        is removed and the error raised again: a failed upload leaves nothing behind.
        ``blake2``: also compute the BLAKE2b-256 digest (package indexes publish it).
        """
        target = self._folder(folder)
        target.mkdir(mode=0o700, parents=True, exist_ok=True)  # uploads are private to Taiji
        sha = hashlib.sha256()
        blake = hashlib.blake2b(digest_size=32) if blake2 else None
        size = 0
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".upload-", suffix=f"-{uuid.uuid4().hex[:8]}")
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    want = CHUNK if length is None else min(CHUNK, length - size)
                    if want <= 0:
                        break
                    chunk = stream.read(want)
                    if not chunk:
                        break
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise TooLarge(limit)
                    sha.update(chunk)
                    if blake is not None:
                        blake.update(chunk)
                    out.write(chunk)
                if length is not None and size != length:
                    raise IncompleteUpload(f"received {size} of {length} bytes")
                out.flush()
                os.fsync(out.fileno())
            digest = sha.hexdigest()
            final = target / digest
            created = not final.exists()
            os.replace(tmp, final)
            _fsync_dir(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Stored(
            key=f"{folder}/{digest}",
            size=size,
            sha256=digest,
            blake2_256=blake.hexdigest() if blake else None,
            created=created,
        )

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def sweep_uploads(self, older_than: float = STALE_UPLOAD_SECONDS) -> list[Path]:
        """Remove temporary upload files of every repository not written to for ``older_than``
        seconds. A client that stalls that long loses its upload too: it is told so and resends."""
        cutoff = time.time() - older_than
        removed = []
        for tmp in self.root.glob("*/*/.upload-*") if self.root.exists() else ():
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed.append(tmp)
            except FileNotFoundError:  # its upload finished or failed meanwhile
                continue
        return removed

    def leftovers(self, folder: str) -> list[Path]:
        """Temporary files still in a folder (none, unless a process died mid-upload)."""
        target = self._folder(folder)
        return sorted(target.glob(".upload-*")) if target.exists() else []


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk too.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage() -> FileSystemStorage:
    """The storage of the running application."""
    from flask import current_app

    return FileSystemStorage(Path(current_app.config["DATA_DIR"]) / "bpr")


def folder_of(repository) -> str:
    return f"{repository.tenant_id}/{repository.id}"
