"""IAM benchmark: client-credentials grants, token introspection and an authenticated API call.

Each is measured with 10 and with 10,000 tenants, against `taiji web` (gunicorn, 2 gthread
workers) on 127.0.0.1, with wrk when installed (a Lua script makes the POSTs) or a bounded Python
client otherwise. Reference: Keycloak's sizing guide budgets one vCPU per ~120 client-credentials
grants/s; the goal here is at least 4x that per core.

As in bench/run.py, the two sizes live in two databases, each served by its own server started
after its database was filled, and the loads alternate between them in rounds. One more thing is
held equal, also as in bench/run.py: which worker serves a keep-alive connection is decided when
it is accepted, and with one shared listening socket one worker takes all of wrk's connections
most of the time. That worker then serves the whole load on one core, its threads queue for the
GIL, and each request costs 20-50% more CPU at half the rate, whatever the database holds. So the
servers listen with a socket per worker (gunicorn --reuse-port), and a load whose connections are
not split evenly between the workers is stopped at once and started again (load.balanced_wrk);
the table shows the split.

    python -m bench.iam_bench [--seconds 10] [--rounds 3] [--tenants 10000]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import load, seed  # noqa: E402
from bench.run import (  # noqa: E402
    REUSE_PORT,
    SPLIT_COLUMNS,
    WEB_THREADS,
    WEB_WORKERS,
    Site,
    cpu_per_request,
    cpu_row,
    prepare,
    render,
    sibling_database,
    taiji,
)

KEYCLOAK_GRANTS_PER_CORE = 120
CONNECTIONS = WEB_WORKERS * WEB_THREADS
GRANT = "POST /oauth/token (client_credentials)"
INTROSPECT = "POST /oauth/introspect"
ROLES = "GET /api/v1/tenants/<t>/roles (PAT)"
COLUMNS = SPLIT_COLUMNS


def _python_post(url: str, body: str, headers: dict, seconds: int, connections: int) -> load.Result:
    """Keep-alive POST clients on threads, back to back until the time is up (no wrk)."""
    parts = urllib.parse.urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        mine, bad = [], 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request("POST", parts.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                bad += response.status >= 400
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
                bad += 1
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    began = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 10)
    elapsed = time.monotonic() - began
    latencies.sort()
    return load.Result(
        requests=len(latencies),
        rps=len(latencies) / elapsed,
        p50_ms=load.percentile(latencies, 0.5),
        p99_ms=load.percentile(latencies, 0.99),
        errors=errors[0],
    )


def measured_load(site: Site, method: str, url: str, body: str | None, headers: dict, seconds: int,
                  work: Path) -> tuple[load.Result, float, float, str]:
    if body is not None:
        headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    if shutil.which("wrk"):
        return load.balanced_wrk(site, method, url, body, headers, seconds, work, CONNECTIONS)
    # No wrk: the Python client's connections cannot be restarted mid-load; the split is reported.
    result, web, db = site.measured(
        lambda: _python_post(url, body, headers, seconds, CONNECTIONS) if body is not None
        else load.get_load(url, headers, seconds, CONNECTIONS))
    return result, web, db, "unchecked (no wrk)"


def _form(url: str, fields: dict, auth: str) -> dict:
    load._check_loopback(url)
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL, checked above
        url,
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Authorization": auth},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def _custom_role_for(app, email: str) -> None:
    """Give the bench owner a custom role through a group, so access resolution does its full work."""
    from taiji.modules.iam import services as iam
    from taiji.modules.iam.roles import services as roles
    from taiji.platform import tenancy
    from taiji.platform.db import db

    with app.app_context():
        tenant = tenancy.tenant_by_slug(seed.BENCH_TENANT)
        roles.create_role(
            tenant, {"key": "bench-readers", "name": "Readers", "permissions": ["iam:role:read"]}
        )
        roles.create_group(tenant, {"key": "bench-team", "name": "Team"})
        group = roles.get_group(tenant, "bench-team")
        roles.add_group_member(tenant, group, iam.get_user_by_email(email).email)
        roles.bind(tenant, "bench-readers", group="bench-team")
        db.session.commit()
        db.engine.dispose()


def iam_site(url: str, data_dir: Path, base_env: dict, tenants: int) -> tuple[Site, dict]:
    """bench/run.py's site (people, tenants) plus a machine client and the owner's custom role."""
    site = prepare(url, data_dir, base_env, tenants)
    client = json.loads(
        taiji("clients", "create", "--name", "bench-machine", "--grant", "client_credentials",
              env=site.env).stdout
    )
    from taiji.platform.app import create_app

    _custom_role_for(create_app(), "owner@bench.example.com")  # prepare() pointed os.environ here
    return site, client


class Loads:
    """The three requests of one site, with the rounds measured so far."""

    def __init__(self, site: Site, client: dict, work: Path):
        self.site, self.work = site, work
        self.basic = "Basic " + base64.b64encode(
            f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        token = _form(site.server.url + "/oauth/token", {"grant_type": "client_credentials"},
                      self.basic)["access_token"]
        bearer = {"Authorization": f"Bearer {site.people['owner_token']}"}
        url = site.server.url
        self.requests = {
            GRANT: ("POST", url + "/oauth/token", "grant_type=client_credentials",
                    {"Authorization": self.basic}),
            INTROSPECT: ("POST", url + "/oauth/introspect", urllib.parse.urlencode({"token": token}),
                         {"Authorization": self.basic}),
            ROLES: ("GET", f"{url}/api/v1/tenants/{seed.BENCH_TENANT}/roles", None, bearer),
        }
        self.rounds: dict[str, list[tuple[load.Result, float, float]]] = {name: [] for name in self.requests}
        self.splits: dict[str, list[str]] = {name: [] for name in self.requests}

    def warm_up(self, seconds: int) -> None:
        for method, url, body, headers in self.requests.values():
            measured_load(self.site, method, url, body, headers, seconds, self.work)

    def round(self, seconds: int) -> None:
        for name, (method, url, body, headers) in self.requests.items():
            result, web, db, split = measured_load(self.site, method, url, body, headers, seconds, self.work)
            self.rounds[name].append((result, web, db))
            self.splits[name].append(split)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("TAIJI_BENCH_SECONDS", "10")),
                        help="length of each measured load (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per database (default 3)")
    parser.add_argument("--tenants", type=int, default=10_000, help="tenants in the large database")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs) afterwards")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds < 1:
        parser.error("--rounds and --seconds must be at least 1")

    data_dir = Path(tempfile.mkdtemp(prefix="taiji-iam-bench-"))
    os.environ.setdefault(
        "TAIJI_BENCH_DATABASE_URL", seed.DEFAULT_SERVER.replace("taiji_bench", "taiji_bench_iam")
    )
    small_url = seed.choose_database(data_dir)
    base_env = {
        **os.environ,
        "TAIJI_BROKER_URL": os.environ.get("TAIJI_BENCH_BROKER_URL", "filesystem://"),
        "TAIJI_HOST": "127.0.0.1",
        "TAIJI_LOG_LEVEL": "WARNING",
        "TAIJI_ADMIN_EMAIL": "admin@bench.example.com",
        # The limits protect a real installation; here one client on one address is the load.
        "TAIJI_OAUTH_TOKEN_RATE_LIMIT": "100000000 per minute",
        "TAIJI_OAUTH_INTROSPECT_RATE_LIMIT": "100000000 per minute",
        **REUSE_PORT,  # a listening socket per worker, as in bench/run.py
    }
    base_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    sites: list[Loads] = []
    prepared: list[tuple[Site, dict]] = []
    described: list[str] = []
    try:
        large_url = sibling_database(small_url, "large", data_dir)
        for url, name, tenants in ((small_url, "small", 10), (large_url, "large", args.tenants)):
            prepared.append(iam_site(url, data_dir / name, base_env, tenants))
            described.append(seed.describe(url))
            print(f"{described[-1]}: {prepared[-1][0].tenants:,} tenants", flush=True)
        for site, client in prepared:
            site.start()
            sites.append(Loads(site, client, data_dir))
            sites[-1].warm_up(max(2, args.seconds // 5))
        for i in range(args.rounds):
            for loads in sites if i % 2 == 0 else reversed(sites):
                print(f"{loads.site.tenants:,} tenants, round {i + 1}/{args.rounds}: grants, introspection, "
                      f"API call, {args.seconds}s each …", flush=True)
                loads.round(args.seconds)
    finally:
        for site, _ in prepared:
            if site.server is not None:
                site.server.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    rows = [[*cpu_row(name, loads.site.tenants, loads.rounds[name], loads.site.url),
             ", ".join(loads.splits[name])] for name in (GRANT, INTROSPECT, ROLES) for loads in sites]
    cpu = {(name, loads.site.tenants): sum(cpu_per_request(loads.rounds[name]))
           for loads in sites for name in loads.rounds}
    small, large = (loads.site.tenants for loads in sites)
    worst_grant = max(cpu[GRANT, small], cpu[GRANT, large])
    cores = os.cpu_count() or 1
    grants_rps = min(sorted(r.rps for r, _, _ in loads.rounds[GRANT])[len(loads.rounds[GRANT]) // 2]
                     for loads in sites)
    header = [
        "# Taiji IAM benchmark",
        "",
        f"- servers: `taiji web` per database, gunicorn {WEB_WORKERS} workers x {WEB_THREADS} gthread "
        f"threads on 127.0.0.1, started after their database was filled; databases: {described[0]} and "
        f"{described[1]}",
        f"- load: {load.generator()}, {CONNECTIONS} connections, split evenly between the workers (a load "
        f"whose connections landed unevenly is restarted); {args.rounds} rounds of {args.seconds}s per "
        "request and database, alternating between the databases, after a warm-up",
        f"- machine: {cores} CPUs (the load generator shares them): req/s moves with the machine's other "
        "work; CPU per request (gunicorn's processes + the database's backends) much less, though it "
        "too grows when other work crowds the CPUs",
        f"- CPU per client-credentials grant (worst of the two sizes): {worst_grant:.2f} ms, i.e. "
        f"{1000 / worst_grant:,.0f} grants/s per fully used core against Keycloak's "
        f"~{KEYCLOAK_GRANTS_PER_CORE}/s per vCPU (goal ≥ {4 * KEYCLOAK_GRANTS_PER_CORE}/s); measured "
        f"{grants_rps / cores:,.0f}/s per CPU of this machine",
        *(f"- {name}, CPU per request at {large:,} tenants against {small:,}: {cpu[name, large]:.2f} ms "
          f"against {cpu[name, small]:.2f} ms ({(cpu[name, large] / cpu[name, small] - 1) * 100:+.0f}%)"
          for name in (GRANT, INTROSPECT, ROLES)),
    ]
    text = render(header, rows, COLUMNS)
    print()
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "iam.md").write_text(text)
    failed = any(r[COLUMNS.index("errors")] != "0" for r in rows)
    if failed:
        print("some requests failed: see the errors column", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
