"""BPR benchmark: the package index as pip uses it, and the throughput of generic files.

- pip's resolution of one package: GET ``/pypi/<t>/<repo>/simple/<name>/`` (PEP 691 JSON, as pip
  asks) against `taiji web` (gunicorn, gthread) on 127.0.0.1, with wrk when installed or a
  bounded threaded Python client otherwise; requests/s, p50 and p99.
- A 100 MB generic file uploaded with PUT and downloaded with GET over loopback, against a plain
  ``cp`` of the same file on the same disk: MB/s of each and the ratio.

    python -m bench.bpr_bench [--seconds 10] [--megabytes 100]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import load, seed  # noqa: E402
from bench.run import WEB_THREADS, WEB_WORKERS, Server, free_port, taiji  # noqa: E402

JSON_V1 = "application/vnd.pypi.simple.v1+json"
PACKAGE = "bench-lib"
VERSIONS = 30  # a package with some history: the page lists 30 wheels and 30 sdists


def _seed_index(app) -> None:
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    with app.app_context():
        tenant = tenant_by_slug(seed.BENCH_TENANT)
        index = bpr.create_repository(tenant, {"name": "pypi-internal", "kind": "pypi"})
        bpr.create_repository(tenant, {"name": "files", "kind": "generic"})
        for minor in range(VERSIONS):
            for filename in (f"bench_lib-1.{minor}.0-py3-none-any.whl", f"bench_lib-1.{minor}.0.tar.gz"):
                body = f"{filename} body".encode()
                bpr.store_package(
                    tenant,
                    index,
                    filename,
                    io.BytesIO(body),
                    length=len(body),
                    meta={"requires_python": ">=3.9"},
                )
        db.session.commit()
        db.session.remove()


def _transfer(server_url: str, method: str, path: str, token: str, source: Path | None, target: Path | None):
    """One streamed PUT (from ``source``) or GET (into ``target``); returns (seconds, sha256 served)."""
    host, port = server_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    if method == "PUT":
        headers["Content-Length"] = str(source.stat().st_size)
        with source.open("rb") as body:
            conn.request("PUT", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
    else:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        with target.open("wb") as out:
            shutil.copyfileobj(response, out, 1024 * 1024)
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path} answered {response.status}")
    return elapsed, response.getheader("X-Checksum-Sha256")


def _cp(source: Path, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    os.sync()  # the server fsyncs what it stores; make the copy as durable before stopping the clock
    return time.perf_counter() - started


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells):
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _database(data_dir: Path) -> str:
    # Its own database, so that another benchmark running at the same time is not dropped under it.
    os.environ.setdefault(
        "TAIJI_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/taiji_bench_bpr"
    )
    try:
        return seed.choose_database(data_dir)
    except Exception:  # no PostgreSQL here: the embedded default
        return f"sqlite:///{data_dir / 'bench.db'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("TAIJI_BENCH_SECONDS", "10")))
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--connections", type=int, default=WEB_WORKERS * WEB_THREADS)
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs) afterwards")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="taiji-bpr-bench-"))
    database_url = _database(data_dir)
    env = {
        **os.environ,
        "TAIJI_DATA_DIR": str(data_dir),
        "TAIJI_DATABASE_URL": database_url,
        "TAIJI_BROKER_URL": "filesystem://",
        "TAIJI_HOST": "127.0.0.1",
        "TAIJI_PORT": str(free_port()),
        "TAIJI_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.update(env)
    server = None
    rows = []
    try:
        taiji("db", "upgrade", env=env)
        from taiji.platform.app import create_app

        app = create_app()
        token = seed.make_people(app)["owner_token"]
        _seed_index(app)
        server = Server(env, int(env["TAIJI_PORT"]), data_dir / "web.log")
        server.wait_ready()

        url = f"{server.url}/pypi/{seed.BENCH_TENANT}/pypi-internal/simple/{PACKAGE}/"
        print(
            f"GET {url} ({load.generator()}, {args.connections} connections, {args.seconds}s) …", flush=True
        )
        result = load.get_load(
            url, {"Authorization": f"Bearer {token}", "Accept": JSON_V1}, args.seconds, args.connections
        )
        rows.append(
            [
                f"GET /simple/{PACKAGE}/ (JSON, {VERSIONS * 2} files)",
                f"{result.requests:,}",
                f"{result.rps:,.0f} req/s",
                f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
                f"{result.errors} errors",
            ]
        )

        # The same load on the lightest authenticated endpoint: what this machine gives right now.
        me = load.get_load(
            f"{server.url}/api/v1/me", {"Authorization": f"Bearer {token}"}, args.seconds, args.connections
        )
        rows.append(
            [
                "GET /api/v1/me (reference)",
                f"{me.requests:,}",
                f"{me.rps:,.0f} req/s",
                f"p50 {me.p50_ms:.1f} ms, p99 {me.p99_ms:.1f} ms",
                f"{me.errors} errors",
            ]
        )

        size = args.megabytes * 1024 * 1024
        source = data_dir / "source.bin"
        with source.open("wb") as out:
            for _ in range(args.megabytes):
                out.write(os.urandom(1024 * 1024))
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        copy_s = _cp(source, data_dir / "copy.bin")
        path = f"/bpr/{seed.BENCH_TENANT}/files/big/{args.megabytes}mb.bin"
        put_s, put_sha = _transfer(server.url, "PUT", path, token, source, None)
        back = data_dir / "back.bin"
        get_s, get_sha = _transfer(server.url, "GET", path, token, None, back)
        if not (put_sha == get_sha == digest == hashlib.sha256(back.read_bytes()).hexdigest()):
            raise RuntimeError("the file came back different")
        mb = size / 1e6
        for name, seconds in (
            ("cp (same disk, then sync)", copy_s),
            ("PUT /bpr/… (upload)", put_s),
            ("GET /bpr/… (download)", get_s),
        ):
            rows.append(
                [
                    f"{name}, {args.megabytes} MB",
                    "1",
                    f"{mb / seconds:,.0f} MB/s",
                    f"{seconds:.2f} s",
                    f"{(mb / seconds) / (mb / copy_s):.2f}x of cp",
                ]
            )
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    print()
    print("# BPR benchmark")
    print()
    print(
        f"- database: {seed.describe(database_url) if not database_url.startswith('sqlite') else 'SQLite'}; "
        f"server: `taiji web` (gunicorn, {WEB_WORKERS} gthread workers x {WEB_THREADS} threads), 127.0.0.1; "
        f"load: {load.generator()}"
    )
    print("- the machine is shared: figures vary from run to run")
    print()
    print(table(["measurement", "requests", "rate", "time", "note"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
