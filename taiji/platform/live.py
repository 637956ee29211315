"""Live updates: server-sent events, fanned out across processes.

A module tells watchers that something changed with ``publish(topic, data)``; the notice leaves
after the unit of work commits (a rolled-back change announces nothing), several notices for one
topic in one commit go out as one. A route turns into an event stream with ``stream(...)``: it
subscribes to topics it builds itself from what it has already authorized (``topic(tenant, ...)``,
never a name the client sent) and, each time a notice arrives — or every ``LIVE_RECHECK_SECONDS``
in case one was lost — asks its ``step`` for the events since the client's cursor, which it reads
from the database. A notice is only a hint: the database stays the truth, so a lost or repeated
notice costs a delay or a query, never a wrong page.

Across processes notices travel through Redis pub/sub (``TAIJI_REDIS_URL``, else a ``redis://``
``TAIJI_BROKER_URL``): each process holds one subscriber connection and fans notices out to its
streams in memory. The embedded install has no Redis and runs web, worker and runner as separate
processes, which no in-memory queue connects: there one poller per process looks at the database
every ``LIVE_POLL_SECONDS`` for all the topics its streams watch (one query per kind of topic, through
the ``probe`` the module registered) and wakes the streams whose topic changed; notices made in its
own process arrive at once. See docs/architecture.md, "Live updates", and docs/operations.md for how
`taiji web` holds the streams.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from flask import Response, abort, current_app, g, request, stream_with_context
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from taiji.platform.db import after_commit, db

log = logging.getLogger("taiji.live")

CHANNEL_PREFIX = "taiji:live:"
_PART = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_PENDING_KEY = "taiji_live_pending"
# What the browser waits before it reconnects a dropped stream.
RETRY_MILLISECONDS = 3000
# A stream's place in its user's count across processes (Redis) is renewed every third of this; a
# process that dies without giving its places back loses them after this long.
LEASE_SECONDS = 30.0
# At most this many topics of one kind go into one probe (one query).
PROBE_BATCH = 500


# -- topics and publishing ----------------------------------------------------------------------


def topic(tenant, *parts) -> str:
    """A tenant-scoped topic: ``topic(tenant, "cicd.job", 42)`` -> ``"t7:cicd.job:42"``.

    Parts are module-chosen names or integer ids; a client's text never becomes a topic."""
    tenant_id = getattr(tenant, "id", tenant)
    if not isinstance(tenant_id, int):
        raise ValueError("a live topic belongs to a tenant (its id)")
    names = []
    for part in parts:
        named = isinstance(part, str) and _PART.match(part)
        if isinstance(part, bool) or not (isinstance(part, int) or named):
            raise ValueError(f"not a topic part: {part!r}")
        names.append(str(part))
    return ":".join([f"t{tenant_id}", *names])


def publish(topic_name: str, data: dict | None = None) -> None:
    """Announce ``topic_name`` once the current unit of work commits (dropped on rollback).

    Several publishes of one topic in one unit of work send one notice, with the last data."""
    session = db.session()
    pending = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = {}
    pending[topic_name] = data or {}
    after_commit(_send_pending, once=True)


def _send_pending() -> None:
    pending = db.session().info.pop(_PENDING_KEY, None) or {}
    for name, data in pending.items():
        publish_now(name, data)


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None or not session.in_transaction():
        session.info.pop(_PENDING_KEY, None)


def publish_now(topic_name: str, data: dict | None = None) -> None:
    """Send a notice now (outside a unit of work). Never raises: live updates are best effort."""
    message = json.dumps(data or {}, separators=(",", ":"))
    hub().deliver(topic_name, message)  # this process's own streams, without a round trip
    backend = _backend()
    if backend is not None:
        backend.publish(topic_name, message)


# -- the process's hub: topics -> waiting streams ---------------------------------------------------


