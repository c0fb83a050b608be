"""Writing a diagram's view (boxes, arrows, clusters) as Graphviz DOT.

Nothing a user named reaches DOT as markup: node and cluster identifiers are
generated (``n0``, ``L0``, ``cluster_0``), and every label, tooltip and title
is escaped text (:func:`dot_text`): backslashes, quotes and ``&`` are literal,
``<...>`` is never an HTML-like label, and control characters are shown as
``\\x07``. Colours and shapes come from one mapping, :data:`STYLES`, which the
legend explains.
"""

from __future__ import annotations

import graphviz

STYLES: dict[str, dict[str, str]] = {
    # what a node is
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#cfe8ff", "color": "#2b6cb0"},
    "parameter": {"shape": "box", "style": "filled,rounded", "fillcolor": "#ffe9b3", "color": "#a67c00"},
    "constant": {"shape": "plaintext", "fontcolor": "#555555", "fontsize": "9"},
    "op": {"shape": "box", "style": "filled", "fillcolor": "#ffffff"},
    "backward": {"shape": "box", "style": "filled", "fillcolor": "#ecdcf7", "color": "#6b3d8f"},
    "layer": {"shape": "box3d", "style": "filled", "fillcolor": "#d8f0d8"},
    # marks drawn over a node's kind
    "output": {"peripheries": "2"},
    "ran": {"penwidth": "2"},
    "not_ran": {"style": "dashed", "color": "#b0b0b0", "fontcolor": "#a0a0a0", "fillcolor": "#f4f4f4"},
    "warning": {"color": "#e65100", "penwidth": "3"},
    "error": {"fillcolor": "#ff8a80", "color": "#b71c1c", "penwidth": "3"},
    # edges and clusters
    "edge": {"color": "#555555", "fontcolor": "#444444"},
    "edge_not_ran": {"color": "#cccccc", "fontcolor": "#b0b0b0", "style": "dashed"},
    "edge_uses": {"color": "#c8b8d8", "style": "dashed", "constraint": "false"},
    "position": {"labelfontcolor": "#1565c0", "labelfontsize": "10"},
    "cluster": {"style": "rounded", "color": "#9e9e9e", "fontcolor": "#424242"},
    "grad_cluster": {"style": "rounded,filled", "color": "#b39ddb", "fillcolor": "#fbf7ff",
                     "fontcolor": "#4a2a6a"},
}

LEGEND = {  # style key -> what it means; drawn by legend=True, listed in the README
    "input": "input\n(fed at run time)",
    "parameter": "parameter\nshape, element count",
    "op": "forward op",
    "backward": "gradient op\n(backward pass)",
    "layer": "collapsed layer\nin -> out shapes, params",
    "output": "graph output",
    "ran": "ran (partial run)",
    "not_ran": "did not run",
    "warning": "warning: dead ReLU,\nsaturation, clip hit, gradient",
    "error": "NaN or Inf",
}

MARK_BASE = {"output": "op", "ran": "op", "not_ran": "op", "warning": "op", "error": "op"}


def visible(text: str) -> str:
    """``text`` with unprintable characters (control, surrogate, format; not spaces) as Python escapes."""
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in text)


def dot_text(lines, *, tooltip: bool = False) -> graphviz.nohtml:
    """Lines (which may hold newlines) as one escaped Graphviz string, shown literally.

    ``&`` becomes ``&amp;`` (Graphviz reads entities in labels), backslashes
    are doubled (``\\N``, ``\\l`` would be escapes; tooltips are unescaped twice
    by Graphviz 16, so their backslashes are doubled twice), quotes are escaped,
    and the result is never taken for an HTML-like ``<...>`` label.
    """
    backslash = "\\" * (4 if tooltip else 2)
    parts = [visible(part) for line in lines for part in str(line).split("\n")]
    return graphviz.nohtml("\\n".join(p.replace("&", "&amp;").replace("\\", backslash).replace('"', '\\"')
                                      for p in parts))


def style_for(kind: str, marks=()) -> dict[str, str]:
    """:data:`STYLES` of ``kind`` with each mark drawn over it (style words are combined)."""
    attrs = dict(STYLES[kind])
    words = [w for w in attrs.get("style", "").split(",") if w]
    for mark in marks:
        for key, value in STYLES[mark].items():
            if key == "style":
                words += [w for w in value.split(",") if w not in words]
            else:
                attrs[key] = value
    if words:
        attrs["style"] = ",".join(words)
    return attrs


