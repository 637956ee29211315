"""The `taiji` command, run as a person runs it: in a shell, against a real database."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from taiji.cli import main
from taiji.platform.db import db
from taiji.platform.tasks import init_celery
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.fakes.event_probe import records, wait_for

TOKEN = re.compile(r"^tj_pat_[A-Za-z0-9_-]{40,}$")
COMMANDS = [
    ["up"], ["web"], ["worker"], ["runner"], ["scheduler"], ["db"], ["db", "upgrade"], ["users"],
    ["users", "create"],
    ["tokens"], ["tokens", "create"], ["tenants"], ["tenants", "create"], ["settings"],
    ["clients"], ["clients", "create"], ["keys"], ["keys", "rotate"], ["keys", "rotate-config"],
    ["config"], ["config", "get"], ["config", "set"], ["config", "publish"], ["config", "render"],
    ["pipelines"], ["pipelines", "list"], ["pipelines", "run"], ["pipelines", "cancel"],
    ["images"], ["images", "bootstrap"], ["images", "list"],
]


def clean_env(**settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(settings)
    return env


def taiji(*args, env: dict, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "taiji.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def taiji_in(application, *args):
    """`taiji ARGS` run by click in this process, against ``application`` (the one the shell's
    `taiji` would build from the same settings: each command takes it from ``get_app()``).

    For what a command does (its exit code, what it prints on stdout and on stderr, what it
    changes in the database), this shows what a shell does, without the ~1.5 s of CPU each new
    Taiji process costs. What only a real process shows (no traceback on stderr, a setting refused
    before anything runs, `taiji up` and its children) is tested with ``taiji`` above. An uncaught
    exception (a traceback, in a shell) fails here too: click hands back only a SystemExit.
    """
    from taiji.platform import commands

    before, commands._app = commands._app, application
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        commands._app = before
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


# -- help -----------------------------------------------------------------------------------------


def test_top_level_help_lists_every_command_with_a_whole_sentence():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = re.findall(r"^  (\w+)\s{2,}(.+)$", result.output.split("Commands:")[1], re.MULTILINE)
    assert [name for name, _ in listed] == [
        # Running (CICD's runner among them: it consumes a queue of its own, Module.queues), then the
        # kernel's administration.
        "up", "web", "worker", "runner", "scheduler", "db", "settings",
        # The enabled modules' own commands (Module.cli_commands), in the order of ENABLED_MODULES.
        "users", "tokens", "clients", "keys", "tenants", "config", "pipelines", "images", "demo"]
    for name, summary in listed:
        assert summary.endswith(".") and not summary.endswith("..."), f"{name}: {summary!r} is cut short"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_explains_itself(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: main {' '.join(command)}")
    description = result.output.split("\n\n")[1].strip()
    assert len(description) > 10 and description.endswith(".")


def test_groups_of_one_name_from_two_modules_become_one(monkeypatch):
    """`taiji keys rotate` (IAM) and `taiji keys rotate-config` (SCM): both stay reachable."""
    import types

    import click

    from taiji.cli import add_module_commands

    def group_with(name: str, help_text: str):
        group = click.Group("keys", help=help_text)
        group.add_command(click.Command(name, callback=lambda: click.echo(name), help=f"Run {name}."))
        return group

    first, second = group_with("rotate", "The first module's keys."), group_with("rotate-config", "Others.")
    for path, group in (("first_mod", first), ("second_mod", second)):
        monkeypatch.setitem(sys.modules, path, types.SimpleNamespace(module=types.SimpleNamespace(
            cli_commands=[group])))
    top = click.Group("taiji")
    add_module_commands(top, ["first_mod", "second_mod"])
    assert sorted(top.commands["keys"].commands) == ["rotate", "rotate-config"]
    assert CliRunner().invoke(top, ["keys", "rotate"]).output == "rotate\n"
    assert CliRunner().invoke(top, ["keys", "rotate-config"]).output == "rotate-config\n"
    assert "The first module's keys." in CliRunner().invoke(top, ["keys", "--help"]).output
    assert sorted(first.commands) == ["rotate"] and sorted(second.commands) == ["rotate-config"]  # unchanged


def test_settings_lists_every_setting_and_hides_passwords(monkeypatch):
    from taiji.platform.app import ENABLED_MODULES
    from taiji.platform.config import all_settings

    monkeypatch.setenv("TAIJI_DATABASE_URL", "postgresql+psycopg://taiji:s3cr3t-pw@db.example.com/taiji")
    monkeypatch.setenv("TAIJI_ADMIN_PASSWORD", "another-s3cret")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0
    for setting in all_settings(ENABLED_MODULES):  # the modules' own settings too
        assert f"{setting.name}=" in result.output
    assert "TAIJI_DATABASE_URL=postgresql+psycopg://taiji:***@db.example.com/taiji" in result.output
    assert "s3cr3t" not in result.output


# -- administration against a real database ---------------------------------------------------------


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    """A fresh database and data folder, migrated by `taiji db upgrade`."""
    tmp = tmp_path_factory.mktemp("cli")
    env = clean_env(TAIJI_DATABASE_URL=sibling_database("cli", tmp), TAIJI_DATA_DIR=str(tmp / "data"),
                    TAIJI_BROKER_URL="memory://")
    done = taiji("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Database is up to date."
    return env


@pytest.fixture(scope="module")
def served(app, install):
    """The API of `install`, served in this process (``served.application`` is the app); one for the
    module's tests: building an application costs ~0.8 s of CPU."""
    from taiji.platform.app import create_app

    other = create_app(app_overrides(install["TAIJI_DATABASE_URL"], Path(install["TAIJI_DATA_DIR"])))
    yield other.test_client()
    with other.app_context():
        db.engine.dispose()
    init_celery(app)  # the Celery app is process-wide: hand it back


