"""A job's folder with a disk limit: checkout, Python environment, temporary files (and so artifacts).

Where the worker may mount file systems (it runs as root), the folder is an ext4 file system of
exactly the limit's size in a sparse image file beside it, loop-mounted: a job that fills it gets
ENOSPC from the kernel, however fast it writes and however many files it makes, and the data
folder's own free space never moves by more than the limit. The image is real disk, not memory
(a tmpfs would put every job's workspace in RAM). Elsewhere (a worker without that privilege) the
folder is a plain directory, measured every few seconds, and each process may write files only up
to the limit (RLIMIT_FSIZE): a bound that a fast writer can overshoot by what it writes between
two measurements; the docs say so.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

log = logging.getLogger("taiji.cicd.runner")

# Full means less than this is left: a write that failed with ENOSPC may leave a partial block.
FULL_SLACK_BYTES = 256 * 1024
WATCH_SECONDS = 2.0
_MKFS = ("/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4")


def can_mount() -> bool:
    return os.geteuid() == 0 and any(os.path.exists(p) for p in _MKFS) and os.path.exists("/dev/loop-control")


class JobDisk:
    """The job's folder ``root``; ``limit`` bytes (0: no limit)."""

    def __init__(self, root: Path, limit: int):
        self.root = root
        self.limit = limit
        self.image = root.with_name(root.name + ".img")
        self.mounted = False
        self._next_watch = 0.0
        self._over = False

    @property
    def enforced_by_kernel(self) -> bool:
        return self.mounted

    def create(self) -> None:
        """A fresh, empty folder (what an earlier run of this attempt left is removed first)."""
        release(self.root)
        self.root.mkdir(parents=True, mode=0o700)
        if not self.limit or not can_mount():
            return
        mkfs = next(p for p in _MKFS if os.path.exists(p))
        with self.image.open("wb") as image:
            image.truncate(self.limit)
        # 4 KiB per inode: a checkout of many small files must not run out of inodes first.
        # No journal: the file system lives as long as one job, a crash throws it away.
        steps = [
            [mkfs, "-q", "-F", "-m", "0", "-i", "4096", "-O", "^has_journal",
             "-E", "nodiscard,lazy_itable_init=1", str(self.image)],
            ["mount", "-o", "loop,nosuid,nodev", str(self.image), str(self.root)],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=60)  # noqa: S603
            if done.returncode != 0:
                self.image.unlink(missing_ok=True)
                raise OSError(f"{Path(step[0]).name} failed: {(done.stderr or done.stdout).strip()}")
        self.mounted = True
        os.chmod(self.root, 0o700)
        shutil.rmtree(self.root / "lost+found", ignore_errors=True)

    def used(self) -> int:
        if self.mounted:
            st = os.statvfs(self.root)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        return _tree_size(self.root)

    def full(self) -> bool:
        """Whether the job reached its limit (cheap when mounted; measured at most every 2 s else)."""
        if not self.limit:
            return False
        if self.mounted:
            try:
                st = os.statvfs(self.root)
            except OSError:
                return False
            return st.f_bavail * st.f_frsize < FULL_SLACK_BYTES or st.f_favail == 0
        now = time.monotonic()
        if now >= self._next_watch:
            self._next_watch = now + WATCH_SECONDS
            self._over = _tree_size(self.root) >= self.limit - FULL_SLACK_BYTES
        return self._over

    def release(self) -> None:
        release(self.root)


def release(root: Path) -> None:
    """Remove a job's folder, unmounting its file system and deleting its image first."""
    if os.path.ismount(root):
        done = subprocess.run(["umount", str(root)], capture_output=True, text=True, timeout=60)  # noqa: S603, S607
        if done.returncode != 0:
            # Something still holds it (a process of a lost attempt being killed): detach it now,
            # the kernel frees it when the last user goes.
            subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=60)  # noqa: S603, S607
        if os.path.ismount(root):
            log.error("could not unmount a job folder", extra={"folder": str(root), "why": done.stderr[:200]})
            return
    shutil.rmtree(root, ignore_errors=True)
    root.with_name(root.name + ".img").unlink(missing_ok=True)


def _tree_size(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total
