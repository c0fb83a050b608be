"""The built-in primitives: each defined once, with :func:`define_primitive` like a user's.

Every entry names its forward (numpy), shape rule (:mod:`graphnn.core.shapes`),
gradient rules (below, beside the forwards) and, where the forward is not a
plain ufunc, its kernel (:mod:`graphnn.core.kernels`). Gradient rules build
graphnn nodes, so a gradient is an ordinary graph that can be run, printed,
drawn and differentiated again. The functions here are what ``gn.add``,
``gn.max`` ... are; the capitalised names are the primitives themselves, for
code that needs to recognise a node (``node.prim is ops.MAX``).
"""

from __future__ import annotations

import numpy as np

from graphnn.core import kernels as k
from graphnn.core import shapes as s
from graphnn.core.node import Node
from graphnn.core.primitive import ZERO, define_primitive

# ---------------------------------------------------------------- forwards


def _matmul(a, b):
    return np.dot(a, b)  # looked up at call time: nnfs.init() replaces np.dot (float64 inside)


def _transpose(x):
    return x.T


def _identity(x):
    return x


def _reduce_max(x, axis=None, keepdims=False):
    return np.max(x, axis=axis, keepdims=keepdims)


def _reduce_sum(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _reduce_mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


def _normalize(x, axis):
    return x / np.sum(x, axis=axis, keepdims=True)


def _clip(x, lo, hi):
    return np.clip(x, lo, hi)


def _pick(x, labels):
    k.check_labels(x, labels)
    if labels.ndim == 1:
        return x[np.arange(len(x)), labels]
    return np.sum(x * labels.astype(x.dtype, copy=False), axis=1)


def _unpick(g, labels, x):
    if labels.ndim == 2:
        return g[:, None] * labels.astype(g.dtype, copy=False)
    out = np.zeros(x.shape, dtype=g.dtype)
    out[np.arange(len(x)), labels] = g
    return out


def _broadcast_like(g, x, axis=None, keepdims=False):
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, x.shape)


def _count(x, axis=None):
    n = x.size if axis is None else int(np.prod([x.shape[a] for a in np.atleast_1d(axis)]))
    return np.asarray(n, dtype=x.dtype if x.dtype.kind == "f" else np.float64)


def _gate(g, a, b, strict=True):
    # g where a > b (strict) or a >= b, else 0; the product keeps g's dtype
    return g * (a > b if strict else a >= b)


def _equal(a, b):
    return (a == b).astype(np.result_type(a, b))


def _match_shape(u, y):
    if u.shape != y.shape:
        raise ValueError(f"upstream gradient of shape {u.shape} for an output of shape {y.shape}")
    return u


def _reshape(x, shape):
    return np.reshape(x, s.reshape_target(x.shape, shape))


def _reshape_like(g, like):
    return np.reshape(g, like.shape)


def _sum_like(g, x):
    axes = k.broadcast_axes(g.shape, x.shape)
    return np.sum(g, axis=axes, keepdims=True).reshape(x.shape) if axes else g


# ---------------------------------------------------------------- gradient rules
# rule(g, node) -> the gradient for one input (broadcasting is undone by grad).

def _matmul_da(g, n): return matmul(g, transpose(n.inputs[1]))
def _matmul_db(g, n): return matmul(transpose(n.inputs[0]), g)
def _transpose_dx(g, n): return transpose(g)
def _pass(g, n): return g
def _negate(g, n): return neg(g)
def _mul_da(g, n): return mul(g, n.inputs[1])
def _mul_db(g, n): return mul(n.inputs[0], g)
def _div_da(g, n): return div(g, n.inputs[1])
def _div_db(g, n): return neg(div(mul(g, n), n.inputs[1]))  # -g * a / b**2 = -g * out / b
def _exp_dx(g, n): return mul(g, n)  # reuses the forward output
def _log_dx(g, n): return div(g, n.inputs[0])
def _tanh_dx(g, n): return mul(g, sub(1.0, mul(n, n)))
def _square_dx(g, n): return mul(mul(g, 2.0), n.inputs[0])  # (g * 2) * x: the book's 2 * l2 * w