@pytest.mark.live
def test_token_is_printed_alone_and_opens_the_api(install, served):
    created = taiji_in(served.application, "users", "create", "ops@example.com", "--admin", "--password",
                       "long-enough-pass")
    assert created.exit_code == 0, created.output
    assert created.stdout.strip() == "Created ops@example.com (platform administrator)."

    issued = taiji_in(served.application, "tokens", "create", "ops@example.com", "--name", "deploy bot")

    assert issued.exit_code == 0, issued.output
    assert issued.stderr == ""
    lines = issued.stdout.splitlines()
    assert len(lines) == 1 and TOKEN.match(lines[0]), issued.stdout
    me = served.get("/api/v1/me", headers={"Authorization": f"Bearer {lines[0]}"})
    assert me.status_code == 200
    assert me.json["email"] == "ops@example.com"


@pytest.mark.live
def test_user_without_password_gets_one_generated_that_signs_in(install, served):
    created = taiji_in(served.application, "users", "create", "dev@example.com")
    assert created.exit_code == 0, created.output
    password = re.search(r"^Password: (\S+)$", created.stdout, re.MULTILINE).group(1)

    signed_in = served.post("/login", data={"email": "dev@example.com", "password": password})
    assert signed_in.status_code == 302


@pytest.mark.live
def test_tenant_created_from_the_shell_is_owned_by_the_given_user(install, served):
    from taiji.modules.iam import services as iam

    with served.application.app_context():
        owner = iam.create_user("owner@example.com", "Owner", "long-enough-pass")
        _, token = iam.create_token(owner, "t")
        db.session.commit()

    created = taiji_in(served.application, "tenants", "create", "shell-made", "--name", "Shell Made",
                       "--owner", "owner@example.com")

    assert created.exit_code == 0, created.output
    assert created.stdout.strip() == "Created tenant shell-made (Shell Made), owner owner@example.com."
    members = served.get("/api/v1/tenants/shell-made/members", headers={"Authorization": f"Bearer {token}"})
    assert members.status_code == 200
    assert [(m["email"], m["role"]) for m in members.json] == [("owner@example.com", "owner")]


@pytest.mark.live
def test_bad_input_is_a_clear_error_without_a_traceback(install):
    done = taiji("tokens", "create", "nobody@example.com", "--name", "x", env=install)  # a real shell
    assert done.returncode == 1
    assert done.stdout == ""
    assert "No user with the email nobody@example.com" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.live
