"""`make bench`: serve Taiji with gunicorn on loopback, load it, print a table.

Rows: an authenticated GET of a tenant's member list with 1 and with 10,000 tenants in the
database, and tenant creation latency; then SPM's catalog at 5,000 components and 20,000
dependencies (bench/spm_bench.py, in-process, on its own fresh database). The tables are also
written to bench/results/latest.md.
Everything stays on 127.0.0.1 and every load runs for a fixed, bounded time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import load, seed, spm_bench  # noqa: E402

WEB_WORKERS = 2
WEB_THREADS = 4  # what `taiji web` gives gunicorn's gthread workers


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def taiji(*args: str, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "taiji.cli", *args], env=env, check=True,
                          capture_output=True, text=True, timeout=300, **kwargs)


class Server:
    """`taiji web` (gunicorn, gthread) in its own process group, stopped however the bench ends."""

    def __init__(self, env: dict, port: int, log_path: Path):
        self.url = f"http://127.0.0.1:{port}"
        self._log = log_path.open("w")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "taiji.cli", "web", "--workers", str(WEB_WORKERS)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                raise RuntimeError(f"the web server exited with {code}; see {self._log.name}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the web server did not answer within {timeout}s; see {self._log.name}")

    def stop(self) -> None:
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._log.close()


def measure_members(server: Server, token: str, seconds: int, connections: int) -> load.Result:
    url = f"{server.url}/api/v1/tenants/{seed.BENCH_TENANT}/members"
    headers = {"Authorization": f"Bearer {token}"}
    load.get_load(url, headers, max(2, seconds // 5), connections)  # warm-up: pools, caches, imports
    return load.get_load(url, headers, seconds, connections)


def measure_creation(server: Server, token: str, seconds: int, limit: int) -> load.Result:
    stamp = int(time.time())
    bodies = (json.dumps({"slug": f"new-{stamp}-{i}", "name": f"New tenant {i}"}) for i in range(10**6))
    headers = {"Authorization": f"Bearer {token}"}
    warm = (json.dumps({"slug": f"warm-{stamp}-{i}", "name": "Warm-up"}) for i in range(10))
    load.sequential_posts(server.url, "/api/v1/tenants", headers, warm, seconds, 10)
    return load.sequential_posts(server.url, "/api/v1/tenants", headers, bodies, seconds, limit)


def render(header: list[str], rows: list[list[str]]) -> str:
    columns = ["measurement", "tenants in DB", "requests", "req/s", "p50 ms", "p99 ms", "errors"]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]

    def line(cells):
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)) + " |"

    table = [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]
    return "\n".join([*header, "", *table, ""])


def row(name: str, tenants: int, result: load.Result) -> list[str]:
    return [name, f"{tenants:,}", f"{result.requests:,}", f"{result.rps:,.0f}",
            f"{result.p50_ms:.1f}", f"{result.p99_ms:.1f}", str(result.errors)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("TAIJI_BENCH_SECONDS", "10")),
                        help="length of each measured load (default 10)")
    parser.add_argument("--tenants", type=int, default=10_000, help="tenants in the large database")
    parser.add_argument("--connections", type=int, default=WEB_WORKERS * WEB_THREADS,
                        help="concurrent connections of the GET load (default: the server's threads)")
    parser.add_argument("--creations", type=int, default=500, help="at most this many tenants created")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs) afterwards")
    parser.add_argument("--no-spm", action="store_true", help="leave out the SPM catalog rows")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="taiji-bench-"))
    database_url = seed.choose_database(data_dir)
    env = {
        **os.environ,
        "TAIJI_DATA_DIR": str(data_dir),
        "TAIJI_DATABASE_URL": database_url,
        "TAIJI_BROKER_URL": os.environ.get("TAIJI_BENCH_BROKER_URL", "filesystem://"),
        "TAIJI_HOST": "127.0.0.1",
        "TAIJI_PORT": str(free_port()),
        "TAIJI_LOG_LEVEL": "WARNING",
        "TAIJI_ADMIN_EMAIL": "admin@bench.example.com",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.update(env)
    server = None
    try:
        taiji("db", "upgrade", env=env)
        from taiji.platform.app import create_app

        app = create_app()
        people = seed.make_people(app)

        server = Server(env, int(env["TAIJI_PORT"]), data_dir / "web.log")
        server.wait_ready()
        rows = []
        tenants = seed.count_tenants(app)
        print(f"GET members with {tenants:,} tenant(s), {args.seconds}s …", flush=True)
        rows.append(row("GET /api/v1/tenants/<t>/members", tenants,
                        measure_members(server, people["owner_token"], args.seconds, args.connections)))

        started = time.monotonic()
        seed.add_tenants(app, args.tenants - tenants)
        tenants = seed.count_tenants(app)
        print(f"seeded {tenants:,} tenants in {time.monotonic() - started:.1f}s", flush=True)
        print(f"GET members with {tenants:,} tenants, {args.seconds}s …", flush=True)
        rows.append(row("GET /api/v1/tenants/<t>/members", tenants,
                        measure_members(server, people["owner_token"], args.seconds, args.connections)))

        print(f"POST /api/v1/tenants one at a time, up to {args.creations} or {args.seconds}s …", flush=True)
        rows.append(row("POST /api/v1/tenants (1 client, sequential)", tenants,
                        measure_creation(server, people["admin_token"], args.seconds, args.creations)))
        if server is not None:
            server.stop()
            server = None
        spm_url = spm_rows = None
        if not args.no_spm:
            spm_url = spm_bench.database(data_dir)
            print(f"SPM catalog on {seed.describe(spm_url)} …", flush=True)
            spm_rows = spm_bench.run(spm_url)
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    header = [
        "# Taiji benchmark",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}; Python {platform.python_version()}",
        f"- database: {seed.describe(database_url)}; broker: {env['TAIJI_BROKER_URL']}",
        f"- server: `taiji web`: gunicorn, {WEB_WORKERS} workers, gthread with {WEB_THREADS} threads, "
        "127.0.0.1, access log on",
        f"- load: {load.generator()}, {args.connections} connections, {args.seconds}s per GET row after a "
        f"warm-up; bearer token of the tenant's owner; the tenant has {seed.MEMBERS_IN_BENCH_TENANT} members "
        "(first page of 20 returned)",
        "- the load generator shares the machine's CPUs with the server",
    ]
    text = render(header, rows)
    if spm_rows:
        text += f"\nSPM catalog, in-process through the Flask test client, on {seed.describe(spm_url)}:\n\n"
        text += spm_bench.table(spm_rows)
    print()
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.md").write_text(text)
    print(f"saved to {(results / 'latest.md').relative_to(ROOT)}")
    failed = any(r[-1] != "0" for r in rows)
    if failed:
        print("some requests failed: see the errors column", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
