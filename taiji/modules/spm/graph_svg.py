"""Draws a product graph (``services.product_graph``) as SVG on the server: one row per layer,
highest on top, nodes coloured by layer, violations outlined in red (error) or amber
(warning). No JavaScript needed; the page may zoom it by scaling the element."""

from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ["#4263eb", "#0ca678", "#f59f00", "#ae3ec9", "#1098ad", "#e8590c", "#5c940d", "#d6336c"]
SEVERITY_COLOUR = {"error": "#d63939", "warning": "#f59f00"}
NODE_W, NODE_H, GAP_X, ROW_H, LEFT, TOP = 170, 40, 30, 110, 150, 30


def colour_of(layers: list[str], layer: str | None) -> str:
    return PALETTE[layers.index(layer) % len(PALETTE)] if layer in layers else "#868e96"


def render(graph: dict) -> Markup:
    layers = list(graph["layers"])
    rows: dict[int, list[dict]] = {}
    for node in graph["nodes"]:
        row = layers.index(node["layer"]) if node["layer"] in layers else len(layers)
        rows.setdefault(row, []).append(node)
    position: dict[str, tuple[float, float]] = {}
    width = LEFT + NODE_W
    for row, nodes in rows.items():
        nodes.sort(key=lambda n: (n["external"], n["id"]))
        for index, node in enumerate(nodes):
            x = LEFT + index * (NODE_W + GAP_X)
            position[node["id"]] = (x, TOP + row * ROW_H)
            width = max(width, x + NODE_W + GAP_X)
    height = TOP + (max(rows) + 1 if rows else 1) * ROW_H
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" class="spm-graph" data-testid="dependency-graph" role="img" '
        f'aria-label="{escape(graph["product"])} dependency graph">',
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#495057"/></marker>'
        '<marker id="arrow-bad" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#d63939"/></marker></defs>',
    ]
    for row in range(max(rows) + 1 if rows else 0):
        label = layers[row] if row < len(layers) else "no layer"
        y = TOP + row * ROW_H
        out.append(
            f'<rect x="0" y="{y - 12}" width="{width}" height="{ROW_H - 16}" fill="#f8f9fa" rx="4"/>'
            f'<text x="10" y="{y + NODE_H / 2 + 4}" font-size="12" fill="#495057">{escape(label)}</text>'
        )
    for edge in graph["edges"]:
        (x1, y1), (x2, y2) = position[edge["source"]], position[edge["target"]]
        bad = bool(edge["violations"])
        colour = "#d63939" if bad else ("#1c7ed6" if edge["kinds"] == ["api"] else "#495057")
        dash = ' stroke-dasharray="6 4"' if edge["kinds"] == ["api"] else ""
        sx, ex = x1 + NODE_W / 2, x2 + NODE_W / 2
        if edge["source"] == edge["target"]:
            path = (
                f"M {x1 + NODE_W - 20} {y1} C {x1 + NODE_W + 30} {y1 - 40}, "
                f"{x1 + NODE_W + 30} {y1 + NODE_H + 40}, {x1 + NODE_W - 20} {y1 + NODE_H}"
            )
        elif y1 == y2:
            lift = 30 + abs(x2 - x1) / 10
            path = f"M {sx} {y1} C {sx} {y1 - lift}, {ex} {y2 - lift}, {ex} {y2}"
        elif y1 < y2:
            path = f"M {sx} {y1 + NODE_H} C {sx} {y1 + NODE_H + 40}, {ex} {y2 - 40}, {ex} {y2}"
        else:
            path = f"M {sx} {y1} C {sx} {y1 - 40}, {ex} {y2 + NODE_H + 40}, {ex} {y2 + NODE_H}"
        title = f"{edge['source']} → {edge['target']}"
        if edge["violations"]:
            title += " (" + ", ".join(edge["violations"]) + ")"
        out.append(
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{2.5 if bad else 1.4}"{dash} '
            f'marker-end="url(#{"arrow-bad" if bad else "arrow"})" data-testid="graph-edge" '
            f'data-violation="{"true" if bad else "false"}"><title>{escape(title)}</title></path>'
        )
    for node in graph["nodes"]:
        x, y = position[node["id"]]
        fill = colour_of(layers, node["layer"])
        stroke = SEVERITY_COLOUR.get(node["violation"] or "", "#ffffff")
        label = node["id"] if node["external"] else node["name"]
        opacity = "0.55" if node["external"] else "1"
        out.append(
            f'<g data-testid="graph-node" data-component="{escape(node["id"])}" '
            f'data-violation="{escape(node["violation"] or "")}" opacity="{opacity}">'
            f"<title>{escape(node['id'])} · {escape(node['kind'])} · "
            f"{escape(node['layer'] or 'no layer')}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" '
            f'stroke-width="{4 if node["violation"] else 1}"/>'
            f'<text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + 4}" text-anchor="middle" font-size="12" '
            f'fill="#ffffff">{escape(label[:26])}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated value above is escaped
