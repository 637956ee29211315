"""SCM: the configuration center — layered, typed values and encrypted secrets per component and
environment, immutable numbered releases (four-eyes, gray by label or percentage, rollback), client
reads and access keys. docs/scm.md explains it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module

from . import api_admin, api_releases, client_api, client_spring, models, permissions, services
from .api import blp as api_blp
from .events import HANDLERS, PUBLISHED
from .settings import SETTINGS

# The console's menu entry ("Configuration", group "deploy") is added with the console pages that
# it points to (views.py): it is not declared here.
# The tables and the public face load with the module; the routes of api_* register on api_blp.
assert models and services and api_admin and api_releases

module = Module(
    code="scm",
    title=_l("Configuration"),
    api_blueprints=[api_blp],
    blueprints=[client_api.bp, client_spring.bp],
    csrf_exempt=[client_api.bp, client_spring.bp],  # protocol endpoints: keys and tokens, never the session
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    events=PUBLISHED,
    event_handlers=HANDLERS,
    settings=SETTINGS,
    seeders="tests.modules.scm.seeders",
)
