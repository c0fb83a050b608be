"""Checking gradients: analytic (:func:`graphnn.grad`) against central finite differences, in float64.

Use it when you add a primitive or a custom gradient:

>>> errors = gn.check_grad(loss, graph.params, {X: x, y: labels})
>>> assert max(errors) < 1e-6
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from graphnn.autodiff.grad import grad
from graphnn.core import ops
from graphnn.core.errors import GraphError
from graphnn.core.node import Constant, Node, ancestors, in_order
from graphnn.graph import Graph


def check_grad(y: Node, xs: Sequence[Node], feeds: dict | None = None, *,
               eps: float = 1e-6, seed: int = 0, max_elements: int = 64, custom=True) -> list[float]:
    """Compare :func:`grad` with central finite differences, in float64.

    ``y`` may have any shape: it is reduced along a random direction ``r`` to
    ``sum(y * r)``. For each of ``xs`` (parameters or inputs) returns the
    relative error ``|analytic - numeric| / max(|analytic| + |numeric|, floor)``
    (vector norms) over up to ``max_elements`` randomly chosen entries. The
    floor, a thousandth of the largest analytic gradient norm among ``xs``
    (and at least 1e-12), keeps a gradient that is zero up to rounding from
    reading as a large relative error.
    Parameters are restored afterwards. ``custom`` is passed to :func:`grad`:
    ``custom=False`` checks the primitives' chain instead of declared gradients.

    >>> errors = check_grad(loss, graph.params, {X: x, y: labels})
    >>> assert max(errors) < 1e-6
    """
    rng = np.random.default_rng(seed)
    with _float64(y, feeds) as feeds:
        y_val = np.asarray(Graph([y]).run(feeds)[y])
        direction = rng.standard_normal(y_val.shape)
        objective = ops.sum_(ops.mul(y, Constant(direction))) if y_val.shape else ops.mul(y, 1.0)
        grads = grad(objective, list(xs), custom=custom)
        analytic = Graph(grads).run(feeds)
        f = Graph([objective])
        errors = []
        floor = max([1e-12, *(1e-3 * float(np.linalg.norm(np.asarray(analytic[g], np.float64))) for g in grads)])
        for x, g in zip(xs, grads):
            arr = x.value if x.kind == "parameter" else feeds[_feed_key(feeds, x)]
            ana = np.asarray(analytic[g], dtype=np.float64)
            if ana.shape != arr.shape:
                raise GraphError(f"check_grad: the gradient for {x.name} has shape {ana.shape}, "
                                 f"but {x.name} has shape {arr.shape}")
            flat = arr.reshape(-1)
            picks = rng.permutation(flat.size)[:max_elements]
            num = np.empty(len(picks))
            for k, idx in enumerate(picks):
                old = flat[idx]
                flat[idx] = old + eps
                up = float(f.run(feeds)[objective])
                flat[idx] = old - eps
                down = float(f.run(feeds)[objective])
                flat[idx] = old
                num[k] = (up - down) / (2 * eps)
            a = ana.reshape(-1)[picks]
            errors.append(float(np.linalg.norm(a - num) / max(np.linalg.norm(a) + np.linalg.norm(num), floor)))
        return errors


def compare_custom(y: Node, xs: Sequence[Node], feeds: dict | None = None, *, seed: int = 0) -> list[float]:
    """Declared (custom) gradients against the primitives' chain, in float64: one relative error per x.

    ``y`` is reduced along a random direction as in :func:`check_grad`; both
    gradients are computed on float64 copies of the feeds and parameters.

    >>> assert max(gn.compare_custom(softsign(X), [X], {X: x})) < 1e-12
    """
    rng = np.random.default_rng(seed)
    with _float64(y, feeds) as feeds:
        shape = np.shape(Graph([y]).run(feeds)[y])
        objective = ops.sum_(ops.mul(y, Constant(rng.standard_normal(shape)))) if shape else ops.mul(y, 1.0)
        declared = grad(objective, list(xs), custom=True)
        chain = grad(objective, list(xs), custom=False)
        values = Graph(declared + chain).run(feeds)
        return [float(np.linalg.norm(values[a] - values[b])
                      / max(np.linalg.norm(values[a]) + np.linalg.norm(values[b]), 1e-300))
                for a, b in zip(declared, chain)]


@contextlib.contextmanager
def _float64(y: Node, feeds: dict | None):
    """Float64 copies of the feeds ``y`` reads (yielded) and of its parameters (restored afterwards)."""
    nodes = in_order(ancestors([y]))
    inputs = {n.name for n in nodes if n.kind == "input"}
    feeds = {k: _as_float64(v) for k, v in (feeds or {}).items()
             if (k if isinstance(k, str) else k.name) in inputs}
    params = [n for n in nodes if n.kind == "parameter"]
    saved = {p: p.value for p in params}
    try:
        for p in params:
            p.value = p.value.astype(np.float64)
        yield feeds
    finally:
        for p, v in saved.items():
            p.value = v


def _as_float64(v):
    v = np.array(v)  # a copy: the checker perturbs it
    return v.astype(np.float64) if v.dtype.kind == "f" else v


def _feed_key(feeds: dict, x: Node):
    for k in feeds:
        if k is x or k == x.name:
            return k
    raise GraphError(f"check_grad: no feed for {x.name}")
