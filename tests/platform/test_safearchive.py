"""The kernel's archive reader (taiji.platform.safearchive): what it refuses before reading
(member counts, names leaving the folder, implausible sizes and ratios, unbounded compression
methods) and while reading (headers that lie, streams that inflate past the cap)."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from taiji.platform import safearchive as sa
from tests.modules.bpr import bombs

SMALL = sa.Limits(max_members=10, max_read_bytes=256 * 1024, max_ratio=20, ratio_floor=64 * 1024)


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    body.seek(0)
    return body


def _tar_gz(members: dict[str, bytes], links: dict[str, str] | None = None) -> io.BytesIO:
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    body.seek(0)
    return body


def _is(name: str):
    return lambda member: member == name


def test_ordinary_archives_give_the_member_asked_for():
    assert sa.read_member(_zip({"a/METADATA": b"Name: a\n"}), "zip", _is("a/METADATA"), SMALL) == (
        "a/METADATA", b"Name: a\n")
    assert sa.read_member(_tar_gz({"a/x": b"1", "a/PKG-INFO": b"Name: a\n"}), "tar.gz", _is("a/PKG-INFO"),
                          SMALL) == ("a/PKG-INFO", b"Name: a\n")
    assert sa.read_member(_zip({"a/x": b""}), "zip", _is("a/METADATA"), SMALL) is None


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a/../../evil", "a\\..\\evil"])
def test_a_member_name_leaving_the_folder_refuses_the_archive(name):
    with pytest.raises(sa.ArchiveRefused, match="which leaves its folder"):
        sa.read_member(_zip({"ok": b"", name: b"x"}), "zip", _is("ok"), SMALL)
    with pytest.raises(sa.ArchiveRefused, match="which leaves its folder"):
        sa.read_member(_tar_gz({name: b"x", "ok": b""}), "tar.gz", _is("ok"), SMALL)
    assert not sa.safe_name("a\x00b") and sa.safe_name("a/./b") and sa.safe_name("a/b/../c")


def test_a_link_pointing_out_of_the_folder_refuses_the_tar():
    with pytest.raises(sa.ArchiveRefused, match="leaves its folder"):
        sa.read_member(_tar_gz({}, links={"a/link": "../../etc/passwd"}), "tar.gz", _is("x"), SMALL)


def test_too_many_members_are_refused_from_the_end_record_before_the_list_is_built():
    many = _zip({f"f{i}": b"" for i in range(11)})
    with pytest.raises(sa.ArchiveRefused, match="declares 11 members, more than the 10 accepted"):
        sa.read_member(many, "zip", _is("f0"), SMALL)
    with pytest.raises(sa.ArchiveRefused, match="more than 10 members"):
        sa.read_member(_tar_gz({f"f{i}": b"" for i in range(11)}), "tar.gz", _is("nothing"), SMALL)


def test_sizes_and_ratios_are_judged_before_reading():
    with pytest.raises(sa.ArchiveRefused, match="more than the 262144 bytes accepted"):
        sa.read_member(_zip({"big": b"x" * 300_000}, zipfile.ZIP_STORED), "zip", _is("big"), SMALL)
    with pytest.raises(sa.ArchiveRefused, match="a ratio above 20:1; this looks like a zip bomb"):
        sa.read_member(_zip({"zeros": b"\0" * 200_000}), "zip", _is("zeros"), SMALL)


def test_members_compressed_without_an_output_bound_are_refused():
    with pytest.raises(sa.ArchiveRefused, match="compression method 14; only stored and deflate"):
        sa.read_member(_zip({"m": b"x"}, zipfile.ZIP_LZMA), "zip", _is("m"), SMALL)


def test_a_header_that_understates_its_member_is_caught(tmp_path):
    forged = bombs.lying_header_wheel(tmp_path, actual=1024 * 1024, declared=1000)
    with forged.open("rb") as stream, pytest.raises(sa.ArchiveRefused, match="headers do not match"):
        sa.read_member(stream, "zip", _is("demo_lib-1.0.dist-info/METADATA"))


def test_a_gzip_stream_is_capped_at_the_ratio_and_truncation_is_named(tmp_path):
    sdist = bombs.zeros_bomb_sdist(tmp_path, inflated=64 * 1024 * 1024)
    with sdist.open("rb") as stream, pytest.raises(sa.ArchiveRefused, match="decompression bomb"):
        sa.read_member(stream, "tar.gz", _is("demo_lib-1.0/PKG-INFO"))
    whole = _tar_gz({"a/PKG-INFO": b"Name: a\n" * 1000}).getvalue()
    with pytest.raises(sa.ArchiveRefused, match="truncated"):
        sa.read_member(io.BytesIO(whole[: len(whole) // 2]), "tar.gz", _is("a/PKG-INFO"))


def test_what_is_no_archive_at_all_says_so():
    for kind in ("zip", "tar.gz"):
        with pytest.raises(sa.NotAnArchive):
            sa.read_member(io.BytesIO(b"just some bytes"), kind, _is("x"))
