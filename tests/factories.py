"""factory_boy factories that build data through the services, as the application does."""

from __future__ import annotations

import importlib

import factory

from taiji.modules.iam import services as iam
from taiji.modules.tm import services as tm
from taiji.platform.db import db

PASSWORD = "correct-horse-battery"


class UserFactory(factory.Factory):
    class Meta:
        model = dict

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    password = PASSWORD
    admin = False
    # As an account a platform administrator makes; tests of unverified addresses pass False.
    email_verified = True

    @classmethod
    def _create(cls, model_class, **kwargs):
        user = iam.create_user(kwargs["email"], kwargs["name"], kwargs["password"], admin=kwargs["admin"],
                               email_verified=kwargs["email_verified"])
        db.session.commit()
        return user


class TenantFactory(factory.Factory):
    class Meta:
        model = dict

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.Sequence(lambda n: f"Tenant {n}")
    owner = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, **kwargs):
        tenant = tm.create_tenant(kwargs["slug"], kwargs["name"], owner_id=kwargs["owner"].id)
        db.session.commit()
        return tenant


def make_user(**kwargs):
    return UserFactory(**kwargs)


def make_tenant(**kwargs):
    return TenantFactory(**kwargs)


def make_member(tenant, role: str = "member", **user_kwargs):
    """A new user who is a member of ``tenant`` with ``role``."""
    from taiji.platform.auth import Principal

    user = make_user(**user_kwargs)
    system = Principal(user_id=0, email="system", name="system", is_admin=True, via="test")
    tm.add_member(tenant, user.email, role, actor=system)
    db.session.commit()
    return user


def make_token(user, scopes=None) -> str:
    _, plaintext = iam.create_token(user, "test", scopes=scopes)
    db.session.commit()
    return plaintext


def system_principal():
    """The actor for data set up by tests: a platform administrator that is no user."""
    from taiji.platform.auth import Principal

    return Principal(user_id=0, email="system", name="system", is_admin=True, via="test")


def make_invitation(tenant, email: str | None = None, role: str = "member"):
    """A pending invitation of ``tenant``; returns (invitation, token)."""
    import uuid

    email = email or f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    invitation, token = tm.invite(tenant, email, role, actor=system_principal())
    db.session.commit()
    return invitation, token


def database_state() -> dict[str, list[tuple]]:
    """Every row of every table, in a comparable form: equal before and after means nothing changed."""
    import sqlalchemy as sa

    existing = set(sa.inspect(db.session.connection()).get_table_names())
    state = {}
    for table in db.metadata.sorted_tables:
        if table.name not in existing:  # a model whose migration is not written yet
            continue
        rows = db.session.execute(sa.select(table)).all()
        state[table.name] = sorted(tuple(repr(v) for v in row) for row in rows)
    return state


# -- extension points of the platform-wide matrices ----------------------------------------------
# A module whose routes take a new URL argument, or that declares new permissions, registers here
# (below, in its own block) so that tests/platform/test_tenant_isolation.py and
# tests/platform/test_permissions.py walk its routes too; until it does, those tests fail on purpose.

# URL argument -> seed(tenant, owner, known) that creates a row of ``tenant`` and returns its
# identifier as the URL spells it; ``known`` holds the arguments seeded before (a product for a component).
ISOLATION_SEEDERS: dict = {}

# permission -> {"method", "path" (with {t} for the tenant and any key of prepare's answer), "body",
# "scope" ("tenant" or "platform"), "if_match" (bool), "prepare" (tenant -> dict, optional)}
PERMISSION_REQUESTS: dict = {}

# IAM's OpenID Connect provider (platform scope: the client registry)
PERMISSION_REQUESTS["iam:client:write"] = {
    "method": "POST",
    "path": "/api/v1/oauth/clients",
    "body": {"name": "Matrix tool", "redirect_uris": ["https://tool.example.com/callback"]},
    "scope": "platform",
}


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

# TX: the transaction console and API
def _tx_seed_transaction(tenant, owner, known):
    from taiji.platform.tx import services as tx

    # A private-range address nobody answers on: the saga stays where it is while the walk runs.
    return tx.submit_saga([{"name": "reserve", "action": "http://10.255.255.1/reserve"}],
                          gid=f"iso-{tenant.slug}", tenant=tenant).gid


ISOLATION_SEEDERS["gid"] = _tx_seed_transaction
ISOLATION_SEEDERS["operation"] = lambda tenant, owner, known: "retry"


def _tx_seed_notification(tenant, owner, known):
    from taiji.platform.tx import notify

    return notify.notify("http://10.255.255.1/hook", {"n": 1}, secret="isolation-secret-123", tenant=tenant,
                         nid=f"iso-{tenant.slug}").nid


ISOLATION_SEEDERS["nid"] = _tx_seed_notification


def _tx_seed_message(tenant, owner, known):
    from taiji.platform.tx import messages

    return messages.prepare("iso.topic", {"n": 1}, check_url=None, mid=f"iso-{tenant.slug}",
                            tenant=tenant).mid


ISOLATION_SEEDERS["mid"] = _tx_seed_message

PERMISSION_REQUESTS["tx:transaction:read"] = {"method": "GET", "path": "/api/v1/tenants/{t}/tx/transactions"}
PERMISSION_REQUESTS["tx:transaction:operate"] = {
    "method": "POST",
    "path": "/api/v1/tenants/{t}/tx/sagas",
    "body": {"steps": [{"name": "reserve", "action": "http://10.255.255.1/reserve"}]},
}


def _tx_platform_saga(tenant) -> dict:
    """A saga of the platform's own (no tenant), for the platform operator's requests."""
    from taiji.platform.tx import services as tx

    gid = f"platform-{tenant.slug}"
    tx.submit_saga([{"name": "reserve", "action": "http://10.255.255.1/reserve"}], gid=gid)
    return {"gid": gid}


PERMISSION_REQUESTS["tx:platform:read"] = {"method": "GET", "path": "/api/v1/tx/transactions",
                                          "scope": "platform"}
PERMISSION_REQUESTS["tx:platform:operate"] = {
    "method": "POST", "path": "/api/v1/tx/transactions/{gid}/actions/retry", "body": {}, "scope": "platform",
    "prepare": _tx_platform_saga,
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


# Modules added later keep their seeders beside their tests; importing them registers them.
for _code in ("vcs", "bpr", "cicd"):
    importlib.import_module(f"tests.modules.{_code}.seeders")
