"""Reverse-mode differentiation: gradient nodes from the primitives' gradient rules.

:func:`grad` walks back from ``y`` in reverse creation order (never
recursively), applies each primitive's rule and sums the contributions of a
node used several times. It only creates nodes; the forward nodes are never
changed, so it can be called again, and on its own result (second order).
"""

from __future__ import annotations

from collections.abc import Sequence

from graphnn.autodiff import custom as customs
from graphnn.autodiff import rewrite as rewrites
from graphnn.core import ops
from graphnn.core.building import backward_scope, scope_path
from graphnn.core.errors import GraphError
from graphnn.core.node import Node, ancestors, as_node, format_shape, in_order
from graphnn.core.primitive import ZERO


def _maybe_broadcast(g: tuple | None, x: tuple | None, others: list) -> bool:
    """Whether ``x`` may have been broadcast to the output's shape ``g`` by a broadcasting op.

    Only provable cases count as "no": an unknown rank, or a dimension of ``x``
    that is unknown (``None``) while another input's may be larger, could be 1
    at run time; then the gradient is summed down at run time.
    """
    if g is None or x is None or len(g) != len(x) or any(o is None for o in others):
        return True
    for i in range(1, len(x) + 1):
        xd, gd = x[-i], g[-i]
        if xd is None:
            # x's size is unknown: it was not stretched if no other input can be larger there
            if any(len(o) >= i and o[-i] != 1 for o in others):
                return True
        elif xd == 1 and gd != 1:
            return True
    return False


def unbroadcast(g: Node, x: Node, node: Node) -> Node:
    """Sum ``g`` down to ``x``'s shape where ``node`` may have broadcast ``x``; check the result."""
    if node.prim.broadcasts:
        others = [i.shape for i in node.inputs if i is not x]
        if _maybe_broadcast(g.shape, x.shape, others):
            g = ops.sum_like(g, x)
    if g.shape is not None and x.shape is not None and (
            len(g.shape) != len(x.shape)
            or any(a is not None and b is not None and a != b for a, b in zip(g.shape, x.shape))):
        raise GraphError(f"{node.location}: the gradient rule of {node.op} gave shape "
                         f"{format_shape(g.shape)} for input {x.name} of shape {format_shape(x.shape)}")
    return g


def _check_upstream(y: Node, upstream) -> Node:
    upstream = as_node(upstream)
    u, t = upstream.shape, y.shape
    if u is not None and t is not None and (
            len(u) != len(t) or any(a is not None and b is not None and a != b for a, b in zip(u, t))):
        raise GraphError(f"grad: upstream= has shape {format_shape(u)} but {y.name} has shape {format_shape(t)}")
    if u is None or t is None or u != t or None in t:
        upstream = ops.match_shape(upstream, y)  # checked when it runs
    return upstream


def grad(y: Node, xs: Node | Sequence[Node], upstream: Node | None = None,
         allow_unused: bool = False, rewrite: bool | str = True, custom=True) -> list[Node] | Node:
    """Gradient nodes of ``y`` with respect to each of ``xs``.

    ``y`` must be a scalar unless ``upstream`` (a node or array of ``y``'s
    shape, checked) is given. A requested node that ``y`` does not depend on is
    an error, unless ``allow_unused=True``, which gives it a zero gradient. A
    node that ``y`` depends on only through ``stop_gradient`` gets a zero gradient.

    Declared gradients (:func:`graphnn.custom_gradient`) replace the chain of
    primitives they cover where valid (:mod:`graphnn.autodiff.custom`);
    ``custom=False`` uses none, ``custom="name"`` (or a set of names) only
    those. The library declares the book's closed forms: with ``rewrite=True``
    (the default) a mean categorical cross-entropy over a Softmax gets the
    book's joint gradient ``(softmax - one_hot) / N`` as one node, Sigmoid,
    binary cross-entropy, squared and absolute error the book's expressions;
    ``rewrite="strict"`` also zeroes rows the cross-entropy clipped, as the
    plain chain does; ``rewrite=False`` keeps the plain chain for all of them
    (see :mod:`graphnn.autodiff.rewrite`). A node used several times gets the sum
    of its uses' gradients, added in the order the uses were created (a
    layer's data gradient, then its L1, then its L2 penalty, as the book adds them).

    >>> grads = grad(loss, graph.params)       # dL/dW1, dL/db1, ...
    """
    if not isinstance(y, Node):
        raise GraphError(f"grad: y must be a node, got {type(y).__name__}")
    single = isinstance(xs, Node)
    try:
        xs = [xs] if single else list(xs)
    except TypeError:
        raise GraphError(f"grad: xs must be a node or a list of nodes, got {type(xs).__name__}") from None
    if not isinstance(allow_unused, bool):
        raise GraphError(f"grad: allow_unused must be True or False, got {allow_unused!r}")
    for x in xs:
        if not isinstance(x, Node):
            raise GraphError(f"grad: can only differentiate with respect to nodes, got {type(x).__name__}")
    order = in_order(ancestors([y]))
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
    declared = customs.applicable(order, wanted, needs, customs.selector(custom, mode))

    with backward_scope():
        contributions: dict[Node, list[Node]] = {}
        with scope_path(("grad",) + y.scope):
            contributions[y] = [ops.ones_like(y) if upstream is None else _check_upstream(y, upstream)]
        grads: dict[Node, Node] = {}
        for n in reversed(order):
            if n not in needs or n not in contributions:
                continue
            with scope_path(("grad",) + n.scope):
                g = ops.add_all(contributions.pop(n)[::-1])  # uses in creation order
                grads[n] = g
                if n.kind != "op":
                    continue
                if n in declared:
                    d = declared[n]
                    with scope_path(("grad",) + n.scope + d.scope):
                        for x, gx in zip(d.inputs, d.gradients(g, mode)):
                            if x in needs and gx is not None:
                                contributions.setdefault(x, []).append(gx)
                    continue
                for i, (x, rule) in enumerate(zip(n.inputs, n.prim.grads or (None,) * len(n.inputs))):
                    if x not in needs or rule is ZERO:
                        continue
                    if rule is None:
                        raise GraphError(f"grad: {n.location}: {n.op} has no gradient with "
                                         f"respect to its input {i} ({x.name})")
                    contributions.setdefault(x, []).append(unbroadcast(as_node(rule(g, n)), x, n))
        result = []
        for x in xs:
            if x in grads:
                result.append(grads[x])
            else:  # unused, or reached only through stop_gradient
                with scope_path(("grad",) + x.scope):
                    result.append(ops.zeros_like(x))
    return result[0] if single else result
