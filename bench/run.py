"""`make bench`: serve Taiji with gunicorn on loopback, load it, print a table.

Rows: an authenticated GET of a tenant's member list with 1 and with 10,000 tenants in the
database, and tenant creation latency; then SPM's catalog at 5,000 components and 20,000
dependencies (bench/spm_bench.py, in-process, on its own fresh database). The tables are also
written to bench/results/latest.md.
Everything stays on 127.0.0.1 and every load runs for a fixed, bounded time.

The two tenant counts live in two databases, each served by its own freshly started server, and
their GET loads alternate in rounds (small, large, large, small, ...): whatever else the machine
does at the time falls on both alike. Beside requests per second, each row gives the CPU time
the server's processes and their PostgreSQL backends spent per request, the figure that does not
move with the machine's other work.

One more thing is held equal: which worker serves a keep-alive connection is decided when it is
accepted, and with one shared listening socket one worker takes all of wrk's connections most of
the time; it then serves the whole load on one core, its threads queue for the GIL, and each
request costs more CPU at a lower rate, whatever the database holds. So the servers listen with a
socket per worker (gunicorn --reuse-port, REUSE_PORT), and a load whose connections are not split
evenly between the workers is stopped at once and started again (load.balanced_wrk); the table
shows the split of each round.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import load, seed, spm_bench  # noqa: E402

WEB_WORKERS = 2
WEB_THREADS = 4  # what `taiji web` gives gunicorn's gthread workers
ROUNDS = 3  # alternating GET rounds per database
# A listening socket per worker (gunicorn 27 --reuse-port): the kernel spreads connections over them,
# so an even split comes within a few tries (with one shared socket, one worker takes them all most times).
REUSE_PORT = {"GUNICORN_CMD_ARGS": f"{os.environ.get('GUNICORN_CMD_ARGS', '')} --reuse-port".strip()}


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

    def cpu_seconds(self) -> float:
        """CPU time used so far by the gunicorn master and its workers."""
        try:
            master = psutil.Process(self._proc.pid)
            procs = [master, *master.children(recursive=True)]
            return sum(sum(p.cpu_times()[:2]) for p in procs)
        except psutil.Error:
            return float("nan")

    def stop(self) -> None:
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._log.close()


def local_postgres(url: str) -> bool:
    """PostgreSQL on this machine, whose backends' CPU time can be read (SQLite works in-process)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "postgresql" and (parsed.host or "localhost") in load.LOOPBACK


def database_cpu(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend now connected to ``url``'s database, by pid."""
    if not local_postgres(url):
        return {}
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            pids = conn.exec_driver_sql("SELECT pid FROM pg_stat_activity "
                                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                                        ).scalars().all()
    finally:
        engine.dispose()
    spent = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):  # ended meanwhile, or not ours to read
            spent[pid] = sum(psutil.Process(pid).cpu_times()[:2])
    return spent


@dataclass
class Site:
    """One database with its tenants, the people the load acts as, and the server in front of it."""

    url: str
    env: dict
    data_dir: Path
    people: dict = field(default_factory=dict)
    tenants: int = 0
    server: Server | None = None
    rounds: list[tuple[load.Result, float, float]] = field(default_factory=list)  # result, web s, db s
    splits: list[str] = field(default_factory=list)  # connections per worker, each round

    def start(self) -> None:
        self.server = Server(self.env, int(self.env["TAIJI_PORT"]), self.data_dir / "web.log")
        self.server.wait_ready()

    def cpu_mark(self) -> tuple[float, dict[int, float]]:
        """CPU seconds used so far by the server, and by each of its database's backends."""
        return self.server.cpu_seconds(), database_cpu(self.url)

    def cpu_since(self, mark: tuple[float, dict[int, float]]) -> tuple[float, float]:
        """CPU seconds the server and its database backends spent since ``mark``."""
        web, backends = mark
        db = sum(spent - backends.get(pid, 0.0) for pid, spent in database_cpu(self.url).items())
        return self.server.cpu_seconds() - web, db

    def measured(self, run) -> tuple[load.Result, float, float]:
        """``run()``'s result with the CPU seconds the server and its database backends spent on it."""
        mark = self.cpu_mark()
        result = run()
        return (result, *self.cpu_since(mark))


def sibling_database(url: str, suffix: str, data_dir: Path) -> str:
    """A fresh database beside ``url``: ``<name>_<suffix>`` on PostgreSQL, another file on SQLite."""
    target = make_url(url)
    if target.get_backend_name() != "postgresql":
        return f"sqlite:///{data_dir / f'bench-{suffix}.db'}"
    target = target.set(database=f"{target.database}_{suffix}")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    finally:
        admin.dispose()
    return target.render_as_string(hide_password=False)


