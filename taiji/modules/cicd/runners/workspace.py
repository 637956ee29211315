"""A job's workspace: the checkout, its private Python environment, its artifacts and reports."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from ..pipeline_file import glob_regex

MAX_ARTIFACTS = 1000
MAX_REPORT_BYTES = 20 * 1024 * 1024


class WorkspaceError(Exception):
    """The checkout or the collection of results failed (not the job's own script)."""


def _git_env(path: str) -> dict:
    # git gets nothing of the worker's environment either: no credentials, no config of ours.
    return {
        "PATH": path,
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def checkout(source: str, sha: str, workspace: Path, path: str) -> str:
    """A fresh clone of ``source`` at ``sha`` in ``workspace`` (made, or emptied: an executor may
    already have it mounted elsewhere); returns git's output for the log."""
    workspace.mkdir(parents=True, exist_ok=True)
    for entry in workspace.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    env = _git_env(path)
    commands = [
        # --no-local: a local clone would hard-link the hosted repository's object files, and a
        # job writing into its checkout's .git/objects would then write into the repository.
        ["git", "clone", "--no-local", "--quiet", "--no-checkout", source, str(workspace)],
        [
            "git",
            "-C",
            str(workspace),
            # The folder may already belong to the sandbox's user; no job has run in it yet.
            "-c",
            f"safe.directory={workspace}",
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
            sha,
        ],
    ]
    output = []
    for command in commands:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)  # noqa: S603
        output.append(done.stdout + done.stderr)
        if done.returncode != 0:
            raise WorkspaceError(f"{' '.join(command[:2])} failed: {(done.stderr or done.stdout).strip()}")
    return "".join(output)


def make_venv(python: str, target: Path, path: str) -> Path | None:
    """A throw-away virtual environment for the job (so `pip install` never touches the host)."""
    executable = shutil.which(python, path=path) if python else None
    if executable is None:
        return None
    done = subprocess.run(  # noqa: S603 - the configured Python, with fixed arguments
        [executable, "-m", "venv", "--without-pip", "--system-site-packages", str(target)],
        env=_git_env(path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise WorkspaceError(f"could not make the job's Python environment: {done.stderr.strip()}")
    return target


def _matchers(patterns: list[str]):
    compiled = []
    for pattern in patterns:
        pattern = pattern.rstrip("/") or "."
        compiled.append(glob_regex(pattern))
    return compiled


def _selected(rel: str, matchers) -> bool:
    # A pattern naming a folder selects everything under it.
    parts = rel.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(m.match(c) for m in matchers for c in candidates)


def find_files(workspace: Path, patterns: list[str], *, limit: int = MAX_ARTIFACTS) -> list[tuple[str, Path]]:
    """Workspace files matching the globs, as (relative path, path). Symbolic links are followed
    only when they stay inside the workspace; nothing outside it is ever collected."""
    if not patterns:
        return []
    matchers = _matchers(patterns)
    root = workspace.resolve()
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            full = Path(folder) / name
            rel = full.relative_to(root).as_posix()
            if not _selected(rel, matchers):
                continue
            real = full.resolve()
            if not real.is_relative_to(root) or not real.is_file():
                continue
            found.append((rel, real))
            if len(found) >= limit:
                return found
    return found


def junit_summary(workspace: Path, patterns: list[str]) -> dict | None:
    """Totals of the JUnit XML reports: tests, failures, errors, skipped, time, and the files."""
    files = find_files(workspace, patterns, limit=100)
    if not files:
        return None
    totals = {
        "tests": 0,
        "failures": 0,
        "errors": 0,
        "skipped": 0,
        "time": 0.0,
        "files": [],
        "unreadable": [],
    }
    for rel, path in files:
        if path.stat().st_size > MAX_REPORT_BYTES:
            totals["unreadable"].append(rel)
            continue
        try:
            root = ET.parse(path).getroot()  # noqa: S314 - expat refuses entity expansion bombs
        except ET.ParseError:
            totals["unreadable"].append(rel)
            continue
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            for key in ("tests", "failures", "errors", "skipped"):
                totals[key] += _number(suite.get(key), int)
            totals["time"] += _number(suite.get("time"), float)
        totals["files"].append(rel)
    totals["time"] = round(totals["time"], 3)
    totals["passed"] = max(0, totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"])
    return totals


def _number(value, kind):
    try:
        return kind(value or 0)
    except ValueError:
        return kind(0)
