"""Every `taiji` process (web worker, worker, runner, scheduler, each shell command) pays for what it
imports before it does anything; the suite starts hundreds. Libraries only a few requests or tasks
need are imported where they are used, and the kernel's commands start without the modules.
These tests keep it so: a module-level import of one of them comes back as a failure here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# Each costs tens of milliseconds or more to import, and only some requests or tasks use it.
USED_WHERE_NEEDED = (
    "alembic", "flask_migrate", "networkx", "cyclonedx", "ldap3", "dns.resolver", "email_validator",
    "git", "pygments", "markdown_it", "psutil", "jenkins", "requests", "jsonschema",
)

_BUILD = """
import json, sys
from taiji.platform.app import create_app
create_app()
print(json.dumps(sorted(sys.modules)))
"""

_KERNEL_COMMAND = """
import json, sys
from taiji.cli import main
try:
    main(["web", "--help"])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(source: str, data_dir: Path) -> set[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TAIJI_DATA_DIR": str(data_dir),
           "TAIJI_BROKER_URL": "memory://", "TAIJI_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", source], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_building_the_application_imports_no_library_that_only_some_requests_need(tmp_path):
    loaded = _modules_after(_BUILD, tmp_path)
    assert "taiji.modules.vcs" in loaded  # the application was built, with its modules
    assert [name for name in USED_WHERE_NEEDED if name in loaded] == []


def test_a_kernel_command_starts_without_importing_the_modules(tmp_path):
    loaded = _modules_after(_KERNEL_COMMAND, tmp_path)
    assert "taiji.cli" in loaded
    assert not any(name.startswith(("taiji.modules", "taiji.platform.app")) for name in loaded)


_MODULE_COMMAND = _KERNEL_COMMAND.replace('["web", "--help"]', '["runner", "--help"]')


def test_a_modules_command_finds_the_metrics_not_yet_made(tmp_path):
    """`taiji runner` (and `taiji worker`, which reads the modules' queues first) reach their command
    through the modules' imports, and only then point the metrics at the install's shared folder
    (config.share_metrics): no module may create them on import."""
    loaded = _modules_after(_MODULE_COMMAND, tmp_path)
    assert "taiji.modules.cicd" in loaded  # the module's command was found
    assert not {"taiji.platform.observability", "prometheus_client"} & loaded


_WEB_WORKER = """
import gc, json
import taiji.wsgi
print(json.dumps([gc.isenabled(), gc.get_freeze_count()]))
"""

_COMMAND_BUILDING_THE_APP = """
import gc, json, sys
from taiji import cli
cli.starting()
from taiji.platform.commands import get_app
paused = not gc.isenabled()
get_app()
print(json.dumps([paused, gc.isenabled(), gc.get_freeze_count()]))
"""


def _printed(source: str, data_dir: Path) -> list:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TAIJI_DATA_DIR": str(data_dir),
           "TAIJI_BROKER_URL": "memory://", "TAIJI_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", source], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_started_process_collects_garbage_again_with_what_starting_made_frozen(tmp_path):
    """The collector is paused while a process starts (a quarter of its CPU went to walking the
    objects being made); once the application is built it runs again, so a long-lived web worker or
    worker does not grow with uncollected cycles."""
    enabled, frozen = _printed(_WEB_WORKER, tmp_path)
    assert enabled and frozen > 100_000
    paused, enabled, frozen = _printed(_COMMAND_BUILDING_THE_APP, tmp_path / "cli")
    assert paused and enabled and frozen > 100_000


_VALIDATING = """
import json, sys
from taiji.platform import jsonschema_lib
jsonschema = jsonschema_lib.load()
ok = jsonschema.Draft202012Validator({"type": "object"}).is_valid({})
before = "lark" in sys.modules
iri = jsonschema.Draft7Validator({"format": "iri"}, format_checker=jsonschema.FormatChecker())
answers = [iri.is_valid("https://例子.测试/路径"), iri.is_valid("https://exa mple.com/a b")]
print(json.dumps([ok, before, answers, "lark" in sys.modules]))
"""


def test_validating_a_document_builds_no_rfc3987_grammar_until_an_iri_is_checked(tmp_path):
    """jsonschema's import compiled some forty grammars (about a second of CPU) in every process
    that validated a pipeline file; they are built only when an "iri" format is checked, which
    then answers as before."""
    ok, grammar_before, answers, grammar_after = _printed(_VALIDATING, tmp_path)
    assert ok and not grammar_before
    assert answers == [True, False] and grammar_after
