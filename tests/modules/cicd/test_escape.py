"""The escape suite: a hostile tenant's pushed `.taiji.yml` tries to get out of its job.

For each runner (escape_rows.py) a real platform runs: a database, the broker, the web server on
loopback, a real `taiji worker` process; a victim tenant has a hosted repository, a package and a
job running at the same moment. The attacker pushes (a real `git push` over HTTP) a file whose jobs
try to read the data folder (secret key, database), the victim's repository, packages, running
workspace and job environment, the worker's environment and descriptors; to connect to the
database, the broker and Taiji's own port on the host (on loopback, through the sandbox's gateway
and on every address of the host); to leave processes running after the job ends or is canceled
(setsid, double fork, nohup). One test per attempt and runner: on an isolating runner every attempt
fails; on `host` each is asserted to SUCCEED, which proves the suite can tell.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from taiji.platform.tasks import init_celery
from tests.conftest import ROOT, _base_url, app_overrides, sibling_database
from tests.modules.cicd.conftest import CI, FAST, make_hosted
from tests.modules.cicd.escape_rows import ROWS, Row
from tests.modules.cicd.test_worker_live import Worker, _git, _serve

pytestmark = pytest.mark.live

ATTACKS = (
    "data_folder_secret_key",
    "data_folder_database",
    "other_tenant_repository",
    "other_tenant_packages",
    "other_job_workspace",
    "other_job_environment",
    "worker_environment",
    "worker_descriptors",
    "connect_database",
    "connect_broker",
    "connect_taiji",
    "linger_setsid",
    "linger_double_fork",
    "linger_nohup",
    "linger_after_cancel",
)
LINGER = ("setsid", "double_fork", "nohup")

PROBE = """import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        print("CONNECTED", target, flush=True)
    except OSError as exc:
        print("could not reach", target, exc, flush=True)
    finally:
        s.close()
"""
DAEMON = """import os, sys
# A double fork into a process group of its own: out of reach of a kill of the line's group.
if os.fork() == 0:
    os.setpgid(0, 0)
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", sys.argv[1]])
    os._exit(0)
os.wait()
"""
# Three ways out of the line's process group (what a runner that kills the group misses): a new
# session in the background, a double fork into a new group, nohup with a forking setsid. Each line
# waits a moment, as an attacker would, so that the daemon is settled before the line ends.
DAEMONS = {
    "setsid": "setsid sleep {m} </dev/null >/dev/null 2>&1 & sleep 1",
    "double_fork": "python3 daemon.py {m} </dev/null >/dev/null 2>&1; sleep 1",
    "nohup": "nohup setsid -f sleep {m} </dev/null >/dev/null 2>&1; sleep 1",
}


def _host_addresses() -> list[str]:
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                found.append(address.address)
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _targets(port: int) -> list[str]:
    # Loopback, slirp's gateway to the host's loopback, every address of the host.
    return [f"127.0.0.1:{port}", f"10.0.2.2:{port}", *(f"{ip}:{port}" for ip in _host_addresses())]


def _alive_with(marker: str) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(proc.info["cmdline"] or []):
            pids.append(proc.pid)
    return pids


class Listener:
    """A service of the host bound to every address (as a careless database would be): records
    who connected."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))  # noqa: S104 - the point: a service on every address
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.peers: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            conn.close()

    def close(self):
        self.sock.close()


@dataclass
class Battle:
    row: Row
    sqlite: bool
    canaries: dict[str, str]
    logs: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, dict] = field(default_factory=dict)
    lingering: dict[str, list[int]] = field(default_factory=dict)
    listener_peers: list[str] = field(default_factory=list)
    skips: dict[str, str] = field(default_factory=dict)