def _maximum_da(g, n):
    # Ties go to the first argument. ReLU is maximum(0, x), so x gets g only
    # where x > 0: the book's convention (gradient 0 where the input is <= 0).
    return gate(g, n.inputs[0], n.inputs[1], strict=False)


def _maximum_db(g, n):
    return gate(g, n.inputs[1], n.inputs[0], strict=True)


def _clip_dx(g, n):
    # Zero outside (lo, hi) and on the bounds themselves: a clipped value does
    # not move the output, as in the book's clipped loss.
    x, lo, hi = n.inputs[0], n.attrs["lo"], n.attrs["hi"]
    return gate(gate(g, x, lo, strict=True), hi, x, strict=True)


def _max_dx(g, n):
    # Tied maxima share the gradient equally (each gets g / number of ties).
    x, axis, keepdims = n.inputs[0], n.attrs.get("axis"), n.attrs.get("keepdims", False)
    top = broadcast_like(n, x, axis=axis, keepdims=keepdims)
    ties = equal(x, top)
    share = div(g, sum_(ties, axis=axis, keepdims=keepdims))
    return mul(broadcast_like(share, x, axis=axis, keepdims=keepdims), ties)


def _sum_dx(g, n):
    return broadcast_like(g, n.inputs[0], axis=n.attrs.get("axis"), keepdims=n.attrs.get("keepdims", False))


def _mean_dx(g, n):
    x, axis = n.inputs[0], n.attrs.get("axis")
    return div(broadcast_like(g, x, axis=axis, keepdims=n.attrs.get("keepdims", False)), count(x, axis=axis))


def _normalize_dx(g, n):
    # y = x / s with s = sum(x): dx = (g - sum(g * y)) / s
    axis = n.attrs["axis"]
    total = sum_(n.inputs[0], axis=axis, keepdims=True)
    return div(sub(g, sum_(mul(g, n), axis=axis, keepdims=True)), total)


def _reshape_dx(g, n): return reshape_like(g, n.inputs[0])
def _pick_dx(g, n): return unpick(g, n.inputs[1], n.inputs[0])
def _unpick_dg(g, n): return pick(g, n.inputs[1])
def _sum_like_dg(g, n): return broadcast_like(g, n.inputs[0])
def _gate_dg(g, n): return gate(g, n.inputs[1], n.inputs[2], strict=n.attrs.get("strict", True))


def _broadcast_like_dg(g, n):
    axis = n.attrs.get("axis")
    if axis is None:  # a plain broadcast: sum back over whatever was stretched
        return sum_like(g, n.inputs[0])
    return sum_(g, axis=axis, keepdims=n.attrs.get("keepdims", False))


# ---------------------------------------------------------------- the table
# check_shapes=False: these rules are tested against their forwards on many
# shapes (tests/test_kernels.py), so runs do not re-check them.

def _builtin(name, forward, rule, grads, doc, aliases=False, **props):
    return define_primitive(name, forward, rule, grads, doc=doc, check_shapes=False, aliases=aliases, **props)


matmul = _builtin("matmul", _matmul, s.matmul, (_matmul_da, _matmul_db),
                  "a (N, K) · b (K, M) -> (N, M), with np.dot", foldable=False, broadcasts=False,
                  kernel=k.matmul_kernel)
transpose = _builtin("transpose", _transpose, s.transpose, (_transpose_dx,), "x (N, M) -> (M, N)",
                     aliases=True, kernel=k.transpose_kernel)
