"""VCS: hosted Git repositories over smart HTTP, protected branches, pushes; external repositories."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, Periodic

from . import permissions, sentences, services
from .api import blp as api_blp
from .api_merge import blp as merge_api_blp
from .events import HANDLERS, PUBLISHED, subscribe_to_ci
from .git_http import bp as git_bp
from .settings import SETTINGS
from .views import NAV
from .views import bp as console_bp
from .views_merge import bp as merge_console_bp
from .webhooks import bp as hooks_bp

module = Module(
    code="vcs",
    title=_l("Repositories"),
    api_blueprints=[api_blp, merge_api_blp],
    blueprints=[git_bp, console_bp, merge_console_bp, hooks_bp],
    nav=[NAV],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    events=PUBLISHED,
    event_handlers=HANDLERS,
    tasks=["taiji.modules.vcs.tasks", "taiji.modules.vcs.mirror_tasks"],
    periodic=[
        Periodic("vcs-purge-repositories", "vcs.purge_repositories", timedelta(hours=1)),
        Periodic("vcs-reconcile-pushes", "vcs.reconcile_pushes", timedelta(minutes=5)),
        Periodic("vcs-tidy-storage", "vcs.tidy_storage", timedelta(hours=1)),
        Periodic("vcs-fetch-due-mirrors", "vcs.fetch_due_mirrors", timedelta(minutes=1)),
    ],
    quota_meters=services.quota_meters,
    audit_sentences=sentences.SENTENCES,
    settings=SETTINGS,
    # git sends no CSRF token: its pushes are authenticated by a token in HTTP Basic, never a cookie.
    csrf_exempt=[git_bp],
    seeders="tests.modules.vcs.seeders",
    setup=subscribe_to_ci,
)
