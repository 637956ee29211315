"""Repositories: create, list, change, soft-delete, restore and purge; where their files live."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.orm import Session

from taiji.modules.spm import services as spm
from taiji.platform import audit, quotas
from taiji.platform.db import Page, after_commit, db, paginate, utcnow
from taiji.platform.errors import Conflict, Invalid, NotFound, field_error, msg
from taiji.platform.tenancy import Tenant

from ..models import KINDS, VISIBILITIES, Repository, StorageReservation, new_storage_key

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
RESTORE_WINDOW = dt.timedelta(days=7)
REPOSITORIES_METER = "vcs.repositories"
STORAGE_METER = "vcs.storage_bytes"
GIT = shutil.which("git") or "/usr/bin/git"


def run_git(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """Run git with arguments built from validated names (never a user's option)."""
    return subprocess.run([GIT, *args], capture_output=True, timeout=timeout)  # noqa: S603


def count_repositories(tenant) -> int:
    stmt = sa.select(sa.func.count()).select_from(Repository).where(
        Repository.tenant_id == tenant.id, Repository.deleted_at.is_(None))
    return db.session.execute(stmt).scalar_one()


def storage_used(tenant) -> int:
    """Bytes on disk of the tenant's repositories, deleted ones included until they are purged,
    plus the room held by pushes accepted and not yet measured (services/storage.py)."""
    stored = sa.select(sa.func.coalesce(sa.func.sum(Repository.size_bytes), 0)).where(
        Repository.tenant_id == tenant.id).scalar_subquery()
    held = sa.select(sa.func.coalesce(sa.func.sum(StorageReservation.size_bytes), 0)).where(
        StorageReservation.tenant_id == tenant.id).scalar_subquery()
    return int(db.session.execute(sa.select(stored + held)).scalar_one())


def quota_meters() -> list:
    """VCS's quota meters (Module.quota_meters)."""
    return [quotas.Meter(REPOSITORIES_METER, _l("Repositories"), 200, count_repositories),
            quotas.Meter(STORAGE_METER, _l("Repository storage"), 5 * 1024**3, storage_used, unit="bytes")]


# -- names and paths -------------------------------------------------------------------------


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name or "")) and not name.endswith(".git") and ".." not in name


def check_name(name: str) -> str:
    if not valid_name(name):
        raise field_error("name", msg("Use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting "
                                      "with a letter or digit, without '..' and not ending in '.git'."))
    return name


def git_root() -> Path:
    return (Path(current_app.config["DATA_DIR"]) / "git").resolve()


def _inside_root(*parts: str) -> Path:
    """A path under the git root built from validated names; anything that escapes is refused."""
    root = git_root()
    path = root.joinpath(*parts).resolve()
    if root not in path.parents:
        raise NotFound(msg("No such repository."))
    return path


def repository_path(repo: Repository) -> Path:
    """The bare repository of a hosted repository (it may not exist for an external one)."""
    return _inside_root(*repo.storage_key.split("/"))


# What git leaves in a repository while a push or fetch is under way, and behind when one is cut
# off: a push's quarantine (objects/incoming-*, objects/tmp_objdir-* since git 2.32) and packs
# being written (objects/pack/tmp_*). Not the repository's content: never counted; removed when
# stale by services/storage.py.
QUARANTINE_PREFIXES = ("incoming-", "tmp_objdir-")
TEMPORARY_PACK_PREFIX = "tmp_"


def disk_size(path: Path) -> int:
    """Bytes of the files under ``path``, leaving out quarantines and packs being written."""
    if not path.exists():
        return 0
    total = 0
    objects, packs = path / "objects", path / "objects" / "pack"
    for folder, dirs, files in os.walk(path):
        here = Path(folder)
        if here == objects:
            dirs[:] = [d for d in dirs if not d.startswith(QUARANTINE_PREFIXES)]
        for name in files:
            if here == packs and name.startswith(TEMPORARY_PACK_PREFIX):
                continue
            with contextlib.suppress(OSError):  # gone meanwhile (a gc, a finished push)
                info = (here / name).lstat()
                if stat.S_ISREG(info.st_mode):
                    total += info.st_size
    return total


# -- reads -------------------------------------------------------------------------------------


def find_repository(tenant, name: str, *, include_deleted: bool = False) -> Repository | None:
    if not valid_name(name):
        return None
    stmt = sa.select(Repository).where(Repository.tenant_id == tenant.id, Repository.name == name)
    if include_deleted:
        stmt = stmt.order_by(Repository.deleted_at.is_(None).desc(), Repository.deleted_at.desc())
    else:
        stmt = stmt.where(Repository.deleted_at.is_(None))
    return db.session.execute(stmt.limit(1)).scalars().first()


def get_repository(tenant, name: str, *, include_deleted: bool = False) -> Repository:
    """The tenant's repository ``name``; a missing or deleted one is a 404."""
    repo = find_repository(tenant, name, include_deleted=include_deleted)
    if repo is None:
        raise NotFound(msg("No repository '%(name)s'.", name=name))
    return repo