class Subscription:
    """One stream's interest in some topics: a flag raised by notices (coalesced, so a stream that
    is busy or slow never accumulates a queue) and the latest data per topic."""

    def __init__(self, topics: Iterable[str]):
        self.topics = tuple(topics)
        self._cond = threading.Condition()
        self._ready = False
        self.closed = False

    def notify(self) -> None:
        with self._cond:
            self._ready = True
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify()

    def wait(self, timeout: float) -> bool:
        """True when a notice came (or the stream must end) within ``timeout`` seconds."""
        with self._cond:
            if not self._ready and not self.closed:
                self._cond.wait(timeout)
            woke, self._ready = self._ready or self.closed, False
            return woke


class Hub:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_topic: dict[str, set[Subscription]] = {}
        self._all: set[Subscription] = set()
        self._per_user: dict[str, int] = {}
        self._open = 0
        self.stopping = False

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        sub = Subscription(topics)
        with self._lock:
            if self.stopping:
                sub.closed = True
            for name in sub.topics:
                self._by_topic.setdefault(name, set()).add(sub)
            self._all.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            for name in sub.topics:
                subs = self._by_topic.get(name)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._by_topic[name]
            self._all.discard(sub)

    def deliver(self, topic_name: str, _message: str) -> None:
        with self._lock:
            subs = list(self._by_topic.get(topic_name, ()))
        for sub in subs:
            sub.notify()

    def admit(self, who: str, per_process: int, per_user: int) -> str | None:
        """Take a stream slot for ``who``; None when taken, else why not ("process" or "user")."""
        with self._lock:
            if self.stopping or self._open >= per_process:
                return "process"
            if self._per_user.get(who, 0) >= per_user:
                return "user"
            self._per_user[who] = self._per_user.get(who, 0) + 1
            self._open += 1
            return None

    def release(self, who: str) -> None:
        with self._lock:
            self._open -= 1
            left = self._per_user.get(who, 0) - 1
            if left > 0:
                self._per_user[who] = left
            else:
                self._per_user.pop(who, None)

    def open_streams(self) -> int:
        with self._lock:
            return self._open

    def shutdown(self) -> None:
        """End every stream of this process (the server is stopping); new ones are refused."""
        with self._lock:
            self.stopping = True
            subs = list(self._all)
        for sub in subs:
            sub.close()


_hub = Hub()
_hub_pid = os.getpid()


def hub() -> Hub:
    global _hub, _hub_pid
    if _hub_pid != os.getpid():  # a forked child starts with no streams of its own
        _hub, _hub_pid = Hub(), os.getpid()
    return _hub


def shutdown() -> None:
    hub().shutdown()


# -- without Redis: one look at the database per process, interval and kind of topic -------------

Probe = Callable[[list[tuple]], dict]
_probes: dict[str, Probe] = {}


def probe(kind: str) -> Callable[[Probe], Probe]:
    """Registers how a process without Redis sees that topics of ``kind`` changed.

    ``@live.probe("cicd.job")`` on ``fn(keys)``: ``keys`` are the watched topics of that kind as
    ``(tenant id, *parts)`` (``topic(tenant, "cicd.job", 42)`` -> ``(tenant.id, 42)``), at most
    PROBE_BATCH of them; ``fn`` returns ``{key: fingerprint}`` from one query, a fingerprint being
    any value that changes when the topic's thing changes (a status and a size, say). Every
    ``LIVE_POLL_SECONDS`` the process's poller asks each kind once and wakes the streams whose
    topic's fingerprint moved. A topic of a kind without a probe is read by each of its streams
    every ``LIVE_POLL_SECONDS`` instead."""

    def register(fn: Probe) -> Probe:
        _probes[kind] = fn
        return fn

    return register


def _probe_key(topic_name: str) -> tuple[str, tuple] | None:
    """``"t7:cicd.job:42"`` -> ``("cicd.job", (7, 42))``; None when no probe knows the kind."""
    tenant, _, rest = topic_name.partition(":")
    kind, *parts = rest.split(":")
    if kind not in _probes or not tenant[1:].isdigit():
        return None
    return kind, (int(tenant[1:]), *(int(p) if p.isdigit() else p for p in parts))


