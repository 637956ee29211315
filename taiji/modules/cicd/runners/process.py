"""Following one script line: output into the log (secrets masked), limits, timeout, cancel, heartbeat."""

from __future__ import annotations

import codecs
import contextlib
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError

from taiji.platform.db import db, write_lock_first

from ..services.logs import CHUNK_BYTES, append_log
from .executor import LineProcess

# Output reaches the log within this long (the issue asks for at most 0.5 s): short enough that
# a viewer sees a line as it is printed, long enough that a chatty job is a few commits a second.
FLUSH_SECONDS = 0.1
MIN_MASKED = 3  # shorter values would blank out ordinary words all over the log


class LogWriter:
    """Buffers a job's output and writes it as log chunks at least every 0.5 s, with secrets masked.

    A secret may arrive split across two reads: the tail that could be the start of a secret is
    held back until the next write (or the final flush) shows what follows it.
    """

    def __init__(self, job, secrets: list[str]):
        self.job = job
        self.masks: list[str] = []
        self.hide(secrets)
        self.pending = ""
        self.last_flush = 0.0  # the first line goes out at once

    def hide(self, secrets: list[str]) -> None:
        """Mask these values too (and each of their lines) from now on."""
        values = set(self.masks)
        for secret in secrets:
            values.add(secret)
            values.update(line for line in secret.splitlines() if line.strip())
        self.masks = sorted((v for v in values if len(v) >= MIN_MASKED), key=len, reverse=True)

    def mask(self, text: str) -> str:
        for value in self.masks:
            text = text.replace(value, "****")
        return text

    def _partial_tail(self) -> int:
        """Length of the longest end of the pending text that could begin a secret."""
        longest = 0
        for value in self.masks:
            for size in range(min(len(value) - 1, len(self.pending)), longest, -1):
                if self.pending.endswith(value[:size]):
                    longest = size
                    break
        return longest

    def write(self, text: str) -> None:
        self.pending += text
        if len(self.pending) >= CHUNK_BYTES or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def tick(self) -> None:
        if self.pending and time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self, final: bool = False) -> None:
        cut = len(self.pending) if final else len(self.pending) - self._partial_tail()
        changed = not final
        while changed:
            changed = False
            for value in self.masks:
                start = self.pending.find(value, max(0, cut - len(value) + 1))
                if 0 <= start < cut < start + len(value):
                    cut, changed = start, True
        emitted, self.pending = self.pending[:cut], self.pending[cut:]
        self.last_flush = time.monotonic()
        if emitted:
            masked = self.mask(emitted)

            def write() -> None:
                # End any read transaction first: on SQLite a write inside an old snapshot is refused.
                db.session.commit()
                append_log(self.job, masked)
                db.session.commit()

            retrying(write)


def retrying(write: Callable[[], object], attempts: int = 6):
    """Run a short write, again after a rollback when the database was busy (SQLite's single
    writer, a PostgreSQL deadlock victim): a busy moment must not lose a job's log or outcome.

    On SQLite each attempt takes the write lock when its transaction begins: a rollback expired
    the job row, and a transaction that read it first could not write once another process had
    committed (platform/db.py); one that begins with the lock waits for it instead."""
    for attempt in range(attempts):
        try:
            with write_lock_first():
                return write()
        except OperationalError:
            db.session.rollback()
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    return None


@dataclass
class LineResult:
    exit_code: int | None
    reason: str | None  # None = the line succeeded


@dataclass
class LineLimits:
    deadline: float  # time.monotonic() value
    output_bytes: int
    grace: float
    heartbeat: float


def run_line(
    proc: LineProcess,
    *,
    writer: LogWriter,
    limits: LineLimits,
    beat: Callable[[], str | None],
    written: list[int],
    check: Callable[[], str | None] | None = None,
) -> LineResult:
    """Follow one started line to its end: its output into the log, the limits, the heartbeat.

    ``beat`` is called every heartbeat and returns a reason to stop ("canceled", "runner_lost") or
    None; ``check`` (cheap, called every tenth of a second) likewise ("disk_limit"). ``written``
    counts output bytes across the job's lines (one-element list). On a reason the line is killed
    (the lifecycle then stops the whole job)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    selector = selectors.DefaultSelector()
    selector.register(proc.fileno(), selectors.EVENT_READ)
    last_beat = time.monotonic()
    exited_at = None
    reason = None
    eof = False
    try:
        while True:
            if not eof:
                for _key, _mask in selector.select(timeout=0.1):
                    data = proc.read()
                    if data is None:
                        continue
                    if not data:
                        eof = True
                        selector.unregister(proc.fileno())
                        break
                    written[0] += len(data)
                    writer.write(decoder.decode(data))
            else:
                time.sleep(0.05)
            if written[0] > limits.output_bytes:
                reason = "output_limit"
                break
            if proc.poll() is not None:
                if eof:
                    break
                # The line is done but something it started still holds the output open.
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at > 1.0:
                    break
            now = time.monotonic()
            if now >= limits.deadline:
                reason = "timeout"
                break
            if check is not None and (reason := check()):
                break
            if now - last_beat >= limits.heartbeat:
                last_beat = now
                writer.flush()
                reason = beat()
                if reason:
                    break
            writer.tick()
    except BaseException:
        # Whatever went wrong here (the database gone while writing the log, a bug), the line's
        # processes must not outlive the attempt that can no longer follow them.
        proc.kill(limits.grace)
        raise
    finally:
        selector.close()
    if reason:
        proc.kill(limits.grace)
    rest = b""
    with contextlib.suppress(OSError):
        while len(rest) <= 1 << 20 and (chunk := proc.read()):
            rest += chunk
    exit_code = proc.finish()
    tail = decoder.decode(rest, final=True)
    # The last output shows why a line was stopped or how it ended; past the output limit it is only
    # more of what filled the log (up to another MiB, which put logs at twice the limit).
    if tail and reason != "output_limit":
        writer.write(tail)
    if reason:
        return LineResult(exit_code, reason)
    return LineResult(exit_code, None if exit_code == 0 else "exit_status")
