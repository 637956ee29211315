"""What the tenant overview shows of the catalog (``taiji.platform.overview``): the latest product
releases, so a team sees what shipped next to what was built."""

from __future__ import annotations

import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l

from taiji.platform.db import db
from taiji.platform.overview import Panel, Row

from .forms import VERSION_STATUS_LABELS
from .models import Product, ProductVersion
from .permissions import Perm

RECENT = 5
TONES = {"released": "green", "deprecated": "yellow", "retired": "secondary"}


def recent_releases(tenant, principal) -> list[Row]:
    """The latest released versions of every product (a draft has shipped nothing yet)."""
    rows = db.session.execute(
        sa.select(ProductVersion, Product).join(Product, Product.id == ProductVersion.product_id)
        .where(ProductVersion.tenant_id == tenant.id, ProductVersion.released_at.is_not(None))
        .order_by(ProductVersion.released_at.desc(), ProductVersion.id.desc()).limit(RECENT)).all()
    return [Row(f"{product.name} {version.version}",
                url_for("spm.product", tenant=tenant.slug, product=product.slug, _anchor="versions"),
                status=str(VERSION_STATUS_LABELS.get(version.status, version.status)),
                tone=TONES.get(version.status, "secondary"),
                when=version.released_at, detail=version.released_by)
            for version, product in rows]


OVERVIEW = [
    Panel("spm.releases", _l("Recent releases"), recent_releases,
          _l("No product version has been released yet."), permission=Perm.PRODUCT_READ, order=20,
          more=lambda tenant: url_for("spm.products", tenant=tenant.slug)),
]
