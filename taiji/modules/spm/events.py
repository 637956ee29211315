"""Events SPM publishes (through ``taiji.platform.events.publish``, in the change's unit of work).

- ``spm.product.created``  {tenant, tenant_id, product, product_id, name}
- ``spm.product.deleted``  {tenant, tenant_id, product, product_id}: after one
  ``spm.component.changed`` (change=deleted) for each of its components, deleted with it
- ``spm.component.changed`` {tenant, tenant_id, product, component, component_id, change}
  where change is created, updated, deleted, dependency-added, dependency-updated or
  dependency-removed
- ``spm.version.released`` {tenant, tenant_id, product, version, version_id, components: {name: version}}

SPM subscribes to nothing yet.
"""

from __future__ import annotations

from taiji.platform.module import EventSpec

PRODUCT_CREATED = "spm.product.created"
PRODUCT_DELETED = "spm.product.deleted"
COMPONENT_CHANGED = "spm.component.changed"
VERSION_RELEASED = "spm.version.released"

HANDLERS: dict = {}

_TENANT = {"tenant": str, "tenant_id": int}
PUBLISHED = [
    EventSpec(PRODUCT_CREATED, {**_TENANT, "product": str, "product_id": int, "name": str}),
    EventSpec(PRODUCT_DELETED, {**_TENANT, "product": str, "product_id": int}),
    EventSpec(COMPONENT_CHANGED, {**_TENANT, "product": str, "component": str, "component_id": int,
                                  "change": str}),
    EventSpec(VERSION_RELEASED, {**_TENANT, "product": str, "version": str, "version_id": int,
                                 "components": dict}),
]
