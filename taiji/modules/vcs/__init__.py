"""VCS: hosted Git repositories over smart HTTP, protected branches, pushes; external repositories."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module

from . import permissions, services
from .api import blp as api_blp
from .events import HANDLERS
from .git_http import bp as git_bp
from .views import NAV
from .views import bp as console_bp
from .webhooks import bp as hooks_bp


def _setup(app) -> None:
    services.register_meters()
    # git sends no CSRF token: its pushes are authenticated by a token in HTTP Basic, never a cookie.
    app.extensions["csrf"].exempt(git_bp)


module = Module(
    code="vcs",
    title=_l("Repositories"),
    api_blueprints=[api_blp],
    blueprints=[git_bp, console_bp, hooks_bp],
    nav=[NAV],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    event_handlers=HANDLERS,
    tasks=["taiji.modules.vcs.tasks", "taiji.modules.vcs.mirror_tasks"],
    setup=_setup,
)