class Poller:
    """The embedded install's eyes: one thread per application and process that, while no Redis
    carries notices, fingerprints every watched topic each ``LIVE_POLL_SECONDS`` (one query per
    kind) and wakes the streams of the topics that changed. 500 streams on one job cost one query
    an interval, not 500."""

    def __init__(self, app, target: Hub):
        self.app, self.hub = app, target
        self._lock = threading.Lock()
        self._watched: dict[str, int] = {}  # topic -> streams watching it
        self._seen: dict[str, object] = {}  # topic -> its last fingerprint
        self._thread: threading.Thread | None = None

    def watch(self, topics: Iterable[str]) -> bool:
        """Watch ``topics`` for a stream; False (and nothing watched) when one has no probe."""
        topics = tuple(topics)
        if not topics or any(_probe_key(name) is None for name in topics):
            return False
        with self._lock:
            for name in topics:
                self._watched[name] = self._watched.get(name, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="taiji-live-poller", daemon=True)
                self._thread.start()
        return True

    def unwatch(self, topics: Iterable[str]) -> None:
        with self._lock:
            for name in topics:
                left = self._watched.get(name, 0) - 1
                if left > 0:
                    self._watched[name] = left
                else:
                    self._watched.pop(name, None)
                    self._seen.pop(name, None)

    def _run(self) -> None:
        while not self.hub.stopping:
            time.sleep(float(self.app.config["LIVE_POLL_SECONDS"]))
            with self._lock:
                if not self._watched:
                    self._thread = None  # the next watch starts another
                    return
                topics = list(self._watched)
            try:
                with self.app.app_context():
                    backend = _backend()
                    if backend is not None and backend.connected.is_set():
                        continue  # Redis carries the notices
                    changed = self._look(topics)
            except Exception:
                log.warning("the live poller could not read the database; streams recheck on their own",
                            exc_info=True)
                continue
            for name in changed:
                self.hub.deliver(name, "")

    def _look(self, topics: list[str]) -> list[str]:
        by_kind: dict[str, dict[tuple, str]] = {}
        for name in topics:
            kind, key = _probe_key(name)
            by_kind.setdefault(kind, {})[key] = name
        found: dict[str, object] = {}
        try:
            for kind, keys in by_kind.items():
                ordered = list(keys)
                for start in range(0, len(ordered), PROBE_BATCH):
                    batch = ordered[start:start + PROBE_BATCH]
                    prints = _probes[kind](batch)
                    for key in batch:
                        found[keys[key]] = prints.get(key)
        finally:
            db.session.remove()
        changed = []
        with self._lock:
            for name, fingerprint in found.items():
                if name not in self._watched:
                    continue
                # A topic seen for the first time wakes its streams too: it may have changed
                # between a stream's first read and this look.
                if name not in self._seen or self._seen[name] != fingerprint:
                    changed.append(name)
                self._seen[name] = fingerprint
        return changed


_pollers_lock = threading.Lock()


def poller(app=None) -> Poller:
    """The current application's poller in this process."""
    app = app or current_app._get_current_object()
    with _pollers_lock:
        held = app.extensions.get("taiji.live_poller")
        if held is None or held[0] != os.getpid():
            held = app.extensions["taiji.live_poller"] = (os.getpid(), Poller(app, hub()))
    return held[1]


# -- Redis: one publisher and one subscriber connection per process ---------------------------------


def redis_url(config) -> str:
    """Where notices travel between processes: TAIJI_REDIS_URL, else a Redis broker; "" for none."""
    url = config.get("REDIS_URL") or ""
    if not url and str(config.get("BROKER_URL", "")).startswith(("redis://", "rediss://")):
        url = config["BROKER_URL"]
    return url


# A user's open streams across every process: a sorted set of leases scored by when they lapse.
# Redis's own clock decides, so processes on machines whose clocks differ agree.
_NOW = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""
_TAKE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""
_RENEW = _NOW + """
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[1])) + 1)
end
return #KEYS
"""


