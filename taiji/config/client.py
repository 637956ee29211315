"""A Python service's view of its configuration in Taiji: read it, keep the last good copy on
disk for when Taiji is down, and be called back when a new release is published."""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
from collections.abc import Callable, Mapping

from taiji.config import cache
from taiji.config.http import Answer, Http, Unreachable

log = logging.getLogger("taiji.config")

MAX_BACKOFF = 60.0


class ConfigError(Exception):
    """Taiji answered, and refused (``status`` 4xx: a wrong key, no such component, nothing
    published yet), or it could not be asked and no copy was kept (``Unavailable``)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Unavailable(ConfigError):
    """Taiji cannot be reached or fails (5xx), and there is no cached answer to fall back on."""


class Client:
    """The configuration of one component in one environment (optionally one ``namespace``).

    ``key`` is an access key of the environment (``tjc_…``) or a token with ``scm:config:read``.
    ``instance`` (an id of this process, e.g. the host name) and ``labels`` (``{"zone": "bj"}`` or
    ``"zone=bj"``) let Taiji choose this instance for a gray release and show which release it
    holds. With ``cache_dir``, every good answer is saved there (files readable by this user only:
    they hold secrets) and used when Taiji cannot be reached.
    """

    def __init__(self, base_url: str, tenant: str, component: str, environment: str, *,
                 key: str | None = None, namespace: str | None = None, instance: str | None = None,
                 labels: Mapping[str, str] | str | None = None, cache_dir: str | None = None,
                 timeout: float = 10.0, poll_timeout: int = 30, ssl_context: ssl.SSLContext | None = None):
        self.tenant, self.component, self.environment = tenant, component, environment
        self.namespace, self.instance = namespace, instance
        if isinstance(labels, Mapping):
            labels = ",".join(f"{name}={value}" for name, value in sorted(labels.items()))
        self.labels = labels or None
        self.cache_dir, self.timeout, self.poll_timeout = cache_dir, timeout, poll_timeout
        self._http = Http(base_url, key, ssl_context=ssl_context)
        self._lock = threading.RLock()
        self._answer: dict | None = None
        self._etag: str | None = None
        # True while the values in hand are not Taiji's last answer (it could not be asked: they are the
        # saved copy or an earlier answer).
        self.stale = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch_epoch = 0

    # ------------------------------------------------------------------ reading

    @property
    def release(self) -> int | None:
        """The number of the release in hand (None before the first answer)."""
        with self._lock:
            return self._answer.get("release") if self._answer else None

    @property
    def gray(self) -> bool:
        with self._lock:
            return bool(self._answer and self._answer.get("gray"))

    @property
    def values(self) -> dict:
        """The values in hand (fetched first if there are none yet)."""
        with self._lock:
            if self._answer is None:
                return self.fetch()
            return dict(self._answer["values"])

    def get(self, key: str, default=None):
        """One value (its JSON type: str, int, float, bool, list, dict); ``default`` if not set."""
        with self._lock:
            if self._answer is None:
                self.fetch()
            return self._answer["values"].get(key, default)

    def fetch(self) -> dict:
        """Ask Taiji for the configuration, and return its values.

        Taiji answers 304 when the release in hand is still the one to hold (the ``ETag``). When
        Taiji cannot be reached or fails (5xx, 429), the values in hand, or else the saved copy,
        are returned (``stale`` tells); ``Unavailable`` when there is neither. A refusal
        (401, 403, 404, …) is never hidden by a copy: it raises ``ConfigError``."""
        with self._lock:
            if self._answer is None:
                self._load_saved()
            headers = {"If-None-Match": self._etag} if self._etag else {}
            target = self._http.url(self._segments(), self._query(namespace=self.namespace))
            try:
                answer = self._http.get(target, timeout=self.timeout, headers=headers)
            except Unreachable as exc:
                return self._fall_back(f"Taiji at {self._http.where()} cannot be reached ({exc})")
            if answer.status == 304 and self._answer is not None:
                self.stale = False
                return dict(self._answer["values"])
            if answer.status == 200:
                return self._take(answer)
            if answer.status >= 500 or answer.status == 429:
                return self._fall_back(f"Taiji at {self._http.where()} answered {answer.status} "
                                       f"({_detail(answer)})")
            raise ConfigError(f"Taiji refused the configuration of {self._name()}: "
                              f"{answer.status} {_detail(answer)}", answer.status)

    def _take(self, answer: Answer) -> dict:
        try:
            data = json.loads(answer.body)
        except ValueError:
            return self._fall_back("Taiji's answer is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("values"), dict):
            return self._fall_back("Taiji's answer has no values")
        self._answer, self._etag, self.stale = data, answer.headers.get("etag"), False
        if self.cache_dir:
            try:
                cache.write(self._cache_path(), self._etag, data)
            except OSError as exc:  # a full disk must not stop the service from reading
                log.warning("cannot save the configuration of %s in %s: %s",
                            self._name(), self.cache_dir, exc)
        return dict(data["values"])

    def _fall_back(self, why: str) -> dict:
        if self._answer is not None:
            held = "the saved copy" if self.stale else "the configuration in hand"
            self.stale = True
            log.warning("%s; using %s (release %s)", why, held, self._answer.get("release"))
            return dict(self._answer["values"])
        where = f" and there is no saved copy in {self.cache_dir}" if self.cache_dir else \
            " and no cache_dir was given to keep a copy"
        raise Unavailable(f"no configuration for {self._name()}: {why}{where}")

    def _load_saved(self) -> None:
        if not self.cache_dir:
            return
        saved = cache.read(self._cache_path())
        if saved is not None:
            self._answer, self._etag, self.stale = saved.answer, saved.etag, True

    def _cache_path(self):
        return cache.path_for(self.cache_dir, self.tenant, self.component, self.environment, self.namespace)

    def _segments(self, *more: str) -> list[str]:
        return ["config", self.tenant, self.component, self.environment, *more]

    def _query(self, **more) -> dict:
        return {**more, "instance": self.instance, "labels": self.labels}

    def _name(self) -> str:
        return f"{self.tenant}/{self.component}/{self.environment}"

    # ------------------------------------------------------------------ watching

    def watch(self, callback: Callable[[dict], object]) -> threading.Thread:
        """Call ``callback(values)`` from a thread of its own each time a new release reaches this
        instance, until ``stop()``. The thread waits in Taiji's long poll (``poll_timeout``
        seconds a round) and backs off (1 s doubling to a minute) while Taiji cannot be reached."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("this client is already watching; stop() it first")
            self._stopping.clear()
            self._watch_epoch = self._http.epoch
            self._thread = threading.Thread(target=self._watch, args=(callback,), daemon=True,
                                            name=f"taiji-config-watch-{self.component}-{self.environment}")
            self._thread.start()
            return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        """End the watch: the long poll in flight is cut, the thread ends."""
        self._stopping.set()
        self._http.abort()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _watch(self, callback: Callable[[dict], object]) -> None:
        delay = 0.0
        while not self._stopping.is_set():
            try:
                changed = self._poll_once()
            except (Unreachable, ConfigError) as exc:
                if self._stopping.is_set():
                    break
                delay = min(MAX_BACKOFF, max(1.0, delay * 2))
                log.warning("watching %s: %s; trying again in %.0f s", self._name(), exc, delay)
                self._stopping.wait(delay * random.uniform(0.8, 1.0))
                continue
            delay = 0.0
            if changed is not None and not self._stopping.is_set():
                try:
                    callback(changed)
                except Exception:
                    log.exception("the configuration callback of %s failed", self._name())

    def _poll_once(self) -> dict | None:
        """One round of the long poll; the new values when the release in hand changed."""
        held = self.release
        if held is None or self.stale:
            try:
                values = self.fetch()
            except ConfigError as exc:
                if exc.status != 404 or held is not None:
                    raise
                # Nothing published yet: wait for the first release (the poll's number 0).
            else:
                if self.stale:
                    raise Unreachable("Taiji cannot be reached")
                if held is not None and self.release != held:
                    return values
                held = self.release
        held = held or 0
        target = self._http.url(self._segments("notifications"),
                                self._query(release=held, timeout=self.poll_timeout))
        answer = self._http.get(target, timeout=self.poll_timeout + self.timeout, epoch=self._watch_epoch)
        if answer.status == 304:
            return None
        if answer.status != 200:
            raise ConfigError(f"the notifications of {self._name()} answered {answer.status} "
                              f"({_detail(answer)})", answer.status)
        values = self.fetch()
        if self.stale:
            raise Unreachable("Taiji cannot be reached")
        if (self.release or 0) == held:
            # Told of a change that the read does not show yet: wait a little, not a hot loop.
            self._stopping.wait(1.0)
            return None
        return values


def _detail(answer: Answer) -> str:
    try:
        problem = json.loads(answer.body)
    except ValueError:
        problem = None
    if isinstance(problem, dict):
        text = problem.get("detail") or problem.get("title")
        if isinstance(text, str) and text:
            return text
    return answer.body[:200].decode("utf-8", "replace").strip() or "no detail"
