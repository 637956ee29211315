"""Events SCM publishes (through ``taiji.platform.events.publish``, in the change's unit of work).

- ``scm.release.published``   {tenant, component, product, environment, number, gray, author}:
  a release became current (published, approved, promoted) or went gray (``gray`` true)
- ``scm.release.rolled_back`` {tenant, component, product, environment, number, from_number, author}:
  release ``number`` copies ``from_number``'s snapshot and is current

Payloads carry names, never values. SCM subscribes to ``spm.component.changed``: a deleted
component's configuration is deleted with it; and to ``spm.product.deleted``: the product layer's
items and history go, and so does whatever is left of its components'.
"""

from __future__ import annotations

from taiji.platform.module import EventSpec

RELEASE_PUBLISHED = "scm.release.published"
RELEASE_ROLLED_BACK = "scm.release.rolled_back"



def on_component_changed(event) -> None:
    payload = event.payload or {}
    if payload.get("change") == "deleted":
        from .services.cleanup import forget_component

        forget_component(payload["tenant_id"], payload["component_id"])


def on_product_deleted(event) -> None:
    from .services.cleanup import forget_product

    payload = event.payload or {}
    forget_product(payload["tenant_id"], payload["product_id"])


HANDLERS: dict = {
    "spm.component.changed": [on_component_changed],
    "spm.product.deleted": [on_product_deleted],
}

_RELEASE = {"tenant": str, "component": str, "product": str, "environment": str, "number": int, "author": str}
PUBLISHED = [
    EventSpec(RELEASE_PUBLISHED, {**_RELEASE, "gray": bool}),
    EventSpec(RELEASE_ROLLED_BACK, {**_RELEASE, "from_number": int}),
]