add = _builtin("add", np.add, s.elementwise, (_pass, _pass), "a + b, broadcasting", commutative=True)
add_bias = _builtin("add_bias", np.add, s.add_bias, (_pass, _pass), "x (N, M) + b (1, M)")
sub = _builtin("sub", np.subtract, s.elementwise, (_pass, _negate), "a - b, broadcasting")
mul = _builtin("mul", np.multiply, s.elementwise, (_mul_da, _mul_db), "a * b, broadcasting", commutative=True)
div = _builtin("div", np.divide, s.elementwise, (_div_da, _div_db), "a / b, broadcasting")
neg = _builtin("neg", np.negative, s.same_shape, (_negate,), "-x")
exp = _builtin("exp", np.exp, s.unary_float, (_exp_dx,), "e ** x")
log = _builtin("log", np.log, s.unary_float, (_log_dx,), "natural logarithm")
tanh = _builtin("tanh", np.tanh, s.unary_float, (_tanh_dx,), "hyperbolic tangent")
square = _builtin("square", np.square, s.unary_float, (_square_dx,), "x * x")
maximum = _builtin("maximum", np.maximum, s.elementwise, (_maximum_da, _maximum_db),
                   "elementwise larger of a and b (ReLU is maximum(0, x))", commutative=True)
_max = _builtin("max", _reduce_max, s.reduced, (_max_dx,), "largest value over axis",
                attrs=("axis", "keepdims"), kernel=k.max_kernel)
_sum = _builtin("sum", _reduce_sum, s.reduced, (_sum_dx,), "sum over axis",
                attrs=("axis", "keepdims"), kernel=k.sum_kernel)
_mean = _builtin("mean", _reduce_mean, s.reduced_float, (_mean_dx,), "mean over axis",
                 attrs=("axis", "keepdims"), kernel=k.mean_kernel)
_normalize_node = _builtin("normalize", _normalize, s.normalize, (_normalize_dx,), "x / sum(x over axis)",
                           attrs=("axis",), kernel=k.normalize_kernel)
_clip_node = _builtin("clip", _clip, s.clip, (_clip_dx,), "limit x to [lo, hi]", attrs=("lo", "hi"),
                      kernel=k.clip_kernel)
pick = _builtin("pick", _pick, s.pick, (_pick_dx, None),
                "x (N, C), labels (N,) -> x[i, labels[i]]; one-hot labels (N, C) -> sum(x * labels, axis=1)",
                broadcasts=False, kernel=k.pick_kernel)
identity = _builtin("identity", _identity, s.same_shape, (_pass,), "x; unlike stop_gradient it passes the "
                    "gradient on (an ONNX Identity)", identity=True, aliases=True)
_reshape_node = _builtin("reshape", _reshape, s.reshape, (_reshape_dx,),
                         "x reshaped to shape; 0 copies the input's size there (the batch), -1 takes the rest",
                         attrs=("shape",), broadcasts=False, aliases=True)
stop_gradient = _builtin("stop_gradient", _identity, s.same_shape, (ZERO,),
                         "x, seen by autodiff as a constant", identity=True, aliases=True)

# Used by gradient rules.
unpick = _builtin("unpick", _unpick, s.like_last, (_unpick_dg, None, ZERO),
                  "scatter g (N,) back to the picked entries of a zero (N, C)", shape_only=(2,),
                  broadcasts=False, kernel=k.unpick_kernel)
_broadcast_like = _builtin("broadcast_like", _broadcast_like, s.like_last, (_broadcast_like_dg, ZERO),
                           "g broadcast to x's shape (undoes a reduction over axis)", attrs=("axis", "keepdims"),
                           shape_only=(1,), broadcasts=False, aliases=True,
                           kernel=k.broadcast_like_kernel)
_count = _builtin("count", _count, s.count, (ZERO,), "number of elements reduced over axis", attrs=("axis",),
                  shape_only=(0,))
_gate = _builtin("gate", _gate, s.gate, (_gate_dg, ZERO, ZERO), "g where a > b (a >= b if not strict), else 0",
                 attrs=("strict",), kernel=k.gate_kernel)
equal = _builtin("equal", _equal, s.compare, (ZERO, ZERO), "1 where a == b, else 0", commutative=True)
ones_like = _builtin("ones_like", np.ones_like, s.same_shape, (ZERO,), "ones of x's shape", shape_only=(0,),
                     kernel=k.filled_kernel(np.ones))