@pytest.mark.parametrize(("args", "message"), [
    (["tokens", "create", "nobody@example.com", "--name", "x"], "No user with the email nobody@example.com"),
    (["users", "create", "not-an-email"], "not a valid email address"),
    (["tenants", "create", "Bad Slug!", "--name", "x", "--owner", "ops@example.com"], "lowercase letters"),
])
def test_bad_input_is_a_clear_error(served, args, message):
    done = taiji_in(served.application, *args)  # no traceback: taiji_in fails on an uncaught exception
    assert done.exit_code == 1
    assert done.stdout == ""
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_worker_refuses_to_run_pipeline_jobs_among_the_platforms_work():
    """Jobs in a worker's threads held up every tenant's events while they ran (issue 13)."""
    result = CliRunner().invoke(main, ["worker", "-Q", "taiji,cicd.builtin"])
    assert result.exit_code == 2
    assert "Pipeline jobs (queue cicd.builtin) run in `taiji runner`, not in a worker" in result.output
    assert "Traceback" not in result.output


def test_up_starts_a_job_runner_only_with_the_module_that_brings_it(monkeypatch):
    """The pools `taiji up` starts beside web, worker and scheduler are the enabled modules' (Module.queues):
    CICD's `taiji runner`, and none in an install without CICD."""
    import taiji.modules
    from taiji import cli

    assert cli._queue_commands() == ["runner"]
    monkeypatch.setattr(taiji.modules, "ENABLED_MODULES",
                        tuple(path for path in taiji.modules.ENABLED_MODULES if not path.endswith(".cicd")))
    assert cli._queue_commands() == []


@pytest.mark.live
def test_unusable_setting_is_named_before_anything_runs(install):
    done = taiji("db", "upgrade", env={**install, "TAIJI_PORT": "eighty"})
    assert done.returncode == 1
    assert "TAIJI_PORT must be a whole number" in done.stderr
    assert "Traceback" not in done.stderr


# -- taiji up -------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(url: str, method: str = "GET", body: dict | None = None, **headers) -> tuple[int | None, str]:
    """(status, text) of one request to the served process; status None when nothing answers."""
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None, ""


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


class Up:
    """`taiji up` in its own session, as a terminal would run it; Ctrl-C is SIGINT to its group."""

    def __init__(self, env: dict, folder: Path, name: str):
        self.out, self.err = folder / f"{name}.out", folder / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "taiji.cli", "up"], env=env, cwd=folder,
                                         stdout=out, stderr=err, start_new_session=True)
        self.children: list[int] = []

    def stdout(self) -> str:
        return self.out.read_text()

    def wait_until(self, condition, what: str, timeout: float = 60):
        def check():
            if self.proc.poll() is not None:
                log = self.err.read_text()[-3000:]
                raise AssertionError(f"taiji up exited with {self.proc.returncode}: {log}")
            return condition()

        return wait_for(check, timeout, what)

    def ctrl_c(self, timeout: float = 30) -> tuple[int, float]:
        self.children = _children(self.proc.pid)
        started = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        for pid in [self.proc.pid, *self.children]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.mark.live
