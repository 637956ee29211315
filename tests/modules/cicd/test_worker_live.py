"""End to end with real `taiji worker` and `taiji runner` processes and the real broker
(TAIJI_TEST_BROKER_URL, else the embedded filesystem one): a push event starts a pipeline that a
runner runs; a runner killed mid-job loses the job to another, which finishes it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest

from taiji.platform.tasks import init_celery
from tests import consumer_venv
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.modules.cicd.conftest import CI, FAST, make_hosted
from tests.modules.cicd.live import Worker, live_env

__all__ = ["Worker"]  # the mirror's live test starts its workers with this class too

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def live(app, tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app
    from taiji.platform.db import db
    from tests.factories import make_tenant, make_user

    tmp = tmp_path_factory.mktemp("cicd-worker")
    data_dir = tmp / "data"
    database_url = sibling_database("cicdw", tmp, migrated=True)
    broker_url = os.environ.get("TAIJI_TEST_BROKER_URL") or "filesystem://"
    live_app = create_app(app_overrides(database_url, data_dir, BROKER_URL=broker_url, **FAST))
    with live_app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        if not broker_url.startswith("filesystem"):
            live_app.extensions["celery"].control.purge()
        owner = make_user(email=f"live-{uuid.uuid4().hex[:6]}@example.com")
        tenant = make_tenant(owner=owner)
        ci = CI(live_app, tenant.slug, owner.email)
        db.session.commit()
        db.session.remove()
    env = live_env(database_url, broker_url, data_dir)
    workers: list[Worker] = []

    def worker(name: str, roles=("worker", "runner")) -> Worker:
        started = Worker(env, tmp / f"{name}.log", roles=roles).start()
        workers.append(started)
        return started

    ci.worker = worker
    ci.workers = workers
    try:
        yield ci
    finally:
        for started in workers:
            started.kill()
        with live_app.app_context():
            db.engine.dispose()
        init_celery(app)


@pytest.fixture(autouse=True)
def _workers_stop_with_their_test(live):
    """A test's workers stop when it ends, passed or failed: a worker left running would take the
    next test's job, which then ran somewhere that test does not expect (and cannot kill)."""
    started = len(live.workers)
    yield
    for worker in live.workers[started:]:
        worker.kill()  # SIGKILL: a warm shutdown (SIGTERM) took 2.5 s of an idle pair


def _push(ci: CI, repository: str, files: dict) -> str:
    from taiji.platform import events
    from taiji.platform.db import db

    with ci.ctx():
        sha = make_hosted(ci.tenant(), repository, files)
        events.publish(
            "vcs.push",
            {
                "tenant": ci.tenant_slug,
                "repository": repository,
                "ref": "refs/heads/main",
                "before": "0" * 40,
                "after": sha,
                "pusher": None,
                "commits": [],
            },
        )
        db.session.commit()
        db.session.remove()
    return sha


