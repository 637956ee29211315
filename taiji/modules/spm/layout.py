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

import itertools
import math
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

SWEEPS = 4
LARGE = 1000  # edges


@dataclass
class Layout:
    rows: list[list[Hashable]]  # node ids (and waypoints) per row, top to bottom, in drawing order
    row_of: dict[Hashable, int]
    band_of_row: list[int]  # the band (architecture layer index) each row belongs to
    crossings: int = 0  # edge crossings of this order (long edges through their waypoints)
    first_crossings: int = 0  # those of the starting order
    edges: list = field(default_factory=list)  # the edges counted: long ones as waypoint chains
    routes: dict = field(default_factory=dict)  # (source, target) -> waypoints, top to bottom


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


def _inversions(values: list[float]) -> int:
    """Pairs i < j with values[i] > values[j] (strictly), by merge sort."""
    if len(values) < 2:
        return 0
    middle = len(values) // 2
    left, right = values[:middle], values[middle:]
    count = _inversions(left) + _inversions(right)
    i = j = k = 0
    while i < len(left) and j < len(right):
        if right[j] < left[i]:
            values[k] = right[j]
            count += len(left) - i
            j += 1
        else:
            values[k] = left[i]
            i += 1
        k += 1
    values[k:] = left[i:] + right[j:]
    return count


def crossings(rows: list[list[Hashable]], edges: Iterable[tuple[Hashable, Hashable]]) -> int:
    """How many pairs of edges cross when each is drawn straight between its nodes' places
    (edges within one row, edges sharing a node and edges that only touch do not count).

    Straight lines cross at most once, so the crossings are counted gap by gap between two
    neighbouring rows: two edges passing a gap cross inside it when their order at its top and
    at its bottom differ (an inversion count, n log n per gap), or on its top line when both
    come from above and meet there. Places are exact whole numbers, so that meeting is seen."""
    # Exact integer places: twice the place (rows are centred by half units) times a multiple of
    # every edge's row span, so that every interpolated place is whole.
    x = {n: int(2 * v) for n, v in _x(rows).items()}
    y = {n: r for r, row in enumerate(rows) for n in row}
    segments = set()
    for u, v in set(edges):
        if u == v or u not in y or v not in y or y[u] == y[v]:
            continue
        segments.add((u, v) if y[u] < y[v] else (v, u))
    scale = math.lcm(*(y[b] - y[a] for a, b in segments)) if segments else 1
    gaps: dict[int, list[tuple[int, int, bool]]] = {}
    for a, b in segments:
        x1, y1, x2, y2 = x[a] * scale, y[a], x[b] * scale, y[b]
        step = (x2 - x1) // (y2 - y1)
        for r in range(y1, y2):
            gaps.setdefault(r, []).append((x1 + step * (r - y1), x1 + step * (r + 1 - y1), r > y1))
    total = 0
    for passing in gaps.values():
        passing.sort()
        total += _inversions([bottom for _, bottom, _ in passing])
        # Edges from above meeting exactly on this gap's top line and parting below it.
        meeting: dict[int, list[int]] = {}
        for top, bottom, from_above in passing:
            if from_above:
                meeting.setdefault(top, []).append(bottom)
        for bottoms in meeting.values():
            pairs = len(bottoms) * (len(bottoms) - 1) // 2
            same = sum(k * (k - 1) // 2 for k in Counter(bottoms).values())
            total += pairs - same
    return total


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


@dataclass(frozen=True)
class Waypoint:
    """A place an edge passes through in a row between its two nodes (a dummy node)."""

    edge: tuple
    step: int


def layered(
    nodes: list[Hashable], edges: list[tuple[Hashable, Hashable]], band: dict[Hashable, int]
) -> Layout:
    """Place ``nodes`` (already in their preferred starting order) in rows: ``band`` gives each
    node's architecture layer index (top first); ``edges`` are (depends, dependency) pairs.

    An edge spanning several rows gets a ``Waypoint`` in each row between its ends, ordered
    with the nodes, so that it is routed around them (``Layout.routes``)."""
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
    row_of = {n: r for r, row in enumerate(rows) for n in row}
    # Each long edge becomes a chain through waypoints; short edges stay as they are.
    routes: dict[tuple, list[Waypoint]] = {}
    chained: list[tuple[Hashable, Hashable]] = []
    for u, v in dict.fromkeys(edges):
        if u not in row_of or v not in row_of or u == v:
            continue
        top, bottom = sorted((row_of[u], row_of[v]))
        if (v, u) in routes:  # the reverse of a routed edge: drawn along the same waypoints
            routes[(u, v)] = routes[(v, u)]
            continue
        if bottom - top <= 1:
            chained.append((u, v))
            continue
        upper = u if row_of[u] < row_of[v] else v
        points = [Waypoint((u, v), k) for k in range(1, bottom - top)]
        for k, point in enumerate(points, start=1):
            rows[top + k].append(point)
        routes[(u, v)] = points
        chain = [upper, *points, v if upper == u else u]
        chained.extend(itertools.pairwise(chain))
    neighbours: dict[Hashable, set] = {n: set() for row in rows for n in row}
    for u, v in chained:
        if u != v:
            neighbours[u].add(v)
            neighbours[v].add(u)
    best = [list(r) for r in rows]
    first = best_count = crossings(best, chained)
    # A very large graph gets one sweep down and up: each crossing count is n log n per gap.
    sweeps = SWEEPS if len(chained) <= LARGE else 1
    for sweep in range(sweeps * 2):
        if best_count == 0:
            break
        _sweep(rows, neighbours, downward=sweep % 2 == 0)
        count = crossings(rows, chained)
        if count < best_count:
            best, best_count = [list(r) for r in rows], count
    row_of = {n: r for r, row in enumerate(best) for n in row}
    return Layout(rows=best, row_of=row_of, band_of_row=band_of_row, crossings=best_count,
                  first_crossings=first, edges=chained, routes=routes)