class RedisBackend:
    RETRY_AFTER_FAILURE = 5.0

    def __init__(self, url: str):
        import redis

        self.url = url
        self._redis = redis
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        # Pub/sub channels are one namespace for the whole Redis server: installs that share it
        # through different database numbers must not hear each other.
        self.prefix = f"{CHANNEL_PREFIX}{self._client.connection_pool.connection_kwargs.get('db', 0)}:"
        self._down_until = 0.0
        self._listener: threading.Thread | None = None
        self._lock = threading.Lock()
        self.connected = threading.Event()
        # Streams of this process counted in Redis: lease -> its user's key. Renewed by the listener.
        self._leases: dict[str, str] = {}
        self._leases_lock = threading.Lock()
        self._renewed = time.monotonic()
        self._take = self._client.register_script(_TAKE)
        self._renew = self._client.register_script(_RENEW)

    # -- the per-user stream count, shared by every process of the install

    def _count_key(self, who: str) -> str:
        return f"taiji:live:streams:{who}"

    def take(self, who: str, limit: int) -> str | bool | None:
        """A lease on one of ``who``'s ``limit`` stream places across all processes: its id, False
        when they are all taken, None when Redis cannot say (the process's own count decides)."""
        lease = f"{os.getpid()}:{uuid.uuid4().hex}"
        key = self._count_key(who)
        try:
            if not self._take(keys=[key], args=[lease, limit, LEASE_SECONDS]):
                return False
        except self._redis.RedisError:
            log.warning("could not count a live stream in Redis; this process's count applies",
                        exc_info=True)
            return None
        with self._leases_lock:
            self._leases[lease] = key
        return lease

    def give_back(self, lease: str) -> None:
        with self._leases_lock:
            key = self._leases.pop(lease, None)
        if key is not None:
            try:
                self._client.zrem(key, lease)
            except self._redis.RedisError:  # it lapses by itself
                log.warning("could not give a live stream's place back; it lapses in %ss", LEASE_SECONDS)

    def renew_leases(self, force: bool = False) -> None:
        """Keep this process's leases from lapsing (called by the listener, every few seconds)."""
        now = time.monotonic()
        if not force and now - self._renewed < LEASE_SECONDS / 3:
            return
        self._renewed = now
        with self._leases_lock:
            leases = list(self._leases.items())
        for start in range(0, len(leases), 200):
            batch = leases[start:start + 200]
            try:
                self._renew(keys=[key for _lease, key in batch],
                            args=[LEASE_SECONDS, *(lease for lease, _key in batch)])
            except self._redis.RedisError:
                log.warning("could not renew live stream leases", exc_info=True)
                return

    def publish(self, topic_name: str, message: str) -> None:
        if time.monotonic() < self._down_until:
            return  # a Redis outage must not hold every commit of a runner for seconds
        try:
            self._client.publish(self.prefix + topic_name, message)
        except self._redis.RedisError:
            self._down_until = time.monotonic() + self.RETRY_AFTER_FAILURE
            log.warning("could not publish a live notice; streams fall back to polling", exc_info=True)

    def ensure_listening(self, target: Hub) -> None:
        with self._lock:
            if self._listener is None or not self._listener.is_alive():
                self._listener = threading.Thread(target=self._listen, args=(target,), name="taiji-live",
                                                  daemon=True)
                self._listener.start()

    def _listen(self, target: Hub) -> None:
        backoff = 0.5
        while not target.stopping:
            pubsub = None
            try:
                client = self._redis.Redis.from_url(self.url, socket_connect_timeout=2,
                                                     health_check_interval=15)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(self.prefix + "*")
                self.connected.set()
                backoff = 0.5
                while not target.stopping:
                    self.renew_leases()
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "pmessage":
                        channel = message["channel"].decode()
                        data = message["data"]
                        target.deliver(channel[len(self.prefix):],
                                       data.decode() if isinstance(data, bytes) else str(data))
            except Exception:
                self.connected.clear()
                log.warning("live updates lost their Redis subscription; retrying", exc_info=True)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                self.connected.clear()
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # closing a broken connection
                        pubsub.close()


_backends: dict[tuple[int, str], RedisBackend] = {}
_backends_lock = threading.Lock()


