"""SCM: the configuration center — layered, typed values and encrypted secrets per component and
environment, immutable numbered releases (four-eyes, gray by label or percentage, rollback), client
reads and access keys. docs/scm.md explains it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module

from . import models, permissions, services
from .commands import config, keys
from .events import HANDLERS, PUBLISHED
from .settings import SETTINGS

# The console's menu entry ("Configuration", group "deploy") is added with the console pages that
# it points to (views.py); the REST API and the client endpoints are registered below as they land.
assert models and services  # the tables and the public face, loaded with the module

module = Module(
    code="scm",
    title=_l("Configuration"),
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    events=PUBLISHED,
    event_handlers=HANDLERS,
    settings=SETTINGS,
    cli_commands=[config, keys],  # `taiji config …`; `taiji keys rotate-config` joins IAM's `keys`
    seeders="tests.modules.scm.seeders",
)