def view_to_dot(view) -> graphviz.Digraph:
    """The view as Graphviz: nested clusters for nested scopes, then the arrows.

    A forward value that a gradient op uses is named in that op's label
    (``mul(·, exp)``) instead of drawn as a long arrow across the diagram; into
    a collapsed gradient layer it is a light dashed arrow that does not shape
    the layout, without a label. Arrows out of a box that shows its value carry
    no shape label (the box already says it).
    """
    opts = view.options
    graph_attr = {"rankdir": opts.rankdir, "fontname": "Helvetica", "nodesep": "0.3", "ranksep": "0.4"}
    if opts.title is not None:
        graph_attr.update(label=dot_text([opts.title]), labelloc="t", fontsize="16")
    dot = graphviz.Digraph(name="graphnn", graph_attr=graph_attr,
                           node_attr={"fontname": "Helvetica", "fontsize": "11", "margin": "0.1,0.04"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9", "arrowsize": "0.7"})
    members: dict[tuple, list] = {(): []}
    for box in view.boxes:
        for k in range(1, len(box.cluster) + 1):
            members.setdefault(box.cluster[:k], [])
        members[box.cluster].append(box)
    _emit_cluster(dot, (), members, cluster_names(view))
    by_id = {b.id: b for b in view.boxes}
    for a in view.arrows:
        if a.uses_forward and by_id[a.head].kind != "layer":
            continue
        attrs = style_for("edge", a.marks + (["edge_uses"] if a.uses_forward else []))
        if a.label and not a.uses_forward and "stats" not in by_id[a.tail].info:
            attrs["label"] = dot_text([a.label])
        if a.position is not None:
            attrs.update(STYLES["position"], **{"taillabel" if a.backward else "headlabel": str(a.position)})
        if a.backward:  # drawn upwards, so each layer's gradient sits beside the layer
            dot.edge(a.head, a.tail, dir="back", **attrs)
        else:
            dot.edge(a.tail, a.head, **attrs)
    if opts.legend:
        add_legend(dot)
    return dot


def cluster_names(view) -> dict[tuple, str]:
    """The generated DOT name (``cluster_0`` ...) of each scope's cluster, in order of first appearance."""
    paths: dict[tuple, None] = {}
    for box in view.boxes:
        for k in range(1, len(box.cluster) + 1):
            paths.setdefault(box.cluster[:k])
    return {path: f"cluster_{k}" for k, path in enumerate(paths)}


def _emit_cluster(container, path: tuple, members: dict[tuple, list], names: dict[tuple, str]) -> None:
    for box in members[path]:
        container.node(box.id, dot_text(box.label), tooltip=dot_text(box.tooltip, tooltip=True), id=box.id,
                       **style_for(box.kind, box.marks))
    for child in members:
        if len(child) == len(path) + 1 and child[:len(path)] == path:
            with container.subgraph(name=names[child]) as sub:
                label = "grad: backward pass" if child == ("grad",) else child[-1]
                if child[-1] == "custom_gradient" and len(child) > 2:  # gn.custom_gradient's scope
                    label = f"custom gradient of {child[-2]}"
                sub.attr(label=dot_text([label]), **STYLES["grad_cluster" if child[0] == "grad" else "cluster"])
                _emit_cluster(sub, child, members, names)


def add_legend(dot: graphviz.Digraph) -> None:
    """A cluster with one sample of each style, an edge showing shape and argument position,
    and an op whose arguments are named in its label."""
    with dot.subgraph(name="cluster_legend") as sub:
        sub.attr(label="legend", **STYLES["cluster"])
        keys = list(LEGEND)
        for key in keys:
            base = MARK_BASE.get(key, key)
            marks = [key] if key in MARK_BASE else []
            sub.node(f"legend.{key}", dot_text(LEGEND[key].split("\n")), **style_for(base, marks))
        columns = 5  # invisible edges stack the samples in rows
        for k in range(columns, len(keys)):
            sub.edge(f"legend.{keys[k - columns]}", f"legend.{keys[k]}", style="invis")
        sub.node("legend.tensor", "tensor", **STYLES["op"])
        sub.node("legend.edge", "op", **STYLES["op"])
        sub.edge("legend.tensor", "legend.edge", headlabel="0",
                 label=dot_text(["shape dtype", "(0, 1 at the head:", "argument position)"]),
                 **STYLES["edge"], **STYLES["position"])
        sub.node("legend.args", dot_text(["mul(·, exp, 2)", "·: an arrow in", "exp: a forward value",
                                          "2: a constant"]), **STYLES["backward"])
