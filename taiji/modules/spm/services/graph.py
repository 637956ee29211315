"""The tenant's dependency graph (networkx) and what is asked of it: architecture-rule
violations, what a component depends on, what depends on it, and what breaks when one of
its APIs is retired.

An edge ``a -> b`` means *a depends on b*: declared (kind ``depends-on``) or because ``a``
consumes an API that ``b`` provides (kind ``api``). The graph of a whole tenant is built
once per catalog change and cached by the tenant's rule-settings revision.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from taiji.platform.db import Page, db
from taiji.platform.errors import Msg, NotFound, msg

from ..models import Component, ComponentApi, Dependency, Product
from . import rules

if TYPE_CHECKING:  # imported where used: importing it costs every process's start-up
    import networkx as nx

_CACHE: OrderedDict[int, tuple[int, nx.DiGraph]] = OrderedDict()
_CACHE_SIZE = 32
_lock = threading.Lock()


@dataclass(frozen=True)
class Violation:
    """One broken rule; shared by every caller of the memoised check, so never changed."""

    rule: str
    severity: str
    components: list[str]
    message: Msg  # read in the language of whoever asks (the check is shared between requests)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "components": self.components,
            "message": str(self.message),
            "edges": [list(e) for e in self.edges],
        }


def _build(tenant) -> nx.DiGraph:
    import networkx as nx
    graph = nx.DiGraph()
    rows = db.session.execute(
        sa.select(
            Component.id,
            Product.slug,
            Component.name,
            Component.kind,
            Component.layer,
            Component.owns_database,
            Component.product_id,
        )
        .join(Product, Product.id == Component.product_id)
        .where(Component.tenant_id == tenant.id)
    ).all()
    for cid, pslug, name, kind, layer, owns, pid in rows:
        graph.add_node(
            cid,
            ref=f"{pslug}/{name}",
            name=name,
            product=pslug,
            product_id=pid,
            kind=kind,
            layer=layer,
            owns_database=owns,
        )
    for source, target, version_range in db.session.execute(
        sa.select(Dependency.source_id, Dependency.target_id, Dependency.version_range).where(
            Dependency.tenant_id == tenant.id, Dependency.target_id.is_not(None)
        )
    ):
        graph.add_edge(source, target, kinds=("depends-on",), version_range=version_range, apis=())
    providers: dict[tuple[str, str], list[int]] = {}
    consumers: list[tuple[int, str, str]] = []
    for cid, direction, name, version in db.session.execute(
        sa.select(
            ComponentApi.component_id, ComponentApi.direction, ComponentApi.name, ComponentApi.version
        ).where(ComponentApi.tenant_id == tenant.id)
    ):
        if direction == "provides":
            providers.setdefault((name, version), []).append(cid)
        else:
            consumers.append((cid, name, version))
    for cid, name, version in consumers:
        for provider in providers.get((name, version), ()):
            if provider == cid:
                continue
            data = graph.get_edge_data(cid, provider)
            if data is None:
                graph.add_edge(cid, provider, kinds=("api",), version_range=None, apis=(f"{name}@{version}",))
            else:
                kinds = data["kinds"] if "api" in data["kinds"] else (*data["kinds"], "api")
                graph.add_edge(
                    cid,
                    provider,
                    kinds=kinds,
                    version_range=data["version_range"],
                    apis=(*data["apis"], f"{name}@{version}"),
                )
    # Each node's place in name order, so that listings sort with C-level keys.
    by_name = sorted(graph.nodes, key=lambda n: graph.nodes[n]["ref"])
    graph.graph["rank"] = {n: i for i, n in enumerate(by_name)}
    graph.graph["checked"] = {}
    return nx.freeze(graph)


def tenant_graph(tenant) -> nx.DiGraph:
    """The tenant's graph; rebuilt only when the catalog changed since it was cached."""
    stamp = rules.revision(tenant)
    with _lock:
        cached = _CACHE.get(tenant.id)
        if cached is not None and cached[0] == stamp:
            _CACHE.move_to_end(tenant.id)
            return cached[1]
    graph = _build(tenant)
    with _lock:
        _CACHE[tenant.id] = (stamp, graph)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return graph


