"""The view of a diagram: boxes, arrows and clusters built from a graph and the options.

All drawing policy lives here and in the small label functions; no Graphviz is
involved (:mod:`graphnn.seeing.render_dot` writes a view as DOT). Boxes have generated
ids (``n0`` ... in view order, ``L0`` ... for collapsed layers) and keep the
node's full name in ``info["name"]``. Constants are written into the ops that
use them (``maximum(0, ·)``), and a forward value that a gradient op uses is
named in its label rather than drawn as a long arrow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from graphnn.core.node import Node, ancestors, format_shape
from graphnn.seeing import health
from graphnn.seeing import stats as st
from graphnn.seeing import summary as sm
from graphnn.seeing.options import Options

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
    """The op (see :func:`call_text`), and its attributes when it has any: ``['max', 'axis=1, keepdims=True']``."""
    text = attrs_text(node.attrs)
    return [call_text(node), text] if text else [call_text(node)]


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


# ---------------------------------------------------------------- the view


@dataclass
class Box:
    """One drawn node: a primitive or a collapsed layer.

    ``id`` is generated (``n0``, ``n1`` ... in view order; ``L0`` ... for
    collapsed layers) and is the id of the box's SVG element; ``info["name"]``
    is the node's (or layer's) full name.
    """

    id: str
    kind: str
    label: list[str]
    tooltip: list[str]
    cluster: tuple[str, ...]
    marks: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)


@dataclass
class Arrow:
    """An argument, from the box that makes it to the box that uses it (box ids)."""

    tail: str
    head: str
    label: str
    position: int | None = None
    marks: list[str] = field(default_factory=list)
    backward: bool = False  # between two gradient boxes: laid out bottom-up
    uses_forward: bool = False  # a forward value a gradient uses: named in its label, not a long arrow


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
    """Boxes, arrows and clusters for ``graph`` under ``opts``; no Graphviz involved.

    Constants are not boxes: their values are written into the ops that use
    them (``maximum(0, ·)``), unless a constant is itself an output.
    """
    outputs = set(graph.outputs)
    nodes = [n for n in graph.nodes if (opts.backward or not n.backward) and (n.kind != "constant" or n in outputs)]
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
                   steps, outputs, sm.placements(graph))
    for n in nodes:
        for i in n.inputs:
            ctx.users.setdefault(i, set()).add(n)
    owner, boxes = _boxes(nodes, opts.depth, ctx)
    return View(boxes, _arrows(nodes, owner, boxes, ctx), findings, opts)


def _boxes(nodes: list[Node], depth: int | None, ctx: _Context) -> tuple[dict[Node, str], list[Box]]:
    """One box per node, or per layer where ``depth`` collapses it; and which box (id) holds each node."""
    groups: dict[tuple, list[Node]] = {}
    key_of: dict[Node, tuple] = {}
    for n in nodes:
        scope = ctx.scopes[n]
        if depth is not None and n.kind != "input" and sm.layer_depth(n, scope) >= depth:
            key_of[n] = sm.layer_of(n, scope, depth)
            groups.setdefault(key_of[n], []).append(n)
    owner: dict[Node, str] = {}
    layer_ids: dict[tuple, str] = {}
    boxes: list[Box] = []
    for n in nodes:
        key = key_of.get(n)
        if key is None:
            boxes.append(_node_box(n, ctx, f"n{len(boxes) - len(layer_ids)}"))
            owner[n] = boxes[-1].id
            continue
        if key not in layer_ids:
            layer_ids[key] = f"L{len(layer_ids)}"
            boxes.append(_layer_box(key, groups[key], ctx, layer_ids[key]))
        owner[n] = layer_ids[key]
    return owner, boxes


def arg_text(node: Node, arg: Node) -> str | None:
    """How ``arg`` is written in ``node``'s label: a constant's value, or (in a gradient op) a forward
    value's name; None for an argument drawn as an arrow."""
    if arg.kind == "constant":
        return leaf_lines(arg)[0]
    if node.backward and not arg.backward:
        return _near_name(arg.name, node)
    return None


def call_text(node: Node) -> str:
    """``'maximum(0, ·)'``: the op, with its arguments when some are not arrows (``·`` is an arrow)."""
    args = [arg_text(node, i) for i in node.inputs]
    if all(a is None for a in args):
        return node.op
    return f"{node.op}({', '.join('·' if a is None else a for a in args)})"


def _node_box(n: Node, ctx: _Context, box_id: str) -> Box:
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
    return Box(box_id, kind, label, tip, ctx.scopes[n], marks, info)


def _layer_box(key: tuple, members: list[Node], ctx: _Context, box_id: str) -> Box:
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
    return Box(box_id, "layer", label, tip, key[:-1], marks, info)


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
                                backward=i.backward and n.backward, uses_forward=n.backward and not i.backward))
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


