"""Helpers for SPM tests: a writer's API client on a fresh tenant, and short ways to lay out
products, components and dependencies through the REST API."""

from __future__ import annotations

import pytest

from tests.factories import make_member


class Catalog:
    """Builds a catalog through the API as a tenant member and asserts each step worked."""

    def __init__(self, api, tenant):
        self.api = api
        self.tenant = tenant
        self.base = f"/api/v1/tenants/{tenant.slug}"

    def product(self, slug, **fields):
        response = self.api.post(f"{self.base}/products", json={"slug": slug, "name": slug.title(), **fields})
        assert response.status_code == 201, response.json
        return response.json

    def component(self, product, name, layer=None, **fields):
        body = {"name": name, **fields}
        if layer is not None:
            body["layer"] = layer
        response = self.api.post(f"{self.base}/products/{product}/components", json=body)
        assert response.status_code == 201, response.json
        return response.json

    def depend(self, product, source, target, version_range="*"):
        response = self.api.post(
            f"{self.base}/products/{product}/components/{source}/dependencies",
            json={"component": target, "version_range": version_range},
        )
        assert response.status_code == 201, response.json
        return response.json

    def third_party(self, product, source, name, **fields):
        response = self.api.post(
            f"{self.base}/products/{product}/components/{source}/dependencies", json={"name": name, **fields}
        )
        assert response.status_code == 201, response.json
        return response.json

    def violations(self, product):
        response = self.api.get(f"{self.base}/products/{product}/violations")
        assert response.status_code == 200, response.json
        return response.json

    def set_severity(self, **severities):
        current = self.api.get(f"{self.base}/catalog/rules")
        response = self.api.put(
            f"{self.base}/catalog/rules",
            json={"severities": severities},
            headers={"If-Match": current.headers["ETag"]},
        )
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def writer(tenant):
    return make_member(tenant, "member")


@pytest.fixture
def catalog(api_as, tenant, admin):
    return Catalog(api_as(admin), tenant)
