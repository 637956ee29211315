"""Configuration items in their layers: set, delete, list, and the resolved draft of a component
in an environment."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db
from taiji.platform.errors import Conflict, NotFound, field_error, msg

from ..models import Item
from . import adapters, history, names, sealing, values
from .components import register, resolve_component
from .resolve import Resolved, entry_of, resolve
from .storage import insert


def scope_of(component, environment: str, layer: str, label) -> tuple[int, str, str]:
    """(scope_id, environment, selector) of ``layer`` for ``component`` in ``environment``."""
    if layer == "tenant":
        return 0, "", ""
    if layer == "product":
        return component.product_id, "", ""
    if layer == "component":
        return component.id, "", ""
    if layer == "environment":
        return component.id, environment, ""
    adapters.selector(label, "label")  # a 422 when malformed
    return component.id, environment, label.strip()


def scope_name(component, item) -> str:
    """How the audit log names an item: its layer's scope, namespace and key."""
    where = {
        "tenant": "tenant",
        "product": component.product.slug,
        "component": f"{component.product.slug}/{component.name}",
        "environment": f"{component.product.slug}/{component.name}@{item.environment}",
        "label": f"{component.product.slug}/{component.name}@{item.environment}[{item.selector}]",
    }[item.layer]
    return f"{where}/{item.namespace}/{item.key}"


def _in_scope(tenant, component, environment: str):
    return sa.and_(
        Item.tenant_id == tenant.id,
        sa.or_(
            Item.layer == "tenant",
            sa.and_(Item.layer == "product", Item.scope_id == component.product_id),
            sa.and_(Item.layer == "component", Item.scope_id == component.id),
            sa.and_(Item.layer.in_(("environment", "label")), Item.scope_id == component.id,
                    Item.environment == environment),
        ),
    )


def list_items(tenant, component, environment: str, *, namespace: str | None = None,
               layer: str | None = None) -> list[Item]:
    """Every item reaching ``component`` in ``environment`` (all its layers), by layer, namespace, key."""
    component = resolve_component(tenant, component)
    stmt = sa.select(Item).where(_in_scope(tenant, component, names.environment(environment)))
    if namespace is not None:
        stmt = stmt.where(Item.namespace == namespace)
    if layer is not None:
        stmt = stmt.where(Item.layer == layer)
    return list(db.session.execute(stmt.order_by(Item.namespace, Item.key, Item.id)).scalars())


def find_item(tenant, component, environment: str, key: str, *, namespace: str = "application",
              layer: str = "environment", label=None) -> Item | None:
    scope_id, env, selector = scope_of(component, environment, layer, label)
    return db.session.execute(
        sa.select(Item).where(Item.tenant_id == tenant.id, Item.layer == layer, Item.scope_id == scope_id,
                              Item.environment == env, Item.selector == selector,
                              Item.namespace == namespace, Item.key == key)
    ).scalar_one_or_none()


def get_item(tenant, component, environment: str, key: str, *, namespace: str = "application",
             layer: str = "environment", label=None) -> Item:
    component = resolve_component(tenant, component)
    environment, key = names.environment(environment), names.key(key)
    namespace, layer = names.namespace(namespace), names.layer(layer)
    if layer == "label" and not label:
        raise field_error("label", msg("A label-layer item names its label selector."))
    item = find_item(tenant, component, environment, key, namespace=namespace, layer=layer, label=label)
    if item is None:
        raise NotFound(msg("No item '%(key)s' in namespace '%(namespace)s' of the %(layer)s layer.",
                           key=key, namespace=namespace, layer=layer))
    return item


