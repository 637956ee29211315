"""`.taiji.yml` `config:`: real pipelines on the built-in runner render the configuration center's
values into their checkout before the script; a missing key fails the job naming every one; a
secret is masked in the log and given only to pipelines of a protected branch."""

from __future__ import annotations

import base64

from taiji.platform.db import db

PASSWORD = "pg-pass-7c41e9d2b8"
ENCODED = base64.b64encode(PASSWORD.encode()).decode()

FILE = """
config:
  component: billing
  environment: dev
  render: ["config/*.tmpl"]
jobs:
  build:
    script:
      - cat config/app.env
      - test "$(cat config/app.env)" = "$(printf 'GREETING=hello from dev\\nPORT=8080\\nFALLBACK=none')"
      - test ! -e config/app.env.tmpl.tmpl && test -f config/app.env.tmpl
"""
TEMPLATE = "GREETING=${greeting}\nPORT=${server.port}\nFALLBACK=${absent:none}"
SECRET_FILE = """
config: {component: billing, environment: dev, render: ["*.tmpl"]}
jobs:
  steal:
    script:
      - cat db.conf
      - base64 db.conf
"""


def _publish(ci, values: dict, secrets: dict | None = None) -> None:
    """A product with the component `billing`, ``values`` (and ``secrets``) in dev, published."""
    from taiji.modules.iam import services as iam
    from taiji.modules.scm import services as scm
    from taiji.modules.spm import services as spm

    with ci.ctx():
        tenant = ci.tenant()
        owner = iam.get_user_by_email(ci.owner_email)
        if spm.find_product(tenant, "shop") is None:
            product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
            spm.create_component(tenant, product, {"name": "billing", "layer": "base"})
        for key, value in values.items():
            scm.put_item(tenant, owner, "billing", "dev", key, value=value,
                         type="int" if isinstance(value, int) else "string")
        for key, value in (secrets or {}).items():
            scm.put_item(tenant, owner, "billing", "dev", key, value=value, secret=True)
        scm.publish(tenant, owner, "billing", "dev", comment="for the pipeline")
        db.session.commit()
        db.session.remove()


def test_a_pipeline_renders_its_templates_before_the_script(ci):
    _publish(ci, {"greeting": "hello from dev", "server.port": 8080})
    repo = ci.repo({".taiji.yml": FILE, "config/app.env.tmpl": TEMPLATE})
    state = ci.drive(ci.run(repo))
    log = ci.log(state["jobs"]["build"]["id"])
    assert state["status"] == "success", log
    assert "Rendering configuration of billing (dev)" in log and "Rendered config/app.env" in log
    assert "GREETING=hello from dev\nPORT=8080\nFALLBACK=none" in log.replace("\r", "")


def test_missing_keys_fail_the_job_naming_every_one(ci):
    _publish(ci, {"greeting": "hi"})
    repo = ci.repo({
        ".taiji.yml": FILE,
        "config/app.env.tmpl": "A=${greeting}\nB=${db.url}\nC=${cache.host}\n",
        "config/other.yml.tmpl": "url: ${db.url}\nqueue: ${queue.name}\n",
    })
    state = ci.drive(ci.run(repo))
    job = state["jobs"]["build"]
    log = ci.log(job["id"])
    assert state["status"] == "failed" and job["reason"] == "system"
    line = next(line for line in log.splitlines() if "cannot render the configuration" in line)
    for key in ("db.url", "cache.host", "queue.name"):
        assert key in line
    assert "config/app.env.tmpl" in line and "config/other.yml.tmpl" in line
    assert "$ cat config/app.env" not in log  # the script never started


def test_nothing_published_or_no_template_fails_clearly(ci):
    repo = ci.repo({".taiji.yml": FILE, "config/app.env.tmpl": TEMPLATE})
    state = ci.drive(ci.run(repo))
    log = ci.log(state["jobs"]["build"]["id"])
    assert state["status"] == "failed" and "billing" in log
    _publish(ci, {"greeting": "x", "server.port": 1})
    repo = ci.repo({".taiji.yml": FILE, "README": "no templates here\n"})
    state = ci.drive(ci.run(repo))
    log = ci.log(state["jobs"]["build"]["id"])
    assert state["status"] == "failed" and "no template in the checkout matches config/*.tmpl" in log


def _protect_main(ci, repo: str) -> None:
    from taiji.modules.vcs import services as vcs

    with ci.ctx():
        vcs.protect(ci.tenant(), vcs.get_repository(ci.tenant(), repo),
                    {"pattern": "main", "push_roles": ["owner", "admin"]})
        db.session.commit()
        db.session.remove()


def test_a_secret_is_rendered_masked_and_only_for_a_protected_branch(ci):
    from tests.modules.cicd.conftest import make_hosted

    _publish(ci, {"user": "app"}, {"db.password": PASSWORD})
    repo = ci.repo({".taiji.yml": SECRET_FILE, "db.conf.tmpl": "user=${user}\npassword=${db.password}\n"})
    _protect_main(ci, repo)
    state = ci.drive(ci.run(repo))  # main, protected: the secret is rendered
    log = ci.log(state["jobs"]["steal"]["id"])
    assert state["status"] == "success", log
    assert "user=app" in log and "password=****" in log and PASSWORD not in log
    # Another branch of the same repository (any member may push one): the secret is withheld.
    with ci.ctx():
        make_hosted(ci.tenant(), repo, {".taiji.yml": SECRET_FILE,
                                        "db.conf.tmpl": "password=${db.password}\n"}, branch="steal")
        db.session.remove()
    state = ci.drive(ci.run(repo, ref="steal"))
    log = ci.log(state["jobs"]["steal"]["id"])
    assert state["status"] == "failed"
    assert ENCODED not in log and PASSWORD not in log
    assert "db.password" in log and "protected branch" in log
