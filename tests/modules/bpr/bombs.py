"""Hostile distribution files, built the way an attacker builds them: small on disk, huge inflated
(streamed through the compressor, so building them costs the test no memory), or with headers
that lie about what follows."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
from pathlib import Path

MIB = 1024 * 1024
HEADERS = b"Metadata-Version: 2.1\nName: demo-lib\nVersion: 1.0\nSummary: innocent\n\n"


def _stream_member(archive: zipfile.ZipFile, name: str, head: bytes, zeros: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        member.write(head)
        block = b"\0" * MIB
        for _ in range(zeros // MIB):
            member.write(block)


def metadata_bomb_wheel(where: Path, inflated: int = 256 * MIB) -> Path:
    """``demo_lib-1.0`` whose METADATA inflates to ``inflated`` bytes (256 MiB: a 261 KB file)."""
    path = where / "demo_lib-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo_lib/__init__.py", "")
        _stream_member(archive, "demo_lib-1.0.dist-info/METADATA", HEADERS, inflated)
        archive.writestr("demo_lib-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
    return path


def lying_header_wheel(where: Path, actual: int = 32 * MIB, declared: int = 1000) -> Path:
    """A wheel whose METADATA holds ``actual`` bytes while both its headers say ``declared``."""
    body = io.BytesIO()
    name = "demo_lib-1.0.dist-info/METADATA"
    with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, HEADERS + b"\0" * actual)
    data = bytearray(body.getvalue())
    encoded = name.encode()
    local = data.index(b"PK\x03\x04")
    assert data[local + 30 : local + 30 + len(encoded)] == encoded
    struct.pack_into("<I", data, local + 22, declared)  # local header: uncompressed size
    central = data.index(b"PK\x01\x02")
    assert data[central + 46 : central + 46 + len(encoded)] == encoded
    struct.pack_into("<I", data, central + 24, declared)  # central directory: uncompressed size
    path = where / "demo_lib-1.0-py3-none-any.whl"
    path.write_bytes(bytes(data))
    return path


class _Zeros(io.RawIOBase):
    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), self.left)
        buffer[:size] = b"\0" * size
        self.left -= size
        return size


def zeros_bomb_sdist(where: Path, inflated: int = 512 * MIB) -> Path:
    """``demo_lib-1.0.tar.gz``: a member of ``inflated`` zero bytes, then a proper PKG-INFO (at
    the end, where hatchling and flit put it, so a reader has to walk past the zeros)."""
    path = where / "demo_lib-1.0.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=9) as archive:
        zeros = tarfile.TarInfo("demo_lib-1.0/data.bin")
        zeros.size = inflated
        archive.addfile(zeros, io.BufferedReader(_Zeros(inflated), MIB))
        info = tarfile.TarInfo("demo_lib-1.0/PKG-INFO")
        info.size = len(HEADERS)
        archive.addfile(info, io.BytesIO(HEADERS))
    return path


def metadata_bomb_zip_sdist(where: Path, inflated: int = 256 * MIB) -> Path:
    """``demo_lib-1.0.zip`` whose PKG-INFO inflates to ``inflated`` bytes."""
    path = where / "demo_lib-1.0.zip"
    with zipfile.ZipFile(path, "w") as archive:
        _stream_member(archive, "demo_lib-1.0/PKG-INFO", HEADERS, inflated)
    return path
