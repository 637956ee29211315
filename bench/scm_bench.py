"""`make bench`, the configuration center's client reads (issue 16): one `taiji web` (gunicorn, as
shipped) serving 1,000 components x 3 environments of published configuration, side by side with a
bare Flask JSON endpoint under the same gunicorn settings (the ceiling of this machine), then
publish → notified latency for 500 clients waiting in long polls.

Rows (reads), each measured in every round, the order alternating between rounds:
- the bare Flask endpoint (no Taiji at all) and Taiji's `/healthz` (the request path alone);
- `GET /config/<t>/<component>/<env>` with an access key (HTTP Basic, as clients send it), one
  component — what every instance of a service asks;
- the Spring form `GET /spring/<t>/<component>/<env>` with the V2 Accept;
- the same read spread over all 3,000 (component, environment) pairs, from a Python client that
  cycles through them (its own CPU shares the machine: a floor, not a ceiling).

Notification: 500 long polls (`…/notifications?release=n&timeout=60`) wait on one component; a
release is published through the REST API; each client's answer time is taken from the moment the
publish was sent. Several rounds; p50, p99 and the slowest.

    python -m bench.scm_bench [--seconds 8] [--rounds 3] [--components 1000] [--redis-url URL]

The database is TAIJI_BENCH_DATABASE_URL, else a fresh ``taiji_bench`` on the local PostgreSQL,
else SQLite; the result is printed and written to bench/results/scm.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import load, seed  # noqa: E402
from bench.api_bench import BareSite  # noqa: E402
from bench.run import (  # noqa: E402
    REUSE_PORT,
    WEB_THREADS,
    WEB_WORKERS,
    Server,
    cpu_model,
    free_port,
    prepare,
    render,
)

ENVIRONMENTS = ("dev", "test", "prod")
PRODUCTS = 10
WAITERS = 500


def seed_configuration(site, components: int) -> dict:
    """Components with items in every layer, published in every environment; an access key per
    environment. Through the services, in one process (the API would take as long as the bench)."""
    os.environ.update(site.env)
    from taiji.modules.scm import services as scm
    from taiji.modules.spm import services as spm
    from taiji.platform.app import create_app
    from taiji.platform.auth import Principal
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    app = create_app()
    actor = Principal(user_id=0, email="bench", name="bench", is_admin=True, via="bench")
    with app.app_context():
        tenant = tenant_by_slug(seed.BENCH_TENANT)
        products = [spm.create_product(tenant, {"slug": f"p{i:02d}", "name": f"Product {i}"})
                    for i in range(PRODUCTS)]
        db.session.commit()
        names = []
        for i in range(components):
            product = products[i % PRODUCTS]
            component = spm.create_component(tenant, product, {"name": f"svc-{i:04d}", "layer": "base"})
            if i == 0:
                scm.put_item(tenant, actor, component, "dev", "log.level", value="info", layer="tenant")
                scm.put_item(tenant, actor, component, "dev", "region", value="cn-north", layer="tenant")
            scm.put_item(tenant, actor, component, "dev", "server.port", value=8080 + i % 100, type="int",
                         layer="component")
            scm.put_item(tenant, actor, component, "dev", "pool.size", value=16, type="int",
                         layer="component")
            for env in ENVIRONMENTS:
                scm.put_item(tenant, actor, component, env, "db.url", value=f"jdbc:postgresql://db-{env}/svc{i}")
                scm.put_item(tenant, actor, component, env, "db.password", value=f"secret-{env}-{i}",
                             secret=True)
                scm.put_item(tenant, actor, component, env, "feature.flags", value={"beta": env != "prod"},
                             type="json")
                scm.publish(tenant, actor, component, env, comment="bench")
            names.append(component.name)
            if i % 50 == 49:
                db.session.commit()
                print(f"  {i + 1} components published", flush=True)
        keys = {env: scm.create_access_key(tenant, actor, env, "bench")[1] for env in ENVIRONMENTS}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return {"components": names, "keys": keys}


def basic(token: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"client:{token}".encode()).decode()}


def run_ab(url: str, headers: dict, seconds: int, connections: int) -> load.Result:
    """ApacheBench (keep-alive) when installed: a C client that leaves the CPU to the server."""
    args = ["ab", "-k", "-q", "-c", str(connections), "-t", str(seconds), "-n", "10000000", "-s", "10"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60,
                         check=False).stdout

    def number(pattern: str) -> float:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"unexpected ab output:\n{out}")
        return float(match.group(1))

    failed = number(r"Failed requests:\s+(\d+)")
    non2xx = float(re.search(r"Non-2xx responses:\s+(\d+)", out).group(1)) if "Non-2xx" in out else 0.0
    return load.Result(requests=int(number(r"Complete requests:\s+(\d+)")),
                       rps=number(r"Requests per second:\s+([\d.]+)"),
                       p50_ms=number(r"\n\s+50%\s+(\d+)"), p99_ms=number(r"\n\s+99%\s+(\d+)"),
                       errors=int(failed + non2xx))


def hammer(url: str, headers: dict, seconds: int, connections: int) -> load.Result:
    if shutil.which("wrk"):
        return load.run_wrk(url, headers, seconds, connections)
    if shutil.which("ab"):
        return run_ab(url, headers, seconds, connections)
    return load.run_threads(url, headers, seconds, connections)


def spread(base: str, paths: list[tuple[str, dict]], seconds: int, connections: int) -> load.Result:
    """Keep-alive clients on threads, each cycling through ``paths`` (shuffled) until the time is up."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.monotonic() + seconds

    def client(slot: int) -> None:
        order = paths[:]
        random.Random(slot).shuffle(order)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        i = 0
        while time.monotonic() < deadline:
            path, headers = order[i % len(order)]
            i += 1
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                ok = False
            latencies[slot].append((time.perf_counter() - started) * 1000)
            errors[slot] += not ok
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 15)
    elapsed = time.monotonic() - began
    merged = sorted(x for chunk in latencies for x in chunk)
    return load.Result(requests=len(merged), rps=len(merged) / elapsed, p50_ms=load.percentile(merged, 0.5),
                       p99_ms=load.percentile(merged, 0.99), errors=sum(errors))


