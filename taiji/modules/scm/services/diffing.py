"""The draft against the current release: what a publish would change (secrets masked)."""

from __future__ import annotations

from dataclasses import dataclass

from . import names
from .components import resolve_component
from .items import entries
from .releases import current_release
from .resolve import resolve


@dataclass
class Change:
    namespace: str
    key: str
    change: str  # added | changed | removed
    secret: bool
    old: object = None  # None for a secret
    new: object = None
    old_layer: str | None = None
    new_layer: str | None = None
    type: str = "string"


def _compare(before, after) -> list[Change]:
    out = []
    for ns in sorted(set(before.namespaces) | set(after.namespaces)):
        old_keys, new_keys = before.namespaces.get(ns, {}), after.namespaces.get(ns, {})
        for key in sorted(set(old_keys) | set(new_keys)):
            old, new = old_keys.get(key), new_keys.get(key)
            secret = bool((old and old.secret) or (new and new.secret))
            if old is None:
                kind = "added"
            elif new is None:
                kind = "removed"
            elif (old.value, old.type, old.secret, old.layer) != (new.value, new.type, new.secret, new.layer):
                kind = "changed"
            else:
                continue
            out.append(Change(ns, key, kind, secret,
                              None if secret or old is None else old.value,
                              None if secret or new is None else new.value,
                              old.layer if old else None, new.layer if new else None,
                              (new or old).type))
    return out


def diff(tenant, component, environment) -> list[Change]:
    """Changes of the resolved draft against the current release (label-layer items compared by
    their entries too). A secret counts as changed when its sealed value opens to another value."""
    component = resolve_component(tenant, component)
    environment = names.environment(environment)
    current = current_release(tenant, component, environment)
    draft_entries = entries(tenant, component, environment)
    before = resolve(current.snapshot if current else [], labels=None, decrypt=True)
    after = resolve(draft_entries, labels=None, decrypt=True)
    return _compare(before, after)
