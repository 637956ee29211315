"""A layered layout for the dependency graph, written for SPM (no drawing library needed).

The architecture layers are the bands, highest on top. Inside a band, components that depend
on one another are put on separate rows by longest-path layering (a component sits above
everything it depends on in its band; cycles are broken by ignoring the edges that close
them). Then the order of the nodes in each row is improved by barycenter sweeps, down and
up: a node moves towards the mean position of its neighbours in the rows already placed.
The best order found (fewest crossings) is kept, so the result is never worse than the
starting order (by external-ness, then name).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

SWEEPS = 4
# Above this many edges the crossing count (quadratic) is only taken once per sweep pair.
MAX_COUNTED_EDGES = 1500


@dataclass
class Layout:
    rows: list[list[Hashable]]  # node ids per row, top to bottom, in drawing order
    row_of: dict[Hashable, int]
    band_of_row: list[int]  # the band (architecture layer index) each row belongs to


def _sub_rows(members: list[Hashable], edges: list[tuple[Hashable, Hashable]]) -> dict[Hashable, int]:
    """Longest-path layering of one band: a node's depth is one more than the deepest node that
    depends on it (inside the band); edges closing a cycle are ignored."""
    inside = set(members)
    out: dict[Hashable, list[Hashable]] = {n: [] for n in members}
    for u, v in edges:
        if u in inside and v in inside and u != v:
            out[u].append(v)
    # Drop back edges (found by an iterative depth-first search) so that the rest is acyclic.
    state: dict[Hashable, int] = {}
    kept: dict[Hashable, list[Hashable]] = {n: [] for n in members}
    for root in members:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(child) == 1:
                continue  # closes a cycle
            kept[node].append(child)
            if child not in state:
                state[child] = 1
                stack.append((child, iter(out[child])))
    indegree = {n: 0 for n in members}
    for u in members:
        for v in kept[u]:
            indegree[v] += 1
    depth = {n: 0 for n in members}
    ready = [n for n in members if indegree[n] == 0]
    while ready:
        u = ready.pop()
        for v in kept[u]:
            depth[v] = max(depth[v], depth[u] + 1)
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    return depth


def _x(rows: list[list[Hashable]]) -> dict[Hashable, float]:
    """Each node's horizontal place: rows centred on the widest one, one unit per node."""
    widest = max((len(r) for r in rows), default=0)
    return {n: (widest - len(row)) / 2 + i for row in rows for i, n in enumerate(row)}


def crossings(rows: list[list[Hashable]], edges: Iterable[tuple[Hashable, Hashable]]) -> int:
    """How many pairs of edges cross when each is drawn straight between its nodes' places
    (edges within one row and edges sharing a node do not count)."""
    x = _x(rows)
    y = {n: r for r, row in enumerate(rows) for n in row}
    segs = []
    for u, v in edges:
        if u == v or u not in y or v not in y or y[u] == y[v]:
            continue
        (a, b) = (u, v) if y[u] < y[v] else (v, u)
        segs.append((a, b, x[a], y[a], x[b], y[b]))
    count = 0
    for i, (a1, b1, x1, y1, x2, y2) in enumerate(segs):
        for a2, b2, x3, y3, x4, y4 in segs[i + 1 :]:
            if {a1, b1} & {a2, b2}:
                continue
            top, bottom = max(y1, y3), min(y2, y4)
            if top >= bottom:
                continue
            # Compare both segments' places at the top and the bottom of their common span.
            p1 = x1 + (x2 - x1) * (top - y1) / (y2 - y1)
            q1 = x1 + (x2 - x1) * (bottom - y1) / (y2 - y1)
            p2 = x3 + (x4 - x3) * (top - y3) / (y4 - y3)
            q2 = x3 + (x4 - x3) * (bottom - y3) / (y4 - y3)
            if (p1 - p2) * (q1 - q2) < 0:
                count += 1
    return count


def _sweep(rows: list[list[Hashable]], neighbours: dict[Hashable, set], downward: bool) -> None:
    order = range(1, len(rows)) if downward else range(len(rows) - 2, -1, -1)
    for r in order:
        placed = range(0, r) if downward else range(r + 1, len(rows))
        x = _x(rows)
        fixed = {n for p in placed for n in rows[p]}
        keys = {}
        for n in rows[r]:
            near = [x[m] for m in neighbours[n] if m in fixed]
            # A node without neighbours in the placed rows keeps its place.
            keys[n] = sum(near) / len(near) if near else x[n]
        rows[r].sort(key=keys.__getitem__)


def layered(
    nodes: list[Hashable], edges: list[tuple[Hashable, Hashable]], band: dict[Hashable, int]
) -> Layout:
    """Place ``nodes`` (already in their preferred starting order) in rows: ``band`` gives each
    node's architecture layer index (top first); ``edges`` are (depends, dependency) pairs."""
    bands: dict[int, list[Hashable]] = {}
    for n in nodes:
        bands.setdefault(band[n], []).append(n)
    rows: list[list[Hashable]] = []
    band_of_row: list[int] = []
    for b in sorted(bands):
        depth = _sub_rows(bands[b], edges)
        for d in range(max(depth.values()) + 1):
            rows.append([n for n in bands[b] if depth[n] == d])
            band_of_row.append(b)
    neighbours: dict[Hashable, set] = {n: set() for n in nodes}
    for u, v in edges:
        if u in neighbours and v in neighbours and u != v:
            neighbours[u].add(v)
            neighbours[v].add(u)
    counted = edges if len(edges) <= MAX_COUNTED_EDGES else edges[:MAX_COUNTED_EDGES]
    best = [list(r) for r in rows]
    best_count = crossings(best, counted)
    for sweep in range(SWEEPS * 2):
        if best_count == 0:
            break
        _sweep(rows, neighbours, downward=sweep % 2 == 0)
        count = crossings(rows, counted)
        if count < best_count:
            best, best_count = [list(r) for r in rows], count
    row_of = {n: r for r, row in enumerate(best) for n in row}
    return Layout(rows=best, row_of=row_of, band_of_row=band_of_row)
