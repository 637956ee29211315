"""`taiji config get|set|publish|render` as an operator runs them on the server, acting as a named
user with that user's permissions; `render --url --key` as a pipeline job runs it, over HTTP."""

from __future__ import annotations

import json

import javaproperties
import pytest
import yaml
from click.testing import CliRunner

from taiji.cli import main
from taiji.modules.scm.commands import config
from tests.factories import make_member, make_user


@pytest.fixture
def shop(app, tenant):
    from taiji.modules.spm import services as spm

    product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
    spm.create_component(tenant, product, {"name": "billing", "layer": "base"})
    return tenant


def run(app, *args, stdin: str | None = None):
    return CliRunner().invoke(config, list(args), obj=app, input=stdin)


def where(tenant) -> list[str]:
    return ["--tenant", tenant.slug, "--component", "billing", "--env", "dev"]


def test_set_get_publish_and_render_in_every_format(app, shop, admin):
    me = ["--as", admin.email]
    assert run(app, "set", *where(shop), "greeting", "hello world", *me).exit_code == 0
    result = run(app, "set", *where(shop), "server.port", "8080", "--type", "int", *me)
    assert result.exit_code == 0, result.output
    assert "Set server.port (int) in the environment layer of billing (dev)" in result.output
    # A secret read from standard input: never on a command line.
    result = run(app, "set", *where(shop), "db.password", "-", "--secret", *me, stdin="pa55 word$\n")
    assert result.exit_code == 0, result.output

    listed = run(app, "get", *where(shop), *me)
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == ['db.password = ******  (environment)',
                                          'greeting = "hello world"  (environment)',
                                          "server.port = 8080  (environment)"]
    assert run(app, "get", *where(shop), "greeting", *me).output == "hello world\n"
    refused = run(app, "get", *where(shop), "db.password", *me)
    assert refused.exit_code == 1 and "is a secret; add --reveal" in refused.output
    revealed = run(app, "get", *where(shop), "db.password", "--reveal", *me)
    assert revealed.output == "pa55 word$\n"

    published = run(app, "publish", *where(shop), "-m", "first", *me)
    assert published.exit_code == 0, published.output
    assert published.output == "Release #1 of billing (dev): published\n"

    rendered = {fmt: run(app, "render", *where(shop), "--format", fmt) for fmt in ("env", "json", "yaml",
                                                                                   "properties")}
    assert all(r.exit_code == 0 for r in rendered.values()), {k: r.output for k, r in rendered.items()}
    values = {"greeting": "hello world", "server.port": 8080, "db.password": "pa55 word$"}
    assert json.loads(rendered["json"].output) == values
    nested = {"greeting": "hello world", "server": {"port": 8080}, "db": {"password": "pa55 word$"}}
    assert yaml.safe_load(rendered["yaml"].output) in (values, nested)
    props = javaproperties.loads(rendered["properties"].output)
    assert props == {"greeting": "hello world", "server.port": "8080", "db.password": "pa55 word$"}
    env = dict(line.split("=", 1) for line in rendered["env"].output.splitlines())
    assert env["SERVER_PORT"] in ("8080", "'8080'") and env["DB_PASSWORD"] == "'pa55 word$'"