# -- rules --------------------------------------------------------------------------------------


def check(tenant, product: Product | None = None) -> list[Violation]:
    """Every rule violation that involves ``product`` (the whole tenant when None).

    Remembered with the cached graph: until the catalog or the rules change, asking again
    (the product page, the violations list, a release) costs nothing."""
    return _checked(tenant, product.id if product is not None else None)


def _checked(tenant, product_id: int | None) -> list[Violation]:
    graph = tenant_graph(tenant)
    layers = rules.layers(tenant)
    severity = rules.severities(tenant)
    memo = graph.graph.setdefault("checked", {})
    key = (product_id, tuple(layers), tuple(sorted(severity.items())))
    if key not in memo:
        if len(memo) >= 64:
            memo.clear()
        memo[key] = _check(graph, product_id, layers, severity)
    return list(memo[key])


def _check(graph: nx.DiGraph, product_id: int | None, layers: list[str], severity: dict) -> list[Violation]:
    import networkx as nx
    rank = {name: index for index, name in enumerate(layers)}
    mine = (
        set(graph.nodes)
        if product_id is None
        else {n for n, pid in graph.nodes(data="product_id") if pid == product_id}
    )
    ref = graph.nodes
    found: list[Violation] = []

    for u, v in graph.edges:
        if u not in mine or u == v:
            continue
        lu, lv = ref[u]["layer"], ref[v]["layer"]
        if lu not in rank or lv not in rank:
            continue
        a, b = ref[u]["ref"], ref[v]["ref"]
        if rank[lu] == rank[lv]:
            found.append(
                Violation(
                    "same-layer",
                    severity["same-layer"],
                    [a, b],
                    msg("%(a)s depends on %(b)s, and both are in the %(layer)s layer: components of one "
                        "layer must not depend on each other. Move what they share to a lower "
                        "layer, or let them exchange events.", a=a, b=b, layer=lu),
                    [(a, b)],
                )
            )
        elif rank[lu] > rank[lv]:
            found.append(
                Violation(
                    "upward-dependency",
                    severity["upward-dependency"],
                    [a, b],
                    msg("%(a)s (%(la)s) depends on %(b)s (%(lb)s), which is a higher layer: a lower "
                        "layer must not depend on a higher one. Invert the dependency, for "
                        "instance with an event the higher layer subscribes to.", a=a, la=lu, b=b, lb=lv),
                    [(a, b)],
                )
            )

    for scc in nx.strongly_connected_components(graph):
        if not scc & mine:
            continue
        start = min(scc & mine)
        if len(scc) == 1 and not graph.has_edge(start, start):
            continue
        cycle_edges = nx.find_cycle(graph.subgraph(scc), source=start)
        names = [ref[u]["ref"] for u, _ in cycle_edges]
        path = " → ".join([*names, names[0]])
        found.append(
            Violation(
                "cycle",
                severity["cycle"],
                names,
                msg("%(path)s is a dependency cycle of %(n)s components: none of them can be built, "
                    "released or started without the others. Remove one of these dependencies.",
                    path=path, n=len(names))
                if len(names) != 1
                else msg("%(path)s is a dependency cycle of 1 component: it cannot be built, released "
                         "or started. Remove this dependency.", path=path),
                [(ref[u]["ref"], ref[v]["ref"]) for u, v in cycle_edges],
            )
        )

    owners: dict[str, list[int]] = {}
    for node, owns in graph.nodes(data="owns_database"):
        if owns:
            owners.setdefault(owns, []).append(node)
    for database, owned_by in sorted(owners.items()):
        if len(owned_by) > 1 and set(owned_by) & mine:
            names = sorted(ref[n]["ref"] for n in owned_by)
            found.append(
                Violation(
                    "shared-database",
                    severity["shared-database"],
                    names,
                    msg("%(names)s all claim to own the database %(database)s: a database "
                        "has one owner, the others go through its API.", names=", ".join(names),
                        database=database),
                )
            )
    for u, v in graph.edges:
        if u not in mine or ref[v]["kind"] != "database" or ref[v]["name"] not in owners:
            continue
        owned_by = owners[ref[v]["name"]]
        if u in owned_by:
            continue
        owner = ref[owned_by[0]]["ref"]
        a, b = ref[u]["ref"], ref[v]["ref"]
        found.append(
            Violation(
                "shared-database",
                severity["shared-database"],
                [a, b, owner],
                msg("%(a)s uses the database %(b)s, which %(owner)s owns: a component must not use "
                    "another component's database. Call %(owner)s's API instead.", a=a, b=b, owner=owner),
                [(a, b)],
            )
        )
    found.sort(key=lambda x: (x.severity != "error", x.rule, x.components))
    return found


