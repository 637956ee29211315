"""API reads side by side (issue 14, item 9): one `taiji web` on PostgreSQL, and a bare Flask JSON
endpoint under the same gunicorn settings as the ceiling.

Rows, each measured in every round, the rounds alternating the order of the rows so that whatever
else the machine does falls on all of them alike:
- the bare Flask endpoint (no Taiji at all): the ceiling of gunicorn and Flask on this machine;
- Taiji's `/healthz` without a token, and with the owner's bearer token (the request path, then
  token authentication on top);
- a tenant's member list, its product list, and one product (authenticated reads a client makes),
  answered by the read cache after the first (taiji/platform/readcache.py), and the same three
  from a second server of the same app and database with the cache off.
Beside req/s, each row gives the CPU the server's processes and the database's backends spent per
request: the figure that does not move with the machine's other work.

    python -m bench.api_bench [--seconds 8] [--rounds 3] [--baseline DIR]

``--baseline DIR`` serves the same database a second time from another checkout of Taiji (e.g. a
`git worktree` of an earlier commit) and measures its authenticated rows in the same rounds: a
before/after comparison side by side, on one machine at one time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import load, seed  # noqa: E402
from bench.run import (  # noqa: E402
    REUSE_PORT,
    WEB_THREADS,
    WEB_WORKERS,
    Server,
    Site,
    cpu_model,
    free_port,
    prepare,
    render,
)

PRODUCTS = 30


class BareServer(Server):
    """bench/bare_app.py under gunicorn with `taiji web`'s settings (gthread, workers, threads)."""

    def __init__(self, env: dict, port: int, log_path: Path):
        self.url = f"http://127.0.0.1:{port}"
        self._log = log_path.open("w")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(WEB_WORKERS),
             "--worker-class", "gthread", "--threads", str(WEB_THREADS), "--reuse-port",
             "--chdir", str(HERE), "bare_app:app"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )


class BareSite(Site):
    def start(self) -> None:
        self.server = BareServer(self.env, int(self.env["TAIJI_PORT"]), self.data_dir / "bare.log")
        self.server.wait_ready()

    def cpu_mark(self):
        return self.server.cpu_seconds(), {}

    def cpu_since(self, mark):
        return self.server.cpu_seconds() - mark[0], 0.0


def seed_products(site: Site) -> str:
    """Products in the bench tenant, made through the API; returns one product's slug."""
    import json

    headers = {"Authorization": f"Bearer {site.people['owner_token']}", "Content-Type": "application/json"}
    for i in range(PRODUCTS):
        body = json.dumps({"slug": f"product-{i:02d}", "name": f"Product {i}",
                           "description": "A product of the benchmark."}).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{site.server.url}/api/v1/tenants/{seed.BENCH_TENANT}/products",
                                         data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            if response.status != 201:
                raise RuntimeError(f"creating a product answered {response.status}")
    return "product-07"


