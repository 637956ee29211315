"""What a change would break, asked before it is made: the architecture rules run on the
tenant's graph with the new dependency added (a copy; the cached graph is never changed), and
only the violations the new edge brings are answered. The form warns at once; the release gate
still decides."""

from __future__ import annotations

from taiji.platform.errors import ServiceError

from ..models import Component
from . import rules
from .components import resolve_ref
from .graph import Violation, _check, check, tenant_graph


def dependency_violations(tenant, source: Component, target_ref: str) -> list[Violation]:
    """The violations ``source`` depending on ``target_ref`` ('name' in its product or
    'product/name') would add; empty when the target is unknown (saving will say so)."""
    import networkx as nx

    try:
        target = resolve_ref(tenant, target_ref.strip(), source.product)
    except ServiceError:
        return []
    graph = tenant_graph(tenant)
    if graph.has_edge(source.id, target.id) or source.id not in graph or target.id not in graph:
        return []
    trial = nx.DiGraph(graph)
    trial.add_edge(source.id, target.id, kinds=("depends-on",), version_range="*", apis=())
    before = {(v.rule, tuple(v.components)) for v in check(tenant, source.product)}
    after = _check(trial, source.product_id, rules.layers(tenant), rules.severities(tenant))
    edge = (graph.nodes[source.id]["ref"], graph.nodes[target.id]["ref"])
    return [v for v in after if (v.rule, tuple(v.components)) not in before
            and (edge in [tuple(e) for e in v.edges] or v.rule == "cycle")]


def preview_catalog(tenant, text: str):
    """What importing ``text`` would create, change, leave and refuse, without changing
    anything: the import runs in a savepoint that is then rolled back (its audit entries and
    events, written in the same unit of work, go with it)."""
    from taiji.platform.db import db

    from .backstage_import import import_catalog

    savepoint = db.session.begin_nested()
    try:
        return import_catalog(tenant, text)
    finally:
        savepoint.rollback()


def component_violations(tenant, product, data: dict, component: Component | None = None) -> list[Violation]:
    """The violations saving the component form would add: ``data`` holds its layer, kind and the
    APIs it provides and consumes (as the form parses them); ``component`` is the one being
    edited (None: a new one). Declared dependencies stay as they are; the API edges are redrawn
    from ``data``, and the layer and kind taken from it."""
    import networkx as nx
    import sqlalchemy as sa

    from taiji.platform.db import db

    from ..models import ComponentApi

    graph = tenant_graph(tenant)
    trial = nx.DiGraph(graph)
    node = component.id if component is not None else -1
    name = component.name if component is not None else (data.get("name") or "new").strip().lower()
    if node not in trial:
        trial.add_node(node, ref=f"{product.slug}/{name}", name=name, product=product.slug,
                       product_id=product.id, owns_database=None)
    trial.nodes[node].update(layer=data.get("layer") or None, kind=data.get("kind") or "service",
                             owns_database=data.get("owns_database") or None)
    for u, v in [*trial.in_edges(node), *trial.out_edges(node)]:
        kinds = trial.edges[u, v]["kinds"]
        if "depends-on" in kinds:
            trial.edges[u, v].update(kinds=("depends-on",), apis=())
        else:
            trial.remove_edge(u, v)

    def apis(direction):
        return {(str(a.get("name") or "").strip().lower(), str(a.get("version") or "v1").strip().lower())
                for a in data.get(direction) or ()}

    def holders(direction, wanted):
        if not wanted:
            return []
        rows = db.session.execute(
            sa.select(ComponentApi.component_id, ComponentApi.name, ComponentApi.version).where(
                ComponentApi.tenant_id == tenant.id, ComponentApi.direction == direction,
                ComponentApi.name.in_({n for n, _ in wanted}))
        ).all()
        return [cid for cid, n, v in rows if (n, v) in wanted and cid != node and cid in trial]

    for provider in holders("provides", apis("consumes")):
        if not trial.has_edge(node, provider):
            trial.add_edge(node, provider, kinds=("api",), version_range=None, apis=())
    for consumer in holders("consumes", apis("provides")):
        if not trial.has_edge(consumer, node):
            trial.add_edge(consumer, node, kinds=("api",), version_range=None, apis=())
    before = {(v.rule, tuple(v.components)) for v in check(tenant, product)}
    after = _check(trial, product.id, rules.layers(tenant), rules.severities(tenant))
    ref = trial.nodes[node]["ref"]
    return [v for v in after if (v.rule, tuple(v.components)) not in before and ref in v.components]
