"""BPR: binary repositories — generic files by path and Python package indexes."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, NavItem, Periodic

from . import permissions, sentences, services
from .api import blp as api_blp
from .protocol import bp as protocol_bp
from .views import bp

module = Module(
    code="bpr",
    title=_l("Packages"),
    api_blueprints=[api_blp],
    blueprints=[bp, protocol_bp],
    nav=[
        NavItem(
            _l("Packages"), "bpr.repositories", permission=permissions.Perm.PACKAGE_READ, icon="box",
            order=30, group="deploy",
        )
    ],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    tasks=["taiji.modules.bpr.tasks"],
    periodic=[
        Periodic("bpr-apply-retention", "bpr.apply_retention", 24 * 3600.0),
        Periodic("bpr-sweep-uploads", "bpr.sweep_uploads", 3600.0),
    ],
    quota_meters=services.quota_meters,
    # pip, twine and curl authenticate with tokens, never with the session cookie.
    csrf_exempt=[protocol_bp],
    seeders="tests.modules.bpr.seeders",
    audit_sentences=sentences.SENTENCES,
)
