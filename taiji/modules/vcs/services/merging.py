"""Merging one branch into another with the real ``git``, straight in the bare repository.

No working tree is needed: ``git merge-tree --write-tree`` computes the merged tree (and the
conflicting paths, when there are any) from the two commits, ``git commit-tree`` writes the commit,
and ``git update-ref <ref> <new> <old>`` moves the target only if it still points where the merge
was computed from — a push that landed meanwhile makes the merge fail whole, nothing half-applied.
Objects written by a merge that then fails are unreferenced and go with git's garbage collection.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from taiji.platform.errors import Conflict, msg

from .repositories import GIT

TIMEOUT = 120


class GitFailed(Exception):
    pass


def _git(repo_dir: Path, *args: str, env: dict | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
               "HOME": str(repo_dir), "LANG": "C", **(env or {})}
    # Every argument is a checked sha, a fixed option or a branch name under refs/heads/.
    result = subprocess.run([GIT, f"--git-dir={repo_dir}", *args], env=environ,  # noqa: S603
                            capture_output=True, text=True, timeout=TIMEOUT)
    if check and result.returncode != 0:
        raise GitFailed(f"git {args[0]} failed: {result.stderr.strip()[:500]}")
    return result


@dataclass
class Mergeability:
    merge_base: str | None
    tree: str | None  # the merged tree when there is no conflict
    conflicts: list[str] = field(default_factory=list)
    fast_forward: bool = False  # the target is an ancestor of the source
    up_to_date: bool = False  # the source is in the target already: nothing to merge
    unrelated: bool = False  # no common history: git will not merge them


def check(repo_dir: Path, target: str, source: str) -> Mergeability:
    """Whether ``source`` merges cleanly into ``target`` (both full commit ids)."""
    base = _git(repo_dir, "merge-base", target, source, check=False).stdout.strip() or None
    if base == source:
        return Mergeability(base, None, up_to_date=True)
    if base is None:
        return Mergeability(None, None, unrelated=True)
    result = _git(repo_dir, "merge-tree", "--write-tree", "--name-only", "--no-messages", target, source,
                  check=False)
    lines = result.stdout.splitlines()
    if result.returncode == 0:
        return Mergeability(base, lines[0].strip(), fast_forward=base == target)
    if result.returncode == 1 and lines:
        conflicts = sorted({line for line in lines[1:] if line.strip()})
        return Mergeability(base, None, conflicts=conflicts)
    raise GitFailed(f"git merge-tree failed: {result.stderr.strip()[:500]}")


def contains(repo_dir: Path, tip: str, commit: str) -> bool:
    """Whether ``commit`` is in the history of ``tip`` (both full commit ids): ``git merge-base
    --is-ancestor``; a commit git does not know is not contained."""
    return _git(repo_dir, "merge-base", "--is-ancestor", commit, tip, check=False).returncode == 0


def _identity(name: str, email: str) -> dict:
    name = (name or email or "Taiji").replace("<", "").replace(">", "").strip() or "Taiji"
    email = (email or "taiji@localhost").replace("<", "").replace(">", "").strip()
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}


def merge(repo_dir: Path, branch: str, target: str, source: str, method: str, message: str, *,
          name: str, email: str) -> str:
    """Move ``refs/heads/<branch>`` from ``target`` to the result of merging ``source`` by ``method``
    ("merge", "squash", "ff"); returns the new tip. ``Conflict`` when the branch moved meanwhile."""
    state = check(repo_dir, target, source)
    if state.up_to_date:
        raise Conflict(msg("There is nothing to merge: the source branch is in the target already."))
    if state.unrelated:
        raise Conflict(msg("The branches have no common history; git will not merge them."))
    if state.conflicts:
        raise Conflict(msg("The branches conflict in %(files)s; resolve the conflicts first.",
                           files=", ".join(state.conflicts[:10])))
    env = _identity(name, email)
    if method == "ff":
        if not state.fast_forward:
            raise Conflict(msg("A fast-forward is not possible: the target branch has commits the source "
                               "branch lacks. Rebase the source branch, or merge another way."))
        new = source
    elif method == "squash":
        new = _git(repo_dir, "commit-tree", state.tree, "-p", target, "-m", message, env=env).stdout.strip()
    else:
        new = _git(repo_dir, "commit-tree", state.tree, "-p", target, "-p", source, "-m", message,
                   env=env).stdout.strip()
    moved = _git(repo_dir, "update-ref", "-m", f"merge request ({method})", f"refs/heads/{branch}", new,
                 target, check=False)
    if moved.returncode != 0:
        raise Conflict(msg("The target branch '%(branch)s' moved while merging; nothing was merged. Look at "
                           "the new commits and merge again.", branch=branch))
    return new
