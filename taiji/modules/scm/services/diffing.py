"""The draft against the current release: what a publish would change (secrets masked)."""

from __future__ import annotations

from dataclasses import dataclass

from . import names, values
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
    label: str = ""  # the selector of a label-layer item (those apply to matching instances only)


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


def _overrides(before, after) -> list[Change]:
    """Label-layer items compared one by one (namespace, key, selector)."""
    def keyed(resolved):
        return {(e["namespace"], e["key"], e["selector"]): e for e in resolved.overrides}

    old_items, new_items = keyed(before), keyed(after)
    out = []
    for where in sorted(set(old_items) | set(new_items)):
        old, new = old_items.get(where), new_items.get(where)
        pair = [None if e is None else values.plain(e["value"], e["sealed"]) for e in (old, new)]
        if old is not None and new is not None and (old["type"], old["secret"], pair[0]) == (
                new["type"], new["secret"], pair[1]):
            continue
        secret = bool((old and old["secret"]) or (new and new["secret"]))
        kind = "added" if old is None else "removed" if new is None else "changed"
        shown = [None, None] if secret else pair
        out.append(Change(where[0], where[1], kind, secret, shown[0], shown[1], "label" if old else None,
                          "label" if new else None, (new or old)["type"], where[2]))
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
    return _compare(before, after) + _overrides(before, after)
