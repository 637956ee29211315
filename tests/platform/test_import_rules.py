"""The import rules of pyproject.toml: generated from DESIGN.md's codes, and they catch what they
promise to catch.

The proof runs the real ``lint-imports`` on a copy of the source tree into which a handful of
forbidden imports have been written — among them a module (``pm``) that does not exist yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tools.import_rules import CODES, LAYERS, layers_contract

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_layers_contract_is_generated_from_the_codes_of_design():
    layers = next(c for c in _contracts() if c["type"] == "layers")
    # Out of date? `python -m tools.import_rules` prints the block to paste into pyproject.toml.
    assert layers == layers_contract()
    assert len(CODES) == len(set(CODES)) == 16  # the fifteen subsystems and tx


def test_the_architecture_guide_shows_the_same_layers():
    guide = (ROOT / "docs" / "architecture.md").read_text()
    block = guide.split("## Layering", 1)[1].split("```")[1]
    rows = [line.split("  ")[0].strip() for line in block.splitlines() if line.strip()]
    assert rows[: len(LAYERS)] == [" | ".join(layer) for layer in LAYERS]


def test_every_module_folder_is_one_of_the_codes():
    folders = {p.name for p in (ROOT / "taiji" / "modules").iterdir() if (p / "__init__.py").is_file()}
    assert folders and folders <= set(CODES)


def _write(tree: Path, relative: str, text: str) -> None:
    path = tree / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _sources_only(folder: str, names: list[str]) -> list[str]:
    """Python files only: the import graph needs nothing else, and the copy stays small."""
    skipped_folders = {"__pycache__", "static", "templates", "translations"}
    return [name for name in names if name in skipped_folders
            or (not name.endswith(".py") and not (Path(folder) / name).is_dir())]


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "500"}  # one violation per line, not wrapped
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def test_lint_imports_refuses_what_the_rules_forbid(tmp_path):
    tree = tmp_path / "copy"
    shutil.copytree(ROOT / "taiji", tree / "taiji", ignore=_sources_only)
    shutil.copytree(ROOT / "tools", tree / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")

    # `pm` is one of the fifteen codes that has no folder yet: it is covered the day it lands.
    _write(tree, "taiji/modules/pm/__init__.py", '"""Issues, boards (a throwaway for the test)."""\n')
    _write(tree, "taiji/modules/pm/services.py", "\n".join([
        "from taiji.modules.spm import services as spm",  # allowed: a lower module's services
        "from taiji.modules.spm import events as spm_events",  # allowed: its events
        "from taiji.modules.spm.models import Product",  # line 3: a model of another module
        "from taiji.modules.tm.services import _tenant_row",  # line 4: a private name
        "from taiji.modules.iam import services as iam",
        "",
        "",
        "def work():",
        "    return spm, spm_events, Product, _tenant_row, iam._hash_secret()",  # line 9
        "",
    ]))
    _write(tree, "taiji/modules/pm/views.py", "\n".join([
        "import taiji.modules.iam",
        "",
        "ROLE = taiji.modules.iam.roles.models",  # line 3: a submodule reached as an attribute
        "",
    ]))
    # A sibling of the same layer (pm and vcs are base services): the layers contract.
    _write(tree, "taiji/modules/pm/events.py", "from taiji.modules.vcs import services as vcs\n")
    # A module's command group that imports the `taiji` command back (the old circle).
    _write(tree, "taiji/modules/pm/commands.py", "from taiji.cli import main\n")
    # A private submodule of a services package.
    _write(tree, "taiji/modules/vcs/services/_internal.py", "HELPER = 1\n")
    _write(tree, "taiji/modules/cicd/uses_private.py",
           "from taiji.modules.vcs.services._internal import HELPER\n")
    # A module folder that is not one of DESIGN.md's codes.
    _write(tree, "taiji/modules/zzz/__init__.py", "")
    # The participant SDK reaching into the server.
    _write(tree, "taiji/tx/server.py", "import flask\n\nfrom taiji.platform import db\n")
    # The configuration client reaching into the server.
    _write(tree, "taiji/config/server.py", "from taiji.modules.scm import services\n")

    result = _lint(tree)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "Contracts: 0 kept, 5 broken." in out, out
    expected = [
        "- taiji.modules.pm.services -> taiji.modules.spm.models (l.3) is not taiji.modules.spm,",
        "- taiji.modules.pm.services -> taiji.modules.tm.services._tenant_row (l.4) imports a _private name",
        "- taiji.modules.pm.services -> taiji.modules.iam.services._hash_secret (l.9) uses a _private name",
        "- taiji.modules.pm.views -> taiji.modules.iam.roles.models (l.3) reaches a closed submodule",
        "- taiji.modules.cicd.uses_private -> taiji.modules.vcs.services._internal (l.1) is not",
        "- taiji.modules.zzz is not a code of DESIGN.md",
        "- taiji.tx.server -> flask (l.1) is neither the standard library nor sqlalchemy",
        "- taiji.tx.server -> taiji.platform.db (l.3) belongs to the server, outside taiji.tx",
        "- taiji.config.server -> taiji.modules.scm.services (l.1) belongs to the server",
        "taiji.modules is not allowed to import taiji.cli",
        "taiji.modules.pm.commands -> taiji.cli (l.1)",
        "taiji.modules.pm.events -> taiji.modules.vcs.services",
    ]
    for line in expected:
        assert line in out, f"{line!r} not reported:\n{out}"
    # The open faces stay open: nothing about pm's import of spm.services or spm.events.
    assert "-> taiji.modules.spm.services" not in out and "-> taiji.modules.spm.events" not in out, out
