"""How the engine calls a participant, and how it reads the answer (docs/tx-protocol.md).

The request is a ``POST`` of the branch's payload as JSON to the branch's URL, with the
transaction id, branch and operation in the query string (``gid``, ``branch``, ``op``,
``kind``) so that the participant's barrier can key its row without parsing the body.

The answer is one of three:

- OK: a 2xx status, unless the JSON body says otherwise;
- FAIL: a definite refusal — status 409 or 422, or a body ``{"result": "FAILURE"}``;
- UNKNOWN: everything else — a timeout, a refused connection, a 5xx, any other status, or a
  body ``{"result": "ONGOING"}``. The call may or may not have taken effect.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx

from taiji.platform.tx.models import FAIL, OK, UNKNOWN

FAIL_STATUSES = frozenset({409, 422})
SUMMARY_LIMIT = 1000

_local = threading.local()


@dataclass(frozen=True)
class Answer:
    result: str
    status_code: int | None
    summary: str | None
    error: str | None
    duration_ms: int


def client() -> httpx.Client:
    """This thread's pooled HTTP client: keep-alive to participants matters for throughput, and
    building a client (with its TLS context) per call costs more CPU than the call itself."""
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(follow_redirects=False)
    return client


def summarize(value, limit: int = SUMMARY_LIMIT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(status_code: int, body: str) -> str:
    """The result a participant's answer means (see the module docstring)."""
    marker = None
    if body[:1] == "{":
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            marker = str(parsed.get("result", "")).upper() or None
    if status_code in FAIL_STATUSES or marker == "FAILURE":
        return FAIL
    if 200 <= status_code < 300:
        return UNKNOWN if marker == "ONGOING" else OK
    return UNKNOWN


def call(url: str, *, gid: str, branch: str, op: str, kind: str, payload: dict, attempt: int,
         timeout: float) -> Answer:
    """POST ``payload`` to ``url`` and classify the answer; never raises for transport errors."""
    started = time.monotonic()
    params = {"gid": gid, "branch": branch, "op": op, "kind": kind}
    try:
        status, body = _post(url, params, json.dumps(payload, separators=(",", ":")).encode(),
                             {"Taiji-Tx-Attempt": str(attempt)}, timeout)
    except TimeoutError as exc:
        return Answer(UNKNOWN, None, None, f"timeout after {timeout:g}s: {type(exc).__name__}",
                      _elapsed(started))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Answer(UNKNOWN, None, None, f"{type(exc).__name__}: {exc}"[:SUMMARY_LIMIT], _elapsed(started))
    summary = summarize(body) if body else None
    return Answer(classify(status, body), status, summary, None, _elapsed(started))


# The engine's own calls go through the standard library's HTTP/1.1 client, one keep-alive
# connection per thread and participant: per call it costs a fifth of the CPU httpx does, and
# at hundreds of calls per second that is most of what the engine itself spends.
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "taiji-tx"}
KEEP_ALIVE_LIMIT = 32  # idle connections kept per thread, to as many participants
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_tls: ssl.SSLContext | None = None


def _post(url: str, params: dict, body: bytes, headers: dict, timeout: float) -> tuple[int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url[:200]}")
    query = urlencode(params)
    target = f"{parts.path or '/'}?{parts.query + '&' if parts.query else ''}{query}"
    key = (parts.scheme, parts.hostname, parts.port)
    connections = _local.__dict__.setdefault("connections", {})
    conn = connections.pop(key, None)
    if conn is not None and _dropped(conn):
        conn.close()
        conn = None
    reused = conn is not None
    while True:
        if conn is None:
            conn = _open(parts.scheme, parts.hostname, parts.port, timeout)
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.timeout = timeout
        try:
            conn.request("POST", target, body, {**_HEADERS, **headers})
            response = conn.getresponse()
            text = response.read().decode(response.headers.get_content_charset() or "utf-8", "replace")
        except _STALE:
            conn.close()
            if not reused:
                raise
            # The participant closed the idle keep-alive connection as the request went out:
            # nothing was answered, so one more try on a fresh connection (calls are idempotent).
            conn, reused = None, False
            continue
        except BaseException:
            conn.close()
            raise
        if not response.will_close:
            connections[key] = conn  # re-inserted: the dict is in least-recently-used order
            if len(connections) > KEEP_ALIVE_LIMIT:
                connections.pop(next(iter(connections))).close()
        else:
            conn.close()
        return response.status, text


def _open(scheme: str, host: str, port: int | None, timeout: float) -> http.client.HTTPConnection:
    if scheme == "https":
        global _tls
        if _tls is None:
            _tls = ssl.create_default_context()
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection the other side has closed reads as ready (EOF)."""
    if conn.sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # select() cannot watch descriptors numbered above 1023
            poller = select.poll()
            poller.register(conn.sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([conn.sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
