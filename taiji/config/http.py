"""The few HTTP GETs a configuration client makes, on the standard library (``http.client``).

Not ``urllib.request``: a watching client waits up to a minute in a long poll, and ``stop()`` must
end that wait at once, which needs the connection's socket in hand (``abort``)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

MAX_BODY = 64 * 1024 * 1024
USER_AGENT = "taiji-config-python/1"


class Unreachable(Exception):
    """No HTTP answer at all: refused, reset, timed out, a name that does not resolve, bad TLS."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Http:
    def __init__(self, base_url: str, key: str | None, *, ssl_context: ssl.SSLContext | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http:// or https:// address, not {base_url!r}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.ssl_context = ssl_context
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if key:
            # HTTP Basic with the key as the password: Taiji takes configuration access keys and
            # personal or OAuth tokens this way (any user name).
            self.headers["Authorization"] = "Basic " + base64.b64encode(f"taiji:{key}".encode()).decode()
        self._lock = threading.Lock()
        self._connections: set[http.client.HTTPConnection] = set()
        self.epoch = 0  # moved on by abort(): a request of an older epoch does not start

    def url(self, segments: list[str], query: dict | None = None) -> str:
        path = self.prefix + "/" + "/".join(quote(segment, safe="") for segment in segments)
        query = {name: value for name, value in (query or {}).items() if value not in (None, "")}
        return path + ("?" + urlencode(query) if query else "")

    def where(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}{self.prefix}"

    def get(self, target: str, *, timeout: float, headers: dict | None = None,
            epoch: int | None = None) -> Answer:
        """GET ``target``. With ``epoch``: refused (Unreachable) once abort() has moved past it, even
        when abort() came while this request was still connecting."""
        if self.scheme == "https":
            connection = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                                     context=self.ssl_context)
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            # Connected before it is registered, so that abort() always finds a socket to shut down:
            # a request registered without one (still connecting) would wait out its whole timeout.
            connection.connect()
            with self._lock:
                if epoch is not None and epoch != self.epoch:
                    raise Unreachable("stopped")
                self._connections.add(connection)
            connection.request("GET", target, headers={**self.headers, **(headers or {})})
            response = connection.getresponse()
            body = response.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise Unreachable(f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB")
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(_reason(exc)) from exc
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def abort(self) -> None:
        """End every request in flight (another thread's long poll): its ``get`` raises Unreachable;
        a request of the epoch before does not start any more."""
        with self._lock:
            self.epoch += 1
            connections = list(self._connections)
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"the name does not resolve ({exc.strerror or exc})"
    return str(exc) or type(exc).__name__
