"""Reverse-mode differentiation: gradients built as ordinary graph nodes.

:func:`grad` walks the nodes between ``xs`` and ``y`` in reverse creation order
(creation order is a topological order: a node is made after its inputs) and
applies each primitive's gradient rules from :mod:`graphnn.ops`. It only
creates nodes; the forward nodes are never changed, so it can be called again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphnn import ops
from graphnn import rewrite as rewrites
from graphnn.core import Constant, GraphError, Node, ancestors, backward_scope, format_shape, scope_path


def _ancestors(y: Node) -> list[Node]:
    """Every node ``y`` depends on, itself included, in creation order."""
    return sorted(ancestors([y]), key=lambda n: n.serial)


def _was_broadcast(g: tuple | None, x: tuple | None) -> bool:
    """Whether an input of shape ``x`` was broadcast to the output shape ``g``.

    Broadcasting adds leading axes or stretches axes of size 1; a dimension
    unknown until run time (``None``) is taken to match.
    """
    if g is None or x is None:
        return g is not None and x is None
    return len(g) != len(x) or any(xd == 1 and gd != 1 for gd, xd in zip(g, x))


def unbroadcast(g: Node, x: Node, node: Node) -> Node:
    """Sum ``g`` down to ``x``'s shape where ``node`` broadcast ``x``; check the result."""
    if _was_broadcast(g.shape, x.shape):
        g = ops.sum_like(g, x)
    if g.shape is not None and x.shape is not None and (
            len(g.shape) != len(x.shape)
            or any(a is not None and b is not None and a != b for a, b in zip(g.shape, x.shape))):
        raise GraphError(f"{node.where()}: the gradient rule of {node.op} gave shape "
                         f"{format_shape(g.shape)} for input {x.name} of shape {format_shape(x.shape)}")
    return g


def grad(y: Node, xs: Node | Sequence[Node], upstream: Node | None = None,
         allow_unused: bool = False, rewrite: bool | str = True) -> list[Node] | Node:
    """Gradient nodes of ``y`` with respect to each of ``xs``.

    ``y`` must be a scalar unless ``upstream`` (a node of ``y``'s shape) is
    given. A requested node that ``y`` does not depend on is an error, unless
    ``allow_unused=True``, which gives it a zero gradient. A node that ``y``
    depends on only through ``stop_gradient`` gets a zero gradient.

    With ``rewrite=True`` (the default) a mean categorical cross-entropy over
    a Softmax gets the book's joint gradient ``(softmax - one_hot) / N`` as
    one node; ``rewrite="strict"`` also zeroes rows the loss clipped, as the
    plain chain does; ``rewrite=False`` keeps the plain chain (see
    :mod:`graphnn.rewrite`).
    A node used several times gets the sum of its uses' gradients, added in
    the order the uses were created (a layer's data gradient, then its L1,
    then its L2 penalty, as the book adds them).

    >>> grads = grad(loss, graph.params)       # dL/dW1, dL/db1, ...
    """
    single = isinstance(xs, Node)
    xs = [xs] if single else list(xs)
    order = _ancestors(y)
    members = set(order)
    for x in xs:
        if x.dtype is not None and x.dtype.kind in "biu":
            raise GraphError(f"grad: cannot differentiate with respect to {x.name}: "
                             f"it holds integers ({x.dtype}), such as class labels")
        if x not in members and not allow_unused:
            raise GraphError(f"grad: {y.name} does not depend on {x.name}; "
                             f"pass allow_unused=True to get a zero gradient")
    if upstream is None and y.shape != ():
        raise GraphError(f"grad: {y.name} has shape {format_shape(y.shape)}, not a scalar; "
                         f"reduce it (gn.sum, gn.mean) or pass upstream=")

    wanted = set(xs)
    needs = set()
    for n in order:  # nodes on a path from some x to y
        if n in wanted or any(i in needs for i in n.inputs):
            needs.add(n)
    mode = rewrites.mode_of(rewrite)
    shortcuts = rewrites.find(order, wanted) if mode else {}

    with backward_scope():
        contributions: dict[Node, list[Node]] = {}
        with scope_path(("grad",) + y.scope):
            contributions[y] = [upstream if upstream is not None else ops.ones_like(y)]
        grads: dict[Node, Node] = {}
        for n in reversed(order):
            if n not in needs or n not in contributions:
                continue
            with scope_path(("grad",) + n.scope):
                g = _total(contributions.pop(n)[::-1])  # uses in creation order
                grads[n] = g
                if n.kind != "op":
                    continue
                if n in shortcuts:
                    m = shortcuts[n]
                    contributions.setdefault(m.logits, []).append(rewrites.joint_gradient(g, m, mode))
                    continue
                rules = ops.PRIMITIVES[n.op].grads
                for i, (x, rule) in enumerate(zip(n.inputs, rules)):
                    if x not in needs or rule is ops.ZERO:
                        continue
                    if rule is None:
                        raise GraphError(f"grad: {n.where()}: {n.op} has no gradient with "
                                         f"respect to its input {i} ({x.name})")
                    contributions.setdefault(x, []).append(unbroadcast(rule(g, n), x, n))
        result = []
        for x in xs:
            if x in grads:
                result.append(grads[x])
            else:  # unused, or reached only through stop_gradient
                with scope_path(("grad",) + x.scope):
                    result.append(ops.zeros_like(x))
    return result[0] if single else result


def _total(parts: list[Node]) -> Node:
    total = parts[0]
    for p in parts[1:]:
        total = ops.add(total, p)
    return total


def check_grad(y: Node, xs: Sequence[Node], feeds: dict | None = None, *,
               eps: float = 1e-6, seed: int = 0, max_elements: int = 64) -> list[float]:
    """Compare :func:`grad` with central finite differences, in float64.

    ``y`` may have any shape: it is reduced along a random direction ``r`` to
    ``sum(y * r)``. For each of ``xs`` (parameters or inputs) returns the
    relative error ``|analytic - numeric| / max(|analytic| + |numeric|, 1e-12)``
    (vector norms) over up to ``max_elements`` randomly chosen entries.
    Parameters are restored afterwards.

    >>> errors = check_grad(loss, graph.params, {X: x, y: labels})
    >>> assert max(errors) < 1e-6
    """
    from graphnn.graph import Graph

    rng = np.random.default_rng(seed)
    nodes = _ancestors(y)
    inputs = {n.name for n in nodes if n.kind == "input"}
    feeds = {k: _as_float64(v) for k, v in (feeds or {}).items()
             if (k if isinstance(k, str) else k.name) in inputs}
    params = [n for n in nodes if n.kind == "parameter"]
    saved = {p: p.value for p in params}
    try:
        for p in params:
            p.value = p.value.astype(np.float64)
        y_val = np.asarray(Graph([y]).run(feeds)[y])
        direction = rng.standard_normal(y_val.shape)
        objective = ops.sum(ops.mul(y, Constant(direction))) if y_val.shape else ops.mul(y, 1.0)
        grads = grad(objective, list(xs))
        analytic = Graph(grads).run(feeds)
        f = Graph([objective])
        errors = []
        for x, g in zip(xs, grads):
            arr = x.value if x.kind == "parameter" else feeds[_feed_key(feeds, x)]
            ana = np.asarray(analytic[g], dtype=np.float64)
            ana = np.broadcast_to(ana, arr.shape)
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
            errors.append(float(np.linalg.norm(a - num) / max(np.linalg.norm(a) + np.linalg.norm(num), 1e-12)))
        return errors
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
