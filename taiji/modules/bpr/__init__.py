"""BPR: binary repositories — generic files by path and Python package indexes."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, NavItem

from . import permissions, services
from .api import blp as api_blp
from .protocol import bp as protocol_bp
from .views import bp

RETENTION_SCHEDULE = {"task": "bpr.apply_retention", "schedule": 24 * 3600.0}
SWEEP_SCHEDULE = {"task": "bpr.sweep_uploads", "schedule": 3600.0}


def _setup(app) -> None:
    from taiji.platform import tasks

    services.register_meters()
    # pip, twine and curl authenticate with tokens, never with the session cookie.
    app.extensions["csrf"].exempt(protocol_bp)
    tasks.BEAT_SCHEDULE.setdefault("bpr-apply-retention", RETENTION_SCHEDULE)
    tasks.celery.conf.beat_schedule.setdefault("bpr-apply-retention", RETENTION_SCHEDULE)
    tasks.BEAT_SCHEDULE.setdefault("bpr-sweep-uploads", SWEEP_SCHEDULE)
    tasks.celery.conf.beat_schedule.setdefault("bpr-sweep-uploads", SWEEP_SCHEDULE)


module = Module(
    code="bpr",
    title=_l("Packages"),
    api_blueprints=[api_blp],
    blueprints=[bp, protocol_bp],
    nav=[
        NavItem(
            _l("Packages"), "bpr.repositories", permission=permissions.Perm.PACKAGE_READ, icon="box", order=30
        )
    ],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    tasks=["taiji.modules.bpr.tasks"],
    setup=_setup,
)
