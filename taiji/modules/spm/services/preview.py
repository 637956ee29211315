"""What a change would break, asked before it is made: the architecture rules run on the
tenant's graph with the new dependency added (a copy; the cached graph is never changed), and
only the violations the new edge brings are answered. The form warns at once; the release gate
still decides."""

from __future__ import annotations

import networkx as nx

from taiji.platform.errors import ServiceError

from ..models import Component
from . import rules
from .components import resolve_ref
from .graph import Violation, _check, check, tenant_graph


def dependency_violations(tenant, source: Component, target_ref: str) -> list[Violation]:
    """The violations ``source`` depending on ``target_ref`` ('name' in its product or
    'product/name') would add; empty when the target is unknown (saving will say so)."""
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
