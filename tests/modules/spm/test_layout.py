"""The layered layout of the dependency graph and the SVG drawn from it."""

from __future__ import annotations

import itertools
import re

from taiji.modules.spm import graph_svg
from taiji.modules.spm.layout import crossings, layered


def test_longest_path_layering_puts_a_dependency_below_its_dependent_inside_a_band():
    nodes = ["a", "b", "c", "d"]
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("d", "d")]
    plan = layered(nodes, edges, {n: 0 for n in nodes})
    assert plan.row_of["a"] < plan.row_of["b"] < plan.row_of["c"]
    # A cycle inside a band is broken, not looped over.
    cyc = layered(["x", "y"], [("x", "y"), ("y", "x")], {"x": 0, "y": 0})
    assert sorted(cyc.row_of.values()) == [0, 1]


def test_barycenter_sweeps_remove_the_crossings_of_the_naive_order():
    # Two rows; the naive (name) order of the bottom row crosses every edge.
    top = ["t1", "t2", "t3", "t4"]
    bottom = ["b1", "b2", "b3", "b4"]
    edges = [("t1", "b4"), ("t2", "b3"), ("t3", "b2"), ("t4", "b1")]
    band = {**{n: 0 for n in top}, **{n: 1 for n in bottom}}
    naive = crossings([top, bottom], edges)
    assert naive == 6
    plan = layered(top + bottom, edges, band)
    assert crossings(plan.rows, edges) == 0


def test_layout_is_never_worse_than_the_starting_order():
    nodes = [f"n{i}" for i in range(12)]
    band = {n: i % 3 for i, n in enumerate(nodes)}
    pairs = [(nodes[i], nodes[(i * 5 + 1) % 12]) for i in range(12)]
    edges = [(a, b) for a, b in pairs if band[a] != band[b]]
    plan = layered(nodes, edges, band)
    assert plan.crossings <= plan.first_crossings
    assert plan.crossings == crossings(plan.rows, plan.edges)


def _graph():
    layers = ["access", "business-logic", "base"]
    names = [("web", "access"), ("admin", "access"), ("cart", "business-logic"), ("pay", "business-logic"),
             ("stock", "base"), ("db", "base"), ("loose", None)]
    nodes = [{"id": f"p/{n}", "name": n, "product": "p", "kind": "service", "layer": layer, "external": False,
              "violation": None} for n, layer in names]
    nodes.append({"id": "q/ext", "name": "ext", "product": "q", "kind": "service", "layer": "base",
                  "external": True, "violation": "warning"})
    pairs = [("web", "pay"), ("admin", "cart"), ("cart", "db"), ("pay", "stock"), ("cart", "pay"),
             ("stock", "stock"), ("db", "web")]
    edges = [{"source": f"p/{a}", "target": f"p/{b}", "kinds": ["depends-on"], "version_range": "*",
              "apis": [], "violations": []} for a, b in pairs]
    edges.append({"source": "p/db", "target": "q/ext", "kinds": ["depends-on"], "version_range": "*",
                  "apis": [], "violations": ["same-layer"]})
    violations = [{"rule": "same-layer", "severity": "warning", "components": ["p/db", "q/ext"],
                   "message": "m", "edges": [["p/db", "q/ext"]]},
                  {"rule": "upward-dependency", "severity": "error", "components": ["p/db", "p/web"],
                   "message": "m", "edges": [["p/db", "p/web"]]}]
    return {"product": "p", "layers": layers, "nodes": nodes, "edges": edges, "violations": violations}


def test_svg_nodes_do_not_overlap_and_the_view_box_holds_every_curve():
    svg = str(graph_svg.render(_graph(), link=lambda n: f"/c/{n['product']}/{n['name']}"))
    rects = [tuple(map(float, m)) for m in re.findall(
        r'<rect x="([\d.-]+)" y="([\d.-]+)" width="170" height="40"', svg)]
    assert len(rects) == 8
    for (x1, y1), (x2, y2) in itertools.combinations(rects, 2):
        assert abs(x1 - x2) >= 170 or abs(y1 - y2) >= 40, "two nodes overlap"
    min_x, min_y, width, height = map(float, re.search(r'viewBox="([^"]+)"', svg).group(1).split())
    numbers = []
    for path in re.findall(r'<path d="(M [^"]+)"', svg):
        values = list(map(float, re.findall(r"-?[\d.]+", path)))
        numbers += list(zip(values[0::2], values[1::2], strict=True))
    numbers += [(x, y) for x, y in rects] + [(x + 170, y + 40) for x, y in rects]
    for x, y in numbers:
        assert min_x <= x <= min_x + width and min_y <= y <= min_y + height
    # Colours follow the legend: the warning edge amber, the error edge red.
    assert re.search(r'stroke="#f59f00"[^>]*data-severity="warning"', svg)
    assert re.search(r'stroke="#d63939"[^>]*data-severity="error"', svg)
    assert 'stroke="#f59f00" stroke-width="4"' in svg  # the node with a warning, outlined amber
    assert '<a href="/c/p/web" data-testid="graph-node-link">' in svg
    assert 'data-testid="graph-band">no layer<' in svg


def test_svg_escapes_names():
    graph = _graph()
    graph["nodes"][0]["name"] = "<script>"
    assert "<script>" not in str(graph_svg.render(graph))


def _brute_force(rows, edges):
    """Every pair of straight segments checked geometrically (the slow way)."""
    from fractions import Fraction

    widest = max(len(r) for r in rows)
    x = {n: Fraction(widest - len(row), 2) + i for row in rows for i, n in enumerate(row)}
    y = {n: r for r, row in enumerate(rows) for n in row}
    # An edge and its reverse are drawn over one another: one segment.
    segs = list(dict.fromkeys((u, v) if y[u] < y[v] else (v, u) for u, v in edges if u != v and y[u] != y[v]))
    count = 0
    for (a, b), (c, d) in itertools.combinations(segs, 2):
        if {a, b} & {c, d}:
            continue
        top, bottom = max(y[a], y[c]), min(y[b], y[d])
        if top >= bottom:
            continue

        def at(p, q, level):
            return x[p] + (x[q] - x[p]) * (level - y[p]) / (y[q] - y[p])

        if (at(a, b, top) - at(c, d, top)) * (at(a, b, bottom) - at(c, d, bottom)) < 0:
            count += 1
    return count


def test_the_fast_crossing_count_agrees_with_the_geometric_one():
    import random

    rng = random.Random(7)
    for _ in range(200):
        nodes = [f"n{i}" for i in range(rng.randrange(4, 16))]
        band = {n: rng.randrange(4) for n in nodes}
        edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(rng.randrange(2, 30))]
        plan = layered(nodes, edges, band)
        # Long edges are counted through their waypoints, one row at a time.
        assert crossings(plan.rows, plan.edges) == _brute_force(plan.rows, plan.edges) == plan.crossings
        assert crossings(plan.rows, edges) == _brute_force(plan.rows, edges)
        assert plan.crossings <= plan.first_crossings
        rows_of = {n: r for r, row in enumerate(plan.rows) for n in row}
        assert all(abs(rows_of[u] - rows_of[v]) <= 1 for u, v in plan.edges)
        for (u, v), points in plan.routes.items():
            assert [rows_of[p] for p in points] == list(range(min(rows_of[u], rows_of[v]) + 1,
                                                             max(rows_of[u], rows_of[v])))
