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
# Protocol routes (``auth.protocol``) with a tenant in their URL, by their first path segment:
# ``seeder(tenant, owner, known) -> [url arguments, ...]`` for the isolation walk
# (tests/platform/route_seeds.protocol_calls). A module registers its own in its seeders file.
PROTOCOL_SEEDERS: dict = {}

# module code -> {role: the module's permissions that built-in tenant role holds}: the policy a module
# documents for tests/platform/test_permissions.py (its grants are checked against it).
GRANT_POLICY: dict = {}

# Each enabled module names the test module that registers its seeders and requests
# (``Module(seeders="tests.modules.<code>.seeders")``), or gives seeder callables
# ``seed(tenant, owner, known) -> {URL argument: value}`` in the list: see ``seed_tenant``.
# A new module edits none of this file.
def _load_module_seeders() -> None:
    from taiji.platform.app import ENABLED_MODULES

    for path in ENABLED_MODULES:
        seeders = importlib.import_module(path).module.seeders
        if isinstance(seeders, str):
            importlib.import_module(seeders)


def seed_tenant(app, tenant, owner, known: dict) -> dict:
    """Representative rows of every module of ``app`` in ``tenant``: {URL argument: identifier}.

    ``known`` holds what was seeded before (a product before its component) and is updated.
    """
    seeded: dict = {}
    for module in app.extensions["taiji"].modules:
        if isinstance(module.seeders, str):
            continue  # registered in ISOLATION_SEEDERS when imported, below
        for seed in module.seeders:
            values = seed(tenant, owner, {**known, **seeded})
            seeded.update(values)
    for name, seed in ISOLATION_SEEDERS.items():
        seeded[name] = seed(tenant, owner, {**known, **seeded})
    return seeded


_load_module_seeders()
