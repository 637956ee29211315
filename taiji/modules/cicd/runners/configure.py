"""Build-time configuration (`.taiji.yml` `config:`): before a job's script, each template of the
checkout that `config.render` matches is rendered by the configuration center (SCM) into the file
without `.tmpl` (`config/app.env.tmpl` -> `config/app.env`).

Every template is read before anything is written, and every missing key of every template is
named in one log line, so one failed run shows all there is to add. The worker writes the files
itself (no job process has run yet): it reads only regular files inside the checkout and never
writes through a symbolic link, so a repository cannot make it read or overwrite a file of the
worker's host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from taiji.platform.commands import service_message
from taiji.platform.errors import ServiceError

from ..config_block import SUFFIX
from .workspace import WorkspaceError, find_files

CYAN, RESET = "\x1b[36m", "\x1b[0m"
MAX_TEMPLATES = 100
MAX_TEMPLATE_BYTES = 1024 * 1024


@dataclass
class Rendered:
    files: list[str] = field(default_factory=list)  # the files written, relative to the checkout
    secrets: list[str] = field(default_factory=list)  # values the log must not show


def render_config(tenant, block: dict, workspace: Path, *, protected: bool) -> Rendered:
    """Render the templates ``block["render"]`` matches in ``workspace`` with the current release of
    ``block["component"]`` in ``block["environment"]``; raises WorkspaceError saying what is wrong.
    Secrets go only to ``protected`` pipelines (of a protected branch, as protected CI secrets)."""
    component, environment = block["component"], block["environment"]
    service, builds = _service()
    root = workspace.resolve()
    found = find_files(root, block["render"], limit=MAX_TEMPLATES + 1)
    templates = [(rel, path) for rel, path in found if rel.endswith(SUFFIX)]
    if not templates:
        patterns = ", ".join(block["render"])
        raise WorkspaceError(f"config.render: no template in the checkout matches {patterns}")
    if len(templates) > MAX_TEMPLATES:
        raise WorkspaceError(f"config.render matches more than {MAX_TEMPLATES} templates; name fewer")
    texts = {rel: _read(rel, path) for rel, path in templates}
    outputs, refusals, withheld = {}, [], {}
    for rel, text in texts.items():
        try:
            if not protected and (keys := builds.secret_keys_in(tenant, component, environment, text)):
                withheld[rel] = keys
                continue
            outputs[rel] = service.render_template(tenant, component, environment, text)
        except ServiceError as exc:  # missing keys (all of them), or no release, or no such component
            refusals.append(f"{rel}: {service_message(exc)}")
    if withheld:
        names = sorted({key for keys in withheld.values() for key in keys})
        uses = "; ".join(f"{rel} uses {', '.join(keys)}" for rel, keys in withheld.items())
        refusals.append(
            f"secret(s) {', '.join(names)} are given only to pipelines of a protected branch (one whose "
            f"protection names who may push), started by a push or schedule there or by someone who may "
            f"push there, and this pipeline is not one ({uses})")
    if refusals:
        raise WorkspaceError(f"config: cannot render the configuration of {component} ({environment}) — "
                             + "; ".join(refusals))
    result = Rendered(secrets=builds.secret_values(tenant, component, environment) if protected else [])
    targets = {rel: rel[: -len(SUFFIX)] for rel in outputs}
    for target in targets.values():  # all checked before any is written
        _check_target(root, target)
    for rel, text in outputs.items():
        _write(root / targets[rel], text, (root / rel).stat().st_mode & 0o777)
        result.files.append(targets[rel])
    return result


def configure(job, block: dict, workspace: Path, writer) -> None:
    """The job's step: render, hide the secrets rendered from its log, say which files were made."""
    from taiji.platform.db import db
    from taiji.platform.tenancy import Tenant

    writer.write(f"{CYAN}Rendering configuration of {block['component']} ({block['environment']}){RESET}\n")
    rendered = render_config(db.session.get(Tenant, job.tenant_id), block, workspace,
                             protected=bool(job.pipeline.protected))
    writer.hide(rendered.secrets)
    for name in rendered.files:
        writer.write(f"{CYAN}Rendered {name}{RESET}\n")


def _service():
    try:
        from taiji.modules.scm import services
        from taiji.modules.scm.services import builds
    except ImportError:  # pragma: no cover - an install without the configuration center
        raise WorkspaceError("config: the configuration center (SCM) is not installed here") from None
    return services, builds


def _read(rel: str, path: Path) -> str:
    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        raise WorkspaceError(f"config: template {rel} is larger than {MAX_TEMPLATE_BYTES // 1024} KiB")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise WorkspaceError(f"config: template {rel} is not UTF-8 text") from None


def _check_target(root: Path, target: str) -> None:
    """``target`` (relative to ``root``) may be written: inside ``root``, not a symbolic link."""
    path = root / target
    if not path.parent.resolve().is_relative_to(root):
        raise WorkspaceError(f"config: {target} would be written outside the checkout")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise WorkspaceError(f"config: {target} is a symbolic link or not a regular file; Taiji renders "
                             "templates only into regular files (remove it from the repository)")


def _write(path: Path, text: str, mode: int) -> None:
    """Write ``path`` (checked), never through a symbolic link, with the template's ``mode``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode or 0o644)
    os.fchmod(fd, mode or 0o644)  # the template's mode, whatever the worker's umask
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