def measure(site: Site, path: str, headers: dict, seconds: int, connections: int, work: Path):
    url = f"{site.server.url}{path}"
    if shutil.which("wrk"):
        return load.balanced_wrk(site, "GET", url, None, headers, seconds, work, connections)
    return (*site.measured(lambda: load.get_load(url, headers, seconds, connections)), "unchecked (no wrk)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("TAIJI_BENCH_SECONDS", "8")))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=WEB_WORKERS * WEB_THREADS)
    parser.add_argument("--only", default="", help="comma-separated row names to run (default: all)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of Taiji to serve the same database beside this one")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="taiji-api-bench-"))
    url = seed.choose_database(data_dir)
    base_env = {**os.environ, "TAIJI_BROKER_URL": os.environ.get("TAIJI_BENCH_BROKER_URL", "filesystem://"),
                "TAIJI_HOST": "127.0.0.1", "TAIJI_LOG_LEVEL": "WARNING",
                "TAIJI_ADMIN_EMAIL": "admin@bench.example.com", **REUSE_PORT}
    base_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    bare = BareSite(url="", env={**base_env, "TAIJI_PORT": str(free_port())}, data_dir=data_dir)
    site = baseline = uncached = None
    results: dict[str, list] = {}
    try:
        site = prepare(url, data_dir / "taiji", base_env, 1)
        site.start()
        bare.start()
        baseline = None
        if args.baseline is not None:
            env = {**site.env, "TAIJI_PORT": str(free_port()),
                   "PYTHONPATH": str(args.baseline.resolve())}
            baseline = Site(url=site.url, env=env, data_dir=data_dir / "baseline", people=site.people)
            baseline.data_dir.mkdir(parents=True, exist_ok=True)
            baseline.start()
        # The same app and database with the read cache off: what every first read (and every read
        # of an endpoint that does not opt in) costs.
        env = {**site.env, "TAIJI_PORT": str(free_port()), "TAIJI_READ_CACHE_SECONDS": "0"}
        uncached = Site(url=site.url, env=env, data_dir=data_dir / "uncached", people=site.people)
        uncached.data_dir.mkdir(parents=True, exist_ok=True)
        uncached.start()
        product = seed_products(site)
        token = {"Authorization": f"Bearer {site.people['owner_token']}"}
        t = f"/api/v1/tenants/{seed.BENCH_TENANT}"
        rows = [
            ("bare Flask JSON endpoint (ceiling)", bare, "/healthz", {}),
            ("GET /healthz, no token", site, "/healthz", {}),
            ("GET /healthz, bearer token", site, "/healthz", token),
            ("GET members (page of 20 of 25)", site, f"{t}/members", token),
            (f"GET products (page of 20 of {PRODUCTS})", site, f"{t}/products", token),
            ("GET one product", site, f"{t}/products/{product}", token),
            ("GET members, read cache off", uncached, f"{t}/members", token),
            ("GET products, read cache off", uncached, f"{t}/products", token),
            ("GET one product, read cache off", uncached, f"{t}/products/{product}", token),
        ]
        if baseline is not None:
            rows += [(f"{name} [baseline]", baseline, path, headers)
                     for name, target, path, headers in rows if target is site or target is uncached]
        if args.only:
            wanted = set(args.only.split(","))
            rows = [r for r in rows if any(w in r[0] for w in wanted)]
        for _name, target, path, headers in rows:  # warm-up: pools, caches, imports in both workers
            measure(target, path, headers, 2, args.connections, data_dir)
        for i in range(args.rounds):
            for name, target, path, headers in (rows if i % 2 == 0 else list(reversed(rows))):
                print(f"round {i + 1}/{args.rounds}: {name} …", flush=True)
                results.setdefault(name, []).append(
                    measure(target, path, headers, args.seconds, args.connections, data_dir))
    finally:
        for s in (site, bare, baseline, uncached):
            if s is not None and s.server is not None:
                s.server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    columns = ["measurement", "requests", "req/s (median)", "req/s per round", "p50 ms", "p99 ms", "errors",
               "CPU ms/req: server + database"]
    table = []
    for name, rounds in results.items():
        requests = sum(r.requests for r, _, _, _ in rounds)
        web = sum(w for _, w, _, _ in rounds) * 1000 / max(1, requests)
        dbc = sum(d for _, _, d, _ in rounds) * 1000 / max(1, requests)
        table.append([name, f"{requests:,}", f"{statistics.median(r.rps for r, *_ in rounds):,.0f}",
                      " / ".join(f"{r.rps:,.0f}" for r, *_ in rounds),
                      f"{statistics.median(r.p50_ms for r, *_ in rounds):.1f}",
                      f"{statistics.median(r.p99_ms for r, *_ in rounds):.1f}",
                      str(sum(r.errors for r, *_ in rounds)), f"{web:.2f} + {dbc:.2f}"])
    header = [
        "# Taiji API reads, side by side",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average before: "
        f"{os.getloadavg()[0]:.1f}",
        f"- machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {platform.python_version()}",
        f"- database: {seed.describe(url)}; servers: gunicorn, {WEB_WORKERS} workers, gthread with "
        f"{WEB_THREADS} threads, socket per worker, on 127.0.0.1",
        f"- load: {load.generator()}, {args.connections} connections, {args.rounds} rounds of "
        f"{args.seconds}s per row, row order alternating; bearer token of the tenant's owner",
    ]
    text = render(header, table, columns)
    print()
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "api.md").write_text(text)
    return 1 if any(r[6] != "0" for r in table) else 0


if __name__ == "__main__":
    sys.exit(main())
