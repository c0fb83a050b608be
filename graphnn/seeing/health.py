"""Health checks of a run: NaN/Inf, dead ReLUs, saturated softmax, clip hits, gradient norms.

>>> for finding in gn.diagnose(graph, values, gn.gradients(loss)):
...     print(finding)      # warning: relu1/maximum: dead ReLU: 1 of 3 neurons ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphnn.autodiff.grad import grad
from graphnn.core import ops
from graphnn.core.errors import GraphError, check_number
from graphnn.core.node import Node, in_order
from graphnn.core.primitive import ZERO
from graphnn.seeing.stats import fmt, has_nonfinite, percent, stats


def gradients(loss: Node, wrt: list[Node] | None = None) -> dict[Node, Node]:
    """The gradient node of ``loss`` for each forward node, to draw and check gradients.

    By default ``wrt`` is every parameter and op that ``loss`` depends on
    differentiably (not through ``stop_gradient``, not integer labels).

    >>> grads = gn.gradients(loss)
    >>> graph = gn.Graph([probs, loss, *grads.values()])
    >>> graph.render("net.svg", values=graph.run(feeds), grads=grads)
    """
    if wrt is None:
        wrt = differentiable_ancestors(loss)
    return dict(zip(wrt, grad(loss, wrt, allow_unused=True)))


def differentiable_ancestors(y: Node) -> list[Node]:
    """Parameters and ops that ``y`` depends on through gradient-carrying inputs, oldest first."""
    seen, stack = {y}, [y]
    while stack:
        node = stack.pop()
        if node.kind != "op":
            continue
        for x, rule in zip(node.inputs, node.prim.grads):
            if rule not in (None, ZERO) and x not in seen:
                seen.add(x)
                stack.append(x)
    keep = [n for n in seen if (n.kind == "parameter" or (n.kind == "op" and not n.prim.identity))
            and (n.dtype is None or n.dtype.kind == "f")]
    return in_order(keep)


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


@dataclass(frozen=True)
class Thresholds:
    """When :func:`diagnose` reports something. Fractions: report when above."""

    dead_relu: float = 0.0
    saturation: float = 0.0
    saturation_eps: float = 1e-6  # a probability within this of 0 or 1 is saturated
    clip_hit: float = 0.0
    vanishing_grad: float = 1e-7  # gradient norms below this vanish
    exploding_grad: float = 1e3  # and above this explode

    def __post_init__(self):
        for name in ("dead_relu", "saturation", "clip_hit"):
            check_number(getattr(self, name), f"Thresholds: {name} (a fraction)", 0, 1, high_open=False)
        check_number(self.saturation_eps, "Thresholds: saturation_eps", 0, 0.5)
        check_number(self.vanishing_grad, "Thresholds: vanishing_grad", 0)
        check_number(self.exploding_grad, "Thresholds: exploding_grad", self.vanishing_grad, low_open=True)


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
    if thresholds is not None and not isinstance(thresholds, Thresholds):
        raise GraphError(f"diagnose: thresholds must be a gn.Thresholds(...), got {type(thresholds).__name__}")
    limits = thresholds or Thresholds()
    grad_arrays = gradient_values(grads, values)
    structural_zero = {n for n, g in (grads or {}).items() if isinstance(g, Node) and g.prim is ops.ZEROS_LIKE}
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
    check = CHECKS.get(node.prim)
    if node.kind == "op" and s.size and check is not None:
        out += check(node, np.asarray(value), limits)
    return out


def is_relu(node: Node) -> bool:
    """``maximum(0, x)`` or ``maximum(x, 0)`` with a constant zero."""
    return node.prim is ops.MAXIMUM and any(
        i.kind == "constant" and np.ndim(i.value) == 0 and i.value == 0 for i in node.inputs)


def _dead_relu(node: Node, a: np.ndarray, limits: Thresholds) -> list[Finding]:
    if not is_relu(node):
        return []
    dead, total = dead_fraction(a)
    if dead / total <= limits.dead_relu:
        return []
    return [Finding(node.name, "dead_relu", "warning", dead / total,
                    f"dead ReLU: {dead} of {total} neurons (0 for the whole batch)")]


def _saturated(node: Node, a: np.ndarray, limits: Thresholds) -> list[Finding]:
    eps, a = limits.saturation_eps, a.astype(np.float64)
    fraction = float(np.mean((a <= eps) | (a >= 1 - eps)))
    if fraction <= limits.saturation:
        return []
    return [Finding(node.name, "saturated", "warning", fraction,
                    f"saturated: {percent(fraction)} (outputs within {eps:g} of 0 or 1)")]


def _clip_hit(node: Node, a: np.ndarray, limits: Thresholds) -> list[Finding]:
    lo, hi = (np.asarray(node.attrs[k], dtype=a.dtype) for k in ("lo", "hi"))
    at_lo, at_hi = float(np.mean(a <= lo)), float(np.mean(a >= hi))
    if at_lo + at_hi <= limits.clip_hit:
        return []
    return [Finding(node.name, "clip_hit", "warning", at_lo + at_hi,
                    f"clip hit: {percent(at_lo + at_hi)} (at lo {percent(at_lo)}, at hi {percent(at_hi)})")]


# The value checks, by primitive: ReLU's maximum, Softmax's normalize, the loss's clip.
CHECKS = {ops.MAXIMUM: _dead_relu, ops.NORMALIZE: _saturated, ops.CLIP: _clip_hit}


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
