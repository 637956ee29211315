"""What the client endpoints keep in memory between requests, so that a configuration read costs
about what a trivial request does.

Clients poll: every instance of every component reads its configuration at start, on each
notification and (Spring) on each refresh. An answer of ``/config`` or ``/spring`` is a function of
a few rows — the access key, the tenant, the component, and the releases of (component,
environment) — so each web process keeps three kinds of entries:

- **keys**: an access key's hash -> its tenant, environment and standing (tables
  ``scm_access_key``, ``kernel_tenant``);
- **targets**: (tenant, component ref, environment) -> the component and the releases a client may
  be given: the current one and a gray one with its selector and percentage (``scm_release``,
  ``scm_component``, ``spm_component``, ``spm_product``, ``kernel_tenant``);
- **answers**: (what was asked, release number, labels where they matter) -> the rendered body and
  its ETag (``scm_release``).

An entry is served while the counters of its tables in the machine's table clock
(``taiji.platform.readcache``: every INSERT, UPDATE or DELETE of any process of the machine ticks
it, and on PostgreSQL every other machine's commit too, through the auth cache's LISTEN
connection) are what they were read *before* the entry was computed: a publish committed while an
answer was being built makes that answer stale at once. Reads never depend on ``scm_instance``,
``scm_item`` (drafts) or ``scm_history``, so an instance's report or an edited draft costs no
client its cached answer. Entries also lapse after ``TAIJI_READ_CACHE_SECONDS`` (a change made by
hand in the database), and the kernel's switch applies: 0 turns this cache off too.

Concurrent misses of one entry compute it once (500 clients woken by one publish do not send 500
identical queries). A process keeps at most ``MAX_ENTRIES`` entries and ``MAX_BYTES`` of bodies;
past either, it starts again from empty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g

from taiji.platform import authcache, readcache
from taiji.platform import registry as registries

KEY_TABLES = ("scm_access_key", "kernel_tenant")
TARGET_TABLES = ("kernel_tenant", "scm_release", "scm_component", "spm_component", "spm_product")
ANSWER_TABLES = ("scm_release",)

MAX_ENTRIES = 20_000
MAX_BYTES = 64 * 1024 * 1024
_EXTENSION = "taiji.scm.client_cache"


def slots(tables: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted({readcache.slot_of(t) for t in tables}))


KEY_SLOTS = slots(KEY_TABLES)
TARGET_SLOTS = slots(TARGET_TABLES)
ANSWER_SLOTS = slots(ANSWER_TABLES)


@dataclass
class _Entry:
    values: tuple[int, ...]
    stored: float
    value: object
    size: int


class Memo:
    """One application's entries in this process (see the module's text)."""

    def __init__(self, url: str, data_dir: str, max_age: float):
        self.url, self.data_dir, self.max_age = url, data_dir, max_age
        self._entries: dict = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict = {}  # key -> the lock of the one request computing it

    def _ready(self) -> bool:
        """Whether what other processes and machines commit reaches this one: else nothing is kept.
        Asked once per request."""
        ready = g.get("_scm_memo_ready")
        if ready is None:
            ready = not self.url.startswith("postgresql") or authcache.listening(self.url, self.data_dir)
            g._scm_memo_ready = ready
        return ready

    def _fresh(self, entry: _Entry | None, slots_: tuple[int, ...], tick) -> bool:
        if entry is None or time.monotonic() - entry.stored > self.max_age:
            return False
        return all(tick.value(s) == v for s, v in zip(slots_, entry.values, strict=True))

    def get(self, key, slots_: tuple[int, ...], compute: Callable[[], object],
            size: Callable[[object], int] | None = None):
        """The value of ``key``, computed by ``compute()`` when none is kept or it is stale.
        ``compute`` may raise, or return None: nothing is kept then."""
        if not self._ready():
            return compute()
        tick = readcache.clock(self.data_dir)
        entry = self._entries.get(key)
        if self._fresh(entry, slots_, tick):
            return entry.value
        with self._lock:
            gate = self._computing.get(key)
            if gate is None:
                gate = self._computing[key] = threading.Lock()
        with gate:
            entry = self._entries.get(key)
            if self._fresh(entry, slots_, tick):
                return entry.value  # computed by the request this one waited for
            values = tuple(tick.value(s) for s in slots_)  # before reading: a change meanwhile wins
            try:
                value = compute()
                if value is not None:  # an unknown key is asked again (a guess must not fill memory)
                    self._store(key, _Entry(values, time.monotonic(), value, size(value) if size else 0))
                return value
            finally:
                with self._lock:
                    self._computing.pop(key, None)

    def _store(self, key, entry: _Entry) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES or self._bytes + entry.size > MAX_BYTES:
                self._entries.clear()
                self._bytes = 0
            self._entries[key] = entry
            self._bytes += entry.size


_memos_lock = threading.Lock()


def memo() -> Memo | None:
    """The current application's memo; None when the kernel's read cache is off."""
    app = current_app._get_current_object()
    found = app.extensions.get(_EXTENSION)
    if found is not None:
        return found or None
    read_cache = registries.current().read_cache
    with _memos_lock:
        found = app.extensions.get(_EXTENSION)
        if found is None:
            found = False if read_cache is None else Memo(read_cache.url, read_cache.data_dir,
                                                          read_cache.max_age)
            app.extensions[_EXTENSION] = found
    return found or None


def cached(key, slots_: tuple[int, ...], compute: Callable[[], object],
           size: Callable[[object], int] | None = None):
    """``compute()``, kept by the current application's memo when it has one."""
    kept = memo()
    return compute() if kept is None else kept.get(key, slots_, compute, size)
