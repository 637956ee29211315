"""The Python package index: distribution files, their projects and versions (PEP 503/691/592)."""

from __future__ import annotations

import re
from email.parser import HeaderParser

import sqlalchemy as sa
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from taiji.platform import safearchive
from taiji.platform.db import Page, db, paginate
from taiji.platform.errors import Conflict, Invalid, msg

from ..models import BprFile, BprRepository
from .files import add_file, find_file, write_stream

_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]{0,250}\.(whl|tar\.gz|zip)$")
DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")


def normalize(name: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_distribution(filename: str) -> tuple[str, Version]:
    """(normalized project, version) named by a wheel or sdist file name; 422 for anything else."""
    if not isinstance(filename, str) or not _FILENAME.match(filename):
        raise Invalid(
            msg("'%(filename)s' is not the name of a wheel (.whl) or source distribution (.tar.gz, .zip).",
                filename=str(filename)[:100]),
            errors={"content": [msg("Not a distribution file name.")]},
        )
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise Invalid(
            msg("'%(filename)s' is not a valid distribution file name: %(exc)s", filename=filename, exc=exc),
            errors={"content": [msg("Not a distribution file name.")]},
        ) from None
    return normalize(str(name)), version


# A distribution is opened for one thing, its metadata file, and only through the kernel's
# archive reader: METADATA or PKG-INFO of up to 8 MiB (a long README included), no bombs.
ARCHIVE_LIMITS = safearchive.Limits(max_read_bytes=8 * 1024 * 1024)
_WHEEL_METADATA = re.compile(r"^[^/]+\.dist-info/METADATA$")
_SDIST_METADATA = re.compile(r"^[^/]+/PKG-INFO$")


def distribution_metadata(stream, filename: str) -> dict:
    """Requires-Python and Summary from a distribution's own metadata file (METADATA of a wheel,
    PKG-INFO of an sdist), for PEP 691; ``stream`` is seekable and left at its start.

    422 when the file is an archive that cannot be read safely (a decompression bomb, a forged
    header, too many members, a name leaving its folder, a damaged member). A file that is no
    archive of its kind at all gives no metadata, as one without a metadata file does.
    """
    wheel = filename.endswith(".whl")
    kind = "zip" if wheel or filename.endswith(".zip") else "tar.gz"
    pattern = _WHEEL_METADATA if wheel else _SDIST_METADATA
    try:
        found = safearchive.read_member(stream, kind, pattern.match, ARCHIVE_LIMITS)
    except safearchive.NotAnArchive:
        found = None
    except safearchive.ArchiveRefused as exc:
        raise Invalid(
            msg("'%(filename)s' was refused and nothing was stored: %(exc)s", filename=filename, exc=exc),
            errors={"content": [msg("Not a safely readable distribution archive.")]},
        ) from None
    finally:
        stream.seek(0)
    if found is None:
        return {}
    headers = HeaderParser().parsestr(found[1].decode("utf-8", "replace"))
    out = {"requires_python": headers.get("Requires-Python"), "summary": headers.get("Summary")}
    return {k: str(v)[:500] for k, v in out.items() if v}


def _requires_python(value) -> str | None:
    """A Requires-Python as pip reads it (PEP 440 specifiers), or 422: pip would skip a file whose
    specifier it cannot parse, and the index page would publish the garbage."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        if len(text) > 500:
            raise InvalidSpecifier(text)
        SpecifierSet(text)
    except InvalidSpecifier:
        raise Invalid(
            msg("requires_python '%(text)s' is not a version specifier such as '>=3.9' or '>=3.8,<4'.",
                text=text[:100]),
            errors={"requires_python": [msg("Not a PEP 440 version specifier.")]},
        ) from None
    return text


def store_package(
    tenant,
    repository: BprRepository,
    filename: str,
    stream,
    *,
    length: int | None = None,
    name: str | None = None,
    version: str | None = None,
    sha256: str | None = None,
    meta: dict | None = None,
    actor=None,
) -> BprFile:
    """Store one distribution file: its name and version must agree with the file name and any
    ``name``/``version`` sent beside it; a file name that exists is 409; a sent sha256 that does not
    match what arrived is 400 and nothing is kept."""
    if repository.kind != "pypi":
        raise Invalid(msg("'%(repository_name)s' is a generic repository; upload files there with PUT.",
                          repository_name=repository.name))
    package, parsed = parse_distribution(filename)
    # What the uploader sent beside the file wins; the archive's own metadata fills the rest.
    meta = {**distribution_metadata(stream, filename), **{k: v for k, v in (meta or {}).items() if v}}
    if name is not None and normalize(str(name)) != package:
        raise Invalid(
            msg("The file '%(filename)s' is for '%(package)s', not '%(name)s'.",
                filename=filename, package=package, name=name),
            errors={"name": [msg("Does not match the file name.")]},
        )
    if version is not None:
        try:
            same = Version(str(version)) == parsed
        except InvalidVersion:
            same = False
        if not same:
            raise Invalid(
                msg("The file '%(filename)s' is version %(parsed)s, not %(version)s.",
                    filename=filename, parsed=parsed, version=version),
                errors={"version": [msg("Does not match the file name.")]},
            )
    if sha256 is not None and not DIGEST.match(sha256):
        raise Invalid(msg("sha256_digest must be 64 hexadecimal digits."),
                      errors={"sha256_digest": [msg("Invalid.")]})
    requires_python = _requires_python((meta or {}).get("requires_python"))
    path = f"{package}/{filename}"
    if find_file(repository, path) is not None:
        raise Conflict(
            msg("File already exists: '%(filename)s' is in '%(repository_name)s'. A released file never "
                "changes; publish a new version instead.", filename=filename, repository_name=repository.name)
        )
    stored = write_stream(tenant, repository, stream, length=length, blake2=True)
    if sha256 is not None and sha256.lower() != stored.sha256:
        raise Invalid(
            msg("The sha256 digest sent (%(sha256)s) does not match the file received "
                "(%(stored_sha256)s); nothing was stored.",
                sha256=sha256.lower(), stored_sha256=stored.sha256),
            errors={"sha256_digest": [msg("Mismatch.")]},
        )
    kept = (meta or {}).items()
    clean_meta = {k: str(v)[:500] for k, v in kept if v and k not in ("source", "requires_python")}
    if requires_python:
        clean_meta["requires_python"] = requires_python
    if meta and meta.get("source"):
        clean_meta["source"] = meta["source"]
    return add_file(
        tenant,
        repository,
        stored,
        path=path,
        filename=filename,
        actor=actor,
        package=package,
        version=str(parsed),
        meta=clean_meta,
    )


def project_names(repository: BprRepository) -> list[str]:
    """Every project of the index, by normalized name (the root of the simple API)."""
    return list(
        db.session.execute(
            sa.select(BprFile.package)
            .where(BprFile.repository_id == repository.id, BprFile.package.is_not(None))
            .distinct()
            .order_by(BprFile.package)
        ).scalars()
    )


def project_files(repository: BprRepository, package: str) -> list[BprFile]:
    """The files of one project (yanked ones included: PEP 592 keeps them listed)."""
    return list(
        db.session.execute(
            sa.select(BprFile)
            .where(BprFile.repository_id == repository.id, BprFile.package == package)
            .order_by(BprFile.filename)
        ).scalars()
    )


def _version_key(text: str):
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)


def list_packages(
    repository: BprRepository, *, q: str | None = None, page: int = 1, page_size: int = 20
) -> Page[dict]:
    """Projects of the index by name, each with its versions newest first and its file count."""
    stmt = sa.select(
        BprFile.package, sa.func.count(BprFile.id), sa.func.sum(BprFile.size), sa.func.max(BprFile.created_at)
    ).where(BprFile.repository_id == repository.id, BprFile.package.is_not(None))
    if q:
        stmt = stmt.where(BprFile.package.like(f"%{normalize(q.strip())}%"))
    stmt = stmt.group_by(BprFile.package).order_by(BprFile.package)
    result = paginate(stmt, page, page_size, scalars=False)
    names = [row[0] for row in result.items]
    versions: dict[str, set] = {n: set() for n in names}
    if names:
        for package, version in db.session.execute(
            sa.select(BprFile.package, BprFile.version)
            .where(BprFile.repository_id == repository.id, BprFile.package.in_(names))
            .distinct()
        ):
            versions[package].add(version)
    items = []
    for package, count, size, latest in result.items:
        ordered = sorted(versions[package], key=_version_key, reverse=True)
        items.append(
            {
                "name": package,
                "versions": ordered,
                "latest": ordered[0] if ordered else None,
                "files": count,
                "size": int(size or 0),
                "updated_at": latest,
            }
        )
    return Page(items=items, total=result.total, page=result.page, page_size=result.page_size)