def _backend() -> RedisBackend | None:
    try:
        url = redis_url(current_app.config)
    except RuntimeError:  # no application: nothing configured
        return None
    if not url:
        return None
    key = (os.getpid(), url)
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _backends[key] = RedisBackend(url)
    return backend


def listening(target: Hub | None = None) -> bool:
    """Make notices published by other processes reach ``target`` (this process's hub): with Redis
    the process's one pattern subscription is started if it is not running yet. A stream does this
    itself; a route that waits on a ``Subscription`` without streaming (a long poll) calls it after
    subscribing. False: no Redis, so only this process's own notices arrive (the caller looks again
    from time to time, as the poller does for streams)."""
    backend = _backend()
    if backend is None:
        return False
    backend.ensure_listening(target if target is not None else hub())
    return True


# -- streams --------------------------------------------------------------------------------------


@dataclass
class Event:
    """One server-sent event. ``id`` is the cursor a reconnecting client sends back."""

    data: object
    event: str | None = None
    id: str | None = None

    def encode(self) -> str:
        lines = []
        if self.event:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        text = self.data if isinstance(self.data, str) else json.dumps(self.data, separators=(",", ":"))
        lines.extend(f"data: {line}" for line in text.split("\n"))
        return "\n".join(lines) + "\n\n"


@dataclass
class Round:
    """What one ``step(cursor)`` found: events to send, the cursor after them, whether the stream is
    finished, and whether there is more to send right away (a long log read a page at a time)."""

    events: list[Event]
    cursor: object
    finished: bool = False
    more: bool = False


Step = Callable[[object], Round]


def endpoint(view):
    """Marks a route that answers with ``stream(...)``: its refusals are problem+json (401, not the
    console's sign-in redirect), whichever URL it has. Put it under ``auth.require``."""
    view._taiji_live = True
    return view


def is_stream_request() -> bool:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return bool(getattr(view, "_taiji_live", False))


def last_event_id() -> str | None:
    """The cursor of a reconnecting EventSource (its Last-Event-ID header), else ``?last_event_id``."""
    return request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or None


def _who() -> str:
    from taiji.platform import auth

    principal = auth.current_principal()
    user = getattr(principal, "user_id", None) or getattr(principal, "id", None)
    return f"user:{user}" if user is not None else f"ip:{request.remote_addr}"


