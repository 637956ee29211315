"""The last commit that changed each entry of a directory, for the tree listing.

One ``git log --name-only`` walk from the commit, limited to the directory, read as it streams:
each changed path is charged to the entry it lies under, and the walk stops as soon as every
entry has its commit, or after ``MAX_COMMITS`` commits or ``MAX_SECONDS`` (a huge history then
leaves the oldest entries without one). Results are kept per (repository, commit, directory): a
commit's history never changes.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from .repositories import GIT

MAX_COMMITS = 5000
MAX_SECONDS = 3.0
CACHE_SIZE = 512
_RECORD, _FIELD = "\x1e", "\x1f"


@dataclass(frozen=True)
class LastCommit:
    sha: str
    summary: str
    author: str
    authored_at: dt.datetime


_cache: OrderedDict[tuple, dict[str, LastCommit]] = OrderedDict()
_lock = threading.Lock()


def last_commits(git_dir, sha: str, path: str, names: list[str]) -> dict[str, LastCommit]:
    """``{entry name: LastCommit}`` for the entries ``names`` of directory ``path`` at commit ``sha``
    (a full commit id). Entries the bounded walk did not reach are missing from the answer."""
    key = (str(git_dir), sha, path)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return {n: c for n, c in _cache[key].items() if n in names}
    found = _walk(str(git_dir), sha, path, set(names))
    with _lock:
        _cache[key] = found
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return found


def _walk(git_dir: str, sha: str, path: str, wanted: set[str]) -> dict[str, LastCommit]:
    found: dict[str, LastCommit] = {}
    if not wanted:
        return found
    prefix = f"{path}/" if path else ""
    # sha is a resolved commit id and path a checked tree path: nothing here is a user's option.
    args = [GIT, "-c", "core.quotePath=false", "--git-dir", git_dir, "log", "--name-only", "-z",
            "--no-renames", f"--max-count={MAX_COMMITS}",
            f"--format={_RECORD}%H{_FIELD}%an{_FIELD}%at{_FIELD}%s", sha, "--"]
    if path:
        args.append(path)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # noqa: S603
    timer = threading.Timer(MAX_SECONDS, proc.kill)
    timer.start()
    started = time.monotonic()
    try:
        buffer = b""
        current: LastCommit | None = None
        while len(found) < len(wanted):
            chunk = proc.stdout.read1(64 * 1024) if hasattr(proc.stdout, "read1") else proc.stdout.read(65536)
            if not chunk:
                break
            buffer += chunk
            *items, buffer = buffer.split(b"\x00")
            for item in items:
                current = _take(item, current, prefix, wanted, found)
            if time.monotonic() - started > MAX_SECONDS:
                break
        if buffer and len(found) < len(wanted):
            _take(buffer, current, prefix, wanted, found)
    finally:
        timer.cancel()
        proc.kill()
        proc.stdout.close()
        proc.wait()
    return found


def _take(item: bytes, current, prefix: str, wanted: set[str], found: dict) -> LastCommit | None:
    """One NUL-separated piece of the log: a file name, possibly preceded by a new commit's header."""
    text = item.decode("utf-8", errors="replace").lstrip("\n")
    if text.startswith(_RECORD):
        header, _, text = text[1:].partition("\n")
        parts = header.split(_FIELD, 3)
        if len(parts) == 4:
            sha, author, stamp, summary = parts
            when = dt.datetime.fromtimestamp(int(stamp or 0), tz=dt.UTC)
            current = LastCommit(sha, summary, author, when)
        text = text.lstrip("\n")
    if current is None or not text or not text.startswith(prefix):
        return current
    name = text[len(prefix):].split("/", 1)[0]
    if name in wanted and name not in found:
        found[name] = current
    return current
