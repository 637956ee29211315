"""`taiji config render --url --key` as a pipeline job runs it: a separate process with no database
of its own, asking a served Taiji for the configuration with an environment's access key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.liveapp import serve

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("scmcli"), "scmcli") as served:
        yield served


@pytest.fixture(scope="module")
def published(live):
    from taiji.modules.iam import services as iam
    from taiji.modules.scm import services as scm
    from taiji.modules.spm import services as spm
    from taiji.modules.tm import services as tm

    def work():
        owner = iam.create_user("owner@render.example", "Owner", "a-long-password-1")
        tenant = tm.create_tenant("render", "Render", owner_id=owner.id)
        product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
        spm.create_component(tenant, product, {"name": "billing", "layer": "base"})
        scm.put_item(tenant, owner, "billing", "dev", "greeting", value="hello from dev")
        scm.put_item(tenant, owner, "billing", "dev", "server.port", value=8080, type="int")
        scm.put_item(tenant, owner, "billing", "dev", "db.password", value="it's $ecret", secret=True)
        scm.publish(tenant, owner, "billing", "dev", comment="first")
        return {env: scm.create_access_key(tenant, owner, env, f"{env} key")[1] for env in ("dev", "prod")}

    return live.run(work)


def render(live, key: str, *args: str, url: str | None = None) -> subprocess.CompletedProcess:
    # What a job has: its TAIJI_TENANT, the URL and the key; no database, no secret key of Taiji's.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(ROOT), "TAIJI_TENANT": "render",
           "TAIJI_URL": url or live.base, "TAIJI_CONFIG_KEY": key, "TAIJI_DATABASE_URL": "postgresql://nowhere.invalid/x"}
    return subprocess.run([sys.executable, "-m", "taiji.cli", "config", "render", "--component", "billing",
                           "--env", "dev", *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_a_job_renders_its_configuration_over_http(live, published, tmp_path):
    done = render(live, published["dev"], "--format", "env")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "app.env"
    path.write_text(done.stdout)
    # The file is what a shell sources: the values come back exactly.
    script = '. "$1" && printf "%s|%s|%s" "$GREETING" "$SERVER_PORT" "$DB_PASSWORD"'
    shown = subprocess.run(["sh", "-c", script, "sh", str(path)], capture_output=True, text=True, check=True)
    assert shown.stdout == "hello from dev|8080|it's $ecret"
    as_json = render(live, published["dev"], "--format", "json")
    assert json.loads(as_json.stdout) == {"greeting": "hello from dev", "server.port": 8080,
                                          "db.password": "it's $ecret"}


def test_refusals_are_one_clear_line(live, published):
    wrong = render(live, "tjc_1_not-the-key")
    assert wrong.returncode == 1 and "401" in wrong.stderr and "Traceback" not in wrong.stderr
    other_env = render(live, published["prod"])
    assert other_env.returncode == 1 and "404" in other_env.stderr
    nowhere = render(live, published["dev"], url="http://127.0.0.1:9")
    assert nowhere.returncode == 1 and "127.0.0.1:9" in nowhere.stderr and "Traceback" not in nowhere.stderr
