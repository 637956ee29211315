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
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from taiji.platform import egress
from taiji.platform.tx.models import FAIL, OK, UNKNOWN

FAIL_STATUSES = frozenset({409, 422})
SUMMARY_LIMIT = 1000
# An answer is a verdict and a summary: more than this is not read (and the connection is closed).
ANSWER_LIMIT = 1024 * 1024

_local = threading.local()


@dataclass(frozen=True)
class Answer:
    result: str
    status_code: int | None
    summary: str | None
    error: str | None
    duration_ms: int


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
         timeout: float, addresses: Sequence | None = None) -> Answer:
    """POST ``payload`` to ``url`` and classify the answer; never raises for transport errors.

    ``addresses``: connect to one of these (checked by the egress policy) rather than to whatever
    the host name resolves to at connection time; None for the platform's own calls.
    """
    started = time.monotonic()
    params = {"gid": gid, "branch": branch, "op": op, "kind": kind}
    try:
        status, body = post(url, json.dumps(payload, separators=(",", ":")).encode(), params=params,
                            headers={"Taiji-Tx-Attempt": str(attempt)}, timeout=timeout, addresses=addresses)
    except TimeoutError as exc:
        return Answer(UNKNOWN, None, None, f"timeout after {timeout:g}s: {type(exc).__name__}",
                      _elapsed(started))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Answer(UNKNOWN, None, None, f"{type(exc).__name__}: {exc}"[:SUMMARY_LIMIT], _elapsed(started))
    summary = summarize(body) if body else None
    return Answer(classify(status, body), status, summary, None, _elapsed(started))


# The engine's calls (and notifications and check-backs) go through the standard library's
# HTTP/1.1 client, one keep-alive connection per thread and participant: per call it costs a
# fifth of the CPU httpx does, and at hundreds of calls per second that is most of what the
# engine itself spends.
_HEADERS = {"Accept": "application/json", "User-Agent": "taiji-tx"}
KEEP_ALIVE_LIMIT = 32  # idle connections kept per thread, to as many participants
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_tls: ssl.SSLContext | None = None


def post(url: str, body: bytes, *, params: dict | None = None, headers: dict | None = None,
         timeout: float, addresses: Sequence | None = None,
         content_type: str | None = "application/json") -> tuple[int, str]:
    """POST ``body`` to ``url`` (``params`` added to its query); returns (status, text).

    With ``addresses`` the connection goes to one of them, never to a fresh resolution of the
    host: the Host header and TLS's server name and certificate check stay the URL's host. Raises
    OSError, http.client.HTTPException or ValueError when nothing usable came back.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url[:200]}")
    query = "&".join(q for q in (parts.query, urlencode(params or {})) if q)
    target = f"{parts.path or '/'}{'?' + query if query else ''}"
    pinned = tuple(str(a) for a in addresses) if addresses is not None else None
    sent = {**_HEADERS, **({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    # A kept-alive connection serves only calls checked to the same addresses.
    key = (parts.scheme, parts.hostname, parts.port, pinned)
    connections = _local.__dict__.setdefault("connections", {})
    conn = connections.pop(key, None)
    if conn is not None and _dropped(conn):
        conn.close()
        conn = None
    reused = conn is not None
    while True:
        if conn is None:
            conn = _open(parts.scheme, parts.hostname, parts.port, timeout, pinned)
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.timeout = timeout
        try:
            conn.request("POST", target, body, sent)
            response = conn.getresponse()
            raw = response.read(ANSWER_LIMIT + 1)
            text = raw[:ANSWER_LIMIT].decode(response.headers.get_content_charset() or "utf-8", "replace")
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
        if len(raw) <= ANSWER_LIMIT and not response.will_close:
            connections[key] = conn  # re-inserted: the dict is in least-recently-used order
            if len(connections) > KEEP_ALIVE_LIMIT:
                connections.pop(next(iter(connections))).close()
        else:
            conn.close()
        return response.status, text


def _open(scheme: str, host: str, port: int | None, timeout: float,
          pinned: tuple[str, ...] | None) -> http.client.HTTPConnection:
    if scheme == "https":
        global _tls
        if _tls is None:
            _tls = ssl.create_default_context()
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    if pinned is not None:
        # http.client opens its socket through this attribute; TLS is then wrapped around that
        # socket with server_hostname=host, so the certificate is still checked for the name.
        conn._create_connection = lambda address, timeout=None, source=None: egress.connect(
            pinned, address[1], timeout, source)
    return conn


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