def _wait(ci: CI, what, predicate, timeout=60, worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{worker.tail() if worker else ''}")


def _pipelines(ci: CI, repository: str) -> list[dict]:
    from taiji.modules.cicd import services

    def page(tenant):
        return [p.id for p in services.list_pipelines(tenant, repository=repository).items]

    return [ci.pipeline(pid) for pid in ci.call(page)]


def test_a_push_event_runs_the_pipeline_on_a_worker_once(live):
    worker = live.worker("w1")
    repository = f"svc{uuid.uuid4().hex[:6]}"
    sha = _push(
        live,
        repository,
        {
            ".taiji.yml": "on: {push: {branches: [main]}}\njobs:\n  test:\n"
            '    script: [echo "testing $TAIJI_COMMIT_SHA"]\n'
        },
    )
    [pipeline] = _wait(live, "a pipeline", lambda: _pipelines(live, repository), worker=worker)
    done = _wait(
        live,
        "the pipeline to finish",
        lambda: (p := live.pipeline(pipeline["id"]))["status"] in ("success", "failed", "error") and p,
        worker=worker,
    )
    assert done["status"] == "success", live.log(done["jobs"]["test"]["id"])
    assert f"testing {sha}" in live.log(done["jobs"]["test"]["id"])
    # The same push delivered again makes no second pipeline.
    from taiji.platform import events
    from taiji.platform.db import db

    with live.ctx():
        again = events.publish(
            "vcs.push",
            {
                "tenant": live.tenant_slug,
                "repository": repository,
                "ref": "refs/heads/main",
                "before": "0" * 40,
                "after": sha,
                "pusher": None,
                "commits": [],
            },
        )
        db.session.commit()
        again_id = again.id
        db.session.remove()

    def handled() -> bool:
        # The delivery record commits with what the handler did: once it is there, a second
        # pipeline would be too.
        import sqlalchemy as sa

        with live.ctx():
            try:
                return db.session.execute(
                    sa.select(events.EventDelivery.id).where(
                        events.EventDelivery.event_id == again_id,
                        events.EventDelivery.handler == "taiji.modules.cicd.events.on_vcs_push",
                    )
                ).first() is not None
            finally:
                db.session.remove()

    _wait(live, "the same push's second delivery", handled, worker=worker)
    assert len(_pipelines(live, repository)) == 1


def test_a_job_whose_worker_dies_is_runner_lost_and_retried_on_another(live):
    from taiji.platform.db import db

    first = live.worker("doomed")
    repository = f"lost{uuid.uuid4().hex[:6]}"
    with live.ctx():
        make_hosted(
            live.tenant(),
            repository,
            {
                ".taiji.yml": """
jobs:
  build:
    script:
      - 'if [ "$TAIJI_JOB_ATTEMPT" = 1 ]; then echo first attempt; sleep 25; fi'
      - echo finished on attempt $TAIJI_JOB_ATTEMPT
"""
            },
        )
        db.session.commit()
        db.session.remove()
    pipeline_id = live.run(repository)
    _wait(
        live,
        "its first line in the log",
        lambda: "first attempt" in live.log(live.pipeline(pipeline_id)["jobs"]["build"]["id"]),
        worker=first,
    )
    first.kill()  # the worker dies mid-job, without a word
    # The rescuer boots while the lost job's lease runs out: it cannot take the job before the
    # reaper hands it back (a runner is what runs jobs; the retry is queued to it directly).
    second = live.worker("rescuer", roles=("runner",))

    _wait(live, "the reaper to notice the silent job", live.reap, timeout=30)
    done = _wait(
        live,
        "the retry to finish",
        lambda: (p := live.pipeline(pipeline_id))["status"] in ("success", "failed") and p,
        worker=second,
    )
    job = done["jobs"]["build"]
    text = live.log(job["id"])
    assert (done["status"], job["status"], job["attempt"]) == ("success", "success", 2), text
    assert "first attempt" in text and "runner lost" in text and "finished on attempt 2" in text


def test_a_dead_workers_job_processes_die_with_it_and_its_folder_goes_at_the_next_start(live):
    """The worker dies mid-job: every process of the job (daemons included) is gone at once, before
    any retry; the next worker started on the host removes the lost attempt's folder; the retry
    runs alone."""
    from taiji.platform.db import db
    from tests.modules.cicd.test_runner import processes_with

    marker = f"{4000 + random.random():.7f}"
    doomed = live.worker("doomed-again")
    repository = f"dead{uuid.uuid4().hex[:6]}"
    with live.ctx():
        make_hosted(
            live.tenant(),
            repository,
            {
                ".taiji.yml": f"""
jobs:
  deploy:
    script:
      - |
        if [ "$TAIJI_JOB_ATTEMPT" = 1 ]; then
          setsid sleep {marker} </dev/null >/dev/null 2>&1 &
          nohup setsid -f sleep {marker} </dev/null >/dev/null 2>&1
          echo daemons up; sleep 60
        fi
      - echo attempt $TAIJI_JOB_ATTEMPT ran alone
"""
            },
        )
        db.session.commit()
        db.session.remove()
    pipeline_id = live.run(repository)
    job_id = live.pipeline(pipeline_id)["jobs"]["deploy"]["id"]
    _wait(live, "the daemons of the first attempt", lambda: "daemons up\n" in live.log(job_id))
    assert len(processes_with(marker)) >= 3  # the two daemons and the line's own sleep... and the line
    folder = Path(live.app.config["DATA_DIR"]) / "cicd" / "workspaces" / f"{job_id}-1"
    assert folder.is_dir()
    # The earlier tests stopped their workers, so the job is this test's runner's (a `taiji runner`:
    # jobs run there, not in `taiji worker`); it dies without a word.
    with live.ctx():
        from taiji.modules.cicd import services

        pid = int(services.get_job(live.tenant(), job_id).worker.rpartition(":")[2])
        db.session.remove()
    assert pid == doomed.procs["runner"].pid, psutil.Process(pid).cmdline()
    os.killpg(pid, signal.SIGKILL)
    _wait(live, "every process of the job to be gone", lambda: not processes_with(marker), timeout=10)
    assert folder.exists()  # its worker could not clean up
    # The next runner boots while the lost job's lease runs out (its start removes the folder of
    # an attempt whose worker is dead, reaped or not); the platform's worker lives on.
    rescuer = live.worker("rescuer-again", roles=("runner",))

    _wait(live, "the reaper to notice the silent job", live.reap, timeout=30)
    _wait(live, "the lost attempt's folder to be removed", lambda: not folder.exists(), worker=rescuer)
    done = _wait(
        live,
        "the retry to finish",
        lambda: (p := live.pipeline(pipeline_id))["status"] in ("success", "failed") and p,
        worker=rescuer,
    )
    text = live.log(job_id)
    assert (done["status"], done["jobs"]["deploy"]["attempt"]) == ("success", 2), text
    assert "attempt 2 ran alone" in text
    assert not processes_with(marker)
    rescuer.kill()


def _serve(app):
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def _git(*args, cwd):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True,
                          timeout=120)


