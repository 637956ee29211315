"""`taiji demo` end to end: a served Taiji, a real `taiji worker` and `taiji runner`, the real git
client pushing the
example product, its pipelines running the examples' own tests, and pip installing the
published wheels from the package index into a fresh virtualenv.

The ``stack`` fixture (server, worker and runner on a committed sibling database) is reused by the
browser test in tests/e2e/test_pipelines.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from taiji.platform.db import db
from taiji.platform.tasks import init_celery
from tests import consumer_venv
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.platform.test_event_relay_live import WorkerProcess

pytestmark = pytest.mark.live


@dataclass
class Stack:
    url: str
    app: object
    worker: WorkerProcess
    tmp: Path
    runner: WorkerProcess | None = None

    def wait_for(self, check, timeout: float, what: str, interval: float = 0.3):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.worker.assert_alive()
            if self.runner is not None:
                self.runner.assert_alive()
            with self.app.app_context():
                value = check()
                db.session.remove()
            if value:
                return value
            time.sleep(interval)
        runner = self.runner.log_tail() if self.runner is not None else ""
        raise AssertionError(f"timed out waiting for {what}\n--- worker log ---\n{self.worker.log_tail()}"
                             f"\n--- runner log ---\n{runner}")


@pytest.fixture(scope="module")
def stack(app, tmp_path_factory):
    """Taiji served on a free port, a `taiji worker` and a `taiji runner`, sharing a committed database
    and a broker
    (``TAIJI_TEST_BROKER_URL`` when set, else the embedded filesystem broker)."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from taiji.platform.app import create_app

    tmp = tmp_path_factory.mktemp("cicdweb")
    data_dir = tmp / "data"
    database_url = sibling_database("cicdweb", tmp, migrated=True)
    broker_url = os.environ.get("TAIJI_TEST_BROKER_URL") or "filesystem://"
    served = create_app(app_overrides(database_url, data_dir, BROKER_URL=broker_url, TESTING=False,
                                      WTF_CSRF_ENABLED=True, LOGIN_RATE_LIMIT="1000 per minute"))
    with served.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
        if not broker_url.startswith("filesystem"):
            served.extensions["celery"].control.purge()  # leftovers of an earlier run on a shared server
    server = make_server("127.0.0.1", 0, served, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    served.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="cicdweb-server", daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update({
        "TAIJI_DATABASE_URL": database_url,
        "TAIJI_BROKER_URL": broker_url,
        "TAIJI_DATA_DIR": str(data_dir),
        "TAIJI_SECRET_KEY": "test-secret-key",
        "TAIJI_BASE_URL": url,
        "PYTHONPATH": str(ROOT),
        # Jobs find the python of this virtualenv first, as under `make run`.
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    })
    worker = WorkerProcess(env, tmp / "worker.log")
    worker.start()
    runner = WorkerProcess(env, tmp / "runner.log", command="runner")
    runner.start()
    try:
        yield Stack(url=url, app=served, worker=worker, tmp=tmp, runner=runner)
    finally:
        # Both at once: each takes seconds to finish its warm shutdown, and neither waits for the other.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for stopping in [pool.submit(runner.stop), pool.submit(worker.stop)]:
                stopping.result()
        server.shutdown()
        thread.join(timeout=10)
        with served.app_context():
            db.session.remove()
            db.engine.dispose()
        init_celery(app)  # the Celery app is process-wide: give it back to the session's app


def job_logs(stack, result) -> str:
    """Every job's state and log, for a failure message."""
    from taiji.modules.cicd import services
    from taiji.platform import tenancy

    out = []
    with stack.app.app_context():
        tenant = tenancy.tenant_by_slug("demo")
        for service in result.services:
            if service.pipeline_id is None:
                continue
            pipeline = services.get_pipeline(tenant, service.pipeline_id)
            out.append(f"== {pipeline.repository} #{pipeline.number}: {pipeline.status} "
                       f"{pipeline.error or ''}")
            for job in pipeline.jobs:
                text, _next, _done = services.read_log(job, 0, 64 * 1024)
                out.append(f"-- {job.name}: {job.status} {job.failure_reason or ''}\n{text[-3000:]}")
        db.session.remove()
    return "\n".join(out)


def _pip_env(home: Path) -> dict:
    """pip with no configuration of this machine (mirrors, find-links, constraints): only the
    index we name is used."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TAIJI_"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return env


def test_demo_pushes_the_examples_runs_their_pipelines_and_publishes_installable_wheels(stack, tmp_path):
    from taiji.modules.cicd import demo

    lines: list[str] = []
    with stack.app.app_context():
        first = demo.run(stack.url, wait=240, start_timeout=60, echo=lines.append)
    names = [s.name for s in first.services]
    assert names == ["hello-service", "wordcount-service"]
    assert first.password  # the owner's login, shown the first time only
    assert all(s.pushed for s in first.services)
    statuses = {s.name: s.pipeline_status for s in first.services}
    assert statuses == {"hello-service": "success", "wordcount-service": "success"}, job_logs(stack, first)

    report: list[str] = []
    demo.report(first, echo=report.append)
    text = "\n".join(report)
    assert f"{stack.url}/t/demo/pipelines/{first.services[0].pipeline_id}" in text
    assert f"pip install --index-url {stack.url}/pypi/demo/pypi-internal/simple/ hello-service" in text

    # The test job ran the example's real tests and reported them.
    from taiji.modules.cicd import services
    from taiji.platform import tenancy

    with stack.app.app_context():
        tenant = tenancy.tenant_by_slug("demo")
        pipeline = services.get_pipeline(tenant, first.services[0].pipeline_id)
        test_job = next(j for j in pipeline.jobs if j.name == "test")
        log, _next, _done = services.read_log(test_job, 0, 256 * 1024)
        assert test_job.junit and test_job.junit["tests"] == 5
        db.session.remove()
    assert "5 passed" in log

    venv = consumer_venv.make(tmp_path / "venv")
    install = subprocess.run(
        [*consumer_venv.pip(venv), "install", "--no-cache-dir", "--index-url",
         f"{stack.url}/pypi/demo/pypi-internal/simple/", "hello-service", "wordcount-service"],
        env=_pip_env(tmp_path), capture_output=True, text=True, timeout=180, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    greeting = subprocess.run([str(venv / "bin" / "python"), "-c",
                               "from hello_service.greeting import greet; print(greet('Taiji'))"],
                              capture_output=True, text=True, check=True)
    assert greeting.stdout.strip() == "Hello, Taiji!"

    # Again, as a person would: `taiji demo`. Nothing changed, so nothing is pushed, no pipeline
    # starts and no password is shown.
    again = subprocess.run([sys.executable, "-m", "taiji.cli", "demo", "--wait", "0"], cwd=ROOT,
                           env=stack.worker.env, capture_output=True, text=True, timeout=180, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "hello-service: already up to date at" in again.stdout
    assert "password:" not in again.stdout
    for service in first.services:
        assert f"{stack.url}/t/demo/pipelines/{service.pipeline_id}" in again.stdout
    with stack.app.app_context():
        assert services.list_pipelines(tenancy.tenant_by_slug("demo")).total == 2
        db.session.remove()