def _attack_file(paths: dict, markers: dict[str, str], ports: dict[str, int | None]) -> str:
    data, worker = paths["data"], paths["worker_pid"]
    taiji = " ".join(_targets(ports["taiji"]) + _targets(ports["listener"]))
    scripts = {
        "data_folder_secret_key": [f"cat {data}/secret_key"],
        "data_folder_database": [f"head -c 16 {data}/taiji.db"],
        "other_tenant_repository": [f"git --git-dir={paths['victim_repo']} show HEAD:canary.txt"],
        "other_tenant_packages": [f"find {data}/bpr/{paths['victim_tenant']} -type f -exec cat {{}} +"],
        "other_job_workspace": [f"cat {paths['victim_file']}"],
        "other_job_environment": ["cat /proc/[0-9]*/environ 2>/dev/null | tr '\\000' '\\n' | grep VICTIM_"],
        "worker_environment": [f"tr '\\000' '\\n' < /proc/{worker}/environ"],
        "worker_descriptors": [f"ls -l /proc/{worker}/fd/"],
        "connect_taiji": [f"python3 probe.py {taiji}"],
    }
    for name in ("database", "broker"):
        if ports[name]:
            scripts[f"connect_{name}"] = [f"python3 probe.py {' '.join(_targets(ports[name]))}"]
    for way, command in DAEMONS.items():
        scripts[f"linger_{way}"] = [command.format(m=markers[f"linger_{way}"]), "echo started"]
    # One line: the daemons run while the job is canceled (on the sandbox a line's end ends them).
    daemons = "\n".join(command.format(m=markers["linger_after_cancel"]) for command in DAEMONS.values())
    scripts["linger_after_cancel"] = [f"{daemons}\necho daemons: up\nsleep 300"]
    # A control: the job itself works (its own files, the system's tools).
    scripts["control"] = ["echo made > own.txt && cat own.txt && python3 -c 'print(6 * 7)'"]
    lines = ["jobs:"]
    for name, script in scripts.items():
        lines += [f"  {name}:", f"    script: [{', '.join(json.dumps(line) for line in script)}]"]
    return "\n".join(lines) + "\n"


def _set_victim_up(ci: CI, row: Row, canaries: dict) -> dict:
    from taiji.modules.bpr import services as bpr
    from taiji.modules.cicd import services
    from taiji.modules.vcs import services as vcs
    from taiji.platform.db import db

    victim_file = (
        "jobs:\n  victim:\n    secrets: [VICTIM_SECRET]\n"
        f"    runner: {row.kind}\n"
        "    script: ['printf %s \"$WORKSPACE_CANARY\" > victim.txt', 'echo victim ready', 'sleep 300']\n"
    )
    with ci.ctx():
        tenant = ci.tenant()
        make_hosted(tenant, "vault", {".taiji.yml": victim_file, "canary.txt": canaries["repository"]})
        services.set_secret(tenant, "VICTIM_SECRET", canaries["job_secret"], protected=False)
        bpr.create_repository(tenant, {"name": "files", "kind": "generic"})
        db.session.commit()
        package = Path(ci.app.config["DATA_DIR"]).parent / "package.txt"
        package.write_text(canaries["package"])
        bpr.publish_artifact(tenant, "files", package, path="package.txt", actor=None, source={})
        db.session.commit()
        paths = {
            "victim_repo": str(vcs.local_git_dir(vcs.find_repository(tenant, "vault"))),
            "victim_tenant": str(tenant.id),
        }
        db.session.remove()
    pipeline_id = ci.run("vault", variables={"WORKSPACE_CANARY": canaries["workspace"]})
    return {**paths, "pipeline": pipeline_id}


