"""Helpers for SCM tests: a product with a component in a fresh tenant, and an API client of a
tenant member working on its configuration."""

from __future__ import annotations

import pytest

from taiji.modules.spm import services as spm
from taiji.platform.db import db
from tests.factories import make_member


@pytest.fixture
def shop(tenant):
    """Product ``shop`` with components ``api`` and ``web``."""
    product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
    api = spm.create_component(tenant, product, {"name": "api"})
    spm.create_component(tenant, product, {"name": "web"})
    db.session.commit()
    return api


@pytest.fixture
def member(tenant):
    return make_member(tenant, "member")


@pytest.fixture
def base(tenant):
    return f"/api/v1/tenants/{tenant.slug}/config"
