"""What the client-endpoint tests share: a tenant with components whose configuration is published,
access keys, and the headers clients send."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from taiji.platform.db import db
from tests.factories import make_tenant, make_user


def basic(password: str, user: str = "user") -> dict:
    """HTTP Basic as Spring's client sends it (``spring.cloud.config.username`` defaults to "user")."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# What a Spring Boot application's config client (ConfigServerConfigDataLoader.getRemoteEnvironment)
# sends: the V2 media type as Accept, UTF-8 as Accept-Charset, the password as Basic (user "user")
# and, when spring.cloud.config.token is set, X-Config-Token; Java's HTTP client names itself.
def spring_headers(password: str) -> dict:
    return {"Accept": "application/vnd.spring-cloud.config-server.v2+json", "Accept-Charset": "UTF-8",
            "User-Agent": "Java/17.0.9", "Connection": "keep-alive", **basic(password)}


@dataclass
class Setup:
    tenant: object
    owner: object
    component: object
    keys: dict  # environment -> access key token


def make_setup(*, slug: str | None = None) -> Setup:
    from taiji.modules.scm import services as scm
    from taiji.modules.spm import services as spm

    owner = make_user()
    tenant = make_tenant(owner=owner, **({"slug": slug} if slug else {}))
    product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
    component = spm.create_component(tenant, product, {"name": "orders", "layer": "base"})
    scm.put_item(tenant, owner, component, "dev", "region", value="global", layer="tenant")
    scm.put_item(tenant, owner, component, "dev", "team", value="shop-team", layer="product")
    scm.put_item(tenant, owner, component, "dev", "pool.size", value=4, type="int", layer="component")
    scm.put_item(tenant, owner, component, "dev", "pool.size", value=8, type="int")
    scm.put_item(tenant, owner, component, "dev", "greeting", value="hello dev")
    scm.put_item(tenant, owner, component, "dev", "db.password", value="s3cret-dev", secret=True)
    scm.put_item(tenant, owner, component, "dev", "url", value="jdbc:postgresql://db/orders", namespace="db")
    scm.put_item(tenant, owner, component, "dev", "greeting", value="from db namespace", namespace="db")
    scm.put_item(tenant, owner, component, "dev", "features", value={"a": 1}, type="json")
    scm.put_item(tenant, owner, component, "prod", "greeting", value="hello prod")
    scm.publish(tenant, owner, component, "dev", comment="first")
    scm.publish(tenant, owner, component, "prod", comment="first")
    keys = {env: scm.create_access_key(tenant, owner, env, f"{env} key")[1] for env in ("dev", "prod", "qa")}
    db.session.commit()
    return Setup(tenant, owner, component, keys)


def protocol_variants(tenant, args) -> list[dict]:
    """The client routes' arguments for the protocol walks (tests/platform/route_seeds.py): the seeded
    component's published configuration in dev (tests/modules/scm/seeders.py)."""
    component, environment = args["component"], args["environment"]
    return [{"tenant_slug": tenant.slug, "component": component, "environment": environment,
             "application": component, "profiles": environment, "label": "application",
             "filename": f"{component}-{environment}.yml", "?": "release=0"}]