def put_item(tenant, actor, component, environment, key, *, value, type="string", secret=False,
             description="", namespace="application", layer="environment", label=None) -> Item:
    """Set an item of the draft (create or replace); unchanged → no history."""
    component = resolve_component(tenant, component)
    environment, key = names.environment(environment), names.key(key)
    namespace, layer = names.namespace(namespace), names.layer(layer)
    kind = names.value_type(type)
    if layer == "label" and not label:
        raise field_error("label", msg("A label-layer item names its label selector."))
    if layer != "label" and label:
        raise field_error("label", msg("Only a label-layer item takes a label selector."))
    description = description or ""
    if not isinstance(description, str) or len(description) > 2000:
        raise field_error("description", msg("A description is a text of at most 2000 characters."))
    typed = values.coerce(kind, value)
    secret = bool(secret)
    scope_id, env, selector = scope_of(component, environment, layer, label)
    register(tenant, component)
    item = find_item(tenant, component, environment, key, namespace=namespace, layer=layer, label=label)
    old_text = None
    if item is None:
        item = Item(tenant_id=tenant.id, layer=layer, scope_id=scope_id, environment=env, selector=selector,
                    namespace=namespace, key=key, type=kind, secret=secret, description=description,
                    updated_by=history.actor_name(actor))
        item.value, item.sealed = values.stored(typed, secret)
        if not insert(item):
            raise Conflict(msg("The item '%(key)s' was created meanwhile; send the change again.", key=key))
        action = "item.created"
    else:
        old_text = values.encode(values.plain(item.value, item.sealed))
        unchanged = (item.type == kind and item.secret == secret and item.description == description
                     and old_text == values.encode(typed))
        if unchanged:
            return item
        action = "item.updated"
    was_secret = bool(item.secret)
    item.type, item.secret, item.description = kind, secret, description
    item.value, item.sealed = values.stored(typed, secret)
    item.updated_by = history.actor_name(actor)
    db.session.flush()
    if secret and (action == "item.created" or not was_secret):
        # What the key held while public (here or before it was deleted) must not outlive its secrecy.
        sealing.seal_past(item)
    history.record_item(tenant, actor, action, item, old_text, values.encode(typed), secret or was_secret)
    audit.record(f"scm.{action}", "config", scope_name(component, item), tenant=tenant, actor=actor,
                 details={"layer": layer, "environment": env, "namespace": namespace, "key": key,
                          "type": kind, "secret": secret})
    return item


def delete_item(tenant, actor, component, environment, key, *, namespace="application", layer="environment",
                label=None) -> None:
    component = resolve_component(tenant, component)
    item = get_item(tenant, component, environment, key, namespace=namespace, layer=layer, label=label)
    old_text = values.encode(values.plain(item.value, item.sealed))
    history.record_item(tenant, actor, "item.deleted", item, old_text, None, item.secret)
    audit.record("scm.item.deleted", "config", scope_name(component, item), tenant=tenant, actor=actor,
                 details={"layer": item.layer, "environment": item.environment, "namespace": item.namespace,
                          "key": item.key, "secret": item.secret})
    db.session.delete(item)
    db.session.flush()


def entries(tenant, component, environment: str) -> list[dict]:
    """The draft's items as snapshot entries (secrets sealed)."""
    return [entry_of(item) for item in list_items(tenant, component, environment)]


def draft(tenant, component, environment, *, labels=None) -> Resolved:
    """The resolved draft of ``component`` in ``environment``: each key's value (secrets masked) and
    the layer it came from; label-layer items apply when ``labels`` match their selectors."""
    component = resolve_component(tenant, component)
    labels = adapters.labels(labels) if labels is not None else None
    return resolve(entries(tenant, component, environment), labels=labels)


def reveal_secret(tenant, actor, component, environment, key, *, namespace="application", layer="environment",
                  label=None) -> str:
    """A secret item's value as text (its JSON for a non-text type); the reveal is audited. The
    caller checked ``scm:secret:read``."""
    component = resolve_component(tenant, component)
    item = get_item(tenant, component, environment, key, namespace=namespace, layer=layer, label=label)
    value = values.plain(item.value, item.sealed)
    audit.record("scm.secret.revealed", "config", scope_name(component, item), tenant=tenant, actor=actor,
                 details={"layer": item.layer, "environment": item.environment, "namespace": item.namespace,
                          "key": item.key})
    return value if isinstance(value, str) else values.encode(value)
