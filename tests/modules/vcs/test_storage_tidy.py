"""The hourly tidy-up of repository storage: stale quarantines and half-written packs go, live ones
stay, reservations of pushes that vanished are dropped, and every repository is measured again."""

from __future__ import annotations

import datetime as dt
import os
import time

from taiji.modules.vcs import services
from taiji.modules.vcs.models import StorageReservation
from taiji.modules.vcs.services import storage
from taiji.modules.vcs.services.repositories import disk_size
from taiji.platform.db import db, utcnow

from .fixtures.gitdata import commit_files


def _leftover(path, name: str, *, age_s: int, size: int = 300_000):
    """A file (and the folders made for it under objects/) last written ``age_s`` seconds ago."""
    path.mkdir(parents=True, exist_ok=True)
    target = path / name
    target.write_bytes(os.urandom(size))
    stamp = time.time() - age_s
    for touched in (target, *[p for p in target.parents if "objects" in p.parts and p.name != "objects"]):
        os.utime(touched, (stamp, stamp))
    return target


def test_tidy_removes_what_vanished_pushes_left_and_measures_again(tenant):
    repo = services.create_repository(tenant, {"name": "app"})
    db.session.commit()
    path = services.local_git_dir(repo)
    commit_files(path, {"README.md": "# App\n"}, "Start")
    clean = disk_size(path)
    objects = path / "objects"
    _leftover(objects / "tmp_objdir-incoming-OLD1" / "pack", "tmp_pack_a", age_s=7200)
    _leftover(objects / "incoming-OLD2", "x", age_s=7200)
    _leftover(objects / "pack", "tmp_pack_old", age_s=7200)
    live = _leftover(objects / "tmp_objdir-incoming-LIVE" / "pack", "tmp_pack_b", age_s=5)
    assert disk_size(path) == clean  # never counted as the repository's
    db.session.add(StorageReservation(tenant_id=tenant.id, repository_id=repo.id, push_id="gone",
                                      size_bytes=10**9, created_at=utcnow() - dt.timedelta(hours=2)))
    db.session.add(StorageReservation(tenant_id=tenant.id, repository_id=repo.id, push_id="running",
                                      size_bytes=1000))
    repo.size_bytes = 12345  # measured wrong, somehow
    db.session.commit()
    assert services.storage_used(tenant) == 12345 + 10**9 + 1000

    assert storage.tidy_storage() == 3
    db.session.commit()
    assert sorted(p.name for p in objects.iterdir() if "incoming" in p.name) == ["tmp_objdir-incoming-LIVE"]
    assert live.exists() and not (objects / "pack" / "tmp_pack_old").exists()
    assert repo.size_bytes == clean
    assert services.storage_used(tenant) == clean + 1000  # the running push still holds its room
