"""IAM benchmark: client-credentials grants, token introspection and an authenticated API call.

Each is measured with 10 and with 10,000 tenants in the database, against `taiji web` (gunicorn,
2 gthread workers) on 127.0.0.1, with wrk when installed (a Lua script makes the POSTs) or a
bounded Python client otherwise. Reference: Keycloak's sizing guide budgets one vCPU per ~120
client-credentials grants/s; the goal here is at least 4x that per core.

    python -m bench.iam_bench [--seconds 10] [--tenants 10000]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import subprocess
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
from bench.run import WEB_THREADS, WEB_WORKERS, Server, free_port, render, row, taiji  # noqa: E402

KEYCLOAK_GRANTS_PER_CORE = 120
CONNECTIONS = WEB_WORKERS * WEB_THREADS


def _wrk_post(url: str, body: str, headers: dict, seconds: int, connections: int, work: Path) -> load.Result:
    """wrk with a Lua script that turns every request into this form POST."""
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    script = work / f"post-{abs(hash(body))}.lua"
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.MULTILINE))
    if "99" not in percentiles:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return load.Result(
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=load._ms(percentiles["50"]),
        p99_ms=load._ms(percentiles["99"]),
        errors=errors,
    )


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


def post_load(url, body, headers, seconds, connections, work) -> load.Result:
    load._check_loopback(url)
    headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    if shutil.which("wrk"):
        return _wrk_post(url, body, headers, seconds, connections, work)
    return _python_post(url, body, headers, seconds, connections)


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


def server_cpu(server: Server) -> float:
    """CPU seconds used so far by `taiji web` (the gunicorn master and its workers)."""
    import psutil

    try:
        master = psutil.Process(server._proc.pid)
        total = 0.0
        for proc in [master, *master.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return float("nan")


# name -> (tenants, server CPU ms per request): the machine is shared, so CPU per request is the
# figure to compare between runs; requests per second moves with whatever else runs.
CPU_PER_REQUEST: list[tuple[str, int, float]] = []


def _cpu_measured(server: Server, name: str, tenants: int, run) -> load.Result:
    before = server_cpu(server)
    result = run()
    spent = server_cpu(server) - before
    CPU_PER_REQUEST.append((name, tenants, spent * 1000 / max(1, result.requests)))
    return result


def measure(server: Server, people: dict, client: dict, seconds: int, work: Path,
            tenants: int = 0) -> dict[str, load.Result]:
    basic = "Basic " + base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    grant = "grant_type=client_credentials"
    token = _form(server.url + "/oauth/token", {"grant_type": "client_credentials"}, basic)["access_token"]
    introspect = urllib.parse.urlencode({"token": token})
    api = f"{server.url}/api/v1/tenants/{seed.BENCH_TENANT}/roles"
    bearer = {"Authorization": f"Bearer {people['owner_token']}"}
    warm = max(2, seconds // 5)
    out = {}
    post_load(server.url + "/oauth/token", grant, {"Authorization": basic}, warm, CONNECTIONS, work)
    name = "POST /oauth/token (client_credentials)"
    out[name] = _cpu_measured(server, name, tenants, lambda: post_load(
        server.url + "/oauth/token", grant, {"Authorization": basic}, seconds, CONNECTIONS, work))
    name = "POST /oauth/introspect"
    out[name] = _cpu_measured(server, name, tenants, lambda: post_load(
        server.url + "/oauth/introspect", introspect, {"Authorization": basic}, seconds, CONNECTIONS, work))
    load.get_load(api, bearer, warm, CONNECTIONS)
    name = "GET /api/v1/tenants/<t>/roles (PAT)"
    out[name] = _cpu_measured(server, name, tenants, lambda: load.get_load(api, bearer, seconds, CONNECTIONS))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("TAIJI_BENCH_SECONDS", "10")))
    parser.add_argument("--tenants", type=int, default=10_000, help="tenants in the large database")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs) afterwards")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="taiji-iam-bench-"))
    os.environ.setdefault(
        "TAIJI_BENCH_DATABASE_URL", seed.DEFAULT_SERVER.replace("taiji_bench", "taiji_bench_iam")
    )
    try:
        database_url = seed.choose_database(data_dir)
    except Exception:
        database_url = f"sqlite:///{data_dir / 'bench.db'}"
    env = {
        **os.environ,
        "TAIJI_DATA_DIR": str(data_dir),
        "TAIJI_DATABASE_URL": database_url,
        "TAIJI_BROKER_URL": os.environ.get("TAIJI_BENCH_BROKER_URL", "filesystem://"),
        "TAIJI_HOST": "127.0.0.1",
        "TAIJI_PORT": str(free_port()),
        "TAIJI_LOG_LEVEL": "WARNING",
        "TAIJI_ADMIN_EMAIL": "admin@bench.example.com",
        # The limits protect a real installation; here one client on one address is the load.
        "TAIJI_OAUTH_TOKEN_RATE_LIMIT": "100000000 per minute",
        "TAIJI_OAUTH_INTROSPECT_RATE_LIMIT": "100000000 per minute",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.update(env)
    server = None
    rows = []
    try:
        taiji("db", "upgrade", env=env)
        client = json.loads(
            taiji(
                "clients", "create", "--name", "bench-machine", "--grant", "client_credentials", env=env
            ).stdout
        )
        from taiji.platform.app import create_app

        app = create_app()
        people = seed.make_people(app)
        _custom_role_for(app, "owner@bench.example.com")
        server = Server(env, int(env["TAIJI_PORT"]), data_dir / "web.log")
        server.wait_ready()
        for wanted in (10, args.tenants):
            seed.add_tenants(app, max(0, wanted - seed.count_tenants(app)))
            tenants = seed.count_tenants(app)
            print(f"{tenants:,} tenants: grants, introspection, API call, {args.seconds}s each …", flush=True)
            for name, result in measure(server, people, client, args.seconds, data_dir, tenants).items():
                rows.append(row(name, tenants, result))
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    cores = os.cpu_count() or 1
    grants = [float(r[3].replace(",", "")) for r in rows if r[0].startswith("POST /oauth/token")]
    header = [
        "# Taiji IAM benchmark",
        "",
        f"- server: gunicorn {WEB_WORKERS} workers x {WEB_THREADS} gthread threads on 127.0.0.1; "
        f"database {seed.describe(database_url)}; load {load.generator()}, {CONNECTIONS} connections",
        f"- machine: {cores} CPUs (the load generator shares them)",
        f"- client-credentials grants per core (worst of the two sizes): {min(grants) / cores:,.0f}/s "
        f"against Keycloak's ~{KEYCLOAK_GRANTS_PER_CORE}/s per vCPU; goal ≥ {4 * KEYCLOAK_GRANTS_PER_CORE}/s",
    ]
    grant_cpu = [ms for name, _, ms in CPU_PER_REQUEST if name.startswith("POST /oauth/token")]
    if grant_cpu:
        header.append(f"- server CPU per client-credentials grant (worst): {max(grant_cpu):.2f} ms, "
                      f"i.e. {1000 / max(grant_cpu):,.0f} grants/s per fully used core")
    text = render(header, rows)
    text += "\n| measurement | tenants in DB | server CPU ms per request |\n|---|---|---|\n"
    text += "".join(f"| {name} | {tenants:,} | {ms:.2f} |\n" for name, tenants, ms in CPU_PER_REQUEST)
    print()
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "iam.md").write_text(text)
    return 1 if any(r[-1] != "0" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
