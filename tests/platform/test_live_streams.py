"""Live updates over server-sent events, against a real `taiji web` (gunicorn, two workers): a job's
log and state arrive on its stream, a reconnect resumes from Last-Event-ID, only the tenant's
members may listen, and hundreds of open streams leave API requests answered.

Each test runs twice: with Redis pub/sub carrying the notices between processes (when the tests
have a Redis, TAIJI_TEST_BROKER_URL), and on the embedded install, where one poller per web process
reads the database every TAIJI_LIVE_POLL_SECONDS for all of its streams."""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests

from taiji.platform.db import db
from taiji.platform.tasks import init_celery
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.fakes.event_probe import wait_for

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("live-streams")]

PIPELINE_FILE = "jobs:\n  build:\n    script: [echo build]\n"
MANY = 200
EMBEDDED_MANY = 50
STALLED = 12  # clients that stop reading, in the test of what they cost


def _redis_url() -> str:
    url = os.environ.get("TAIJI_TEST_BROKER_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Install:
    """A database and data folder, seeded from this process, served by `taiji web`."""

    def __init__(self, app, base: str, proc: subprocess.Popen, log: Path):
        self.app, self.base, self.proc, self.log = app, base, proc, log

    def run(self, work):
        with self.app.app_context():
            result = work()
            db.session.commit()
            return result

    def job(self, tenant_slug: str, repository: str):
        """A new pipeline of ``repository`` and its one job (nothing runs it: the test is its runner)."""
        from taiji.modules.cicd import services
        from taiji.platform.tenancy import tenant_by_slug

        def work():
            pipeline = services.run_pipeline(tenant_by_slug(tenant_slug), repository, "main")
            return pipeline.id, pipeline.jobs[0].id

        return self.run(work)

    def write(self, tenant_slug: str, job_id: int, text: str) -> None:
        """What a runner does: append to the job's log and commit (the notice leaves after the commit)."""
        from taiji.modules.cicd import services
        from taiji.platform.tenancy import tenant_by_slug

        self.run(lambda: services.append_log(services.get_job(tenant_by_slug(tenant_slug), job_id), text))

    def finish(self, tenant_slug: str, job_id: int) -> None:
        from taiji.modules.cicd import services
        from taiji.modules.cicd.models import JOB_DONE, JobStatus
        from taiji.modules.cicd.services import scheduler
        from taiji.platform.tenancy import tenant_by_slug

        def work():
            job = services.get_job(tenant_by_slug(tenant_slug), job_id)
            assert scheduler.transition(job, [s for s in JobStatus if s not in JOB_DONE],
                                        status=JobStatus.RUNNING.value)
            assert scheduler.finish_job(job, JobStatus.SUCCESS, exit_code=0)

        self.run(work)

    def member(self, tenant_slug: str) -> str:
        """A new member of the tenant, with nothing open anywhere yet: their token."""
        from taiji.modules.iam import services as iam
        from taiji.modules.tm import services as tm
        from taiji.platform.tenancy import tenant_by_slug
        from tests.factories import system_principal

        def work():
            email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
            user = iam.create_user(email, "Viewer", "a long enough password", email_verified=True)
            db.session.flush()
            tm.add_member(tenant_by_slug(tenant_slug), email, "member", actor=system_principal())
            return iam.create_token(user, "live")[1]

        return self.run(work)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    @contextlib.contextmanager
    def serve(self, *names: str, workers: int = 1, **settings: str):
        """Other `taiji web`s of this install (same database, data folder and Redis), one per name,
        each with its own port and ``settings``: other servers of a bigger install, or the same one
        reconfigured. They boot side by side (a boot is seconds of imports, mostly waiting for the
        CPU). Yields (base URL, process) for each name."""
        started = []
        try:
            for name in names:
                port = _free_port()
                env = {**self.env, "TAIJI_PORT": str(port), "TAIJI_WEB_WORKERS": str(workers), **settings}
                proc, log = _start_web(env, self.log.with_name(f"web-{name}.log"))
                started.append((f"http://127.0.0.1:{port}", proc, log))
            for base, proc, log in started:
                _wait_up(base, proc, log)
            yield [(base, proc) for base, proc, _log in started]
        finally:
            for _base, proc, _log in started:
                _stop_web(proc)


def _start_web(env: dict, log: Path) -> tuple[subprocess.Popen, Path]:
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "taiji.cli", "web", "--no-bootstrap"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def _wait_up(base: str, proc: subprocess.Popen, log: Path) -> None:
    def up():
        assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
        with contextlib.suppress(requests.RequestException):
            return requests.get(base + "/healthz", timeout=2).status_code == 200
        return False

    wait_for(up, 120, "taiji web to answer")  # a loaded machine boots workers slowly


def _stop_web(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module", params=["redis", "embedded"])
def install(request, tmp_path_factory, app):
    from flask_migrate import upgrade

    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.app import create_app
    from tests.modules.cicd.conftest import make_hosted

    redis_url = _redis_url() if request.param == "redis" else ""
    if request.param == "redis" and not redis_url:
        pytest.skip("no Redis for the tests (TAIJI_TEST_BROKER_URL)")
    tmp = tmp_path_factory.mktemp(f"live-{request.param}")
    database = sibling_database(f"live_{request.param}", tmp, migrated=True)
    data_dir = tmp / "data"
    seeding = create_app(app_overrides(database, data_dir, REDIS_URL=redis_url))
    with seeding.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        for email, slug in (("alice@example.com", "alpha"), ("bob@example.com", "beta")):
            user = iam.create_user(email, email.split("@")[0], "a long enough password", email_verified=True)
            db.session.flush()
            tenant = tm.create_tenant(slug, slug.title(), owner_id=user.id)
            db.session.commit()
            make_hosted(tenant, "app", {".taiji.yml": PIPELINE_FILE})
        db.session.commit()
        db.session.remove()

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update({
        "PYTHONPATH": str(ROOT), "TAIJI_DATABASE_URL": database, "TAIJI_DATA_DIR": str(data_dir),
        "TAIJI_SECRET_KEY": "test-secret-key", "TAIJI_PORT": str(port), "TAIJI_REDIS_URL": redis_url,
        "TAIJI_BROKER_URL": redis_url or "filesystem://", "TAIJI_WEB_WORKERS": "2",
        "TAIJI_LIVE_HEARTBEAT_SECONDS": "1", "TAIJI_LIVE_POLL_SECONDS": "0.2",
        "TAIJI_LIVE_MAX_STREAMS_PER_USER": str(MANY + 20),
    })
    proc, log = _start_web(env, tmp / "web.log")
    served = Install(seeding, f"http://127.0.0.1:{port}", proc, log)
    served.kind, served.env = request.param, env
    try:
        _wait_up(served.base, proc, log)

        def token(email: str) -> str:
            return served.run(lambda: iam.create_token(iam.get_user_by_email(email), "live")[1])

        served.tokens = {"alpha": token("alice@example.com"), "beta": token("bob@example.com")}
        yield served
    finally:
        _stop_web(proc)
        with seeding.app_context():
            db.engine.dispose()
        init_celery(app)  # the Celery app is process-wide: hand it back


# Long enough for the stalled-clients test to write its 8 blocks (1-2 s here) while the stalled
# streams still hold their places: what it measures is the memory they cost while held.
SEND_TIMEOUT = 6


@pytest.fixture(scope="module")
def side(install):
    """Other `taiji web`s of the install (one worker each), booted once for the tests that need
    them: with Redis two (a bigger install's other servers), else one. A user may hold STALLED + 1
    streams on them, and a send that waits SEND_TIMEOUT s ends its stream."""
    names = ("one", "two") if install.kind == "redis" else ("one",)
    with install.serve(*names, TAIJI_LIVE_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT),
                       TAIJI_LIVE_MAX_STREAMS_PER_USER=str(STALLED + 1)) as servers:
        yield servers


class Stream:
    """An EventSource as a browser runs it, reduced to reading events in order."""

    def __init__(self, url: str, token: str | None, last_event_id: str | None = None):
        headers = {"Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.response = requests.get(url, headers=headers, stream=True, timeout=(5, 30))
        self.status = self.response.status_code
        ok = self.status == 200
        self._lines = self.response.iter_lines(chunk_size=1, decode_unicode=True) if ok else None

    def next(self, kind: str | None = None) -> dict:
        """The next event (of ``kind``), as {"event", "id", "data"}; comments and other kinds skipped."""
        while True:
            event: dict = {}
            for line in self._lines:
                if line == "":
                    if event:
                        break
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "data":
                    event["data"] = (event["data"] + "\n" + value) if "data" in event else value
                elif field in ("event", "id", "retry"):
                    event[field] = value
            else:
                raise EOFError(f"the stream ended before a {kind or 'further'} event")
            if "data" not in event:
                continue  # the retry: line
            event["data"] = json.loads(event["data"])
            event.setdefault("event", "message")
            if kind is None or event["event"] == kind:
                return event

    def close(self):
        self.response.close()


def test_a_jobs_log_and_state_arrive_on_its_stream_and_a_reconnect_resumes(install):
    _pipeline_id, job_id = install.job("alpha", "app")
    token = install.tokens["alpha"]
    url = f"{install.base}/t/alpha/jobs/{job_id}/live"

    stream = Stream(url, token)
    assert stream.status == 200, stream.response.text
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    state = stream.next("state")
    assert state["data"]["done"] is False

    install.write("alpha", job_id, "first line\n")
    first = stream.next("log")
    assert first["data"]["text"] == "first line\n"
    assert first["id"] == str(len(b"first line\n"))
    stream.close()

    # Written while nobody listens; the reconnect names where it stopped and gets only what followed.
    install.write("alpha", job_id, "second line ✓\n")
    again = Stream(url, token, last_event_id=first["id"])
    assert again.status == 200
    second = again.next("log")
    assert second["data"] == {"offset": len(b"first line\n"),
                              "next": len("first line\nsecond line ✓\n".encode()), "text": "second line ✓\n"}

    install.write("alpha", job_id, "third line\n")
    assert again.next("log")["data"]["text"] == "third line\n"
    install.finish("alpha", job_id)
    assert again.next("state")["data"] == {"status": "success", "done": True}
    again.next("end")
    with pytest.raises(EOFError):
        again.next()  # the server closed the stream
    again.close()

    # The console's page asks for HTML; a finished job's stream sends what is left and ends.
    html = Stream(url + "?format=html&offset=0", token)
    page = html.next("log")
    assert "first line" in page["data"]["html"] and "text" not in page["data"]
    html.next("end")
    html.close()


def test_the_job_graph_stream_follows_the_pipelines_jobs(install):
    pipeline_id, job_id = install.job("alpha", "app")
    stream = Stream(f"{install.base}/t/alpha/pipelines/{pipeline_id}/live", install.tokens["alpha"])
    assert stream.status == 200
    first = stream.next("state")
    assert first["data"]["done"] is False and set(first["data"]["jobs"]) == {"build"}
    install.finish("alpha", job_id)
    last = first
    while not last["data"]["done"]:
        last = stream.next("state")
    assert last["data"]["status"] == "success" and last["data"]["jobs"] == {"build": "success"}
    stream.next("end")
    stream.close()


def test_only_the_tenants_members_may_listen(install):
    pipeline_id, job_id = install.job("alpha", "app")
    for path in (f"/t/alpha/jobs/{job_id}/live", f"/t/alpha/pipelines/{pipeline_id}/live"):
        outsider = Stream(install.base + path, install.tokens["beta"])
        assert outsider.status == 404, path
        assert Stream(install.base + path, None).status == 401, path
        # Bob's own tenant in the URL does not open Alice's job either: topics come from the server.
        own = install.base + path.replace("/t/alpha/", "/t/beta/")
        assert Stream(own, install.tokens["beta"]).status == 404
    bad = f"{install.base}/t/alpha/jobs/{job_id}/live?offset=x"
    assert Stream(bad, install.tokens["alpha"]).status == 400


def test_a_stream_ends_when_its_caller_loses_access(install):
    from taiji.modules.iam import services as iam

    _pipeline_id, job_id = install.job("alpha", "app")
    token = install.run(lambda: iam.create_token(iam.get_user_by_email("alice@example.com"), "revoked")[1])
    stream = Stream(f"{install.base}/t/alpha/jobs/{job_id}/live", token)
    stream.next("state")

    def revoke():
        user = iam.get_user_by_email("alice@example.com")
        [row] = [t for t in iam.list_tokens(user) if t.name == "revoked"]
        iam.revoke_token(user, row.id)

    revoked = time.monotonic()
    install.run(revoke)
    assert stream.next("end")["data"] == {"reason": "forbidden"}
    # At the next recheck (TAIJI_LIVE_RECHECK_SECONDS, 15), not when the process's cached answer
    # about the token would have expired (TAIJI_AUTH_CACHE_SECONDS, 60): a stream is one long
    # request, and must not keep the generation of the auth cache it read when it began.
    assert time.monotonic() - revoked < 40, "the revoked caller's stream ran on past its recheck"
    stream.close()


def _open_raw(base: str, path: str, token: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n".encode())
    sock.setblocking(False)
    return sock


def _read_until(socks: list[socket.socket], needle: bytes, what: str, timeout: float = 60) -> None:
    """Read every socket until each has sent ``needle`` (since the last call)."""
    selector = selectors.DefaultSelector()
    seen = {sock: b"" for sock in socks}
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    waiting = set(socks)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            sock = key.fileobj
            data = sock.recv(65536)
            assert data, f"a stream was closed while waiting for {what}"
            seen[sock] = (seen[sock] + data)[-4096:]
            if needle in seen[sock]:
                waiting.discard(sock)
    selector.close()
    assert not waiting, f"{len(waiting)} of {len(socks)} streams did not get {what}"


def test_hundreds_of_open_streams_leave_the_api_answering(install):
    _pipeline_id, job_id = install.job("alpha", "app")
    token = install.tokens["alpha"]
    # Here every stream also rechecks its job each heartbeat (1 s): on SQLite the embedded install
    # shows the same with fewer streams, and the suite keeps a minute.
    many = MANY if install.kind == "redis" else EMBEDDED_MANY
    socks = [_open_raw(install.base, f"/t/alpha/jobs/{job_id}/live", token) for _ in range(many)]
    try:
        _read_until(socks, b"event: state", "their first state")
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        for _ in range(20):
            assert api.get(f"{install.base}/api/v1/tenants/alpha/members", timeout=10).status_code == 200
            assert api.get(f"{install.base}/t/alpha/jobs/{job_id}", timeout=10).status_code == 200
        # One write reaches every stream, whichever worker process holds it.
        install.write("alpha", job_id, "to everyone\n")
        _read_until(socks, b"to everyone", "the new line")
        # Idle streams are kept alive with comments.
        _read_until(socks, b": keep-alive", "a heartbeat")
        assert api.get(f"{install.base}/healthz", timeout=10).status_code == 200
    finally:
        for sock in socks:
            sock.close()


def test_a_users_stream_limit_holds_across_web_processes(install, side):
    """Two `taiji web` processes of one install (two workers, or two machines): with Redis a user's
    TAIJI_LIVE_MAX_STREAMS_PER_USER counts their streams on both."""
    if install.kind != "redis":
        pytest.skip("without Redis each web process counts its own (documented: workers times the limit)")
    _pipeline_id, job_id = install.job("alpha", "app")
    path = f"/t/alpha/jobs/{job_id}/live"
    token = install.member("alpha")
    [(one, _), (two, _)] = side  # a user may hold STALLED + 1 streams on them
    held = [Stream(one + path, token) for _ in range(STALLED)] + [Stream(two + path, token)]
    assert [stream.status for stream in held] == [200] * (STALLED + 1)
    for stream in held:
        stream.next("state")
    for base in (two, one):  # `two` holds one of them itself: the count is the install's
        refused = Stream(base + path, token)
        assert refused.status == 429, refused.response.text
        refused.close()
    # Someone else's streams are their own.
    other = Stream(two + path, install.member("alpha"))
    assert other.status == 200
    other.close()

    # A stream closed on one process frees a place on the other (the server notices the
    # closed connection at its next write, a heartbeat at the latest).
    held.pop(0).close()

    def reopened():
        stream = Stream(two + path, token)
        if stream.status == 200:
            return stream
        stream.close()
        return None

    held.append(wait_for(reopened, 15, "a place to come back"))
    for stream in held:
        stream.close()


def _stalled(base: str, path: str, token: str) -> socket.socket:
    """An event stream whose client never reads: a small receive buffer, soon full."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n".encode())
    return sock


def _answered(sock: socket.socket) -> bool:
    """Whether the server has begun the stream (peeked at: the client still takes nothing)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(12, socket.MSG_PEEK).startswith(b"HTTP/1.1 200")


class Reader(threading.Thread):
    """A client that reads everything as it comes, keeping only the tail."""

    def __init__(self, base: str, path: str, token: str):
        super().__init__(daemon=True)
        self.sock = _open_raw(base, path, token)
        self.sock.setblocking(True)
        self.sock.settimeout(60)
        self.tail, self.received = b"", 0

    def run(self):
        with contextlib.suppress(OSError):
            while data := self.sock.recv(1 << 20):
                self.received += len(data)
                self.tail = (self.tail + data)[-65536:]

    def saw(self, needle: bytes) -> bool:
        return needle in self.tail


def test_clients_that_stop_reading_cost_bounded_memory_and_are_dropped(install, side):
    """A member opens streams and never reads them while a job writes a lot of log: the server
    holds at most a round per stream (its memory stays flat), drops them once a send has waited
    TAIJI_LIVE_SEND_TIMEOUT_SECONDS (SEND_TIMEOUT on ``side``), and meanwhile a reading client gets every
    line and the API answers."""
    megabytes = 8
    _pipeline_id, job_id = install.job("alpha", "app")
    path = f"/t/alpha/jobs/{job_id}/live"
    token = install.member("alpha")  # may hold STALLED + 1 streams on ``side``
    [(base, proc), *_] = side

    def refused() -> bool:
        stream = Stream(base + path, token)
        stream.close()
        return stream.status == 429

    [worker] = psutil.Process(proc.pid).children()
    stalled = [_stalled(base, path, token) for _ in range(STALLED)]
    reader = Reader(base, path, token)
    reader.start()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    try:
        wait_for(lambda: reader.saw(b"event: state"), 30, "the reader's first event")
        wait_for(lambda: all(_answered(sock) for sock in stalled), 30, "the streams to be held")
        before = worker.memory_info().rss
        peak = [before]
        sampling = threading.Event()

        def sample():
            while not sampling.wait(0.05):
                with contextlib.suppress(psutil.Error):
                    peak[0] = max(peak[0], worker.memory_info().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            line = "x" * 99 + "\n"
            for n in range(megabytes):
                install.write("alpha", job_id, f"block {n:04d}\n" + line * (2**20 // len(line)))
                # Every place is taken (the stalled ones hold theirs while they can) ...
                assert refused()
                # ... and the API answers beside them.
                assert api.get(f"{base}/api/v1/tenants/alpha/members", timeout=10).status_code == 200
            install.write("alpha", job_id, "the last line\n")
            written = time.monotonic()
            wait_for(lambda: reader.saw(b"the last line"), 60, "the reader to get every line")
            assert reader.received > megabytes * 2**20

            # The stalled streams are dropped (they stalled on the first block: SEND_TIMEOUT after it), and
            # their places come back; dropping them does not stall the server (gunicorn used to
            # linger 2 s on each such connection on its main thread, accepting nothing meanwhile).
            wait_for(lambda: not refused(), 30, "the stalled streams to be dropped")
            waited = time.monotonic() - written
            # Fixed: a few seconds at most. Before: 12 x 2 s of gunicorn lingering after the drops began.
            assert waited < 15, f"the places of {STALLED} stalled streams came back only after {waited:.0f} s"
            assert api.get(f"{base}/api/v1/tenants/alpha/members", timeout=10).status_code == 200
        finally:
            sampling.set()
            sampler.join()
    finally:
        for sock in stalled:
            sock.close()
        reader.sock.close()
        api.close()
    grown = (peak[0] - before) / 2**20
    # Each stalled stream holds at most one round (a 64 KiB page): a server that queued what
    # the stalled clients did not take would hold 12 x 8 MiB (it grows by about 12 MiB).
    assert grown < 40, f"the worker grew by {grown:.0f} MiB while {STALLED} clients stalled"


def test_streams_end_when_the_server_stops(install):
    # Last in the module: stops the server.
    _pipeline_id, job_id = install.job("alpha", "app")
    stream = Stream(f"{install.base}/t/alpha/jobs/{job_id}/live", install.tokens["alpha"])
    stream.next("state")
    os.killpg(install.proc.pid, signal.SIGTERM)
    with pytest.raises((EOFError, requests.exceptions.ChunkedEncodingError)):
        while True:
            stream.next()
    stream.close()  # a stopping server waits (up to 2 s) for its idle connections to close
    assert install.proc.wait(timeout=30) == 0, install.tail()
