"""Commits written straight into a bare repository with git's plumbing (no push, so no hooks)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _git(git_dir: Path, *args, input: bytes | None = None, env: dict | None = None) -> str:
    environ = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(git_dir),
               "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
               "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", **(env or {})}
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], input=input, env=environ, check=True,
                          capture_output=True).stdout.decode().strip()


def seed_commits(git_dir: Path, count: int, *, branch: str = "main", files: dict | None = None) -> list[str]:
    """``count`` commits on ``branch``, each changing ``counter.txt``; returns their shas, oldest first."""
    shas: list[str] = []
    parent = None
    for n in range(count):
        entries = []
        for name, content in {**(files or {}), "counter.txt": f"{n}\n"}.items():
            blob = _git(git_dir, "hash-object", "-w", "--stdin", input=content.encode())
            entries.append(f"100644 blob {blob}\t{name}")
        tree = _git(git_dir, "mktree", input=("\n".join(entries) + "\n").encode())
        args = ["commit-tree", tree, "-m", f"Commit {n}"] + (["-p", parent] if parent else [])
        parent = _git(git_dir, *args)
        shas.append(parent)
    _git(git_dir, "update-ref", f"refs/heads/{branch}", parent)
    return shas


def tag(git_dir: Path, name: str, sha: str) -> None:
    _git(git_dir, "update-ref", f"refs/tags/{name}", sha)
