"""Reading archives that the platform's users uploaded: wheels, source distributions, tarballs.

An archive says how big its members are, and it may lie. A 261 KB wheel whose METADATA inflates
to 256 MiB, read with ``ZipFile.read``, costs a worker gigabytes; a gzip stream of zeros inflates
a thousandfold; a zip that declares a million members costs memory before a single one is read.
So every archive Taiji opens is read through here, and nothing in it is trusted:

- the number of members is bounded before the member list is built (a zip's end record says how
  many there are; a tar is counted as it streams);
- every member name must stay inside the archive's folder (no absolute paths, no ``..``, no NUL,
  no backslash), so that nothing read here can ever be written outside a folder later;
- before a member is read, its declared size must be within the caller's bound and its
  compression ratio plausible; then it is decompressed in chunks with a byte cap all the same,
  because the header may lie (and a gzip stream declares nothing at all);
- a zip member must be stored or deflated: the other methods zipfile knows decompress a whole
  chunk at once, without an output bound.

Refusals are ``ArchiveRefused`` errors whose message says what was wrong with which member.
"""

from __future__ import annotations

import io
import posixpath
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """What reading one archive may cost.

    ``max_read_bytes``: the most one member read may return. ``max_scan_bytes``: the most a
    compressed stream (tar.gz) may inflate to while it is walked to the member. ``max_ratio``:
    the highest compression ratio believed for anything larger than ``ratio_floor`` bytes.
    """

    max_members: int = 100_000
    max_read_bytes: int = 8 * 1024 * 1024
    max_scan_bytes: int = 1024 * 1024 * 1024
    max_ratio: int = 100
    ratio_floor: int = 1024 * 1024


class ArchiveRefused(ValueError):
    """The archive is damaged, hostile or over a bound; the message says which member and why."""


class NotAnArchive(ArchiveRefused):
    """The file is not an archive of the kind asked for at all (no zip end record, no gzip magic)."""


Match = Callable[[str], bool]


def read_member(source: BinaryIO, kind: str, match: Match,
                limits: Limits = Limits()) -> tuple[str, bytes] | None:
    """The first member whose name ``match`` accepts, as ``(name, bytes)``; None when none does.

    ``source`` is a seekable binary file, ``kind`` "zip" or "tar.gz". Raises ``ArchiveRefused``.
    """
    if kind == "zip":
        return _zip_member(source, match, limits)
    if kind == "tar.gz":
        return _tar_member(source, match, limits)
    raise ValueError(f"unknown archive kind {kind!r}")


