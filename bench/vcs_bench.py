"""VCS benchmark: clone through Taiji versus bare ``git http-backend``; push-to-event latency.

A repository of 5,000 commits touching 2,000 files is written with ``git fast-import`` straight
into a hosted repository of a scratch Taiji. Two servers, both werkzeug's threaded server on
127.0.0.1 in this process, serve it:
  - taiji: the application itself (HTTP Basic token check, membership and permission lookups,
    the streaming CGI bridge of ``taiji.modules.vcs.git_http``);
  - direct: a minimal WSGI wrapper around ``git http-backend`` with no authentication.
``git clone --bare`` (a real git client, a subprocess) runs against each in turn, alternating,
and the median wall time of each is compared: the goal is Taiji's overhead under 10%.

Push latency: ~50 pushes of one commit each through Taiji; the time from starting ``git push``
to the moment a poller on a separate database connection sees the ``vcs.push`` outbox row
committed (p50, p99). The row commits in the post-receive hook, before git reports success.

Run ``python -m bench.vcs_bench``. ``TAIJI_BENCH_DATABASE_URL`` picks the database (default: a
scratch SQLite file); ``VCS_BENCH_RUNS`` (5) and ``VCS_BENCH_PUSHES`` (50) size the runs.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

COMMITS = int(os.environ.get("VCS_BENCH_COMMITS", 5000))
FILES = int(os.environ.get("VCS_BENCH_FILES", 2000))
RUNS = int(os.environ.get("VCS_BENCH_RUNS", 5))
PUSHES = int(os.environ.get("VCS_BENCH_PUSHES", 50))
BACKEND = "/usr/lib/git-core/git-http-backend"


def fast_import_stream(commits: int, files: int):
    """A fast-import stream: the first commit adds every file, each later one changes a few."""
    out = []
    stamp = 1_700_000_000
    for n in range(commits):
        out.append(f"commit refs/heads/main\nmark :{n + 1}\n"
                   f"author Bench <bench@example.com> {stamp + n} +0000\n"
                   f"committer Bench <bench@example.com> {stamp + n} +0000\n")
        message = f"Change {n}\n"
        out.append(f"data {len(message)}\n{message}")
        if n:
            out.append(f"from :{n}\n")
        targets = range(files) if n == 0 else {(n * 7 + k * 13) % files for k in range(3)}
        for f in targets:
            body = f"file {f} revision {n}\n" + ("x" * (f % 200)) + "\n"
            out.append(f"M 100644 inline src/d{f % 50}/file{f}.txt\ndata {len(body.encode())}\n{body}")
        out.append("\n")
    return "".join(out).encode()


def git(*args, cwd=None, env=None, check=True):
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("BENCH_HOME", "/tmp"),
               "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, env=environ, capture_output=True, check=check)


def direct_app(root: Path):
    """``git http-backend`` behind the least WSGI that works: no auth, body read whole, output streamed."""

    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        chunked = environ.get("wsgi.input_terminated")
        stream = environ["wsgi.input"]
        body = stream.read(length) if length else stream.read() if chunked else b""
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": environ["PATH_INFO"], "QUERY_STRING": environ.get("QUERY_STRING", ""),
               "REQUEST_METHOD": environ["REQUEST_METHOD"], "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
               "REMOTE_ADDR": "127.0.0.1"}
        for key in ("HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL"):
            if key in environ:
                env[key if key != "HTTP_GIT_PROTOCOL" else "GIT_PROTOCOL"] = environ[key]
        proc = subprocess.Popen([BACKEND], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        threading.Thread(target=lambda: (proc.stdin.write(body), proc.stdin.close()), daemon=True).start()
        status, headers = "200 OK", []
        while True:
            line = proc.stdout.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = value.strip()
            else:
                headers.append((name, value.strip()))
        start_response(status, headers)

        def stream():
            try:
                while chunk := proc.stdout.read1(65536):
                    yield chunk
            finally:
                proc.stdout.close()
                proc.wait()

        return stream()

    return app


def serve(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    logging.disable(logging.INFO)
    from flask_migrate import upgrade

    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs
    from taiji.platform.app import create_app
    from taiji.platform.db import db

    tmp = Path(tempfile.mkdtemp(prefix="vcs-bench-"))
    os.environ["BENCH_HOME"] = str(tmp)
    database_url = os.environ.get("TAIJI_BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'taiji.db'}"
    root = Path(__file__).resolve().parent.parent
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DATA_DIR": str(tmp / "data"),
                      "SECRET_KEY": "bench", "BROKER_URL": "memory://", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        upgrade(directory=str(root / "taiji" / "migrations"))
        user = iam.create_user("bench@example.com", "Bench", "a-long-password-1")
        tenant = tm.create_tenant("bench", "Bench", owner_id=user.id)
        _, token = iam.create_token(user, "bench")
        repo = vcs.create_repository(tenant, {"name": "big"})
        db.session.commit()
        git_dir = vcs.local_git_dir(repo)
        started = time.perf_counter()
        subprocess.run(["git", f"--git-dir={git_dir}", "fast-import", "--quiet"],
                       input=fast_import_stream(COMMITS, FILES), check=True)
        subprocess.run(["git", f"--git-dir={git_dir}", "repack", "-adq"], check=True)
        built = time.perf_counter() - started
        vcs.refresh_size(repo)
        db.session.commit()
        size = repo.size_bytes
        db.session.remove()

    taiji_server, taiji_url = serve(app)
    direct_server, direct_url = serve(direct_app(git_dir.parent))
    urls = {"taiji": f"{taiji_url.replace('http://', f'http://x:{token}@')}/git/bench/big.git",
            "direct": f"{direct_url}/{git_dir.name}"}
    times = {"taiji": [], "direct": []}
    for run in range(RUNS + 1):  # the first round warms caches and is not counted
        for name in ("direct", "taiji"):
            dest = tmp / f"clone-{name}-{run}"
            started = time.perf_counter()
            git("clone", "--bare", "-q", urls[name], str(dest))
            elapsed = time.perf_counter() - started
            if run:
                times[name].append(elapsed)
            subprocess.run(["rm", "-rf", str(dest)], check=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    overhead = median["taiji"] / median["direct"] - 1

    latencies = push_latencies(app, urls["taiji"], tmp)
    taiji_server.shutdown()
    direct_server.shutdown()

    print("# VCS benchmark")
    print()
    print(f"- repository: {COMMITS} commits, {FILES} files, {size / 1e6:.1f} MB packed "
          f"(built in {built:.1f} s with git fast-import)")
    print("- servers: werkzeug threaded server on 127.0.0.1 for both, in one process; "
          "client: `git clone --bare`")
    print(f"- database: {'SQLite' if database_url.startswith('sqlite') else database_url.split('@')[-1]}; "
          "the machine is shared, so figures vary from run to run")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| clone, direct git http-backend (median of {RUNS}) | {median['direct'] * 1000:.0f} ms |")
    print(f"| clone, through Taiji (median of {RUNS}) | {median['taiji'] * 1000:.0f} ms |")
    print(f"| Taiji overhead (goal < 10%) | {overhead * 100:+.1f}% |")
    print(f"| push → vcs.push outbox row committed, p50 ({len(latencies)} pushes) | "
          f"{percentile(latencies, 50) * 1000:.0f} ms |")
    print(f"| push → vcs.push outbox row committed, p99 | {percentile(latencies, 99) * 1000:.0f} ms |")


def push_latencies(app, url: str, tmp: Path) -> list[float]:
    import sqlalchemy as sa

    from taiji.platform.db import db
    from taiji.platform.events import OutboxEvent

    work = tmp / "pusher"
    git("clone", "-q", url, str(work))
    env = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    count = sa.select(sa.func.count()).select_from(OutboxEvent).where(OutboxEvent.name == "vcs.push")
    latencies = []
    with app.app_context():
        engine = db.engine  # the poller's own connection: it sees only committed rows
        with engine.connect() as conn:
            for n in range(PUSHES):
                (work / "bench.txt").write_text(f"{n}\n")
                git("add", "bench.txt", cwd=work)
                git("commit", "-qm", f"push {n}", cwd=work, env=env)
                before = conn.execute(count).scalar_one()
                conn.commit()
                seen = threading.Event()
                started = time.perf_counter()
                environ = {"PATH": os.environ["PATH"], "HOME": str(tmp), "GIT_TERMINAL_PROMPT": "0"}
                proc = subprocess.Popen(["git", "push", "-q", "origin", "main"], cwd=work, env=environ,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                while not seen.is_set():
                    if conn.execute(count).scalar_one() > before:
                        latencies.append(time.perf_counter() - started)
                        seen.set()
                    conn.commit()
                    if proc.poll() is not None and not seen.is_set() and time.perf_counter() - started > 30:
                        print("push never produced an event", file=sys.stderr)
                        break
                    time.sleep(0.002)
                proc.wait()
    return latencies


if __name__ == "__main__":
    main()
