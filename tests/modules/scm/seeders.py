"""URL arguments of SCM routes for the tenant-isolation and route-access walks, and one request per
SCM permission for the permission matrix. Named by the module's ``Module(seeders=...)``."""

from __future__ import annotations

from tests.factories import GRANT_POLICY, ISOLATION_SEEDERS, PERMISSION_REQUESTS, PROTOCOL_SEEDERS

ENVIRONMENT = "dev"


def _scm_seed_environment(tenant, owner, known):
    return ENVIRONMENT


def _scm_seed_config_key(tenant, owner, known):
    """An item of the seeded component in dev, and a published release of it."""
    from taiji.modules.scm import services as scm

    component = scm.resolve_component(tenant, known["component"])
    scm.put_item(tenant, owner, component, ENVIRONMENT, "greeting", value=f"hello from {tenant.slug}")
    scm.put_item(tenant, owner, component, ENVIRONMENT, "password", value="s3cret", secret=True)
    return "greeting"


def _scm_seed_release(tenant, owner, known):
    from taiji.modules.scm import services as scm

    return scm.publish(tenant, owner, known["component"], ENVIRONMENT, comment="seeded").number


def _scm_seed_access_key(tenant, owner, known):
    from taiji.modules.scm import services as scm

    return scm.create_access_key(tenant, owner, ENVIRONMENT, "seeded")[0].id


ISOLATION_SEEDERS["environment"] = _scm_seed_environment
ISOLATION_SEEDERS["config_key"] = _scm_seed_config_key
ISOLATION_SEEDERS["release_number"] = _scm_seed_release
ISOLATION_SEEDERS["access_key_id"] = _scm_seed_access_key

PERMISSION_REQUESTS["scm:config:read"] = {"method": "GET", "path": "/api/v1/tenants/{t}/config"}
PERMISSION_REQUESTS["scm:admin"] = {"method": "GET", "path": "/api/v1/tenants/{t}/config-keys"}


def _scm_prepare_component(tenant):
    """A component ``matrix-config`` (product ``matrix-config``) with a secret item in dev."""
    from taiji.modules.scm import services as scm
    from taiji.modules.spm import services as spm
    from taiji.platform.db import db

    product = spm.find_product(tenant, "matrix-config") or spm.create_product(
        tenant, {"slug": "matrix-config", "name": "Matrix config"})
    component = spm.find_component(tenant, product, "matrix-config") or spm.create_component(
        tenant, product, {"name": "matrix-config"})
    scm.put_item(tenant, None, component, ENVIRONMENT, "token", value="matrix", secret=True)
    db.session.commit()
    return {"c": "matrix-config:matrix-config"}


_ITEMS = "/api/v1/tenants/{t}/config/{c}/dev"
PERMISSION_REQUESTS["scm:config:write"] = {
    "method": "PUT", "path": _ITEMS + "/items/greeting", "body": {"value": "hi"},
    "prepare": _scm_prepare_component,
}
PERMISSION_REQUESTS["scm:config:publish"] = {
    "method": "POST", "path": _ITEMS + "/releases", "body": {"comment": "matrix"},
    "prepare": _scm_prepare_component,
}
PERMISSION_REQUESTS["scm:secret:read"] = {
    "method": "GET", "path": _ITEMS + "/items/token/secret", "prepare": _scm_prepare_component,
}


def _scm_protocol_calls(tenant, owner, known) -> list[dict]:
    from tests.modules.scm.client_fixtures import protocol_variants

    return protocol_variants(tenant, known)


# The client wire API (/config/<tenant>/...) and the Spring Cloud Config API (/spring/<tenant>/...).
PROTOCOL_SEEDERS["config"] = PROTOCOL_SEEDERS["spring"] = _scm_protocol_calls

# The documented policy (tests/platform/test_permissions.py): members edit and publish, viewers read,
# and only owners and admins read secrets and manage keys, policies and schemas.
_READS = {"scm:config:read"}
_PUBLISHES = _READS | {"scm:config:write", "scm:config:publish"}
GRANT_POLICY["scm"] = {"owner": _PUBLISHES | {"scm:secret:read", "scm:admin"},
                       "admin": _PUBLISHES | {"scm:secret:read", "scm:admin"},
                       "member": _PUBLISHES, "viewer": _READS}
