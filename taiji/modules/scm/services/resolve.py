"""Resolution: the effective value of each key from the layers, highest precedence winning.

Works on *entries*, the dicts a release snapshot keeps (``entry_of(item)``), so a draft and a
release resolve alike. Label-layer entries apply only to an instance whose labels match their
selector; when several match, the one written last (highest id) wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import LAYERS
from . import adapters, values

_RANK = {name: rank for rank, name in enumerate(LAYERS)}


@dataclass
class ResolvedValue:
    value: object  # the typed value; None for a secret unless resolved with ``decrypt``
    type: str
    secret: bool
    layer: str
    description: str = ""
    selector: str = ""  # the label selector of a label-layer value

    @property
    def masked(self) -> bool:
        return self.secret and self.value is None


@dataclass
class Resolved:
    """``namespaces`` {namespace: {key: ResolvedValue}}; ``layers`` {namespace: {layer: {key: value}}}
    (what each layer contributes, for Spring's property sources); ``overrides`` the label-layer
    entries that did not apply (no labels given, or not matching)."""

    namespaces: dict[str, dict[str, ResolvedValue]] = field(default_factory=dict)
    layers: dict[str, dict[str, dict]] = field(default_factory=dict)
    overrides: list[dict] = field(default_factory=list)

    def merged(self, namespace: str | None = None) -> dict:
        """Key → value: one namespace, or all of them (alphabetical, ``application`` last: it wins)."""
        if namespace is not None:
            return {k: v.value for k, v in self.namespaces.get(namespace, {}).items()}
        out: dict = {}
        order = sorted(self.namespaces, key=lambda ns: (ns == "application", ns))
        for ns in order:
            out.update({k: v.value for k, v in self.namespaces[ns].items()})
        return out


def entry_of(item) -> dict:
    return {
        "id": item.id, "layer": item.layer, "scope_id": item.scope_id, "environment": item.environment,
        "selector": item.selector, "namespace": item.namespace, "key": item.key, "type": item.type,
        "value": item.value, "sealed": item.sealed, "secret": item.secret, "description": item.description,
    }


def resolve(entries: list[dict], *, labels: dict | None = None, decrypt: bool = False) -> Resolved:
    out = Resolved()
    ordered = sorted(entries, key=lambda e: (_RANK[e["layer"]], e.get("id") or 0))
    for entry in ordered:
        if entry["layer"] == "label" and (labels is None
                                          or not adapters.selector(entry["selector"]).matches(labels)):
            out.overrides.append(entry)
            continue
        typed = None
        if not entry["secret"] or decrypt:
            typed = values.plain(entry["value"], entry["sealed"])
        ns = entry["namespace"]
        out.namespaces.setdefault(ns, {})[entry["key"]] = ResolvedValue(
            typed, entry["type"], bool(entry["secret"]), entry["layer"], entry.get("description") or "",
            entry.get("selector") or "")
        out.layers.setdefault(ns, {}).setdefault(entry["layer"], {})[entry["key"]] = typed
    for ns in out.namespaces:
        out.namespaces[ns] = dict(sorted(out.namespaces[ns].items()))
    out.namespaces = dict(sorted(out.namespaces.items()))
    return out
