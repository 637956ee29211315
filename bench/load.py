"""Load generators, loopback only: wrk when installed, else a bounded threaded client.

Both run for a fixed time and stop by themselves; both report requests/s, p50, p99 and the
number of answers that were not 2xx.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Result:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"benchmarks only target this machine, not {host}")


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "python threads"


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, headers: dict, seconds: int, connections: int, threads: int = 1) -> Result:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True,
                         timeout=seconds + 30).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.MULTILINE))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(map(int, socket_errors.groups())) if socket_errors else 0
    return Result(requests=total, rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                  p50_ms=_ms(percentiles["50"]), p99_ms=_ms(percentiles["99"]), errors=errors)


def run_threads(url: str, headers: dict, seconds: int, connections: int) -> Result:
    """Keep-alive clients on threads, each sending requests back to back until the time is up."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.monotonic() + seconds

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 400
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
                ok = False
            latencies[slot].append((time.perf_counter() - started) * 1000)
            errors[slot] += not ok
        conn.close()

    workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 10)
    elapsed = time.monotonic() - began
    merged = sorted(x for chunk in latencies for x in chunk)
    return Result(requests=len(merged), rps=len(merged) / elapsed, p50_ms=percentile(merged, 0.50),
                  p99_ms=percentile(merged, 0.99), errors=sum(errors))


def get_load(url: str, headers: dict, seconds: int, connections: int) -> Result:
    _check_loopback(url)
    if shutil.which("wrk"):
        return run_wrk(url, headers, seconds, connections)
    return run_threads(url, headers, seconds, connections)


def sequential_posts(base_url: str, path: str, headers: dict, bodies, seconds: int, limit: int) -> Result:
    """One client, one request at a time: the latency a person or a script sees for each POST."""
    _check_loopback(base_url)
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    began = time.monotonic()
    for body in bodies:
        if time.monotonic() >= deadline or len(latencies) >= limit:
            break
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers={**headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        errors += response.status != 201
    conn.close()
    elapsed = time.monotonic() - began
    latencies.sort()
    return Result(requests=len(latencies), rps=len(latencies) / elapsed if elapsed else 0.0,
                  p50_ms=statistics.median(latencies) if latencies else float("nan"),
                  p99_ms=percentile(latencies, 0.99), errors=errors)