def test_git_push_builds_a_wheel_that_pip_installs_from_the_index(live, tmp_path):
    """The issue's end to end: a real `git push` over HTTP → pipeline runs the project's tests →
    the wheel goes to the tenant's package index → `pip install` from that index in a fresh venv."""
    from taiji.modules.bpr import services as bpr
    from taiji.modules.iam import services as iam
    from taiji.modules.vcs import services as vcs
    from taiji.platform.db import db

    with live.ctx():
        _, token = iam.create_token(iam.get_user_by_email(live.owner_email), "e2e")
        bpr.create_repository(live.tenant(), {"name": "pypi-internal", "kind": "pypi"})
        vcs.create_repository(live.tenant(), {"name": "greeter"})
        db.session.commit()
        db.session.remove()
    server, base = _serve(live.app)
    worker = live.worker("e2e")
    try:
        work = tmp_path / "greeter"
        work.mkdir()
        (work / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
            '[project]\nname = "greeter-e2e"\nversion = "1.0.0"\n'
        )
        (work / "greeter_e2e").mkdir()
        (work / "greeter_e2e" / "__init__.py").write_text("def greet(name):\n    return f'hello {name}'\n")
        (work / "test_greeter.py").write_text(
            "import unittest\n\nfrom greeter_e2e import greet\n\n\nclass Greet(unittest.TestCase):\n"
            "    def test_greet(self):\n        self.assertEqual(greet('ci'), 'hello ci')\n"
        )
        (work / ".taiji.yml").write_text("""
on: {push: {branches: [main]}}
jobs:
  test:
    # The job's Python sees only the system's packages (no pytest here, and no network): unittest.
    script: [python -m unittest -v]
  package:
    needs: [test]
    script: [python -m pip wheel --no-deps --no-build-isolation -q -w dist .]
    artifacts:
      paths: [dist/*.whl]
      publish: {repository: pypi-internal}
""")
        _git("init", "-q", "-b", "main", cwd=work)
        _git("add", "-A", cwd=work)
        _git("commit", "-qm", "greeter", cwd=work)
        remote = f"{base.replace('http://', f'http://x:{token}@')}/git/{live.tenant_slug}/greeter.git"
        _git("push", "-q", remote, "main", cwd=work)
        [pipeline] = _wait(live, "the pushed pipeline", lambda: _pipelines(live, "greeter"), worker=worker)
        done = _wait(
            live,
            "the pipeline to finish",
            lambda: (p := live.pipeline(pipeline["id"]))["status"] in ("success", "failed", "error") and p,
            timeout=180,
            worker=worker,
        )
        logs = "".join(live.log(j["id"]) for j in done["jobs"].values())
        assert done["status"] == "success", logs
        assert "Ran 1 test" in live.log(done["jobs"]["test"]["id"])
        venv = consumer_venv.make(tmp_path / "consumer")
        index = (
            f"{base.replace('http://', f'http://x:{token}@')}/pypi/{live.tenant_slug}/pypi-internal/simple/"
        )
        subprocess.run(
            [
                *consumer_venv.pip(venv),
                "install",
                "-q",
                "--disable-pip-version-check",
                "--index-url",
                index,
                "greeter-e2e",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        greeting = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import greeter_e2e; print(greeter_e2e.greet('pip'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert greeting.strip() == "hello pip"
    finally:
        worker.kill()
        server.shutdown()