def prepare(url: str, data_dir: Path, base_env: dict, tenants: int) -> Site:
    """Migrate ``url``, add the bench tenant's people and grow it to ``tenants`` tenants.

    The server starts afterwards, so it never holds connections or caches from a smaller database.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**base_env, "TAIJI_DATA_DIR": str(data_dir), "TAIJI_DATABASE_URL": url,
           "TAIJI_PORT": str(free_port())}
    taiji("db", "upgrade", env=env)
    os.environ.update(env)
    from taiji.platform.app import create_app
    from taiji.platform.db import db

    app = create_app()
    site = Site(url=url, env=env, data_dir=data_dir, people=seed.make_people(app))
    missing = tenants - seed.count_tenants(app)
    if missing > 0:
        seed.add_tenants(app, missing)
    site.tenants = seed.count_tenants(app)
    with app.app_context():
        db.engine.dispose()
    return site


def members_load(site: Site, seconds: int, connections: int, work: Path) -> load.Measured:
    """The member-list GET as the tenant's owner: evenly split wrk, else Python threads (split unchecked)."""
    url = f"{site.server.url}/api/v1/tenants/{seed.BENCH_TENANT}/members"
    headers = {"Authorization": f"Bearer {site.people['owner_token']}"}
    if shutil.which("wrk"):
        return load.balanced_wrk(site, "GET", url, None, headers, seconds, work, connections)
    return (*site.measured(lambda: load.get_load(url, headers, seconds, connections)), "unchecked (no wrk)")


def members_round(site: Site, seconds: int, connections: int, work: Path) -> None:
    result, web, db, split = members_load(site, seconds, connections, work)
    site.rounds.append((result, web, db))
    site.splits.append(split)


def warm_up(site: Site, seconds: int, connections: int, work: Path) -> None:
    """Pools, caches, imports, in both workers: a short load that is not counted."""
    members_load(site, seconds, connections, work)


def measure_creation(site: Site, seconds: int, limit: int) -> tuple[load.Result, float, float]:
    stamp = int(time.time())
    bodies = (json.dumps({"slug": f"new-{stamp}-{i}", "name": f"New tenant {i}"}) for i in range(10**6))
    headers = {"Authorization": f"Bearer {site.people['admin_token']}"}
    warm = (json.dumps({"slug": f"warm-{stamp}-{i}", "name": "Warm-up"}) for i in range(10))
    load.sequential_posts(site.server.url, "/api/v1/tenants", headers, warm, seconds, 10)
    return site.measured(
        lambda: load.sequential_posts(site.server.url, "/api/v1/tenants", headers, bodies, seconds, limit))


COLUMNS = ["measurement", "tenants in DB", "requests", "req/s", "p50 ms", "p99 ms", "errors"]
CPU_COLUMNS = [*COLUMNS, "req/s per round", "CPU ms/req: server + database"]
SPLIT_COLUMNS = [*CPU_COLUMNS, "connections per worker, each round"]


def render(header: list[str], rows: list[list[str]], columns: list[str] = COLUMNS) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]

    def line(cells):
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)) + " |"

    table = [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]
    return "\n".join([*header, "", *table, ""])


def row(name: str, tenants: int, result: load.Result) -> list[str]:
    return [name, f"{tenants:,}", f"{result.requests:,}", f"{result.rps:,.0f}",
            f"{result.p50_ms:.1f}", f"{result.p99_ms:.1f}", str(result.errors)]


def cpu_per_request(rounds: list[tuple[load.Result, float, float]]) -> tuple[float, float]:
    requests = max(1, sum(r.requests for r, _, _ in rounds))
    return (sum(w for _, w, _ in rounds) * 1000 / requests, sum(d for _, _, d in rounds) * 1000 / requests)


