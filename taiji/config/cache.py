"""The last good answer of a configuration client, kept on disk for when Taiji cannot be reached.

One JSON file per (tenant, component, environment, namespace) in the client's cache folder. The
answer holds secrets in clear (a client is their consumer), so the folder is made ``0700`` and
each file ``0600``, and a file is replaced whole (written beside it, synced, renamed): a reader,
or a process killed mid-write, never sees half an answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

FORMAT = 1


@dataclass(frozen=True)
class Cached:
    etag: str | None
    answer: dict
    saved_at: float  # seconds since the epoch


def path_for(cache_dir: str | os.PathLike, tenant: str, component: str, environment: str,
             namespace: str | None) -> Path:
    parts = [tenant, component, environment] + ([namespace] if namespace else [])
    return Path(cache_dir) / ("taiji+" + "+".join(quote(part, safe="") for part in parts) + ".json")


def read(path: Path) -> Cached | None:
    """The answer saved at ``path``; None when there is none or it is not one of ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("answer"), dict):
        return None
    if not isinstance(data["answer"].get("values"), dict):
        return None
    etag = data.get("etag")
    return Cached(etag if isinstance(etag, str) else None, data["answer"], float(data.get("saved_at") or 0))


def write(path: Path, etag: str | None, answer: dict) -> None:
    """Replace the answer saved at ``path`` atomically, readable by this user only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT, "etag": etag, "saved_at": time.time(), "answer": answer},
                      ensure_ascii=False, separators=(",", ":"))
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    try:  # the rename itself survives a power cut once the folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)
