"""What clients read: the configuration an instance should hold (secrets decrypted: clients are
its consumers), rendered for CI and releases, and the instances that read it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from taiji.platform.db import db, utcnow
from taiji.platform.errors import Invalid, NotFound, field_error, msg

from ..models import Instance
from . import adapters, names
from .components import resolve_component
from .releases import release_for
from .resolve import resolve
from .storage import insert

INSTANCE_WRITE_SECONDS = 30
MAX_INSTANCE_CHARS = 100


@dataclass
class ClientConfig:
    component: str
    environment: str
    release: int
    gray: bool
    namespaces: dict[str, dict] = field(default_factory=dict)  # {namespace: {key: typed value}}
    # {namespace: {layer: {key: value}}}, for Spring's property sources
    layers: dict[str, dict[str, dict]] = field(default_factory=dict)
    etag: str = ""

    def merged(self, namespace: str | None = None) -> dict:
        """One namespace's values, or all merged (alphabetical, ``application`` last: it wins)."""
        if namespace is not None:
            return dict(self.namespaces.get(namespace, {}))
        out: dict = {}
        for ns in sorted(self.namespaces, key=lambda n: (n == "application", n)):
            out.update(self.namespaces[ns])
        return out


def config_for(tenant, component, environment, *, namespace=None, instance=None, labels=None) -> ClientConfig:
    """The configuration ``instance`` (with ``labels``) should hold: the gray release when it selects
    it, else the current one; a 404 when nothing is published."""
    component = resolve_component(tenant, component)
    environment = names.environment(environment)
    labels = adapters.labels(labels) if labels is not None else {}
    if namespace is not None:
        namespace = names.namespace(namespace)
    release = release_for(tenant, component, environment, instance=instance, labels=labels)
    if release is None:
        raise NotFound(msg("Nothing published for %(component)s in %(environment)s.",
                           component=component.name, environment=environment))
    resolved = resolve(release.snapshot, labels=labels, decrypt=True)
    namespaces = {ns: {k: v.value for k, v in keys.items()} for ns, keys in resolved.namespaces.items()}
    layers = resolved.layers
    if namespace is not None:
        namespaces = {namespace: namespaces.get(namespace, {})}
        layers = {namespace: layers.get(namespace, {})}
    body = json.dumps([release.number, release.status == "gray", namespaces], sort_keys=True, default=str)
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    return ClientConfig(component.name, environment, release.number, release.status == "gray",
                        namespaces, layers, etag)


def render(tenant, component_ref, environment, fmt, *, namespace=None, instance=None, labels=None) -> str:
    """The configuration as a file: ``env``, ``json``, ``yaml`` or ``properties``."""
    if fmt not in adapters.FORMATS:
        raise field_error("format", msg("The format is one of %(formats)s.",
                                        formats=", ".join(adapters.FORMATS)))
    config = config_for(tenant, component_ref, environment, namespace=namespace, instance=instance,
                        labels=labels)
    return adapters.dump(config.merged(namespace), fmt)


def render_template(tenant, component_ref, environment, text: str) -> str:
    """``text`` with its ``${key}`` placeholders replaced from the current release; a 422 listing
    every missing key."""
    config = config_for(tenant, component_ref, environment)
    rendered, missing = adapters.render_template(text, config.merged())
    if missing:
        raise Invalid(msg("Missing configuration keys: %(keys)s.", keys=", ".join(missing)),
                      errors={"json": {"template": [msg("Missing: %(keys)s", keys=", ".join(missing))]}})
    return rendered


def record_instance(tenant, component, environment, instance, labels, release_number) -> Instance | None:
    """Note that ``instance`` read (and holds) ``release_number``; written at most once per 30 s per
    instance unless its release or labels changed."""
    if not instance:
        return None
    if not isinstance(instance, str) or len(instance) > MAX_INSTANCE_CHARS or "\x00" in instance:
        raise field_error("instance", msg("An instance id is a text of at most 100 characters."))
    component = resolve_component(tenant, component)
    environment = names.environment(environment)
    labels = adapters.labels(labels) if labels is not None else {}
    row = _instance(tenant, component, environment, instance)
    now = utcnow()
    if row is None:
        row = Instance(tenant_id=tenant.id, component_id=component.id, environment=environment,
                       instance=instance, labels=labels, release_number=release_number,
                       first_seen=now, last_seen=now)
        if insert(row):
            return row
        row = _instance(tenant, component, environment, instance)  # the same instance's other read won
    stale = now - row.last_seen >= dt.timedelta(seconds=INSTANCE_WRITE_SECONDS)
    if stale or row.release_number != release_number or row.labels != labels:
        row.release_number, row.labels, row.last_seen = release_number, labels, now
    db.session.flush()
    return row


def _instance(tenant, component, environment: str, instance: str) -> Instance | None:
    return db.session.execute(
        sa.select(Instance).where(Instance.tenant_id == tenant.id, Instance.component_id == component.id,
                                  Instance.environment == environment, Instance.instance == instance)
    ).scalar_one_or_none()


def list_instances(tenant, component, environment) -> list[Instance]:
    component = resolve_component(tenant, component)
    environment = names.environment(environment)
    return list(db.session.execute(
        sa.select(Instance).where(Instance.tenant_id == tenant.id, Instance.component_id == component.id,
                                  Instance.environment == environment)
        .order_by(Instance.last_seen.desc(), Instance.instance).limit(1000)).scalars())
