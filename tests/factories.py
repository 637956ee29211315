"""factory_boy factories that build data through the services, as the application does."""

from __future__ import annotations

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

    @classmethod
    def _create(cls, model_class, **kwargs):
        user = iam.create_user(kwargs["email"], kwargs["name"], kwargs["password"], admin=kwargs["admin"])
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
