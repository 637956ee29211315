"""The render step writes files as the worker's user before any job process exists: a repository
must not make it read a file of the host (a template that links out of the checkout) nor write one
(a target that is a link). Each attack is performed against the real step and SCM's services."""

from __future__ import annotations

import os

import pytest

from taiji.modules.cicd.runners.configure import render_config
from taiji.modules.cicd.runners.workspace import WorkspaceError

BLOCK = {"component": "billing", "environment": "dev", "render": ["**/*.tmpl"]}


@pytest.fixture
def published(app, tenant, admin):
    from taiji.modules.scm import services as scm
    from taiji.modules.spm import services as spm

    product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
    spm.create_component(tenant, product, {"name": "billing", "layer": "base"})
    scm.put_item(tenant, admin, "billing", "dev", "greeting", value="hello")
    scm.put_item(tenant, admin, "billing", "dev", "db.password", value="s3cr3t-pw", secret=True)
    scm.publish(tenant, admin, "billing", "dev")
    return tenant


def test_templates_render_beside_themselves_with_their_mode(published, tmp_path):
    ws = tmp_path / "ws"
    (ws / "config").mkdir(parents=True)
    (ws / "config" / "app.env.tmpl").write_text("GREETING=${greeting}\nPW=${db.password}\n")
    os.chmod(ws / "config" / "app.env.tmpl", 0o640)
    (ws / "config" / "app.env").write_text("stale\n")  # an existing regular file is replaced
    rendered = render_config(published, BLOCK, ws, protected=True)
    assert rendered.files == ["config/app.env"] and rendered.secrets == ["s3cr3t-pw"]
    assert (ws / "config" / "app.env").read_text() == "GREETING=hello\nPW=s3cr3t-pw\n"
    assert (ws / "config" / "app.env").stat().st_mode & 0o777 == 0o640


def test_a_template_linking_out_of_the_checkout_is_not_read(published, tmp_path):
    host_file = tmp_path / "host" / "shadow.tmpl"
    host_file.parent.mkdir()
    host_file.write_text("root:x:0:0:${greeting}\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "leak.tmpl").symlink_to(host_file)
    with pytest.raises(WorkspaceError, match="no template in the checkout matches"):
        render_config(published, BLOCK, ws, protected=True)
    assert not (ws / "leak").exists()


def test_a_target_that_is_a_link_is_never_written_through(published, tmp_path):
    victim = tmp_path / "host" / "authorized_keys"
    victim.parent.mkdir()
    victim.write_text("ssh-ed25519 AAAA the-real-key\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.env.tmpl").write_text("A=${greeting}\n")
    (ws / "keys.tmpl").write_text("ssh-ed25519 ${greeting} attacker\n")
    (ws / "keys").symlink_to(victim)
    with pytest.raises(WorkspaceError, match="keys is a symbolic link"):
        render_config(published, BLOCK, ws, protected=True)
    assert victim.read_text() == "ssh-ed25519 AAAA the-real-key\n"
    assert not (ws / "a.env").exists()  # nothing is written when one target is refused


def test_a_target_in_a_folder_linking_out_is_refused(published, tmp_path):
    outside = tmp_path / "host" / "etc"
    outside.mkdir(parents=True)
    ws = tmp_path / "ws"
    (ws / "conf").mkdir(parents=True)
    (ws / "conf" / "app.tmpl").write_text("${greeting}")
    (ws / "etc").symlink_to(outside)
    # The template reached through the linked folder is outside: skipped; the one inside renders.
    rendered = render_config(published, BLOCK, ws, protected=True)
    assert rendered.files == ["conf/app"] and not list(outside.iterdir())


def test_without_protection_a_template_using_a_secret_is_refused_naming_it(published, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.tmpl").write_text("G=${greeting}\n")
    (ws / "b.tmpl").write_text("P=${db.password:fallback}\n")  # a default does not hide the use
    with pytest.raises(WorkspaceError) as refused:
        render_config(published, BLOCK, ws, protected=False)
    assert "secret(s) db.password are given only to pipelines of a protected branch" in str(refused.value)
    assert "b.tmpl uses db.password" in str(refused.value) and "s3cr3t" not in str(refused.value)
    assert not (ws / "a").exists() and not (ws / "b").exists()
    (ws / "b.tmpl").unlink()
    rendered = render_config(published, BLOCK, ws, protected=False)
    assert rendered.files == ["a"] and rendered.secrets == []
