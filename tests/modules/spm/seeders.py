"""URL arguments of SPM routes for the tenant-isolation walk, and one request per SPM permission
for the permission matrix. Named by the module's ``Module(seeders=...)``; tests/factories.py imports it."""

from __future__ import annotations

from tests.factories import ISOLATION_SEEDERS, PERMISSION_REQUESTS


# SPM, the product catalog: a product with a component, a third-party dependency and two draft versions.
def _spm_seed_product(tenant, owner, known):
    from taiji.modules.spm import services as spm

    # Named after the tenant: tenant B holds the same kinds of rows under other names.
    return spm.create_product(tenant, {"slug": f"product-of-{tenant.slug}", "name": "Isolation"}).slug


def _spm_seed_component(tenant, owner, known):
    from taiji.modules.spm import services as spm

    product = spm.get_product(tenant, known["product"])
    return spm.create_component(tenant, product, {"name": f"api-of-{tenant.slug}", "layer": "base",
                                                  "provides": [{"name": "iso", "version": "v1"}]}).name


def _spm_seed_dependency(tenant, owner, known):
    from taiji.modules.spm import services as spm

    component = spm.get_component(tenant, spm.get_product(tenant, known["product"]), known["component"])
    return spm.add_dependency(tenant, component, {"name": "left-pad", "version_range": "^1"}).id


def _spm_seed_version(version, released):
    def seed(tenant, owner, known):
        from taiji.modules.spm import services as spm

        product = spm.get_product(tenant, known["product"])
        row = spm.create_version(tenant, product, version)
        if released:  # so that its bill of materials can be read
            spm.release(tenant, product, row)
        return row.version

    return seed


ISOLATION_SEEDERS["product"] = _spm_seed_product
ISOLATION_SEEDERS["component"] = _spm_seed_component
ISOLATION_SEEDERS["dependency_id"] = _spm_seed_dependency
ISOLATION_SEEDERS["version"] = _spm_seed_version("1.0.0", released=True)
ISOLATION_SEEDERS["other"] = _spm_seed_version("1.1.0", released=False)
ISOLATION_SEEDERS["api"] = lambda tenant, owner, known: "iso"  # the API the seeded component provides
ISOLATION_SEEDERS["api_version"] = lambda tenant, owner, known: "v1"
ISOLATION_SEEDERS["action"] = lambda tenant, owner, known: "release"  # console: /versions/<version>/<action>

PERMISSION_REQUESTS["spm:product:read"] = {"method": "GET", "path": "/api/v1/tenants/{t}/products"}
PERMISSION_REQUESTS["spm:product:write"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/products",
    "body": {"slug": "matrix-product", "name": "Matrix"},
}
PERMISSION_REQUESTS["spm:rules:write"] = {
    "method": "PUT",
    "path": "/api/v1/tenants/{t}/catalog/rules",
    "body": {"severities": {"same-layer": "error"}},
    "if_match": True,
}
