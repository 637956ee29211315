"""SPM: the product catalog — products, versions, components, dependencies, architecture rules, SBOM."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module, NavItem

from . import (
    api_analysis,
    overview,
    permissions,
    sentences,
    services,
    views_component,
    views_edit,
    views_import,
    views_product,
)
from .api import blp as api_blp
from .events import HANDLERS, PUBLISHED
from .views import bp

# Their routes register on api_blp and bp when imported.
assert api_analysis and views_edit and views_component and views_import and views_product


module = Module(
    code="spm",
    title=_l("Products"),
    api_blueprints=[api_blp],
    blueprints=[bp],
    nav=[
        NavItem(
            _l("Products"),
            "spm.products",
            permission=permissions.Perm.PRODUCT_READ,
            icon="packages",
            order=10,
            group="code",  # the catalog of what the code makes and what it depends on
        )
    ],
    permissions=[(permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS)],
    events=PUBLISHED,
    event_handlers=HANDLERS,
    overview=overview.OVERVIEW,
    audit_sentences=sentences.SENTENCES,
    quota_meters=services.quota_meters,
    seeders="tests.modules.spm.seeders",
)