def test_up_serves_delivers_events_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    env = clean_env(TAIJI_DATA_DIR=str(data_dir), TAIJI_PORT=str(port), TAIJI_WEB_WORKERS="1",
                    TAIJI_EXTRA_MODULES="tests.fakes.event_probe")

    first = Up(env, tmp_path, "first")
    try:
        first.wait_until(lambda: _http(f"{base}/healthz")[0] == 200, "/healthz to answer")
        assert _http(f"{base}/readyz")[0] == 200
        banner = first.stdout()
        assert banner.count("password:") == 1
        assert "admin@example.com" in banner

        token = taiji("tokens", "create", "admin@example.com", "--name", "up-test", env=env).stdout.strip()
        status, _ = _http(f"{base}/api/v1/tenants", "POST", {"slug": "via-up", "name": "Via up"},
                          Authorization=f"Bearer {token}", **{"X-Request-ID": "up-creates-tenant"})
        assert status == 201

        # The worker that `up` started got the event through the embedded broker.
        [effect] = first.wait_until(
            lambda: [r for r in records(data_dir, "effect", "record") if r["name"] == "tm.tenant.created"],
            "the tm.tenant.created handler to run", timeout=30)
        assert effect["payload"]["tenant"] == "via-up"

        def delivered_count():
            text = _http(f"{base}/metrics")[1]
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if (sample.name == "taiji_tasks_finished_total"
                            and sample.labels == {"task": "platform.deliver_event", "outcome": "success"}):
                        return sample.value
            return 0

        # /metrics of the web server sums the worker's counts too.
        first.wait_until(delivered_count, "the worker's task count in /metrics", timeout=15)
        logged = [json.loads(line) for line in first.err.read_text().splitlines() if line.startswith("{")]
        assert any(entry.get("request_id") == "up-creates-tenant" and entry.get("status") == 201
                   for entry in logged)

        code, took = first.ctrl_c()
        assert code == 0, first.err.read_text()[-3000:]
        assert took < 30
        assert "Taiji stopped." in first.stdout()
        assert len(first.children) == 4  # web, worker, runner, scheduler
        assert all(_gone(pid) for pid in first.children)
        assert _http(f"{base}/healthz")[0] is None
    finally:
        first.kill()

    second = Up(env, tmp_path, "second")
    try:
        second.wait_until(lambda: "Taiji is at" in second.stdout(), "the second start")
        assert "password" not in second.stdout()
        # Ctrl-C while the four are still starting stops them all the same.
        code, took = second.ctrl_c()
        assert code == 0
        assert took < 30
        assert all(_gone(pid) for pid in second.children)
    finally:
        second.kill()


def test_pipelines_from_the_shell_list_refuse_unknown_things_and_say_why(install, served):
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs

    with served.application.app_context():
        owner = iam.create_user("pipes@example.com", "Pipes", "long-enough-pass")
        tenant = tm.create_tenant("shell-pipes", "Shell Pipes", owner_id=owner.id)
        vcs.create_repository(tenant, {"name": "empty-service"})
        db.session.commit()

    app = served.application
    listed = taiji_in(app, "pipelines", "list", "shell-pipes")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.strip() == "No pipelines."

    # A real shell: the refusal is one line on stderr, exit status 1, no traceback.
    unknown_repo = taiji("pipelines", "run", "shell-pipes", "nope", env=install)
    assert unknown_repo.returncode == 1 and "No repository" in unknown_repo.stderr
    assert "Traceback" not in unknown_repo.stderr

    nothing_pushed = taiji_in(app, "pipelines", "run", "shell-pipes", "empty-service", "--ref", "main")
    assert nothing_pushed.exit_code == 1 and "main" in nothing_pushed.stderr, nothing_pushed.output

    bad_variable = taiji_in(app, "pipelines", "run", "shell-pipes", "empty-service", "--var", "novalue")
    assert bad_variable.exit_code == 2 and "NAME=VALUE" in bad_variable.stderr

    unknown_tenant = taiji_in(app, "pipelines", "list", "no-such-tenant")
    assert unknown_tenant.exit_code == 1 and "No tenant 'no-such-tenant'." in unknown_tenant.stderr


# -- taiji demo on a fresh install ---------------------------------------------------------------------


@pytest.fixture
def fresh(app, tmp_path):
    """A fresh database and data folder, and a way to serve them in this process. The database is a
    copy of the session's migrated schema: what `taiji db upgrade` makes of an empty database (the
    ``install`` fixture runs that command itself), without running every migration again."""
    env = clean_env(TAIJI_DATABASE_URL=sibling_database("clidemo", tmp_path, migrated=True),
                    TAIJI_DATA_DIR=str(tmp_path / "data"), TAIJI_BROKER_URL="memory://")
    servers = []

    def serve():
        import threading

        from werkzeug.serving import make_server

        from taiji.platform.app import create_app

        overrides = app_overrides(env["TAIJI_DATABASE_URL"], Path(env["TAIJI_DATA_DIR"]), TESTING=False)
        served = create_app(overrides)
        server = make_server("127.0.0.1", 0, served, threaded=True)
        url = f"http://127.0.0.1:{server.server_port}"
        served.config["BASE_URL"] = url
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, served))
        return url, served

    yield env, serve
    for server, served in servers:
        server.shutdown()
        with served.app_context():
            db.session.remove()
            db.engine.dispose()
    init_celery(app)  # the Celery app is process-wide: hand it back


