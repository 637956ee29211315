"""Sign-ins and API writes while pipeline jobs stream their logs, with real processes: `taiji web`
(gunicorn, two worker processes) serving a committed database, and two processes writing job logs
as runners do. On SQLite a request whose unit of work read, then wrote after another process had
committed, answered 500 ("database is locked"): about half of all sign-ins while two jobs ran.
Nothing may answer 5xx now, and every sign-in and every create must go through."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import ROOT, app_overrides
from tests.factories import PASSWORD
from tests.modules.cicd.live import live_env

pytestmark = pytest.mark.live

SIGN_INS = 24  # each is five requests: /login, the authorization, the form, the code's return, the page
CREATES = 72  # products and personal access tokens, through the REST API with a bearer token
LOG_STREAMS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed(database_url: str, data_dir: Path) -> tuple[str, str, str, list[int]]:
    """A committed install: a user with a password, a bearer token, a tenant, two running jobs."""
    from flask_migrate import upgrade

    from taiji.modules.cicd import services as cicd
    from taiji.modules.cicd.models import JobStatus
    from taiji.platform.app import create_app
    from taiji.platform.db import db
    from tests.factories import make_tenant, make_token, make_user

    app = create_app(app_overrides(database_url, data_dir))
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        user = make_user(email=f"busy-{uuid.uuid4().hex[:6]}@example.com")
        tenant = make_tenant(owner=user)
        token = make_token(user)
        jobs = []
        for number in range(LOG_STREAMS):
            pipeline = cicd.create_pipeline(tenant, "shop", ref="refs/heads/main", sha=f"{number:02d}" * 20,
                                            text="jobs:\n  build:\n    script: [make]\n")
            for job in pipeline.jobs:
                job.status = JobStatus.RUNNING
                jobs.append(job.id)
        db.session.commit()
        email, slug = user.email, tenant.slug
        db.session.remove()
        db.engine.dispose()
    return email, token, slug, jobs


def _sign_in(base: str, email: str) -> list[tuple[int, str]]:
    """A browser signing in through the form; every answer it got, as (status, path)."""
    browser = requests.Session()
    page = browser.get(base + "/login", timeout=30)
    answers = [(r.status_code, urlsplit(r.url).path) for r in (*page.history, page)]
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    if page.status_code != 200 or csrf is None:
        return answers
    done = browser.post(page.url, data={"email": email, "password": PASSWORD, "csrf_token": csrf.group(1)},
                        timeout=30)
    answers += [(r.status_code, urlsplit(r.url).path) for r in (*done.history, done)]
    if "/login" in urlsplit(done.url).path or done.status_code != 200:
        # Not signed in: fails the test below, with the page's reason.
        reason = re.search(r"Sign-in did not complete \(([^)]*)\)", done.text)
        answers.append((0, f"signed out at the end: {reason.group(1) if reason else done.text[:300]}"))
    return answers


def _create(base: str, token: str, slug: str, number: int) -> list[tuple[int, str]]:
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    if number % 2:
        response = api.post(f"{base}/api/v1/me/tokens", json={"name": f"ci-{number}"}, timeout=30)
    else:
        response = api.post(f"{base}/api/v1/tenants/{slug}/products",
                            json={"slug": f"svc-{number}", "name": f"Service {number}"}, timeout=30)
    return [(response.status_code, f"{urlsplit(response.url).path} {response.text[:200]}")]


def test_sign_ins_and_api_writes_never_fail_while_jobs_stream_logs(app, tmp_path):
    from taiji.platform.tasks import init_celery

    data_dir = tmp_path / "data"
    # Always SQLite, whatever the suite's database: the embedded default is what this is about.
    database_url = f"sqlite:///{tmp_path / 'busy.db'}"
    try:
        email, token, slug, jobs = _seed(database_url, data_dir)
    finally:
        init_celery(app)  # the Celery app is process-wide: the seeding app took it; hand it back
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = live_env(database_url, "memory://", data_dir, TAIJI_PORT=str(port), TAIJI_BASE_URL=base,
                   TAIJI_OAUTH_INSECURE_TRANSPORT="true", TAIJI_LOGIN_RATE_LIMIT="100000 per minute",
                   TAIJI_WEB_WORKERS="2")
    log = (tmp_path / "web.log").open("ab")
    web = subprocess.Popen([sys.executable, "-m", "taiji.cli", "web", "--no-bootstrap"], cwd=ROOT, env=env,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stop = tmp_path / "stop"
    streamer = [sys.executable, "-m", "tests.fakes.log_streamer", database_url, str(data_dir)]
    streams = [subprocess.Popen([*streamer, str(job_id), str(stop)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for job_id in jobs]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still loading the app
                pass
            assert time.monotonic() < deadline and web.poll() is None, \
                (tmp_path / "web.log").read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        chunks_before = _chunks(database_url)
        with ThreadPoolExecutor(max_workers=6) as pool:
            work = [pool.submit(_sign_in, base, email) for _ in range(SIGN_INS)]
            work += [pool.submit(_create, base, token, slug, number) for number in range(CREATES)]
            answers = [answer for future in work for answer in future.result()]
        chunks_during = _chunks(database_url) - chunks_before
    finally:
        stop.touch()
        outputs = [stream.communicate(timeout=60)[0] for stream in streams]
        web.terminate()
        web.wait(timeout=30)
        log.close()

    assert all(stream.returncode == 0 for stream in streams), "\n".join(out[-1500:] for out in outputs)
    # The jobs really wrote all along: a few commits a second each, not a quiet database.
    assert chunks_during >= 20, chunks_during
    failed = [answer for answer in answers if answer[0] >= 500 or answer[0] == 0]
    assert not failed, f"{len(failed)} of {len(answers)} answers failed: {failed[:10]}"
    refused = [answer for answer in answers if answer[0] >= 400]
    assert not refused, refused[:10]
    assert len(answers) >= SIGN_INS * 5 + CREATES
    assert sum(1 for status, _ in answers if status == 201) == CREATES


def _chunks(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM cicd_log_chunk").scalar_one()
    engine.dispose()
    return count