def cpu_row(name: str, tenants: int, rounds: list[tuple[load.Result, float, float]], url: str) -> list[str]:
    """Medians over the rounds; requests and errors summed; CPU per request over all of them."""
    results = [r for r, _, _ in rounds]
    merged = load.Result(requests=sum(r.requests for r in results),
                         rps=statistics.median(r.rps for r in results),
                         p50_ms=statistics.median(r.p50_ms for r in results),
                         p99_ms=statistics.median(r.p99_ms for r in results),
                         errors=sum(r.errors for r in results))
    web, db = cpu_per_request(rounds)
    spread = " / ".join(f"{r.rps:,.0f}" for r in results) if len(results) > 1 else "-"
    if local_postgres(url):
        cpu = f"{web:.2f} + {db:.2f}"
    elif make_url(url).get_backend_name() == "sqlite":
        cpu = f"{web:.2f} (SQLite works inside the server)"
    else:
        cpu = f"{web:.2f} + ? (database on another host)"
    return [*row(name, tenants, merged), spread, cpu]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("TAIJI_BENCH_SECONDS", "10")),
                        help="length of each measured load, and of each GET round (default 10)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"alternating GET rounds on each database (default {ROUNDS})")
    parser.add_argument("--tenants", type=int, default=10_000, help="tenants in the large database")
    parser.add_argument("--connections", type=int, default=WEB_WORKERS * WEB_THREADS,
                        help="concurrent connections of the GET load (default: the server's threads)")
    parser.add_argument("--creations", type=int, default=500, help="at most this many tenants created")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs) afterwards")
    parser.add_argument("--no-spm", action="store_true", help="leave out the SPM catalog rows")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds < 1:
        parser.error("--rounds and --seconds must be at least 1")

    data_dir = Path(tempfile.mkdtemp(prefix="taiji-bench-"))
    small_url = seed.choose_database(data_dir)
    base_env = {
        **os.environ,
        "TAIJI_BROKER_URL": os.environ.get("TAIJI_BENCH_BROKER_URL", "filesystem://"),
        "TAIJI_HOST": "127.0.0.1",
        "TAIJI_LOG_LEVEL": "WARNING",
        "TAIJI_ADMIN_EMAIL": "admin@bench.example.com",
        **REUSE_PORT,
    }
    base_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    sites: list[Site] = []
    described: list[str] = []
    rows = []
    try:
        large_url = sibling_database(small_url, "large", data_dir)
        for url, name, tenants in ((small_url, "small", 1), (large_url, "large", args.tenants)):
            started = time.monotonic()
            sites.append(prepare(url, data_dir / name, base_env, tenants))
            described.append(seed.describe(url))  # now: a SQLite file goes with the data folder
            print(f"{described[-1]}: {sites[-1].tenants:,} tenant(s) in "
                  f"{time.monotonic() - started:.1f}s", flush=True)
        for site in sites:
            site.start()
            warm_up(site, max(2, args.seconds // 5), args.connections, data_dir)
        for i in range(args.rounds):
            for site in sites if i % 2 == 0 else reversed(sites):
                print(f"GET members with {site.tenants:,} tenant(s), round {i + 1}/{args.rounds}, "
                      f"{args.seconds}s …", flush=True)
                members_round(site, args.seconds, args.connections, data_dir)
        for site in sites:
            rows.append([*cpu_row("GET /api/v1/tenants/<t>/members", site.tenants, site.rounds, site.url),
                         ", ".join(site.splits)])
        large = sites[-1]
        print(f"POST /api/v1/tenants one at a time, up to {args.creations} or {args.seconds}s …", flush=True)
        rows.append([*cpu_row("POST /api/v1/tenants (1 client, sequential)", large.tenants,
                              [measure_creation(large, args.seconds, args.creations)], large.url), "-"])
        for site in sites:
            site.server.stop()
            site.server = None
        spm_url = spm_rows = None
        if not args.no_spm:
            spm_url = spm_bench.database(data_dir)
            described.append(seed.describe(spm_url))
            print(f"SPM catalog on {described[-1]} …", flush=True)
            spm_rows = spm_bench.run(spm_url)
    finally:
        for site in sites:
            if site.server is not None:
                site.server.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    (small_web, small_db), (large_web, large_db) = (cpu_per_request(s.rounds) for s in sites)
    small_cpu, large_cpu = small_web + small_db, large_web + large_db
    header = [
        "# Taiji benchmark",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}; Python {platform.python_version()}",
        f"- databases: {described[0]} and {described[1]}; "
        f"broker: {base_env['TAIJI_BROKER_URL']}",
        f"- servers: `taiji web` per database: gunicorn, {WEB_WORKERS} workers, gthread with {WEB_THREADS} "
        "threads, 127.0.0.1, the app logs each request as JSON; started after their database was filled",
        f"- load: {load.generator()}, {args.connections} connections, split evenly between the workers (a "
        f"load whose connections landed unevenly is restarted); GET rows: {args.rounds} rounds of "
        f"{args.seconds}s per database, alternating between them, after a warm-up (req/s, p50, p99: "
        f"medians of the rounds); bearer token of the tenant's owner; the tenant has "
        f"{seed.MEMBERS_IN_BENCH_TENANT} members (first page of 20 returned)",
        "- the load generator and whatever else runs share the machine's CPUs with the server: req/s "
        "moves with them; CPU per request (gunicorn's processes + the database's backends) does not",
        f"- GET members, CPU per request at {sites[-1].tenants:,} tenants against {sites[0].tenants:,}: "
        f"{large_cpu:.2f} ms against {small_cpu:.2f} ms ({(large_cpu / small_cpu - 1) * 100:+.0f}%)",
    ]
    text = render(header, rows, SPLIT_COLUMNS)
    if spm_rows:
        text += f"\nSPM catalog, in-process through the Flask test client, on {described[-1]}:\n\n"
        text += spm_bench.table(spm_rows)
    print()
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.md").write_text(text)
    print(f"saved to {(results / 'latest.md').relative_to(ROOT)}")
    failed = any(r[COLUMNS.index("errors")] != "0" for r in rows)
    if failed:
        print("some requests failed: see the errors column", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
