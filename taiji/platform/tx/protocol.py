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

import json
import threading
import time
from dataclasses import dataclass

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
    headers = {"Taiji-Tx-Attempt": str(attempt)}
    try:
        response = client().post(url, params=params, json=payload, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        return Answer(UNKNOWN, None, None, f"timeout after {timeout:g}s: {type(exc).__name__}",
                      _elapsed(started))
    except httpx.HTTPError as exc:
        return Answer(UNKNOWN, None, None, f"{type(exc).__name__}: {exc}"[:SUMMARY_LIMIT], _elapsed(started))
    body = response.text
    summary = summarize(body) if body else None
    return Answer(classify(response.status_code, body), response.status_code, summary,
                  None, _elapsed(started))


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