def safe_name(name: str) -> bool:
    """Whether a member name stays inside the archive's folder."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/"):
        return False
    normal = posixpath.normpath(name)
    return not (normal == ".." or normal.startswith("../") or posixpath.isabs(normal))


def _check_name(name: str) -> None:
    if not safe_name(name):
        raise ArchiveRefused(f"The archive holds a member named {name[:200]!r}, which leaves its folder.")


def _ratio_refusal(name: str, size: int, packed: int, limits: Limits) -> ArchiveRefused | None:
    if size > limits.max_read_bytes:
        return ArchiveRefused(
            f"The archive member '{name[:200]}' is {size} bytes unpacked, more than the "
            f"{limits.max_read_bytes} bytes accepted.")
    if size > limits.ratio_floor and size > limits.max_ratio * max(packed, 1):
        return ArchiveRefused(
            f"The archive member '{name[:200]}' claims to inflate from {packed} to {size} bytes, a "
            f"ratio above {limits.max_ratio}:1; this looks like a zip bomb.")
    return None


# -- zip ---------------------------------------------------------------------------------------

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def _zip_entry_count(source: BinaryIO) -> int | None:
    """The member count the end of central directory record declares (None: no such record).

    Read here, before zipfile builds one object per member, so that a small file declaring
    millions of members is refused for the price of its last 64 KiB.
    """
    source.seek(0, io.SEEK_END)
    size = source.tell()
    tail_start = max(0, size - (22 + 65535))
    source.seek(tail_start)
    tail = source.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    total = struct.unpack("<H", tail[at + 10 : at + 12])[0]
    if total != 0xFFFF:
        return total
    # Zip64: the locator sits right before the classic record and points at the zip64 record.
    locator = tail[at - 20 : at] if at >= 20 else b""
    if not locator.startswith(_ZIP64_LOCATOR):
        return total
    offset = struct.unpack("<Q", locator[8:16])[0]
    source.seek(offset)
    record = source.read(56)
    if len(record) < 40 or not record.startswith(_ZIP64_EOCD):
        return None
    return struct.unpack("<Q", record[32:40])[0]


def _zip_member(source: BinaryIO, match: Match, limits: Limits) -> tuple[str, bytes] | None:
    count = _zip_entry_count(source)
    if count is None:
        raise NotAnArchive("The file is not a zip archive.")
    if count > limits.max_members:
        raise ArchiveRefused(
            f"The archive declares {count} members, more than the {limits.max_members} accepted.")
    source.seek(0)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveRefused(f"The file is not a readable zip archive ({exc}).") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise ArchiveRefused(
                f"The archive holds {len(infos)} members, more than the {limits.max_members} accepted.")
        for info in infos:
            _check_name(info.filename)
        found = next((info for info in infos if not info.is_dir() and match(info.filename)), None)
        if found is None:
            return None
        return found.filename, _read_zip_member(archive, found, limits)


def _read_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> bytes:
    name = info.filename
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveRefused(
            f"The archive member '{name[:200]}' uses compression method {info.compress_type}; "
            "only stored and deflate are accepted.")
    refusal = _ratio_refusal(name, info.file_size, info.compress_size, limits)
    if refusal is not None:
        raise refusal
    out = bytearray()
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK):
                out += chunk
                # Unreachable with today's zipfile, which stops at the declared size: kept so
                # that the bound holds whatever the library does.
                if len(out) > info.file_size:
                    raise ArchiveRefused(
                        f"The archive member '{name[:200]}' holds more than the {info.file_size} "
                        "bytes its header declares; the archive is damaged or forged.")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        # zipfile stops at the declared size and then finds the checksum wrong: a header that
        # understates what follows ends here, as does an encrypted or truncated member.
        raise ArchiveRefused(
            f"The archive member '{name[:200]}' cannot be read: {exc}. The archive is damaged or its "
            "headers do not match its contents.") from None
    return bytes(out)


# -- tar.gz ------------------------------------------------------------------------------------


class _CappedInflate(io.RawIOBase):
    """A gzip stream inflated chunk by chunk, refusing to produce more than ``cap`` bytes."""

    def __init__(self, source: BinaryIO, cap: int):
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer
        self._source = source
        self._cap = cap
        self.produced = 0
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            if self._inflate.eof:
                # Concatenated gzip members are legal; a fresh inflater takes the rest.
                rest = self._inflate.unused_data.lstrip(b"\0")  # zero padding after a member is legal
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                if not rest:
                    rest = self._source.read(CHUNK).lstrip(b"\0")
                    if not rest:
                        return 0
                self._pending = self._inflate.decompress(rest, CHUNK)
            else:
                data = self._inflate.unconsumed_tail or self._source.read(CHUNK)
                if not data:
                    if self.produced == 0:
                        raise ArchiveRefused("The file is empty, not a gzip stream.")
                    raise ArchiveRefused("The gzip stream ends before its data does: the file is truncated.")
                self._pending = self._inflate.decompress(data, CHUNK)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.produced += size
        if self.produced > self._cap:
            raise ArchiveRefused(
                f"The compressed archive inflates to more than {self._cap} bytes; "
                "this looks like a decompression bomb.")
        return size


def _tar_member(source: BinaryIO, match: Match, limits: Limits) -> tuple[str, bytes] | None:
    source.seek(0, io.SEEK_END)
    packed = source.tell()
    source.seek(0)
    if source.read(2) != b"\x1f\x8b":
        raise NotAnArchive("The file is not a gzip-compressed tar archive.")
    source.seek(0)
    # All of a tar.gz is inflated on the way to the member (tar has no index): bound the whole.
    cap = min(limits.max_scan_bytes, max(limits.ratio_floor, limits.max_ratio * packed))
    stream = io.BufferedReader(_CappedInflate(source, cap), CHUNK)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for count, info in enumerate(archive, start=1):
                if count > limits.max_members:
                    raise ArchiveRefused(f"The archive holds more than {limits.max_members} members.")
                _check_name(info.name)
                if info.islnk() or info.issym():
                    _check_name(posixpath.join(posixpath.dirname(info.name), info.linkname))
                if not info.isfile() or not match(info.name):
                    continue
                if info.size > limits.max_read_bytes:
                    raise ArchiveRefused(
                        f"The archive member '{info.name[:200]}' is {info.size} bytes, more than the "
                        f"{limits.max_read_bytes} bytes accepted.")
                member = archive.extractfile(info)
                data = member.read(info.size) if member is not None else b""
                return info.name, data
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise ArchiveRefused(f"The file is not a readable tar.gz archive ({exc}).") from None
    return None


def tar_stream_files(source: BinaryIO,
                     limits: Limits = Limits()) -> Iterator[tuple[tuple[str, ...], int, BinaryIO]]:
    """The regular files of an uncompressed tar stream, as ``(path parts, size, reader)``.

    For archives another program made from files a user controls (a container's folder that
    Docker packs): links, devices and folders are skipped, so is any member whose name would leave
    the archive's folder; the member count is bounded. Each reader is valid until the next item.
    """
    try:
        with tarfile.open(fileobj=source, mode="r|") as archive:
            for count, info in enumerate(archive, start=1):
                if count > limits.max_members:
                    raise ArchiveRefused(f"The archive holds more than {limits.max_members} members.")
                if not info.isreg() or not safe_name(info.name):
                    continue
                parts = tuple(part for part in info.name.split("/") if part not in ("", "."))
                reader = archive.extractfile(info)
                if parts and ".." not in parts and reader is not None:
                    yield parts, info.size, reader
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveRefused(f"The tar stream is not readable ({exc}).") from None