def list_repositories(tenant, *, kind: str | None = None, name: str | None = None, deleted: bool = False,
                      page: int = 1, page_size: int = 20) -> Page[Repository]:
    """Repositories of the tenant by name; ``name`` filters on a part of it, ``deleted`` lists the bin."""
    stmt = sa.select(Repository).where(Repository.tenant_id == tenant.id)
    stmt = stmt.where(Repository.deleted_at.is_not(None) if deleted else Repository.deleted_at.is_(None))
    if kind:
        stmt = stmt.where(Repository.kind == kind)
    if name:
        escaped = name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Repository.name.like(f"%{escaped}%", escape="\\"))
    return paginate(stmt.order_by(Repository.name, Repository.id), page, page_size)


def clone_url(repo: Repository) -> str:
    """What ``git clone`` on this machine (a pipeline worker) can use: the local path when there is one."""
    local = local_git_dir(repo)
    if local is not None:
        return str(local)
    from . import external  # vcs-web's module; only external repositories without a mirror get here

    return external.remote_url(repo)


def http_url(repo: Repository, tenant=None) -> str:
    tenant = tenant or db.session.get(Tenant, repo.tenant_id)
    return f"{current_app.config['BASE_URL'].rstrip('/')}/git/{tenant.slug}/{repo.name}.git"


def local_git_dir(repo: Repository) -> Path | None:
    """The bare repository on disk: the hosted one, or an external repository's mirror if it has one."""
    if repo.kind == "hosted":
        path = repository_path(repo)
        return path if path.exists() else None
    try:
        from . import external
    except ImportError:
        return None
    mirror = getattr(external, "mirror_dir", None)
    path = mirror(repo) if mirror is not None else None
    return path if path is not None and Path(path).exists() else None


# -- changes -----------------------------------------------------------------------------------


def _component(tenant, ref: str | None) -> tuple[int | None, str | None]:
    if not ref:
        return None, None
    product_slug, _, name = ref.strip().lower().partition("/")
    product = spm.find_product(tenant, product_slug) if product_slug and name else None
    component = spm.find_component(tenant, product, name) if product is not None else None
    if component is None:
        raise field_error("component", msg("No component '%(ref)s'; name it as 'product/component'.",
                                           ref=ref))
    return component.id, f"{product.slug}/{component.name}"


def console_url(repo: Repository, tenant=None) -> str:
    """The repository's page in the console."""
    tenant = tenant or db.session.get(Tenant, repo.tenant_id)
    return f"{current_app.config['BASE_URL'].rstrip('/')}/t/{tenant.slug}/repositories/{repo.name}"


def _link_component_back(tenant, repo: Repository) -> None:
    """The link the other way: a component that names no repository yet gets this one's page as
    its ``repository_url`` (SPM, a lower layer, cannot ask VCS; a URL it keeps can point here)."""
    if not repo.component_ref:
        return
    product_slug, _, name = repo.component_ref.partition("/")
    product = spm.find_product(tenant, product_slug)
    component = spm.find_component(tenant, product, name) if product is not None else None
    if component is not None and not component.repository_url:
        spm.update_component(tenant, component, {"repository_url": console_url(repo, tenant)})


def _check_choice(field: str, value, choices) -> None:
    if value is not None and value not in choices:
        raise field_error(field, msg("Must be one of: %(choices)s.", choices=', '.join(choices)))


def create_repository(tenant, data: dict, *, actor=None, kind: str = "hosted") -> Repository:
    """Create a repository; a hosted one gets its bare Git repository (``main``) and hooks on disk.

    Counts against the ``vcs.repositories`` quota. The directory is made after the row is flushed,
    and removed again if the unit of work rolls back.
    """
    name = check_name((data.get("name") or "").strip())
    _check_choice("kind", kind, KINDS)
    visibility = data.get("visibility") or "private"
    _check_choice("visibility", visibility, VISIBILITIES)
    if find_repository(tenant, name) is not None:
        raise Conflict(msg("The tenant already has a repository '%(name)s'.", name=name),
                       errors={"json": {"name": [msg("Already taken.")]}})
    quotas.check(tenant, REPOSITORIES_METER, 1)
    component_id, component_ref = _component(tenant, data.get("component"))
    repo = Repository(tenant_id=tenant.id, name=name, live_name=name, kind=kind, visibility=visibility,
                      description=data.get("description") or "", default_branch="main",
                      component_id=component_id, component_ref=component_ref, storage_key=new_storage_key(),
                      created_by=getattr(actor, "user_id", None) or getattr(actor, "id", None))
    db.session.add(repo)
    db.session.flush()
    if kind == "hosted":
        _init_bare(repository_path(repo))
        repo.size_bytes = disk_size(repository_path(repo))
    db.session.flush()
    _link_component_back(tenant, repo)
    audit.record("vcs.repository.created", "repository", name, tenant=tenant, actor=actor,
                 details={"kind": kind, "visibility": visibility})
    return repo


