"""TM: tenants' lifecycle, members, invitations, quotas."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, NavItem

from . import commands, events, permissions, provisioning, sentences, services
from .api import blp as api_blp
from .settings import SETTINGS
from .views import bp

module = Module(
    code="tm",
    title=_l("Tenants"),
    api_blueprints=[api_blp],
    blueprints=[bp],
    nav=[
        NavItem(_l("Overview"), "tm.overview", permission=permissions.Perm.TENANT_READ, order=1),
        NavItem(_l("Members"), "tm.members", permission=permissions.Perm.MEMBER_READ, order=900,
                group="manage"),
        NavItem(_l("Audit log"), "tm.audit_log", permission=permissions.Perm.AUDIT_READ, order=910,
                group="manage"),
        NavItem(_l("Settings"), "tm.settings", permission=permissions.Perm.TENANT_WRITE, order=920,
                group="manage"),
        NavItem(_l("Tenants"), "tm.admin_tenants", scope="platform",
                permission=permissions.Perm.TENANT_CREATE, order=10),
        NavItem(_l("Invitations"), "tm.my_invitations", scope="user", order=15,
                badge=lambda principal: services.count_pending_invitations(principal.email)),
    ],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    events=events.PUBLISHED,
    event_handlers=events.HANDLERS,
    quota_meters=services.quota_meters,
    settings=SETTINGS,
    cli_commands=[commands.tenants],
    kernel_endpoints={"home": "tm.home", "tenant_home": "tm.overview"},
    seeders="tests.modules.tm.seeders",
    tx_steps=provisioning.STEPS,
    audit_sentences=sentences.SENTENCES,
)
