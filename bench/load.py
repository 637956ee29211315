"""Load generators, loopback only: wrk when installed, else a bounded threaded client.

Both run for a fixed time and stop by themselves; both report requests/s, p50, p99 and the
number of answers that were not 2xx. balanced_wrk also holds the load's keep-alive connections
split evenly over a gunicorn server's workers (see bench/run.py), restarting it until they are.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil

LOOPBACK = ("127.0.0.1", "localhost", "::1")
BALANCE_TRIES = 30  # starts of a load before one whose connections landed unevenly is measured anyway


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


def parse_wrk(out: str) -> Result:
    """wrk's printed summary (run with --latency) as a Result; non-2xx/3xx answers and socket errors count."""
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.MULTILINE))
    if "99" not in percentiles:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Result(
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        errors=(int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0),
    )


def wrk_args(method: str, url: str, body: str | None, headers: dict, seconds: int, connections: int,
             work: Path) -> list[str]:
    """wrk with a Lua script (written into ``work``) that sets each request's method, body and headers."""
    _check_loopback(url)
    lines = [f"wrk.method = {json.dumps(method)}"]
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    script = work / f"{method.lower()}-{abs(hash((url, body)))}.lua"
    script.write_text("\n".join(lines) + "\n")
    return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
            "-s", str(script), url]


def run_wrk(url: str, headers: dict, seconds: int, connections: int, threads: int = 1) -> Result:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    return parse_wrk(subprocess.run([*args, url], capture_output=True, text=True, check=True,
                                    timeout=seconds + 30).stdout)


# A load's result, the CPU seconds of the server and of its database backends, the split ("4+4").
Measured = tuple[Result, float, float, str]


def connections_per_worker(server) -> list[int]:
    """Established connections each gunicorn worker of ``server`` (a bench.run.Server) holds on its port,
    most first."""
    port = urlsplit(server.url).port
    counts = []
    for worker in psutil.Process(server._proc.pid).children():
        try:
            conns = worker.net_connections(kind="tcp")
        except psutil.Error:
            conns = []
        counts.append(sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in conns))
    return sorted(counts, reverse=True)


def _settled_split(server, proc: subprocess.Popen, connections: int,
                   timeout: float = 3.0) -> list[int]:
    """The split once every connection of the load has been accepted (or the wait ran out)."""
    deadline = time.monotonic() + timeout
    counts = connections_per_worker(server)
    while sum(counts) < connections and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        counts = connections_per_worker(server)
    return counts


def balanced_wrk(site, method: str, url: str, body: str | None, headers: dict, seconds: int,
                 work: Path, connections: int) -> Measured:
    """wrk against ``site`` (a bench.run.Site), restarted until its connections are split evenly
    between the server's workers (up to BALANCE_TRIES starts; the last one is measured anyway).

    CPU is counted from the start of the attempt that ran to the end, so the stopped ones,
    which answered next to nothing, add nothing to it.
    """
    args = wrk_args(method, url, body, headers, seconds, connections, work)
    for attempt in range(1, BALANCE_TRIES + 1):
        mark = site.cpu_mark()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        counts = _settled_split(site.server, proc, connections)
        even = not counts or max(counts) - min(counts) <= (connections % len(counts) > 0)
        if not even and attempt < BALANCE_TRIES:
            proc.kill()
            proc.communicate()
            time.sleep(0.2)  # the server closes the dropped connections
            continue
        out, err = proc.communicate(timeout=seconds + 30)
        if proc.returncode:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {err}")
        result = parse_wrk(out)
        web, db = site.cpu_since(mark)
        split = "+".join(map(str, counts)) + ("" if even else " (uneven)")
        return result, web, db, split
    raise AssertionError("unreachable")


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