def _init_bare(path: Path) -> None:
    from .hookscript import install_hooks

    if path.exists():
        # git would happily "reinitialise" it: never adopt a directory another repository may own.
        raise RuntimeError(f"a repository directory already exists at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    run_git("init", "--quiet", "--bare", "-b", "main", str(path)).check_returncode()
    run_git("-C", str(path), "config", "http.receivepack", "true").check_returncode()
    install_hooks(path)

    # A rolled-back creation must not leave a directory behind.
    db.session.info.setdefault(_ROLLBACK_KEY, []).append(path)


_ROLLBACK_KEY = "taiji_vcs_created_dirs"


@event.listens_for(Session, "after_commit")
def _keep_created(session: Session) -> None:
    session.info.pop(_ROLLBACK_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _remove_created(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None or not session.in_transaction():
        for path in session.info.pop(_ROLLBACK_KEY, []):
            shutil.rmtree(path, ignore_errors=True)


def update_repository(tenant, repo: Repository, data: dict, *, actor=None) -> Repository:
    """Change description, visibility, default branch or component link."""
    changes = {}
    if "visibility" in data:
        _check_choice("visibility", data["visibility"], VISIBILITIES)
    if "default_branch" in data:
        branch = data["default_branch"]
        if not _valid_branch(branch):
            raise field_error("default_branch", msg("Not a valid branch name."))
    if "component" in data:
        repo.component_id, repo.component_ref = _component(tenant, data["component"])
        changes["component"] = repo.component_ref
        _link_component_back(tenant, repo)
    for key in ("description", "visibility", "default_branch"):
        if key in data and getattr(repo, key) != data[key]:
            setattr(repo, key, data[key])
            changes[key] = data[key]
    if "default_branch" in changes and repo.kind == "hosted":
        head = f"refs/heads/{repo.default_branch}"
        run_git("-C", str(repository_path(repo)), "symbolic-ref", "HEAD", head).check_returncode()
    repo.updated_at = utcnow()
    db.session.flush()
    audit.record("vcs.repository.updated", "repository", repo.name, tenant=tenant, actor=actor,
                 details=changes)
    return repo


def _valid_branch(branch: str) -> bool:
    if not branch or len(branch) > 200 or branch.startswith(("-", "/")):
        return False
    return run_git("check-ref-format", f"refs/heads/{branch}").returncode == 0


def delete_repository(tenant, repo: Repository, *, actor=None) -> None:
    """Soft delete: the repository disappears now and can be restored for seven days."""
    repo.deleted_at = utcnow()
    repo.live_name = None
    db.session.flush()
    audit.record("vcs.repository.deleted", "repository", repo.name, tenant=tenant, actor=actor)


def restore_repository(tenant, name: str, *, actor=None) -> Repository:
    """Bring back the most recently deleted repository ``name`` while its seven days last."""
    repo = find_repository(tenant, name, include_deleted=True)
    if repo is None or not repo.is_deleted or repo.purge_due():
        raise NotFound(msg("No deleted repository '%(name)s' that can still be restored.", name=name))
    if find_repository(tenant, name) is not None:
        raise Invalid(msg("A repository '%(name)s' exists again; rename or delete it before restoring "
                          "this one.", name=name))
    repo.deleted_at = None
    repo.live_name = repo.name
    db.session.flush()
    audit.record("vcs.repository.restored", "repository", name, tenant=tenant, actor=actor)
    return repo


def purge_due_repositories(now: dt.datetime | None = None, limit: int = 100) -> int:
    """Delete the rows and files of repositories deleted more than seven days ago."""
    cutoff = (now or utcnow()) - RESTORE_WINDOW
    stmt = sa.select(Repository).where(Repository.deleted_at.is_not(None), Repository.deleted_at <= cutoff)
    repos = list(db.session.execute(stmt.limit(limit)).scalars())
    for repo in repos:
        # For an external repository this is its mirror: it lives where a hosted one would.
        path = repository_path(repo) if repo.storage_key else None
        audit.record("vcs.repository.purged", "repository", repo.name, tenant=repo.tenant_id)
        _delete_source_rows(repo)
        db.session.delete(repo)
        if path is not None:
            # Files go only once the rows are gone for good.
            after_commit(lambda p=path: shutil.rmtree(p, ignore_errors=True))
    db.session.flush()
    return len(repos)


def _delete_source_rows(repo: Repository) -> None:
    """An external repository's source, deliveries and waiting pushes, and any room a push still
    holds, said out loud rather than left to the foreign keys' ON DELETE CASCADE (which SQLite
    honours only with its pragma on)."""
    from ..models_external import ExternalSource, PendingPush, WebhookDelivery

    sources = sa.select(ExternalSource.id).where(ExternalSource.repository_id == repo.id)
    db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.source_id.in_(sources)))
    db.session.execute(sa.delete(PendingPush).where(PendingPush.repository_id == repo.id))
    db.session.execute(sa.delete(ExternalSource).where(ExternalSource.repository_id == repo.id))
    db.session.execute(sa.delete(StorageReservation).where(StorageReservation.repository_id == repo.id))


def refresh_size(repo: Repository) -> int:
    """Measure the repository on disk again (after a push)."""
    path = local_git_dir(repo)
    repo.size_bytes = disk_size(path) if path is not None else 0
    db.session.flush()
    return repo.size_bytes