zeros_like = _builtin("zeros_like", np.zeros_like, s.same_shape, (ZERO,), "zeros of x's shape", shape_only=(0,),
                      kernel=k.filled_kernel(np.zeros))
sum_like = _builtin("sum_like", _sum_like, s.like_last, (_sum_like_dg, ZERO),
                    "g summed over the axes along which x was broadcast", shape_only=(1,), broadcasts=False,
                    aliases=True, kernel=k.sum_like_kernel)
reshape_like = _builtin("reshape_like", _reshape_like, s.like_last, (_reshape_dx, ZERO),
                        "g reshaped to like's shape (reshape's gradient)", shape_only=(1,), broadcasts=False,
                        aliases=True)
match_shape = _builtin("match_shape", _match_shape, s.like_last, (_pass, ZERO),
                       "u, checked at run time to have y's shape (an upstream gradient)", shape_only=(1,),
                       broadcasts=False, aliases=True)

MATMUL, TRANSPOSE, ADD, SUB, MUL, NEG, EXP, LOG = (
    f.primitive for f in (matmul, transpose, add, sub, mul, neg, exp, log))
MAXIMUM, MAX, SUM, MEAN, NORMALIZE, CLIP, PICK, STOP_GRADIENT = (
    f.primitive for f in (maximum, _max, _sum, _mean, _normalize_node, _clip_node, pick, stop_gradient))
ZEROS_LIKE, ONES_LIKE = zeros_like.primitive, ones_like.primitive
ADD_BIAS, DIV, SQUARE, TANH, IDENTITY, RESHAPE = (
    f.primitive for f in (add_bias, div, square, tanh, identity, _reshape_node))


# ---------------------------------------------------------------- builders with attributes

def max_(x, axis=None, keepdims=False, name=None) -> Node:
    """Largest value over ``axis`` (``gn.max``)."""
    return _max(x, axis=axis, keepdims=keepdims, name=name)


def sum_(x, axis=None, keepdims=False, name=None) -> Node:
    """Sum over ``axis`` (``gn.sum``)."""
    return _sum(x, axis=axis, keepdims=keepdims, name=name)


def mean(x, axis=None, keepdims=False, name=None) -> Node:
    """Mean over ``axis``."""
    return _mean(x, axis=axis, keepdims=keepdims, name=name)


def normalize(x, axis=-1, name=None) -> Node:
    """``x / sum(x, axis, keepdims=True)``."""
    return _normalize_node(x, axis=axis, name=name)


def clip(x, lo, hi, name=None) -> Node:
    """``x`` limited to ``[lo, hi]`` (Python numbers)."""
    return _clip_node(x, lo=lo, hi=hi, name=name)


def count(x, axis=None, name=None) -> Node:
    return _count(x, axis=axis, name=name)


def broadcast_like(g, like, axis=None, keepdims=False, name=None) -> Node:
    return _broadcast_like(g, like, axis=axis, keepdims=keepdims, name=name)


def gate(g, a, b, strict=True, name=None) -> Node:
    return _gate(g, a, b, strict=strict, name=name)


def reshape(x, shape, name=None) -> Node:
    """``x`` reshaped: in ``shape`` a 0 keeps the input's size there and one -1 takes the rest (``(0, -1)``
    flattens ``(N, ...)`` to ``(N, rest)``)."""
    return _reshape_node(x, shape=tuple(shape), name=name)


def add_all(parts) -> Node:
    """``parts[0] + parts[1] + ...``, added left to right."""
    parts = list(parts)
    total = parts[0]
    for part in parts[1:]:
        total = add(total, part)
    return total


# ---------------------------------------------------------------- operators on nodes

def _swap(f):
    def swapped(self, other):
        return f(other, self)
    return swapped


Node.__add__, Node.__radd__ = add, _swap(add)
Node.__sub__, Node.__rsub__ = sub, _swap(sub)
Node.__mul__, Node.__rmul__ = mul, _swap(mul)
Node.__truediv__, Node.__rtruediv__ = div, _swap(div)
Node.__matmul__, Node.__rmatmul__ = matmul, _swap(matmul)
Node.__neg__ = neg
