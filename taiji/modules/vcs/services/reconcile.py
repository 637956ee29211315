"""A safety net for lost post-receive hooks: compare each hosted repository's ref tips with what
Taiji last published, and publish the ``vcs.push`` that went missing.

The post-receive hook publishes after git has written the refs; if that fails (the database was
away for a moment, the server restarted mid-push), git keeps the refs and nobody retries. The
``vcs_push`` rows already record every published ref update, so the newest row per ref *is* the
tip Taiji last told the world about: no second bookkeeping table that could drift from it.

A ref that moved within the last ``grace_s`` seconds is left alone: its post-receive may still be
running, and publishing it here too would make two events for one update.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import sqlalchemy as sa

from taiji.platform.db import db

from ..models import Repository
from .gitdata import ZERO, push_commits
from .pushes import PREFIXES, publish_push, published_tips
from .repositories import refresh_size, repository_path, run_git

log = logging.getLogger("taiji.vcs.reconcile")

GRACE_S = 120


def actual_tips(path: Path) -> dict[str, str]:
    """ref -> object id of every branch and tag in the bare repository.

    A ref whose name is not UTF-8 (refused by the pre-receive check, so written around Taiji) is
    left out, with a warning: it cannot be announced under its own name.
    """
    result = run_git("-C", str(path), "for-each-ref", "--format=%(objectname) %(refname)", *PREFIXES)
    result.check_returncode()
    tips = {}
    for line in result.stdout.split(b"\n"):
        sha, _, raw = line.partition(b" ")
        if not raw:
            continue
        try:
            tips[raw.decode("utf-8")] = sha.decode("ascii")
        except UnicodeDecodeError:
            log.warning("a ref whose name is not UTF-8 is not announced", extra={
                "path": str(path), "ref": raw.decode("utf-8", "backslashreplace")})
    return tips


def _moved_at(path: Path, ref: str) -> float:
    """When a ref last changed, or an upper bound: its loose file; for a packed or deleted ref,
    the newer of packed-refs and the directory the loose file is (or was) in."""
    try:
        return (path / ref).stat().st_mtime
    except OSError:
        pass
    stamps = [0.0]
    for candidate in ((path / ref).parent, path / "packed-refs"):
        try:
            stamps.append(candidate.stat().st_mtime)
        except OSError:
            continue
    return max(stamps)


def reconcile_repository(repo: Repository, *, grace_s: float = GRACE_S) -> int:
    """Publish the updates of ``repo``'s refs that no ``vcs.push`` announced; returns how many."""
    path = repository_path(repo)
    if not (path / "HEAD").exists():
        return 0
    actual = actual_tips(path)
    published = {ref: after for ref, (_, after) in published_tips(repo).items()}
    now = time.time()
    count = 0
    for ref in sorted(set(actual) | set(published)):
        before, after = published.get(ref, ZERO), actual.get(ref, ZERO)
        if before == after:
            continue
        if now - _moved_at(path, ref) < grace_s:
            continue
        commits = push_commits(repo, ref, before, after)
        # The same transition published twice (by a late hook and by us) shares this key.
        if publish_push(repo, ref, before, after, None, commits, key=f"tip:{ref}:{before}:{after}"):
            count += 1
    if count:
        refresh_size(repo)
        log.warning("published pushes a post-receive hook had missed",
                    extra={"repository": repo.id, "count": count})
    return count


def reconcile_pushes(*, grace_s: float = GRACE_S, page_size: int = 500) -> int:
    """Check every hosted repository, ``page_size`` rows at a time (keyset paging on the id, so a
    repository created or deleted meanwhile neither hides another nor is checked twice)."""
    total, after_id = 0, 0
    while True:
        stmt = (sa.select(Repository).where(Repository.kind == "hosted", Repository.deleted_at.is_(None),
                                            Repository.id > after_id)
                .order_by(Repository.id).limit(page_size))
        page = list(db.session.execute(stmt).scalars())
        for repo in page:
            try:
                with db.session.begin_nested():
                    total += reconcile_repository(repo, grace_s=grace_s)
            except Exception:  # one broken repository must not stop the others
                log.exception("could not reconcile a repository", extra={"repository": repo.id})
        if len(page) < page_size:
            return total
        after_id = page[-1].id
