"""Looking inside a graph: statistics, health findings, summaries, traces.

Everything here reads only the public graph API (``graph.nodes``, ``node.op``,
``node.inputs`` ...) and the values of a run, and changes nothing.

>>> values = graph.run(feeds)
>>> for finding in gn.diagnose(graph, values):
...     print(finding)                 # warning: relu1/maximum: dead ReLU: 1 of 3 neurons ...
>>> print(graph.summary())             # one row per layer, with parameter counts
>>> trace = gn.Trace()
>>> graph.run(feeds, hook=trace)       # every node's value as it is computed
>>> graph.run(feeds, check_numerics=True)   # stops at the first NaN/Inf, naming the node
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphnn import ops
from graphnn.core import GraphError, Node, format_shape

# ---------------------------------------------------------------- statistics


def fmt(x: float) -> str:
    """A number in 4 significant digits: ``fmt(0.000123456) == '0.0001235'``."""
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    text = f"{x:.4g}"
    return "0" if text == "-0" else text


@dataclass(frozen=True)
class Stats:
    """Summary statistics of one array (``min``/``max``/``mean``/``std`` over its finite entries).

    >>> s = stats(np.array([[0.0, 1.0], [2.0, np.nan]]))
    >>> s.min, s.max, s.zeros, s.nans
    (0.0, 2.0, 0.25, 1)
    """

    shape: tuple
    dtype: str
    size: int
    min: float
    max: float
    mean: float
    std: float
    zeros: float  # fraction of entries equal to 0
    nans: int
    infs: int
    norm: float  # Euclidean norm of the finite entries

    @property
    def finite(self) -> bool:
        return self.nans == 0 and self.infs == 0

    def line(self) -> str:
        """``min -0.02 mean 0.001 max 0.02``."""
        return f"min {fmt(self.min)} mean {fmt(self.mean)} max {fmt(self.max)}"

    def text(self) -> str:
        """Every statistic, one per line (the SVG tooltip)."""
        rows = [f"shape {format_shape(self.shape)} {self.dtype}, {self.size} values",
                f"min {fmt(self.min)}", f"max {fmt(self.max)}", f"mean {fmt(self.mean)}",
                f"std {fmt(self.std)}", f"norm {fmt(self.norm)}", f"zeros {percent(self.zeros)}"]
        if not self.finite:
            rows.append(f"NaN {self.nans}, Inf {self.infs}")
        return "\n".join(rows)


def percent(fraction: float) -> str:
    """``percent(0.3333) == '33.3%'``; tiny non-zero fractions stay visible (``'<0.1%'``)."""
    if 0 < fraction < 0.001:
        return "<0.1%"
    return f"{fraction * 100:.3g}%"


def stats(value: Any) -> Stats:
    """The :class:`Stats` of ``value`` (an array or a number), computed in float64."""
    a = np.asarray(value)
    shape, dtype, size = tuple(a.shape), str(a.dtype), int(a.size)
    if a.dtype.kind not in "biuf":
        nan = float("nan")
        return Stats(shape, dtype, size, nan, nan, nan, nan, 0.0, 0, 0, nan)
    x = a.astype(np.float64).ravel()
    nans, infs = int(np.isnan(x).sum()), int(np.isinf(x).sum())
    finite = x[np.isfinite(x)] if nans or infs else x
    zeros = float(np.count_nonzero(x == 0) / size) if size else 0.0
    if finite.size == 0:
        nan = float("nan")
        return Stats(shape, dtype, size, nan, nan, nan, nan, zeros, nans, infs, nan)
    return Stats(shape, dtype, size, float(finite.min()), float(finite.max()), float(finite.mean()),
                 float(finite.std()), zeros, nans, infs, float(np.sqrt(np.dot(finite, finite))))


def preview(value: Any, width: int = 60) -> str:
    """A few of the numbers, as numpy prints them (``[[0.3333 0.3333 ...] ...]``)."""
    text = np.array2string(np.asarray(value), threshold=8, edgeitems=2, precision=4,
                           max_line_width=width)
    lines = text.splitlines()
    return "\n".join(lines[:8] + (["..."] if len(lines) > 8 else []))


def has_nonfinite(value: Any) -> bool:
    a = np.asarray(value)
    return a.dtype.kind in "fc" and not np.isfinite(a).all()


# ---------------------------------------------------------------- gradients


def gradients(loss: Node, wrt: list[Node] | None = None) -> dict[Node, Node]:
    """The gradient node of ``loss`` for each forward node, to draw and check gradients.

    By default ``wrt`` is every parameter and op that ``loss`` depends on
    differentiably (not through ``stop_gradient``, not integer labels).

    >>> grads = gn.gradients(loss)
    >>> graph = gn.Graph([probs, loss, *grads.values()])
    >>> graph.render("net.svg", values=graph.run(feeds), grads=grads)
    """
    from graphnn.autodiff import grad

    if wrt is None:
        wrt = differentiable_ancestors(loss)
    return dict(zip(wrt, grad(loss, wrt, allow_unused=True)))


def differentiable_ancestors(y: Node) -> list[Node]:
    """Parameters and ops that ``y`` depends on through gradient-carrying inputs, oldest first."""
    seen, stack = {y}, [y]
    while stack:
        node = stack.pop()
        if node.kind != "op" or node.op == "stop_gradient":
            continue
        for x, rule in zip(node.inputs, ops.PRIMITIVES[node.op].grads):
            if rule not in (None, ops.ZERO) and x not in seen:
                seen.add(x)
                stack.append(x)
    keep = [n for n in seen if n.kind in ("op", "parameter") and n.op != "stop_gradient"
            and (n.dtype is None or n.dtype.kind == "f")]
    return sorted(keep, key=lambda n: n.serial)


def gradient_values(grads: Mapping | None, values: Mapping) -> dict[Node, Any]:
    """``grads`` (forward node -> gradient node or array) resolved to arrays where known."""
    out: dict[Node, Any] = {}
    for node, g in (grads or {}).items():
        if isinstance(g, Node):
            if g in values:
                out[node] = values[g]
        elif g is not None:
            out[node] = g
    return out


# ---------------------------------------------------------------- health


@dataclass(frozen=True)
class Thresholds:
    """When :func:`diagnose` reports something. Fractions: report when above."""

    dead_relu: float = 0.0
    saturation: float = 0.0
    saturation_eps: float = 1e-6  # a probability within this of 0 or 1 is saturated
    clip_hit: float = 0.0
    vanishing_grad: float = 1e-7  # gradient norms below this vanish
    exploding_grad: float = 1e3  # and above this explode


@dataclass(frozen=True)
class Finding:
    """One health problem at one node, for people (``str``) and programs (the fields).

    ``check`` is one of ``nonfinite``, ``dead_relu``, ``saturated``, ``clip_hit``,
    ``vanishing_grad``, ``exploding_grad``; ``amount`` is a fraction, a count or a norm.
    """

    node: str
    check: str
    severity: str  # "error" or "warning"
    amount: float
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.node}: {self.message}"

    @property
    def short(self) -> str:
        """The message without details, for a diagram label."""
        return self.message.split(" (")[0]


def is_relu(node: Node) -> bool:
    """``maximum(0, x)`` or ``maximum(x, 0)`` with a constant zero."""
    return node.op == "maximum" and any(
        i.kind == "constant" and np.ndim(i.value) == 0 and i.value == 0 for i in node.inputs)


def dead_fraction(value: Any) -> tuple[int, int]:
    """``(dead, total)`` neurons: positions that are 0 for every row of the batch."""
    a = np.asarray(value)
    dead = np.all(a == 0, axis=0) if a.ndim else np.asarray(a == 0)
    return int(np.count_nonzero(dead)), int(max(dead.size, 1))


def diagnose(graph, values: Mapping, grads: Mapping | None = None,
             thresholds: Thresholds | None = None) -> list[Finding]:
    """Health findings for a run, in execution order.

    - ``nonfinite`` (error): a node's value holds NaN or Inf.
    - ``dead_relu``: ReLU neurons that are 0 for the whole batch (as a fraction).
    - ``saturated``: softmax (``normalize``) outputs within ``saturation_eps`` of 0 or 1.
    - ``clip_hit``: values a ``clip`` moved to one of its bounds (the loss's clip).
    - ``vanishing_grad`` / ``exploding_grad``: gradient norms (needs ``grads``, a
      mapping from forward node to gradient node or array, as :func:`gradients` gives).

    >>> [f.check for f in gn.diagnose(graph, values)]
    ['dead_relu']
    """
    limits = thresholds or Thresholds()
    grad_arrays = gradient_values(grads, values)
    structural_zero = {n for n, g in (grads or {}).items() if isinstance(g, Node) and g.op == "zeros_like"}
    findings: list[Finding] = []
    for node in graph.nodes:
        if node not in values:
            continue
        findings += node_findings(node, values, limits)
        if node in grad_arrays and node not in structural_zero:
            findings += gradient_findings(node, grad_arrays[node], limits)
    return findings


def node_findings(node: Node, values: Mapping, limits: Thresholds) -> list[Finding]:
    """The findings about one node's value."""
    value = values[node]
    s = stats(value)
    out = []
    if not s.finite:
        inputs_ok = all(i in values and not has_nonfinite(values[i]) for i in node.inputs)
        origin = " (first from finite inputs)" if node.inputs and inputs_ok else ""
        out.append(Finding(node.name, "nonfinite", "error", s.nans + s.infs,
                           f"NaN/Inf: {s.nans} NaN, {s.infs} Inf of {s.size}{origin}"))
    if node.kind != "op" or s.size == 0:
        return out
    if is_relu(node):
        dead, total = dead_fraction(value)
        if dead / total > limits.dead_relu:
            out.append(Finding(node.name, "dead_relu", "warning", dead / total,
                               f"dead ReLU: {dead} of {total} neurons (0 for the whole batch)"))
    elif node.op == "normalize":
        a = np.asarray(value, dtype=np.float64)
        eps = limits.saturation_eps
        fraction = float(np.mean((a <= eps) | (a >= 1 - eps)))
        if fraction > limits.saturation:
            out.append(Finding(node.name, "saturated", "warning", fraction,
                               f"saturated: {percent(fraction)} (outputs within {eps:g} of 0 or 1)"))
    elif node.op == "clip":
        a = np.asarray(value)
        lo, hi = (np.asarray(node.attrs[k], dtype=a.dtype) for k in ("lo", "hi"))
        at_lo, at_hi = float(np.mean(a <= lo)), float(np.mean(a >= hi))
        if at_lo + at_hi > limits.clip_hit:
            out.append(Finding(node.name, "clip_hit", "warning", at_lo + at_hi,
                               f"clip hit: {percent(at_lo + at_hi)} (at lo {percent(at_lo)}, "
                               f"at hi {percent(at_hi)})"))
    return out


def gradient_findings(node: Node, gradient: Any, limits: Thresholds) -> list[Finding]:
    """Vanishing or exploding gradient norm at ``node``."""
    s = stats(gradient)
    if not s.finite:
        return [Finding(node.name, "exploding_grad", "error", math.inf,
                        f"gradient has NaN/Inf ({s.nans} NaN, {s.infs} Inf)")]
    if s.norm < limits.vanishing_grad:
        return [Finding(node.name, "vanishing_grad", "warning", s.norm,
                        f"vanishing gradient: norm {fmt(s.norm)} (below {limits.vanishing_grad:g})")]
    if s.norm > limits.exploding_grad:
        return [Finding(node.name, "exploding_grad", "warning", s.norm,
                        f"exploding gradient: norm {fmt(s.norm)} (above {limits.exploding_grad:g})")]
    return []


# ---------------------------------------------------------------- layers and summary


def placements(graph) -> dict[Node, tuple[str, ...]]:
    """The scope each node of ``graph`` is drawn and counted in.

    That is ``node.scope``, except for parameters: they are created when their
    layer is constructed, before it is called and has a scope, so they go
    where the forward ops that use them are (``dense1/weights`` beside
    ``dense1/matmul``, also inside a block); failing that, where they were
    created, or where their name says.
    """
    users: dict[Node, set] = {}
    for n in graph.nodes:
        if not n.backward:
            for i in n.inputs:
                users.setdefault(i, set()).add(tuple(n.scope))
    out = {}
    for n in graph.nodes:
        scope = tuple(n.scope)
        if n.kind == "parameter":
            seen = users.get(n, set())
            if len(seen) == 1:
                scope = next(iter(seen))
            elif not scope and n.name and "/" in n.name:
                scope = tuple(n.name.split("/")[:-1])
        out[n] = scope
    return out


def layer_depth(node: Node, scope: tuple[str, ...]) -> int:
    """How many layer levels deep a node in ``scope`` sits (the ``grad`` of gradients not counted)."""
    return len(scope) - (1 if scope[:1] == ("grad",) and node.backward else 0)


def layer_of(node: Node, scope: tuple[str, ...], depth: int = 1) -> tuple[str, ...]:
    """``scope`` cut to ``depth`` layer levels (``grad/dense1`` is one level, like ``dense1``)."""
    return scope[:depth + len(scope) - layer_depth(node, scope)]


def param_count(nodes) -> int:
    """Number of parameter elements among ``nodes``."""
    return sum(int(np.prod(n.shape)) for n in nodes if n.kind == "parameter" and n.shape is not None)


@dataclass(frozen=True)
class SummaryRow:
    layer: str
    ops: int
    output_shape: str
    params: int


@dataclass
class Summary:
    """A table of layers like Keras' ``model.summary()``; ``str()`` draws it.

    >>> s = graph.summary()
    >>> s.total_params
    21
    """

    rows: list[SummaryRow]
    total_params: int
    ops: int
    backward_ops: int
    nodes: int = 0
    outputs: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = ("Layer", "Ops", "Output shape", "Params")
        body = [(r.layer, str(r.ops), r.output_shape, f"{r.params:,}") for r in self.rows]
        widths = [max(len(row[k]) for row in [head, *body]) for k in range(4)]
        rule = "-" * (sum(widths) + 6)

        def line(cells):
            return "  ".join(c.ljust(w) if k in (0, 2) else c.rjust(w)
                             for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

        text = [line(head), rule, *(line(r) for r in body), rule,
                f"Total params: {self.total_params:,}",
                f"Nodes: {self.nodes} ({self.ops} forward ops, {self.backward_ops} gradient ops)",
                "Outputs: " + _outputs_text(self.outputs)]
        return "\n".join(text)

    __repr__ = __str__


def _outputs_text(names: list[str]) -> str:
    """Forward outputs by name; gradient outputs (``grad/...``) only counted."""
    grads = [n for n in names if n.startswith("grad/")]
    shown = [n for n in names if not n.startswith("grad/")]
    return ", ".join(shown) + (f" (and {len(grads)} gradients)" if grads else "")


def summary(graph, values: Mapping | None = None, depth: int = 1) -> Summary:
    """One row per layer (scope cut to ``depth``) and per input, in order of first use.

    Output shapes are those of the values a layer passes on (to another layer
    or as a graph output): the static ones, or the run's where ``values`` has
    them. Gradient nodes are counted, not listed.
    """
    scopes = placements(graph)
    groups: dict[tuple, list[Node]] = {}
    group_of: dict[Node, tuple] = {}
    for node in graph.nodes:
        if node.backward or node.kind == "constant":
            continue
        key = group_of[node] = layer_of(node, scopes[node], depth) or (node.name,)
        groups.setdefault(key, []).append(node)
    passed_on = set(graph.outputs)
    for user in graph.nodes:
        for i in user.inputs:
            if user in group_of and i in group_of and group_of[user] != group_of[i]:
                passed_on.add(i)
    position = {n: k for k, n in enumerate(graph.nodes)}

    def first_op(members: list[Node]) -> int:
        return min((position[n] for n in members if n.kind == "op"), default=position[members[0]])

    rows = []
    for key, members in sorted(groups.items(), key=lambda item: first_op(item[1])):
        outs = [n for n in members if n.kind != "parameter" and n in passed_on]
        shapes = ", ".join(_shape_text(n, values) for n in outs) or "-"
        label = "/".join(key) + (" (input)" if members[0].kind == "input" else "")
        rows.append(SummaryRow(label, sum(n.kind == "op" for n in members), shapes, param_count(members)))
    return Summary(rows, param_count(graph.nodes),
                   sum(n.kind == "op" and not n.backward for n in graph.nodes),
                   sum(n.kind == "op" and n.backward for n in graph.nodes),
                   len(graph.nodes), list(dict.fromkeys(o.name for o in graph.outputs)))


def _shape_text(node: Node, values: Mapping | None) -> str:
    if values is not None and node in values:
        return format_shape(np.shape(values[node]))
    return format_shape(node.shape)


# ---------------------------------------------------------------- hooks


@dataclass(frozen=True)
class TraceEntry:
    step: int
    node: Node
    stats: Stats
    value: Any = None


class Trace:
    """A hook that records every node's value (a copy) and statistics as a run computes them.

    >>> trace = gn.Trace()
    >>> values = graph.run(feeds, hook=trace)
    >>> print(trace)                   # one line per node, in execution order
    >>> trace["dense1/matmul"].stats.max
    """

    def __init__(self, keep_values: bool = True):
        self.keep_values = keep_values
        self.entries: list[TraceEntry] = []

    def __call__(self, node: Node, value: Any) -> None:
        # a copy: parameters change in place, and a plan may reuse its buffers
        kept = np.array(value, copy=True) if self.keep_values else None
        self.entries.append(TraceEntry(len(self.entries), node, stats(value), kept))

    def __getitem__(self, name: str) -> TraceEntry:
        """The last entry for the node called ``name``."""
        for entry in reversed(self.entries):
            if entry.node.name == name:
                return entry
        raise KeyError(f"{name!r} was not computed in the traced runs")

    def __len__(self) -> int:
        return len(self.entries)

    def __str__(self) -> str:
        return "\n".join(f"{e.step:4d} {e.node.name}: {format_shape(e.stats.shape)} {e.stats.dtype} "
                         f"{e.stats.line()}" + ("" if e.stats.finite else " NaN/Inf!")
                         for e in self.entries)


class NumericsError(GraphError):
    """A node produced NaN or Inf; ``node`` is it, ``input_stats`` its inputs' statistics."""

    def __init__(self, node: Node, value_stats: Stats, input_stats: dict[str, Stats]):
        self.node, self.stats, self.input_stats = node, value_stats, input_stats
        shown = "; ".join(f"{name} {format_shape(s.shape)} {s.line()}, zeros {percent(s.zeros)}"
                          + ("" if s.finite else f", NaN {s.nans}, Inf {s.infs}")
                          for name, s in input_stats.items())
        what = f"{node.op} produced" if node.kind == "op" else f"{node.kind} holds"
        super().__init__(f"{node.where()}: {what} {value_stats.nans} NaN and "
                         f"{value_stats.infs} Inf of {value_stats.size} values"
                         + (f" [inputs: {shown}]" if shown else ""))


class NumericsCheck:
    """A hook that raises :class:`NumericsError` at the first node whose value has NaN/Inf.

    ``graph.run(feeds, check_numerics=True)`` uses it; ``hook`` (optional) is
    called first, so a trace still records the bad value.
    """

    def __init__(self, hook: Callable[[Node, Any], None] | None = None):
        self.hook = hook
        self.seen: dict[Node, Any] = {}

    def __call__(self, node: Node, value: Any) -> None:
        if self.hook is not None:
            self.hook(node, value)
        self.seen[node] = value
        if has_nonfinite(value):
            inputs = {i.name: stats(self.seen[i]) for i in node.inputs if i in self.seen}
            raise NumericsError(node, stats(value), inputs)
