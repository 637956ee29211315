"""URL arguments of IAM routes for the tenant-isolation walk, and one request per IAM permission
for the permission matrix. Named by the module's ``Module(seeders=...)``; tests/factories.py imports it."""

from __future__ import annotations

from tests.factories import ISOLATION_SEEDERS, PERMISSION_REQUESTS

# IAM's OpenID Connect provider (platform scope: the client registry)
PERMISSION_REQUESTS["iam:client:write"] = {
    "method": "POST",
    "path": "/api/v1/oauth/clients",
    "body": {"name": "Matrix tool", "redirect_uris": ["https://tool.example.com/callback"]},
    "scope": "platform",
}


# IAM roles and groups: a custom role and a group of the tenant, the group bound to the role.
def _iam_seed_role(tenant, owner, known):
    from taiji.modules.iam.roles import services as roles

    return roles.create_role(tenant, {"key": f"role-{tenant.slug}", "name": "Isolation",
                                      "permissions": ["tm:member:read"]}).key


def _iam_seed_group(tenant, owner, known):
    from taiji.modules.iam.roles import services as roles

    return roles.create_group(tenant, {"key": f"group-{tenant.slug}", "name": "Isolation"}).key


def _iam_seed_binding(tenant, owner, known):
    from taiji.modules.iam.roles import services as roles

    return roles.bind(tenant, known["role"], group=known["group"])["id"]


ISOLATION_SEEDERS["role"] = _iam_seed_role
ISOLATION_SEEDERS["group"] = _iam_seed_group
ISOLATION_SEEDERS["binding_id"] = _iam_seed_binding

PERMISSION_REQUESTS["iam:role:read"] = {"method": "GET", "path": "/api/v1/tenants/{t}/roles"}
PERMISSION_REQUESTS["iam:role:write"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/groups",
    "body": {"key": "matrix-group", "name": "Matrix"},
}
PERMISSION_REQUESTS["iam:directory:write"] = {
    "method": "PUT",
    "path": "/api/v1/tenants/{t}/directory",
    "body": {"url": "ldap://127.0.0.1:9/", "user_base": "dc=example,dc=com"},
}


# The email domains a tenant claims for its directory.
def _iam_seed_domain(tenant, owner, known):
    from taiji.modules.iam.directory import domains

    return domains.add_domain(tenant, f"{tenant.slug}.example").domain


ISOLATION_SEEDERS["domain"] = _iam_seed_domain
PERMISSION_REQUESTS["iam:domain:write"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/directory/domains",
    "body": {"domain": "matrix.example"},
}
PERMISSION_REQUESTS["iam:domain:approve"] = {"method": "GET", "path": "/api/v1/directory-domains",
                                            "scope": "platform"}
