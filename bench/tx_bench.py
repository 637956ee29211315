"""Transaction engine benchmark: two-step sagas per second on PostgreSQL, participants on loopback.

The participants are a small HTTP service in a process of its own (``bench.tx_participant``),
so the CPU time measured here is the caller's alone. They come in three kinds:

- doing nothing: what the call itself costs;
- committing their business change (two SQL statements) in a local transaction of their own
  PostgreSQL database — the setting of DTM's published comparison ("No DTM-2SQL" against
  "DTM-2SQL"), and what participants of a distributed transaction do;
- the same behind the insert-first barrier of ``taiji.tx.barrier`` (one more statement).

For each kind the two calls are made directly, one after the other, through the engine's own
HTTP client (``protocol.call``, the standard library's keep-alive client; for the first kind
also through httpx), and then as a two-step saga submitted and run to its end in this process
(``taiji.platform.tx.inline.submit_and_run``): every call recorded as begun before it is made
and as answered after it, in three commits per saga. Database round trips and commits are
counted, and CPU time per saga: unlike rates, they barely depend on how busy the machine is.

Runs are one thread ("per core" for the caller; the participant and PostgreSQL use the same
two cores), then ``TX_BENCH_THREADS`` threads at once. The latency of a durable commit on this
machine is printed too: three of them per saga are a floor no engine that records a call's
intent before it and its answer after it can go under. Then ``bench.tx_latency`` measures
redo-to-alert latency and notification scheduling accuracy through a real worker
(``TX_BENCH_LATENCY=0`` skips them). One markdown table is printed.

Run ``python -m bench.tx_bench`` (or call ``run()``, which returns the rows). The databases are
``TAIJI_BENCH_DATABASE_URL`` or a scratch PostgreSQL database ``taiji_bench_tx`` on 127.0.0.1,
and the same URL's database with ``_participant`` appended for the participants.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import sqlalchemy as sa

SAGAS = int(os.environ.get("TX_BENCH_SAGAS", 300))
THREADS = int(os.environ.get("TX_BENCH_THREADS", 4))
ROUNDS = int(os.environ.get("TX_BENCH_ROUNDS", 3))
IDLE = psycopg.pq.TransactionStatus.IDLE
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/taiji_bench_tx"
KINDS = ("noop", "sql", "barrier")


def _ensure_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    name = sa.make_url(url).database
    admin = sa.create_engine(sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


@contextlib.contextmanager
def participants(url: str):
    """Start ``bench.tx_participant`` on its own database; yields its base URL."""
    participant_url = sa.make_url(url)
    participant_url = participant_url.set(database=f"{participant_url.database}_participant")
    _ensure_database(participant_url.render_as_string(hide_password=False))
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.tx_participant", participant_url.render_as_string(hide_password=False)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("the participant process did not start (see its error output above)")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _app(url: str, workdir: Path):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(workdir), "SECRET_KEY": "bench",
                      "BROKER_URL": "memory://", "RATELIMIT_ENABLED": False,
                      "RATELIMIT_STORAGE_URI": "memory://", "TESTING": True})
    with app.app_context():
        upgrade(directory=str(Path(app.root_path) / "migrations"))
    return app


def _steps(base: str, kind: str) -> list[dict]:
    return [{"name": s, "action": f"{base}/{kind}/{s}", "compensate": f"{base}/{kind}/{s}-undo",
             "payload": {"step": s}} for s in ("reserve", "charge")]


def _direct_httpx(base: str, n: int) -> tuple[float, float]:
    """The calls to do-nothing participants through a pooled httpx client: pairs/s, CPU ms per pair."""
    with httpx.Client() as client:
        cpu, started = time.process_time(), time.perf_counter()
        for i in range(n):
            for step in ("reserve", "charge"):
                client.post(f"{base}/noop/{step}", params={"gid": f"d{i}", "branch": step, "op": "action"},
                            json={"step": step}).raise_for_status()
        return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n


def _direct_pairs(base: str, kind: str, gids: list[str]) -> None:
    from taiji.platform.tx import protocol

    for gid in gids:
        for step in ("reserve", "charge"):
            answer = protocol.call(f"{base}/{kind}/{step}", gid=gid, branch=step, op="action", kind="saga",
                                   payload={"step": step}, attempt=1, timeout=10.0)
            assert answer.result == "OK", answer


def _direct(base: str, kind: str, n: int, threads: int = 1) -> tuple[float, float]:
    """The same two calls without the engine, through the client the engine uses (the standard
    library's, kept alive), in ``threads`` threads: pairs/s and CPU ms per pair."""
    run = uuid.uuid4().hex[:8]
    gids = [[f"direct-{run}-{t}-{i}" for i in range(n // threads)] for t in range(threads)]
    return _timed(lambda mine: _direct_pairs(base, kind, mine), gids)


def _timed(work, gids: list[list[str]]) -> tuple[float, float]:
    workers = [threading.Thread(target=work, args=(mine,)) for mine in gids]
    cpu, started = time.process_time(), time.perf_counter()
    if len(workers) == 1:
        work(gids[0])  # in this thread: no thread switch in the figure
    else:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    total = sum(len(mine) for mine in gids)
    return total / elapsed, cpu * 1000 / total


class _Counter:
    """Database round trips and commits, counted where they happen: a pipeline is one (its
    COMMIT included), a statement outside one is one, a ping of an idle pooled connection is one,
    and a COMMIT is one unless the pipeline has sent it already."""

    def __init__(self, engine: sa.Engine):
        from taiji.platform.tx import services, state

        self.engine, self.state, self.services = engine, state, services
        self.round_trips = self.commits = 0

    def _pipeline(self, raw, w, commit=False):
        self.round_trips += 1
        result = self._pipelined(raw, w, commit)
        self.commits += result[2]
        return result

    def _insert(self, *args):
        self.round_trips += 1
        result = self._insert_owned(*args)
        self.commits += bool(result and result[3])  # the submit committed on its own
        return result

    def _statement(self, *args):
        self.round_trips += 1

    def _ping(self, dbapi_connection):
        self.round_trips += 1
        return self._do_ping(dbapi_connection)

    def _commit(self, conn):
        raw = conn.connection.driver_connection
        if not isinstance(raw, psycopg.Connection) or raw.info.transaction_status != IDLE:
            self.round_trips += 1
            self.commits += 1

    def __enter__(self):
        self._pipelined, self._insert_owned = self.state._write_pipelined, self.services.insert_owned
        self.listeners = [(self.engine, "before_cursor_execute", self._statement),
                          (self.engine, "commit", self._commit)]
        for target, name, fn in self.listeners:
            sa.event.listen(target, name, fn)
        self.state._write_pipelined, self.services.insert_owned = self._pipeline, self._insert
        self._do_ping, self.engine.dialect.do_ping = self.engine.dialect.do_ping, self._ping
        return self

    def __exit__(self, *exc):
        for target, name, fn in self.listeners:
            sa.event.remove(target, name, fn)
        self.state._write_pipelined, self.services.insert_owned = self._pipelined, self._insert_owned
        self.engine.dialect.do_ping = self._do_ping


def _engine(app, base: str, kind: str, n: int, threads: int = 1, counter: _Counter | None = None
            ) -> tuple[float, float, int]:
    """Two-step sagas submitted and run to their end by ``threads`` threads of this process:
    sagas/s, CPU ms per saga, sagas succeeded."""
    from taiji.platform.db import db
    from taiji.platform.tx import inline
    from taiji.platform.tx.models import Transaction

    steps = _steps(base, kind)
    run = uuid.uuid4().hex[:8]
    gids = [[f"bench-{run}-{t}-{i}" for i in range(n // threads)] for t in range(threads)]

    def work(mine: list[str]) -> None:
        with app.app_context():
            for gid in mine:
                inline.submit_and_run("saga", steps, gid=gid)
            db.session.remove()

    with counter or contextlib.nullcontext():
        rate, cpu = _timed(work, gids)
    with app.app_context():
        done = db.session.scalar(sa.select(sa.func.count()).select_from(Transaction).where(
            Transaction.gid.like(f"bench-{run}-%"), Transaction.state == "succeeded"))
        db.session.remove()
    return rate, cpu, done


def _commit_latency(url: str, n: int = 500) -> float:
    """Milliseconds for one durable commit of a one-row insert, one after the other."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            raw.execute("CREATE TABLE IF NOT EXISTS bench_commit_latency (id serial, v int)")
            started = time.perf_counter()
            for i in range(n):
                raw.execute("INSERT INTO bench_commit_latency (v) VALUES (%s)", (i,))
            elapsed = time.perf_counter() - started
            raw.execute("DROP TABLE bench_commit_latency")
        return elapsed * 1000 / n
    finally:
        engine.dispose()


def _backend_cpu(url: str) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends of the bench's database (from /proc,
    so only when the server runs on this machine); None when they cannot be read."""
    if not url.startswith("postgresql"):
        return None
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            pids = conn.scalars(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND pid <> pg_backend_pid()")).all()
        total = 0.0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError, sa.exc.SQLAlchemyError):
        return None
    finally:
        engine.dispose()


def _ratio(engine: float, direct: float) -> str:
    return f"{engine / direct:.0%}"


class _Rounds:
    """Each measurement made ``ROUNDS`` times, the direct calls and the engine's sagas of a kind
    side by side in every round (in turn first), so that a busy moment of the machine falls on
    both; figures are medians, ratios the median of the rounds' own ratios."""

    def __init__(self):
        self.samples: dict[str, list[tuple]] = {}

    def add(self, name: str, sample: tuple) -> None:
        self.samples.setdefault(name, []).append(sample)

    def median(self, name: str, index: int = 0) -> float:
        return statistics.median(sample[index] for sample in self.samples[name])

    def ratio(self, engine: str, direct: str) -> str:
        pairs = zip(self.samples[engine], self.samples[direct], strict=True)
        return f"{statistics.median(e[0] / d[0] for e, d in pairs):.0%}"

    def rates(self, name: str) -> str:
        return "/".join(f"{sample[0]:.0f}" for sample in self.samples[name])


def run(sagas: int = SAGAS, latency: bool = True) -> list[tuple[str, str]]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one log line per call would be the bottleneck
    url = os.environ.get("TAIJI_BENCH_DATABASE_URL") or DEFAULT_URL
    _ensure_database(url)
    with tempfile.TemporaryDirectory() as workdir, participants(url) as base:
        app = _app(url, Path(workdir))
        for kind in KINDS:  # warm-up: connections, imports, prepared statements
            _direct(base, kind, 30)
            _engine(app, base, kind, 30)
        _direct_httpx(base, 30)
        with app.app_context():
            from taiji.platform.db import db

            counter = _Counter(db.engine)
        measures = {"httpx": lambda: _direct_httpx(base, sagas)}
        for kind in KINDS:
            measures[f"direct {kind}"] = lambda kind=kind: _direct(base, kind, sagas)
            measures[f"engine {kind}"] = lambda kind=kind: _engine(
                app, base, kind, sagas, counter=counter if kind == "noop" else None)
        measures["direct threads"] = lambda: _direct(base, "sql", sagas, THREADS)
        measures["engine threads"] = lambda: _engine(app, base, "sql", sagas, THREADS)
        rounds, backend_cpu, done = _Rounds(), 0.0, []
        for number in range(ROUNDS):
            for name in (measures if number % 2 == 0 else reversed(measures)):
                before = _backend_cpu(url) if name == "engine noop" else None
                sample = measures[name]()
                after = _backend_cpu(url) if before is not None else None
                if before is not None and after is not None:
                    backend_cpu += after - before
                if name.startswith("engine"):
                    done.append(sample[2])
                rounds.add(name, sample)
        commit_ms = _commit_latency(url)
        noop_sagas = sagas * ROUNDS
        m = rounds.median
        rows = [
            ("database; rounds (figures are medians)", f"{sa.make_url(url).get_backend_name()}; {ROUNDS}"),
            ("two-step sagas run (succeeded)", f"{len(done) * sagas} ({sum(done)})"),
            ("participant does nothing — direct, httpx (pairs/s; CPU ms per pair)",
             f"{m('httpx'):.0f}; {m('httpx', 1):.2f}"),
            ("participant does nothing — direct, the engine's client (pairs/s; CPU ms)",
             f"{m('direct noop'):.0f}; {m('direct noop', 1):.2f}"),
            ("participant does nothing — engine (sagas/s; CPU ms per saga)",
             f"{m('engine noop'):.0f}; {m('engine noop', 1):.2f}"),
            ("participant does nothing — engine / direct (httpx; engine's client)",
             f"{rounds.ratio('engine noop', 'httpx')}; {rounds.ratio('engine noop', 'direct noop')}"),
            ("participant commits 2 SQL — direct (pairs/s; CPU ms per pair)",
             f"{m('direct sql'):.0f}; {m('direct sql', 1):.2f}"),
            ("participant commits 2 SQL — engine (sagas/s; CPU ms per saga)",
             f"{m('engine sql'):.0f}; {m('engine sql', 1):.2f}"),
            ("participant commits 2 SQL — engine / direct (rounds: engine/direct sagas/s)",
             f"{rounds.ratio('engine sql', 'direct sql')} "
             f"({rounds.rates('engine sql')} / {rounds.rates('direct sql')})"),
            ("2 SQL behind the barrier — direct; engine (pairs or sagas/s); engine / direct",
             f"{m('direct barrier'):.0f}; {m('engine barrier'):.0f}; "
             f"{rounds.ratio('engine barrier', 'direct barrier')}"),
            (f"{THREADS} threads, 2 SQL — direct pairs/s; engine sagas/s; engine / direct",
             f"{m('direct threads'):.0f}; {m('engine threads'):.0f}; "
             f"{rounds.ratio('engine threads', 'direct threads')}"),
            ("PostgreSQL backend CPU ms per saga (no-op participant)",
             "not measured" if not backend_cpu else f"{backend_cpu * 1000 / noop_sagas:.2f}"),
            ("database round trips / commits per saga",
             f"{counter.round_trips / noop_sagas:.1f} / {counter.commits / noop_sagas:.1f}"),
            ("one durable commit on this machine (ms); floor of 3 per saga",
             f"{commit_ms:.2f}; {3 * commit_ms:.2f}"),
            ("goal", ">= 250 sagas/s and >= 50% of direct (DTM: 2 SQL participants, 43-47%)"),
        ]
        if latency:
            from bench import tx_latency

            try:
                rows += tx_latency.run(app, url, Path(workdir))
            except Exception as exc:  # no broker here: the throughput figures still stand
                rows.append(("redo-to-alert latency, notification lateness", f"not measured: {exc}"[:200]))
    return rows


def main() -> int:
    rows = run(latency=os.environ.get("TX_BENCH_LATENCY", "1") != "0")
    print("Transaction engine (TJDTH)\n")
    print("| measure | value |")
    print("| --- | --- |")
    for key, value in rows:
        print(f"| {key} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