@pytest.mark.live
def test_demo_shows_the_owners_password_first_and_a_second_run_finishes_what_the_first_could_not(fresh):
    _env, serve = fresh
    url, served = serve()
    # Every run in this process, against the fresh install (`taiji demo` as a real process is run in
    # tests/modules/cicd/test_demo.py): each builds no Taiji of its own. The first run cannot reach a
    # server (as when `taiji up` is not running yet): it stops half-way.
    nowhere = f"http://127.0.0.1:{_free_port()}"
    first = taiji_in(served, "demo", "--base-url", nowhere, "--wait", "0")  # no traceback: see taiji_in
    assert first.exit_code == 1, first.output
    assert "Traceback" not in first.stderr
    out = first.stdout
    password = re.search(r"^  password: (\S+)$", out, re.MULTILINE).group(1)
    assert out.index("password:") < out.index("hello-service: not pushed")
    assert out.startswith("Sign in as the demo tenant's owner")
    assert "the tenant demo: created" in out
    left = out.split("Left to do:")[1]
    assert "pushing hello-service: git clone failed" in left and "pushing wordcount-service" in left
    assert "Run `taiji demo` again to finish" in out

    second = taiji_in(served, "demo", "--base-url", url, "--wait", "0")
    assert second.exit_code == 0, second.output
    assert "password:" not in second.stdout and "Left to do" not in second.stdout
    assert "hello-service: pushed" in second.stdout and "wordcount-service: pushed" in second.stdout
    assert ("Reused what was already there: the owner demo@taiji.example, the tenant demo, the package index "
            "pypi-internal, the repository hello-service, the repository wordcount-service.") in second.stdout
    # The password printed first is the owner's.
    login = {"email": "demo@taiji.example", "password": password}
    signed_in = served.test_client().post("/login", data=login)
    assert signed_in.status_code == 302 and "/login" not in signed_in.headers["Location"]

    third = taiji_in(served, "demo", "--base-url", url, "--wait", "0")
    assert third.exit_code == 0, third.output
    assert "hello-service: already up to date at" in third.stdout
    assert "the code of hello-service (unchanged)" in third.stdout


class _LockReleasedAtFirstPause:
    """Stands in for the demo's ``time``: the first pause the demo takes (after its first write was
    refused) ends the other writer's transaction. The lock is held exactly until the demo has been
    refused once, however slow the machine, instead of for a fixed time that a loaded machine
    could outlast or undercut."""

    def __init__(self, release):
        self._release = release
        self.pauses = 0

    def sleep(self, seconds: float) -> None:
        if self._release is not None:
            self._release()
            self._release = None
        self.pauses += 1
        time.sleep(seconds)

    monotonic = staticmethod(time.monotonic)


@pytest.mark.live
def test_demo_waits_out_a_busy_database_and_a_lost_password_can_be_replaced(fresh, monkeypatch):
    import sqlite3

    from taiji.modules.cicd import demo

    env, serve = fresh
    url, served = serve()
    database = env["TAIJI_DATABASE_URL"]
    lines: list[str] = []
    clock = None
    if database.startswith("sqlite:///"):
        # Another process holds the database (the server or worker writing) longer than SQLite's
        # busy timeout: the demo's first write fails once and is tried again.
        holder = sqlite3.connect(database[len("sqlite:///"):], isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        clock = _LockReleasedAtFirstPause(lambda: holder.execute("ROLLBACK"))
        monkeypatch.setattr(demo, "time", clock)
    with served.app_context():
        result = demo.run(url, wait=0, echo=lines.append)
        db.session.remove()
    assert result.finished, result.left
    if clock is not None:
        holder.close()
        assert clock.pauses >= 1  # it was refused while the lock was held, and tried again
    assert lines[0].startswith("Sign in as the demo tenant's owner") and lines[2].startswith("  password: ")
    again = taiji_in(served, "demo", "--base-url", url, "--wait", "0", "--new-password")
    assert again.exit_code == 0, again.output
    new = re.search(r"^  password: (\S+)$", again.stdout, re.MULTILINE).group(1)
    assert new != result.password
    client = served.test_client()
    assert client.post("/login", data={"email": "demo@taiji.example", "password": new}).status_code == 302
