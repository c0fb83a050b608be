"""Graph-level rewrites: cheaper formulations found in the composed graph, same numbers.

:func:`rewrite` runs after :func:`graphnn.runtime.compiler.simplify` (merging
and folding) when a plan is optimized, and before liveness and memory
planning, so a node it makes unnecessary is never computed and never gets a
buffer. It changes no :class:`Node`: it says, per node, either "this value is
that node's" (``rep``) or "compute it with this kernel from these nodes"
(``sources`` and ``kernels``).

Each rule, and why its result is bit for bit the same:

``x * 1``, ``1 * x``, ``x / 1`` -> ``x``
    (a constant or folded value of ones, e.g. a gradient seeded with
    ``ones_like`` or ``gn.Constant(np.ones(...))``): IEEE multiplication and
    division by one return the operand exactly. Only where the result has
    ``x``'s shape and dtype, so nothing is broadcast or converted.
``mean``/``sum`` over axes that all have length 1 -> a reshape (a view)
    OFF (``UNIT_REDUCTIONS``): numpy's reduction of a single ``-0.0`` may give
    ``+0.0`` (it starts from the identity in some layouts), which a view does not.
``-(-x)`` -> ``x``; ``-((-a) * b)`` and ``-(a * (-b))`` -> ``a * b``; ``-(c * x)`` -> ``(-c) * x``
    for a constant ``c``: negation only flips the sign bit, and round-to-nearest
    is symmetric, so ``-(a * b) == (-a) * b`` for every number, infinities and
    zeros included. The one difference is the sign bit of a NaN result, which
    IEEE leaves unspecified (NaN stays NaN). Each removes one or two full
    passes over the array (the book's chapter 16 and 17 gradients have these
    chains). Because of that NaN sign bit they are off by default: turn them on
    with ``graphnn.runtime.rewrites.SIGNS = True``.

``RULES`` switches every rule off at once (``graphnn.runtime.rewrites.RULES =
False``), for comparison; ``optimize=False`` skips them too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphnn.core.kernels import Kernel, ufunc_kernel
from graphnn.core.node import Node
from graphnn.core.primitive import Aval

RULES = True  # every rewrite below; False: plans compile as without this module
# A reduction over length-1 axes as a reshape: OFF. numpy's reduction of one element
# starts, in some layouts, from the identity (+0.0), so it turns -0.0 into +0.0; the
# view keeps -0.0. Found by tests/test_speed_rewrites.py; kept for a later, exact form.
UNIT_REDUCTIONS = False
SIGNS = False  # the sign rules (-(-x), -((-a) * b), -(c * x)): off by default, they may flip a NaN's sign bit


def rewrite(nodes: list[Node], avals: dict, rep: dict, folded: dict, kept: list[Node]) -> tuple[dict, dict]:
    """Apply the rules to the plan's nodes in order; updates ``rep`` in place.

    Returns ``(sources, kernels)``: for a node computed differently, the nodes
    its new kernel reads (in the kernel's argument order) and the kernel.
    """
    sources: dict[Node, list[Node]] = {}
    kernels: dict[Node, Kernel] = {}
    if not RULES:
        return sources, kernels
    from graphnn.core import ops  # the primitives, recognised by identity

    def find(node: Node) -> Node:
        """The node computing ``node``'s value now (a rule may have redirected a representative)."""
        while rep[node] is not node:
            node = rep[node]
        return node

    kept_reps = {rep[k] for k in kept}
    uses: dict[Node, int] = {}
    for n in nodes:
        if rep[n] is n and n.kind == "op":
            for i in n.inputs:
                r = rep[i]
                uses[r] = uses.get(r, 0) + 1

    def value_of(node: Node) -> Any:
        """The known value of a representative, or None."""
        if node in folded:
            return folded[node]
        if node.kind == "constant":
            return node.value
        return None

    def same_aval(a: Node, b: Node) -> bool:
        x, y = avals[a], avals[b]
        return x.shape is not None and x.shape == y.shape and x.dtype is not None and \
            np.dtype(x.dtype) == np.dtype(y.dtype)

    def single_use(node: Node) -> bool:
        return uses.get(node, 0) == 1 and node not in kept_reps

    for n in nodes:
        if n.kind != "op" or rep[n] is not n or n in folded:
            continue
        prim = n.prim
        ins = [find(i) for i in n.inputs]
        # x * 1, 1 * x, x / 1
        if n in kept_reps:  # what a run returns stays a value of its own (a new array)
            continue
        if prim is ops.MUL or prim is ops.div.primitive:
            positions = (0, 1) if prim is ops.MUL else (1,)
            for p in positions:
                other = ins[1 - p]
                if _all_ones(value_of(ins[p])) and same_aval(other, n):
                    rep[n] = other
                    _count(uses, ins[p], -1)
                    break
            if rep[n] is not n:
                continue
        # a reduction over axes of length 1
        if UNIT_REDUCTIONS and (prim is ops.SUM or prim is ops.MEAN):
            view = _unit_reduction(n, ins[0], avals)
            if view is not None:
                sources[n], kernels[n] = [ins[0]], view
                continue
        if SIGNS and prim is ops.NEG:
            x = ins[0]
            # -(-x) -> x
            if x.kind == "op" and x.prim is ops.NEG and x not in sources and same_aval(find(x.inputs[0]), n):
                rep[n] = find(x.inputs[0])
                continue
            # -(a * b) with a or b negated, or a constant: one multiplication
            if x.kind == "op" and x.prim is ops.MUL and single_use(x) and x not in sources and same_aval(x, n):
                a, b = find(x.inputs[0]), find(x.inputs[1])
                found = _negated_operand(a, b, find, value_of, single_use, avals, ops)
                if found is not None:
                    args, consts = found
                    ins_avals = [avals[s] if s is not None else Aval(np.shape(c), np.asarray(c).dtype)
                                 for s, c in zip(args, consts)]
                    kernel = ufunc_kernel(np.multiply, ins_avals, avals[n])
                    kernel.consts.update({p: c for p, c in enumerate(consts) if c is not None})
                    kernel.inplace = tuple(p for p in kernel.inplace if consts[p] is None)
                    sources[n] = [s if s is not None else a for s in args]  # a placeholder where a const stands
                    kernels[n] = kernel
                    uses[x] = 0
                    continue
    for node in rep:  # every node straight to the node that now computes its value
        rep[node] = find(node)
    return sources, kernels


def _count(uses: dict, node: Node, delta: int) -> None:
    uses[node] = uses.get(node, 0) + delta


def _all_ones(value) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        array = np.asarray(value)
    except Exception:
        return False
    return array.dtype.kind in "fiu" and array.size > 0 and bool(np.all(array == 1))


def _unit_reduction(n: Node, x: Node, avals: dict) -> Kernel | None:
    xa, out = avals[x], avals[n]
    if xa.shape is None or None in xa.shape or out.shape is None or None in out.shape or not out.shape:
        return None
    if xa.dtype is None or np.dtype(xa.dtype).kind != "f" or out.dtype is None \
            or np.dtype(out.dtype) != np.dtype(xa.dtype):
        return None
    axis = n.attrs.get("axis")
    axes = range(len(xa.shape)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    try:
        if any(xa.shape[a] != 1 for a in axes):
            return None
    except IndexError:
        return None
    shape = tuple(int(d) for d in out.shape)
    return Kernel(None, (0,), views=(0,), expr="{0}.reshape(" + repr(shape) + ")")


def _negated_operand(a, b, find, value_of, single_use, avals, ops):
    """For ``-(a * b)``: ``([x, y], [cx, cy])`` such that ``x * y`` (consts where not None) equals it."""
    for first, second, swap in ((a, b, False), (b, a, True)):
        # (-u) * v, the negation used only here: u * v
        if first.kind == "op" and first.prim is ops.NEG and single_use(first) \
                and _same(avals[find(first.inputs[0])], avals[first]):
            u = find(first.inputs[0])
            pair = [u, second]
            return (pair[::-1] if swap else pair), [None, None]
    for first, second, swap in ((a, b, False), (b, a, True)):
        value = value_of(first)
        if value is not None and second is not first and isinstance(value, (np.ndarray, np.generic)) \
                and np.asarray(value).dtype.kind == "f":
            negated = np.negative(value)
            if isinstance(negated, np.ndarray):
                negated.flags.writeable = False
            args, consts = [None, second], [negated, None]
            return (args[::-1], consts[::-1]) if swap else (args, consts)
    return None


def _same(x: Aval, y: Aval) -> bool:
    return x.shape is not None and x.shape == y.shape and x.dtype is not None and \
        np.dtype(x.dtype) == np.dtype(y.dtype)