# -- questions ----------------------------------------------------------------------------------


def _entry(graph: nx.DiGraph, node: int, depth: int) -> dict:
    data = graph.nodes[node]
    return {
        "component": data["ref"],
        "product": data["product"],
        "layer": data["layer"],
        "kind": data["kind"],
        "depth": depth,
    }


def _listing(graph: nx.DiGraph, distances: dict[int, int], start: int) -> list[dict]:
    ordered = sorted(
        (n for n in distances if n != start), key=lambda n: (distances[n], graph.nodes[n]["ref"])
    )
    return [_entry(graph, n, distances[n]) for n in ordered]


def _related(
    graph: nx.DiGraph, start: int, max_depth: int | None, page: int, page_size: int
) -> Page[dict]:
    # The traversal over the cached graph takes a few milliseconds even when thousands of
    # components are reached; building and serialising an entry for each is what costs, so
    # only the requested page is turned into entries.
    import networkx as nx
    distances = nx.single_source_shortest_path_length(graph, start, cutoff=max_depth)
    distances.pop(start, None)
    # By name, then (stable) by depth: nearest first, names in order within a depth.
    ordered = sorted(distances, key=graph.graph["rank"].__getitem__)
    ordered.sort(key=distances.__getitem__)
    page, page_size = max(1, page), max(1, min(page_size, 100))
    chunk = ordered[(page - 1) * page_size : page * page_size]
    items = [_entry(graph, n, distances[n]) for n in chunk]
    return Page(items=items, total=len(ordered), page=page, page_size=page_size)


def depends_on(
    tenant, component: Component, *, max_depth: int | None = None, page: int = 1, page_size: int = 20
) -> Page[dict]:
    """What ``component`` depends on, directly (depth 1) or transitively up to ``max_depth``,
    nearest first, one page at a time."""
    return _related(tenant_graph(tenant), component.id, max_depth, page, page_size)


def impact(
    tenant, component: Component, *, max_depth: int | None = None, page: int = 1, page_size: int = 20
) -> Page[dict]:
    """What depends on ``component``, directly or transitively up to ``max_depth``, nearest
    first, one page at a time (impact analysis)."""
    return _related(tenant_graph(tenant).reverse(copy=False), component.id, max_depth, page, page_size)