def _wait(what, predicate, timeout=90, worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{worker.tail() if worker else ''}")


@pytest.fixture(scope="module", params=[
    pytest.param(row, id=row.kind, marks=[pytest.mark.xdist_group(row.xdist_group)] * bool(row.xdist_group))
    for row in ROWS])
def battle(request, app, tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.modules.cicd import services
    from taiji.modules.iam import services as iam
    from taiji.modules.vcs import services as vcs
    from taiji.platform.app import create_app
    from taiji.platform.db import db
    from tests.factories import make_tenant, make_user

    row: Row = request.param
    if why := row.skip():
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp(f"escape-{row.kind}")
    data_dir = tmp / "data"
    data_dir.mkdir(mode=0o700)
    sqlite = _base_url() is None
    database_url = (f"sqlite:///{data_dir / 'taiji.db'}" if sqlite
                    else sibling_database(f"esc{row.kind}", tmp, migrated=True))
    broker_url = os.environ.get("TAIJI_TEST_BROKER_URL") or "filesystem://"
    kinds = ("secret_key", "repository", "package", "workspace", "job_secret", "environment")
    canaries = {kind: f"{kind}-canary-{uuid.uuid4().hex}" for kind in kinds}
    # A real install keeps its key here (the worker below gets it from its environment instead).
    (data_dir / "secret_key").write_text(canaries["secret_key"])
    live_app = create_app(
        app_overrides(database_url, data_dir, BROKER_URL=broker_url, CICD_RUNNER="host", **FAST)
    )
    with live_app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        if not broker_url.startswith("filesystem"):
            live_app.extensions["celery"].control.purge()
        victim_owner = make_user(email=f"victim-{uuid.uuid4().hex[:6]}@example.com")
        victim_tenant = make_tenant(owner=victim_owner)
        owner = make_user(email=f"attacker-{uuid.uuid4().hex[:6]}@example.com")
        attacker_tenant = make_tenant(owner=owner)
        vcs.create_repository(attacker_tenant, {"name": "tools"})
        _, token = iam.create_token(owner, "push")
        victim = CI(live_app, victim_tenant.slug, victim_owner.email)
        attacker = CI(live_app, attacker_tenant.slug, owner.email)
        db.session.commit()
        db.session.remove()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update(
        {
            "TAIJI_DATABASE_URL": database_url,
            "TAIJI_BROKER_URL": broker_url,
            "TAIJI_DATA_DIR": str(data_dir),
            "TAIJI_SECRET_KEY": "test-secret-key",
            "TAIJI_ESCAPE_CANARY": canaries["environment"],
            "TAIJI_CICD_RUNNER": "host",
            "PYTHONPATH": str(ROOT),
            "TAIJI_CICD_HEARTBEAT_SECONDS": "1",
            "TAIJI_CICD_KILL_GRACE_SECONDS": "1",
            "TAIJI_CICD_RUNNER_LOST_SECONDS": "30",
            **row.worker_env(),
        }
    )
    worker = Worker(env, tmp / "worker.log")
    server = listener = None
    base = random.randint(10_000, 80_000)
    markers = {f"linger_{way}": f"{base}.{i}{random.randint(10**5, 10**6)}" for i, way in enumerate(LINGER)}
    markers["linger_after_cancel"] = f"{base}.9{random.randint(10**5, 10**6)}"
    result = Battle(row, sqlite, canaries)
    paths: dict = {"pipeline": None}
    try:
        worker.start()
        server, url = _serve(live_app)
        listener = Listener()
        paths = _set_victim_up(victim, row, canaries)
        victim_job = _wait(
            "the victim's job to run",
            lambda: (j := victim.pipeline(paths["pipeline"])["jobs"]["victim"])["status"] == "running" and j,
            worker=worker,
        )
        victim_path = data_dir / "cicd" / "workspaces" / f"{victim_job['id']}-1" / "workspace" / "victim.txt"
        # The file is written (on docker, inside the victim's own container: the path above is
        # where it would be on the worker's host, which is what the attacker tries).
        _wait("the victim's workspace file", lambda: "victim ready\n" in victim.log(victim_job["id"]),
              worker=worker)
        ports = {
            "taiji": int(url.rsplit(":", 1)[1]),
            "listener": listener.port,
            "database": None,
            "broker": 6379 if _listening(6379) else None,
        }
        if not sqlite:
            from sqlalchemy.engine import make_url

            ports["database"] = make_url(database_url).port or 5432
        if ports["broker"] is None:
            result.skips["connect_broker"] = "nothing listens on the broker's port 6379 here"
        if sqlite:
            result.skips["connect_database"] = "SQLite: the database is a file of the data folder (see above)"
        else:
            result.skips["data_folder_database"] = "PostgreSQL: no database file in the data folder"
        paths.update(
            data=str(data_dir), victim_file=str(victim_path), worker_pid=worker.proc.pid
        )
        work = tmp / "tools"
        work.mkdir()
        (work / ".taiji.yml").write_text(
            f"default: {{runner: {row.kind}}}\n" + _attack_file(paths, markers, ports)
        )
        (work / "probe.py").write_text(PROBE)
        (work / "daemon.py").write_text(DAEMON)
        _git("init", "-q", "-b", "main", cwd=work)
        _git("add", "-A", cwd=work)
        _git("commit", "-qm", "tools", cwd=work)
        remote = f"{url.replace('http://', f'http://x:{token}@')}/git/{attacker.tenant_slug}/tools.git"
        _git("push", "-q", remote, "main", cwd=work)

        def pipeline():
            with attacker.ctx():
                try:
                    page = services.list_pipelines(attacker.tenant(), repository="tools")
                    return [p.id for p in page.items]
                finally:
                    db.session.remove()

        [pipeline_id] = _wait("the pushed pipeline", pipeline, worker=worker)
        doomed = attacker.pipeline(pipeline_id)["jobs"]["linger_after_cancel"]["id"]
        _wait("the job to be canceled to start its daemons", lambda: "daemons: up\n" in attacker.log(doomed))
        time.sleep(0.5)
        assert _alive_with(markers["linger_after_cancel"]), "the daemons of the job about to be canceled run"
        attacker.call(services.cancel_job, doomed)
        done = ("success", "failed", "canceled")
        state = _wait(
            "the attacker's pipeline to finish",
            lambda: (p := attacker.pipeline(pipeline_id))["status"] in done and p,
            worker=worker,
        )
        time.sleep(1.5)  # what a line left has had time to be stopped
        for attack, marker in markers.items():
            result.lingering[attack] = _alive_with(marker)
        result.jobs = state["jobs"]
        result.logs = {name: attacker.log(job["id"]) for name, job in state["jobs"].items()}
        result.listener_peers = list(listener.peers)
        victim.call(services.cancel_pipeline, paths["pipeline"])
        yield result
    finally:
        for marker in markers.values():
            for pid in _alive_with(marker):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            victim.call(services.cancel_pipeline, paths["pipeline"])
        try:
            worker.kill(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            worker.kill(signal.SIGKILL)
        with live_app.app_context():
            # What a next worker start does: remove what the worker's jobs left.
            from taiji.modules.cicd.runners.sweep import sweep_workspaces

            sweep_workspaces()
            db.session.remove()
        if server is not None:
            server.shutdown()
        if listener is not None:
            listener.close()
        with live_app.app_context():
            db.engine.dispose()
        init_celery(app)


def _escaped(battle: Battle, attack: str) -> tuple[bool, str]:
    """Whether the attack got what it aimed at, and the evidence."""
    log = battle.logs.get(attack, "")
    loot = {
        "data_folder_secret_key": battle.canaries["secret_key"],
        "data_folder_database": "SQLite format 3",
        "other_tenant_repository": battle.canaries["repository"],
        "other_tenant_packages": battle.canaries["package"],
        "other_job_workspace": battle.canaries["workspace"],
        "other_job_environment": battle.canaries["job_secret"],
        "worker_environment": battle.canaries["environment"],
    }
    if attack in loot:
        return loot[attack] in log, log[-1500:]
    if attack == "worker_descriptors":
        return ("socket:[" in log or "/data/" in log), log[-1500:]
    if attack.startswith("connect_"):
        reached = "CONNECTED" in log
        if attack == "connect_taiji":
            reached = reached or bool(battle.listener_peers)
        return reached, log[-1500:]
    pids = battle.lingering[attack]
    return bool(pids), f"processes still running after the job: {pids}"


@pytest.mark.parametrize("attack", ATTACKS)
def test_attempt(battle, attack):
    if attack in battle.skips:
        pytest.skip(battle.skips[attack])
    job = battle.jobs[attack]
    log = battle.logs[attack]
    # The attempt really ran (a runner that runs nothing would "pass" every attack).
    assert "$ " in log and job["reason"] not in ("system", "runner_lost"), log[-2000:]
    escaped, evidence = _escaped(battle, attack)
    if battle.row.escapes:
        assert escaped, f"{attack} should succeed on {battle.row.kind} (nothing isolates it): {evidence}"
    else:
        assert not escaped, f"{attack} got out of the {battle.row.kind} runner: {evidence}"


def test_the_jobs_themselves_work(battle):
    """The control job: its own files and the system's tools are there, on every runner."""
    assert battle.jobs["control"]["status"] == "success", battle.logs["control"][-2000:]
    assert "made" in battle.logs["control"] and "42" in battle.logs["control"]
    canceled = battle.jobs["linger_after_cancel"]
    assert (canceled["status"], canceled["reason"]) == ("canceled", "canceled")
