"""Draws a product graph (``services.product_graph``) as SVG on the server: one band per layer,
highest on top, components that depend on each other inside a band on separate rows, the order
in each row chosen to cross few edges (``layout.layered``). Nodes are coloured by layer and
outlined red (error) or amber (warning), edges drawn in the colour of their worst violation.
Each node links to its component's page. No JavaScript needed; the page may zoom it by scaling
the element. The view box is computed from everything drawn, curves and labels included."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from markupsafe import Markup, escape

from .layout import Waypoint, layered

# No red or amber among the layer colours: those mean an error and a warning.
PALETTE = ["#4263eb", "#0ca678", "#1098ad", "#ae3ec9", "#5c940d", "#7048e8", "#087f5b", "#364fc7"]
SEVERITY_COLOUR = {"error": "#d63939", "warning": "#f59f00"}
PLAIN, API = "#495057", "#1c7ed6"
NODE_W, NODE_H, GAP_X, ROW_H, LEFT, TOP, PAD = 170, 40, 30, 90, 160, 20, 12
LABEL_CHARS = 24
WAY_W = 36  # the slot of a long edge passing a row


def _curve(points) -> str:
    (p0, p1, p2, p3) = points
    return f"M {p0[0]} {p0[1]} C {p1[0]} {p1[1]}, {p2[0]} {p2[1]}, {p3[0]} {p3[1]}"


def _route(edge: dict, position: dict, waypoints: list) -> tuple[list, str]:
    """An edge between rows: from the upper node's bottom through its waypoints (straight down
    each row it passes) to the lower node's top, smooth between rows; reversed when it points
    up. Returns every point and control point (for the view box) and the path."""
    (x1, y1), (x2, y2) = position[edge["source"]], position[edge["target"]]
    downward = y1 < y2
    (ux, uy), (lx, ly) = ((x1, y1), (x2, y2)) if downward else ((x2, y2), (x1, y1))
    ports = [(ux + NODE_W / 2, uy + NODE_H)]
    for point in waypoints:
        wx, wy = position[point]
        ports += [(wx + WAY_W / 2, wy), (wx + WAY_W / 2, wy + NODE_H)]
    ports.append((lx + NODE_W / 2, ly))
    if not downward:
        ports.reverse()
    drawn = [ports[0]]
    path = [f"M {ports[0][0]} {ports[0][1]}"]
    for (ax, ay), (bx, by) in itertools.pairwise(ports):
        if ax == bx and abs(by - ay) == NODE_H:  # through a row, straight
            path.append(f"L {bx} {by}")
        else:
            half = (by - ay) / 2
            path.append(f"C {ax} {ay + half}, {bx} {by - half}, {bx} {by}")
            drawn += [(ax, ay + half), (bx, by - half)]
        drawn.append((bx, by))
    return drawn, " ".join(path)


def colour_of(layers: list[str], layer: str | None) -> str:
    return PALETTE[layers.index(layer) % len(PALETTE)] if layer in layers else "#868e96"


def edge_severity(graph: dict) -> dict[tuple[str, str], str]:
    """The worst severity of the violations each edge takes part in."""
    worst: dict[tuple[str, str], str] = {}
    for v in graph["violations"]:
        for edge in v.get("edges") or ():
            key = (edge[0], edge[1])
            if worst.get(key) != "error":
                worst[key] = v["severity"]
    return worst


def _marker(name: str, colour: str) -> str:
    return (f'<marker id="{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>')


def render(graph: dict, link: Callable[[dict], str] | None = None, no_layer: str = "no layer") -> Markup:
    """``link(node)`` gives the URL a node leads to (none: nodes are not links)."""
    layers = list(graph["layers"])
    nodes = sorted(graph["nodes"], key=lambda n: (n["external"], n["id"]))
    by_id = {n["id"]: n for n in nodes}
    band = {n["id"]: layers.index(n["layer"]) if n["layer"] in layers else len(layers) for n in nodes}
    edges = [(e["source"], e["target"]) for e in graph["edges"]]
    plan = layered([n["id"] for n in nodes], edges, band)
    # Nodes take a full slot, waypoints of long edges a narrow one; rows are centred.
    def slot(item) -> float:
        return WAY_W if isinstance(item, Waypoint) else NODE_W + GAP_X

    widths = [sum(slot(item) for item in row) for row in plan.rows]
    widest = max(widths, default=NODE_W + GAP_X)
    position: dict = {}
    for r, row in enumerate(plan.rows):
        x = LEFT + (widest - widths[r]) / 2
        for item in row:
            position[item] = (x, TOP + r * ROW_H)
            x += slot(item)
    # Everything drawn widens this box: nodes, curves' control points, labels.
    xs = [0.0, LEFT + widest]
    ys = [0.0, TOP + len(plan.rows) * ROW_H]
    severity = edge_severity(graph)
    body: list[str] = []
    bands: list[tuple[float, float, str]] = []
    # Bands: one background and one label per architecture layer present.
    for b in sorted(set(plan.band_of_row)):
        rows = [r for r, rb in enumerate(plan.band_of_row) if rb == b]
        y0, y1 = TOP + rows[0] * ROW_H - 14, TOP + rows[-1] * ROW_H + NODE_H + 14
        label = layers[b] if b < len(layers) else no_layer
        bands.append((y0, y1, label))
        ys += [y0, y1]
    for edge in graph["edges"]:
        (x1, y1), (x2, y2) = position[edge["source"]], position[edge["target"]]
        worst = severity.get((edge["source"], edge["target"]))
        if worst is None and edge["violations"]:
            worst = "error"
        colour = SEVERITY_COLOUR.get(worst or "", API if edge["kinds"] == ["api"] else PLAIN)
        marker = worst or ("api" if edge["kinds"] == ["api"] else "plain")
        dash = ' stroke-dasharray="6 4"' if edge["kinds"] == ["api"] else ""
        if edge["source"] == edge["target"]:
            right = x1 + NODE_W
            points = [(right - 20, y1), (right + 30, y1 - 30), (right + 30, y1 + NODE_H + 30),
                      (right - 20, y1 + NODE_H)]
            path = _curve(points)
        elif y1 == y2:
            sx, ex = x1 + NODE_W / 2, x2 + NODE_W / 2
            lift = 25 + abs(x2 - x1) / 12
            points = [(sx, y1), (sx, y1 - lift), (ex, y2 - lift), (ex, y2)]
            path = _curve(points)
        else:
            points, path = _route(edge, position, plan.routes.get((edge["source"], edge["target"]), []))
        xs += [p[0] for p in points]
        ys += [p[1] for p in points]
        title = f"{edge['source']} → {edge['target']}"
        if edge["violations"]:
            title += " (" + ", ".join(edge["violations"]) + ")"
        body.append(
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{2.5 if worst else 1.4}"{dash} '
            f'marker-end="url(#arrow-{marker})" data-testid="graph-edge" '
            f'data-violation="{"true" if worst else "false"}" data-severity="{worst or ""}">'
            f"<title>{escape(title)}</title></path>"
        )
    for node in nodes:
        x, y = position[node["id"]]
        fill = colour_of(layers, node["layer"])
        stroke = SEVERITY_COLOUR.get(node["violation"] or "", "#ffffff")
        label = node["id"] if node["external"] else node["name"]
        if len(label) > LABEL_CHARS:
            label = label[: LABEL_CHARS - 1] + "…"
        opacity = "0.55" if node["external"] else "1"
        shape = (
            f"<title>{escape(node['id'])} · {escape(node['kind'])} · "
            f"{escape(node['layer'] or no_layer)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{4 if node["violation"] else 1}"/>'
            f'<text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + 4}" text-anchor="middle" font-size="12" '
            f'fill="#ffffff">{escape(label)}</text>'
        )
        href = link(by_id[node["id"]]) if link else None
        if href:
            shape = f'<a href="{escape(href)}" data-testid="graph-node-link">{shape}</a>'
        body.append(
            f'<g data-testid="graph-node" data-component="{escape(node["id"])}" '
            f'data-violation="{escape(node["violation"] or "")}" opacity="{opacity}">{shape}</g>'
        )
    min_x, min_y = min(xs) - PAD, min(ys) - PAD
    width, height = max(xs) + PAD - min_x, max(ys) + PAD - min_y
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{min_x} {min_y} {width} {height}" '
        f'width="{width}" height="{height}" class="spm-graph" data-testid="dependency-graph" role="img" '
        f'aria-label="{escape(graph["product"])}" data-crossings="{plan.crossings}">'
        "<defs>" + _marker("arrow-plain", PLAIN) + _marker("arrow-api", API)
        + _marker("arrow-error", SEVERITY_COLOUR["error"])
        + _marker("arrow-warning", SEVERITY_COLOUR["warning"])
        + "</defs>"
    )
    backgrounds = "".join(
        f'<rect x="{min_x + PAD / 2}" y="{y0}" width="{width - PAD}" height="{y1 - y0}" '
        'fill="#f8f9fa" rx="4"/>'
        f'<text x="10" y="{(y0 + y1) / 2 + 4}" font-size="12" fill="#495057" data-testid="graph-band">'
        f"{escape(label)}</text>"
        for y0, y1, label in bands
    )
    return Markup(head + backgrounds + "".join(body) + "</svg>")  # noqa: S704 - every interpolated value above is escaped

