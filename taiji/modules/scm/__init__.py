"""SCM: the configuration center — layered, typed values and encrypted secrets per component and
environment, immutable numbered releases (four-eyes, gray by label or percentage, rollback), client
reads and access keys. docs/scm.md explains it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, NavItem

from . import (
    api_admin,
    api_releases,
    client_api,
    client_spring,
    models,
    permissions,
    services,
    views,
    views_admin,
    views_more,
    views_release,
)
from .api import blp as api_blp
from .commands import config, keys
from .events import HANDLERS, PUBLISHED
from .sentences import SENTENCES
from .settings import SETTINGS

# The tables and the public face load with the module; the routes of api_* register on api_blp,
# the console pages of views_* on views.bp.
assert models and services and api_admin and api_releases and views_admin and views_more and views_release

module = Module(
    code="scm",
    title=_l("Configuration"),
    api_blueprints=[api_blp],
    blueprints=[views.bp, client_api.bp, client_spring.bp],
    nav=[NavItem(_l("Configuration"), "scm.components", permission=permissions.Perm.CONFIG_READ,
                 icon="settings", order=20, group="deploy")],
    csrf_exempt=[client_api.bp, client_spring.bp],  # protocol endpoints: keys and tokens, never the session
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    events=PUBLISHED,
    event_handlers=HANDLERS,
    settings=SETTINGS,
    cli_commands=[config, keys],  # `taiji config …`; `taiji keys rotate-config` joins IAM's `keys`
    seeders="tests.modules.scm.seeders",
    audit_sentences=SENTENCES,
)