def publish(base: str, token: str, component: str) -> int:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{base}/api/v1/tenants/{seed.BENCH_TENANT}/config/{component}/dev/releases",
        data=json.dumps({"comment": "bench notification"}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        if response.status != 201:
            raise RuntimeError(f"publishing answered {response.status}")
        return json.loads(response.read())["number"]


def current_release(base: str, key: str, component: str) -> int:
    request = urllib.request.Request(f"{base}/config/{seed.BENCH_TENANT}/{component}/dev",  # noqa: S310
                                     headers=basic(key))
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())["release"]


def notification_round(base: str, key: str, token: str, component: str) -> tuple[list[float], int]:
    """(seconds from sending the publish to each answer, clients not answered 200)."""
    held = current_release(base, key, component)
    host, port = base.removeprefix("http://").split(":")
    auth = basic(key)["Authorization"]
    path = f"/config/{seed.BENCH_TENANT}/{component}/dev/notifications?release={held}&timeout=60"
    request = (f"GET {path}&instance=i-{{}} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
               "Connection: close\r\n\r\n")
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    answered: dict[socket.socket, float] = {}
    try:
        for i in range(WAITERS):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(request.format(i).encode())
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            received[sock] = b""
        time.sleep(3)  # every poll reaches the server and waits
        sent = time.monotonic()
        publish(base, token, component)
        deadline = time.monotonic() + 60
        open_ = len(received)
        while open_ and time.monotonic() < deadline:
            for selected, _ in selector.select(timeout=0.5):
                sock = selected.fileobj
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    answered.setdefault(sock, time.monotonic() - sent)
                    received[sock] += data
                else:  # the answer is complete: close at once, as an HTTP client does (gunicorn
                    # lingers on a half-closed connection until the client closes it)
                    selector.unregister(sock)
                    sock.close()
                    open_ -= 1
        ok = [answered[s] for s, data in received.items()
              if data.startswith(b"HTTP/1.1 200") and s in answered]
        return ok, WAITERS - len(ok)
    finally:
        for sock in received:
            with contextlib.suppress(OSError):
                sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("TAIJI_BENCH_SECONDS", "8")))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=WEB_WORKERS * WEB_THREADS)
    parser.add_argument("--redis-url", default=os.environ.get("TAIJI_BENCH_REDIS_URL", ""))
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="taiji-scm-bench-"))
    url = seed.choose_database(data_dir)
    base_env = {**os.environ, "TAIJI_BROKER_URL": os.environ.get("TAIJI_BENCH_BROKER_URL", "filesystem://"),
                "TAIJI_HOST": "127.0.0.1", "TAIJI_LOG_LEVEL": "WARNING", "TAIJI_REDIS_URL": args.redis_url,
                "TAIJI_ADMIN_EMAIL": "admin@bench.example.com", "TAIJI_LIVE_MAX_STREAMS": str(WAITERS + 100),
                **REUSE_PORT}
    base_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    bare = BareSite(url="", env={**base_env, "TAIJI_PORT": str(free_port())}, data_dir=data_dir)
    site = None
    reads: dict[str, list] = {}
    waits: list[float] = []
    missed = 0
    try:
        site = prepare(url, data_dir / "taiji", base_env, 1)
        print(f"seeding {args.components} components x {len(ENVIRONMENTS)} environments …", flush=True)
        started = time.monotonic()
        seeded = seed_configuration(site, args.components)
        seeding = time.monotonic() - started
        site.server = Server(site.env, int(site.env["TAIJI_PORT"]), site.data_dir / "web.log")
        site.server.wait_ready(timeout=240)  # a loaded machine boots workers slowly
        bare.start()
        keys, names = seeded["keys"], seeded["components"]
        t = seed.BENCH_TENANT
        one = names[len(names) // 2]
        spring = {**basic(keys["dev"]), "Accept": "application/vnd.spring-cloud.config-server.v2+json"}
        every = [(f"/config/{t}/{name}/{env}", basic(keys[env])) for name in names for env in ENVIRONMENTS]
        rows = [
            ("bare Flask JSON endpoint (ceiling)", lambda s: hammer(f"{bare.server.url}/healthz", {}, s,
                                                                    args.connections)),
            ("Taiji GET /healthz", lambda s: hammer(f"{site.server.url}/healthz", {}, s, args.connections)),
            ("GET /config, one component, access key", lambda s: hammer(
                f"{site.server.url}/config/{t}/{one}/dev", basic(keys["dev"]), s, args.connections)),
            ("GET /spring (V2 Environment), one component", lambda s: hammer(
                f"{site.server.url}/spring/{t}/{one}/dev", spring, s, args.connections)),
            (f"GET /config over all {len(every):,} pairs (Python client)", lambda s: spread(
                site.server.url, every, s, args.connections)),
        ]
        for _name, run in rows:  # warm-up: both workers load every answer once
            run(2)
        spread(site.server.url, every, max(10, args.seconds), args.connections)
        for i in range(args.rounds):
            for name, run in (rows if i % 2 == 0 else list(reversed(rows))):
                print(f"round {i + 1}/{args.rounds}: {name} …", flush=True)
                reads.setdefault(name, []).append(run(args.seconds))
        for i in range(args.rounds):
            print(f"notification round {i + 1}/{args.rounds} …", flush=True)
            got, lost = notification_round(site.server.url, keys["dev"], site.people["owner_token"], one)
            waits += got
            missed += lost
    except BaseException:
        log = data_dir / "taiji" / "web.log"
        if log.exists():
            print("--- the end of the server's log ---\n" + log.read_text(errors="replace")[-6000:])
        raise
    finally:
        for s in (site, bare):
            if s is not None and s.server is not None:
                s.server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    columns = ["measurement", "requests", "req/s (median)", "req/s per round", "p50 ms", "p99 ms", "errors"]
    table = []
    for name, rounds in reads.items():
        table.append([name, f"{sum(r.requests for r in rounds):,}",
                      f"{statistics.median(r.rps for r in rounds):,.0f}",
                      " / ".join(f"{r.rps:,.0f}" for r in rounds),
                      f"{statistics.median(r.p50_ms for r in rounds):.1f}",
                      f"{statistics.median(r.p99_ms for r in rounds):.1f}",
                      str(sum(r.errors for r in rounds))])
    waits.sort()
    notify = [[f"{WAITERS} waiting long polls, publish → answered ({args.rounds} rounds)",
               f"{len(waits):,}", f"{statistics.median(waits) * 1000:.0f}" if waits else "-",
               f"{load.percentile(waits, 0.99) * 1000:.0f}" if waits else "-",
               f"{waits[-1] * 1000:.0f}" if waits else "-", str(missed)]]
    header = [
        "# SCM client reads and notifications",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
        f"load average before: {os.getloadavg()[0]:.1f}",
        f"- machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {platform.python_version()}",
        f"- database: {seed.describe(url)}; {args.components} components x {len(ENVIRONMENTS)} environments "
        f"published (seeded in {seeding:.0f} s); "
        f"live notices: {'Redis' if args.redis_url else 'none (embedded)'}",
        f"- servers: gunicorn, {WEB_WORKERS} workers, gthread with {WEB_THREADS} API threads, on 127.0.0.1",
        f"- load: {'wrk' if shutil.which('wrk') else 'ab' if shutil.which('ab') else 'python threads'}, "
        f"{args.connections} keep-alive connections, {args.rounds} rounds of {args.seconds}s per row",
    ]
    text = render(header, table, columns) + "\n\n" + render(
        [], notify, ["measurement", "clients answered", "p50 ms", "p99 ms", "slowest ms", "not answered"])
    print()
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "scm.md").write_text(text)
    return 1 if missed or any(row[6] != "0" for row in table) else 0


if __name__ == "__main__":
    sys.exit(main())