def test_the_acting_user_needs_the_permission_and_nothing_changes_without_it(app, shop):
    viewer = make_member(shop, "viewer")
    refused = run(app, "set", *where(shop), "greeting", "hi", "--as", viewer.email)
    assert refused.exit_code == 1
    assert f"{viewer.email} may not do this in {shop.slug}: it needs scm:config:write" in refused.output
    assert run(app, "get", *where(shop), "--as", viewer.email).output == "No configuration yet.\n"
    member = make_member(shop, "member")
    written = run(app, "set", *where(shop), "token", "t0k3n-value", "--secret", "--as", member.email)
    assert written.exit_code == 0, written.output
    # A member may write secrets, not read them back (scm:secret:read is for owners and admins).
    peek = run(app, "get", *where(shop), "token", "--reveal", "--as", member.email)
    assert peek.exit_code == 1 and "needs scm:secret:read" in peek.output and "t0k3n" not in peek.output
    outsider = make_user()
    assert "needs scm:config:read" in run(app, "get", *where(shop), "--as", outsider.email).output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["set", "--tenant", "nope", "--component", "billing", "--env", "dev", "k", "v"],
         "No tenant 'nope'."),
        (["set", "--component", "ghost", "--env", "dev", "k", "v"], "ghost"),
        (["set", "--component", "billing", "--env", "Dev!", "k", "v"], "An environment is a profile name"),
        (["set", "--component", "billing", "--env", "dev", "port", "eighty", "--type", "int"],
         "whole number"),
        (["set", "--component", "billing", "--env", "dev", "bad key!", "v"], "key"),
        (["publish", "--component", "billing", "--env", "dev", "--gray-selector", "zone in (bj"], "selector"),
    ],
)
def test_bad_input_is_a_one_line_error_and_changes_nothing(app, shop, admin, args, words):
    if "--tenant" not in args:
        args = [args[0], "--tenant", shop.slug, *args[1:]]
    result = run(app, *args, "--as", admin.email)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and words in result.output
    assert "Traceback" not in result.output
    assert run(app, "get", *where(shop), "--as", admin.email).output == "No configuration yet.\n"


def test_four_eyes_makes_a_publish_pending(app, shop, admin):
    from taiji.modules.scm import services as scm

    scm.set_policy(shop, admin, "dev", four_eyes=True)
    run(app, "set", *where(shop), "greeting", "hi", "--as", admin.email)
    result = run(app, "publish", *where(shop), "--as", admin.email)
    assert result.output == "Release #1 of billing (dev): pending — waiting for another person's approval\n"
    nothing = run(app, "render", *where(shop))
    assert nothing.exit_code == 1 and "Nothing published" in nothing.output


def test_keys_has_both_modules_commands():
    result = CliRunner().invoke(main, ["keys", "--help"])
    assert result.exit_code == 0
    assert "rotate " in result.output and "rotate-config" in result.output


def test_render_reads_the_tenant_from_the_job_environment(app, shop, admin, monkeypatch):
    run(app, "set", *where(shop), "greeting", "hi", "--as", admin.email)
    run(app, "publish", *where(shop), "--as", admin.email)
    monkeypatch.setenv("TAIJI_TENANT", shop.slug)
    result = run(app, "render", "--component", "billing", "--env", "dev", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"greeting": "hi"}


def test_render_needs_both_url_and_key(app, shop):
    result = run(app, "render", *where(shop), "--url", "http://127.0.0.1:9")
    assert result.exit_code == 2 and "Give both --url and --key" in result.output



def test_namespaces_and_label_layers(app, shop, admin):
    me = ["--as", admin.email]
    run(app, "set", *where(shop), "url", "jdbc:pg://main", "--namespace", "db", *me)
    run(app, "set", *where(shop), "url", "https://app", *me)
    result = run(app, "set", *where(shop), "token", "bj-only-token", "--secret", "--layer", "label",
                 "--label", "zone=bj", *me)
    assert result.exit_code == 0, result.output
    assert run(app, "get", *where(shop), "url", *me).output == "https://app\n"  # application first
    assert run(app, "get", *where(shop), "url", "--namespace", "db", *me).output == "jdbc:pg://main\n"
    listed = run(app, "get", *where(shop), "--namespace", "db", "--json", *me)
    assert json.loads(listed.output) == [{"namespace": "db", "key": "url", "type": "string",
                                          "layer": "environment", "secret": False, "value": "jdbc:pg://main"}]
    assert "No key 'token'" in run(app, "get", *where(shop), "token", *me).output  # no labels: not applied
    shown = run(app, "get", *where(shop), "token", "--labels", "zone=bj", "--reveal", *me)
    assert shown.output == "bj-only-token\n", shown.output