def stream(topics: Iterable[str], step: Step, cursor: object = None, *,
           still_allowed: Callable[[], bool] | None = None) -> Response:
    """Answer the current request with an event stream of ``topics``.

    The route has authorized the caller and built the topics itself. Each round runs ``step`` with
    the cursor and sends what it returns; the stream ends when ``step`` says finished (an ``end``
    event), when the server stops, when the client goes away, or when ``still_allowed`` (asked every
    recheck) says the caller lost access, or when the client has not taken what was sent for
    ``LIVE_SEND_TIMEOUT_SECONDS``. Refused with 429 when the caller has
    ``LIVE_MAX_STREAMS_PER_USER`` open (across every process that shares the Redis, else in this
    process), 503 when the process holds ``LIVE_MAX_STREAMS`` (a browser then falls back to polling).

    What a client that stops reading costs is bounded: a round is produced only once the last one
    went out (``step`` pages long output), a stream holds at most one round and one wake-up flag,
    and a send that does not finish within ``LIVE_SEND_TIMEOUT_SECONDS`` ends the stream."""
    config = current_app.config
    who = _who()
    the_hub = hub()
    per_user = config["LIVE_MAX_STREAMS_PER_USER"]
    refused = the_hub.admit(who, config["LIVE_MAX_STREAMS"], per_user)
    backend = _backend()
    lease = None
    if refused is None and backend is not None:
        lease = backend.take(who, per_user)
        if lease is False:
            the_hub.release(who)
            refused = "user"
    if refused == "user":
        abort(Response(json.dumps({"title": "Too many streams", "status": 429,
                                   "detail": "You have too many live streams open; close some."}),
                       429, {"Retry-After": "10", "Content-Type": "application/problem+json"}))
    if refused == "process":
        abort(Response(json.dumps({"title": "Busy", "status": 503,
                                   "detail": "This server holds as many live streams as it may."}),
                       503, {"Retry-After": "10", "Content-Type": "application/problem+json"}))
    topics = tuple(topics)
    if backend is not None:
        backend.ensure_listening(the_hub)
    heartbeat = float(config["LIVE_HEARTBEAT_SECONDS"])
    recheck = min(heartbeat, float(config["LIVE_RECHECK_SECONDS"]))
    poll = float(config["LIVE_POLL_SECONDS"])
    send_timeout = float(config["LIVE_SEND_TIMEOUT_SECONDS"])
    the_poller = poller()
    sock = request.environ.get("gunicorn.socket")
    release_api_slot = request.environ.get("taiji.release_api_slot")

    released = []

    def release_slot() -> None:
        # Once: from the stream's end, or from the response's close when it never started.
        if not released:
            released.append(True)
            the_hub.release(who)
            if lease:
                backend.give_back(lease)

    def frames() -> Iterator[str]:
        sub = the_hub.subscribe(topics)  # before the first read: a change in between is not missed
        # Without Redis the process's poller looks at the database for every stream of a topic.
        polled = the_poller.watch(topics)
        position = cursor
        try:
            if sock is not None:
                try:
                    # sendall's timeout bounds the whole send: a client that takes less than one
                    # round in this long is dropped, and its thread and place come back.
                    sock.settimeout(send_timeout)
                except OSError:
                    return
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            # Streams opened together (a page reloaded by many, a server restarted) would otherwise
            # recheck and beat together: each starts at a random point of its intervals instead.
            spread = random.random()
            start = time.monotonic()
            last_read = start
            last_write = start - spread * heartbeat
            last_authorized = start - spread * recheck
            first = True
            woke = True
            while not sub.closed:
                now = time.monotonic()
                live = polled or (backend is not None and backend.connected.is_set())
                # A notice (from Redis, or from the poller) wakes the stream, and the database is
                # read again only every recheck (a lost notice); a topic no probe watches: every poll.
                every = recheck if live else poll
                if still_allowed is not None and now - last_authorized >= recheck:
                    last_authorized = now
                    if not _allowed(still_allowed):
                        yield Event({"reason": "forbidden"}, "end").encode()
                        return
                if woke or now - last_read >= every:
                    last_read = now - spread * every if first else now
                    first = False
                    try:
                        found = step(position)
                    finally:
                        db.session.remove()  # no connection is held between rounds
                    position = found.cursor
                    if found.events:
                        yield "".join(e.encode() for e in found.events)
                        last_write = time.monotonic()
                    if found.finished:
                        yield Event({}, "end").encode()
                        return
                    if found.more:
                        continue  # woke stays True: the next page at once
                now = time.monotonic()
                if now - last_write >= heartbeat:
                    yield ": keep-alive\n\n"
                    last_write = now
                deadline = min(last_read + every, last_write + heartbeat)
                if still_allowed is not None:
                    deadline = min(deadline, last_authorized + recheck)
                woke = sub.wait(max(0.0, deadline - now))
        except GeneratorExit:
            # Closed before its end: the client went away, or took nothing for the send timeout.
            # Shut the connection now: else gunicorn's worker lingers up to 2 s for such a client to
            # close its side, on its main thread, which accepts no other connection meanwhile.
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            raise
        finally:
            if polled:
                the_poller.unwatch(topics)
            the_hub.unsubscribe(sub)
            release_slot()

    response = Response(stream_with_context(frames()), mimetype="text/event-stream")
    response.call_on_close(release_slot)
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy must pass events on as they come
    if release_api_slot is not None:
        # From here on this request holds a stream slot, not one of the API's threads (wsgi.py).
        release_api_slot()
    return response


def _allowed(still_allowed: Callable[[], bool]) -> bool:
    # The caller's standing may have changed since the stream began: resolve it afresh.
    # The auth cache's generation too: read once per request, and a stream is one long request.
    for key in ("_principal", "_access", "_auth_generation"):
        g.pop(key, None)
    try:
        return bool(still_allowed())
    finally:
        db.session.remove()