def api_retirement_impact(tenant, component: Component, api: str, version: str) -> dict:
    """What breaks if ``component`` stops providing ``api`` at ``version``: its direct consumers,
    and everything that depends on them."""
    import networkx as nx

    api, version = api.strip().lower(), version.strip().lower()
    if not any(a.direction == "provides" and a.name == api and a.version == version for a in component.apis):
        raise NotFound(msg("'%(component_ref)s' does not provide the API %(api)s version %(version)s.",
                           component_ref=component.ref, api=api, version=version))
    graph = tenant_graph(tenant)
    consumer_ids = (
        db.session.execute(
            sa.select(ComponentApi.component_id).where(
                ComponentApi.tenant_id == tenant.id,
                ComponentApi.direction == "consumes",
                ComponentApi.name == api,
                ComponentApi.version == version,
                ComponentApi.component_id != component.id,
            )
        )
        .scalars()
        .all()
    )
    reverse = graph.reverse(copy=False)
    distances: dict[int, int] = {}
    for consumer in consumer_ids:
        for node, depth in nx.single_source_shortest_path_length(reverse, consumer).items():
            if node != component.id and (node not in distances or distances[node] > depth + 1):
                distances[node] = depth + 1
    return {
        "component": component.ref,
        "api": api,
        "version": version,
        "broken": sorted(graph.nodes[c]["ref"] for c in consumer_ids),
        "affected": _listing(graph, distances, component.id),
    }


def violations_around(tenant, product: Product) -> list[Violation]:
    """The product's violations (``check``) and those of other products that involve its
    components: a rule broken by an edge between two products is checked from the depending
    side, and the other product's pages show it too, the same way."""
    graph = tenant_graph(tenant)
    violations = check(tenant, product)
    mine = {n for n, pid in graph.nodes(data="product_id") if pid == product.id}
    seen = {(v.rule, tuple(v.components)) for v in violations}
    mine_refs = {graph.nodes[n]["ref"] for n in mine}
    neighbours = {graph.nodes[m]["product_id"] for n in mine
                  for m in (*graph.successors(n), *graph.predecessors(n))} - {product.id}
    for other in sorted(neighbours):
        for v in _checked(tenant, other):
            if (v.rule, tuple(v.components)) not in seen and mine_refs.intersection(v.components):
                seen.add((v.rule, tuple(v.components)))
                violations.append(v)
    violations.sort(key=lambda x: (x.severity != "error", x.rule, x.components))
    return violations


def product_graph(tenant, product: Product, focus: Component | None = None) -> dict:
    """Nodes and edges around ``product`` (its components and their neighbours in other
    products), each flagged with the violations it takes part in. ``focus`` keeps only one
    component and its direct neighbours."""
    graph = tenant_graph(tenant)
    mine = {n for n, pid in graph.nodes(data="product_id") if pid == product.id}
    keep = set(mine)
    for n in mine:
        keep.update(graph.successors(n))
        keep.update(graph.predecessors(n))
    if focus is not None:
        keep = {focus.id, *graph.successors(focus.id), *graph.predecessors(focus.id)}
    violations = violations_around(tenant, product)
    bad_nodes: dict[str, str] = {}
    bad_edges: dict[tuple[str, str], list[str]] = {}
    for v in violations:
        for name in v.components:
            if bad_nodes.get(name) != "error":
                bad_nodes[name] = v.severity
        for edge in v.edges:
            bad_edges.setdefault(tuple(edge), []).append(v.rule)
    nodes = []
    for n in sorted(keep, key=lambda n: graph.nodes[n]["ref"]):
        data = graph.nodes[n]
        nodes.append(
            {
                "id": data["ref"],
                "name": data["name"],
                "product": data["product"],
                "kind": data["kind"],
                "layer": data["layer"],
                "external": n not in mine,
                "violation": bad_nodes.get(data["ref"]),
            }
        )
    edges = []
    for u, v, data in graph.edges(data=True):
        if u in keep and v in keep and (u in mine or v in mine):
            key = (graph.nodes[u]["ref"], graph.nodes[v]["ref"])
            edges.append(
                {
                    "source": key[0],
                    "target": key[1],
                    "kinds": list(data["kinds"]),
                    "version_range": data["version_range"],
                    "apis": list(data["apis"]),
                    "violations": bad_edges.get(key, []),
                }
            )
    edges.sort(key=lambda e: (e["source"], e["target"]))
    return {
        "product": product.slug,
        "layers": rules.layers(tenant),
        "nodes": nodes,
        "edges": edges,
        "violations": [v.as_dict() for v in violations],
    }
