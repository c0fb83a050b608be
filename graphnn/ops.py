"""The primitive table: every operation graphnn knows, in one place.

Each :class:`Primitive` holds the forward computation (numpy), the shape/dtype
rule (run when a node is built, and again on the concrete shapes of a feed) and
one gradient rule per input. Gradient rules build graphnn nodes, so a gradient
is an ordinary graph that can be run, printed, drawn and differentiated again.

A gradient rule is ``rule(g, node) -> Node`` where ``g`` is the gradient of the
output and ``node`` the forward node (its output is ``node`` itself). It may
return a gradient of the output's shape; :func:`graphnn.autodiff.grad` reduces
it to the input's shape. ``ZERO`` marks an input the output does not vary with
(piecewise-constant, shape-only); ``None`` marks an input with no derivative
(integer labels): asking for a gradient through it is an error.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from graphnn.core import GraphError, Node, _named, as_node, format_shape


class ShapeError(Exception):
    """Raised by shape rules; turned into a GraphError that names the node."""


class Aval(NamedTuple):
    """What a shape rule sees of an input: shape, dtype, and a weak Python scalar."""

    shape: tuple | None
    dtype: Any
    weak: Any = None  # the Python number of a weakly typed constant


ZERO = "zero"  # gradient rule marker: this input gets no gradient (it is zero)


@dataclass(frozen=True)
class Primitive:
    """One operation: what it computes, its shape rule, its gradient rules.

    ``pure``: equal inputs always give equal outputs (false for random ops), so
    the executor may merge duplicates and fold constants. ``shape_only``:
    positions of inputs whose shape and dtype are read, never their values.
    """

    name: str
    forward: Callable
    infer: Callable
    grads: tuple = ()
    doc: str = ""
    attrs: tuple = field(default=())
    pure: bool = True
    shape_only: tuple = ()


PRIMITIVES: dict[str, Primitive] = {}


def register(prim: Primitive) -> Primitive:
    PRIMITIVES[prim.name] = prim
    return prim


def aval_of(node: Node) -> Aval:
    weak = None
    if node.kind == "constant" and isinstance(node.value, (bool, int, float)):
        weak = node.value
    return Aval(node.shape, node.dtype, weak)


def apply(prim: Primitive, inputs: tuple, attrs: dict | None = None, name: str | None = None) -> Node:
    """Build a node of ``prim``; checks shapes now and names the node in errors."""
    inputs = tuple(as_node(x) for x in inputs)
    attrs = attrs or {}
    full = _named(prim.name, name)
    try:
        shape, dtype = prim.infer(*[aval_of(i) for i in inputs], **attrs)
    except ShapeError as e:
        described = ", ".join(f"{i.name} {format_shape(i.shape)}" for i in inputs)
        raise GraphError(f"{_where(full)}: {e} [inputs: {described}]") from None
    return Node(prim.name, inputs, attrs, name=full, shape=shape, dtype=dtype)


def _where(name: str) -> str:
    scope = name.rsplit("/", 1)[0] if "/" in name else ""
    return f"{name} (in layer {scope})" if scope else name


# ---------------------------------------------------------------- shape rules

def _dtype(*avals: Aval):
    """Result dtype as numpy computes it; weak Python scalars do not upcast.

    ``None`` while every array operand's dtype is still unknown.
    """
    known = [a.dtype for a in avals if a.weak is None and a.dtype is not None]
    weak = [a.weak for a in avals if a.weak is not None]
    if not known and len(weak) < len(avals):
        return None
    return np.result_type(*known, *weak)


def _float_dtype(*avals: Aval):
    dt = _dtype(*avals)
    if dt is not None and dt.kind in "biu":
        return np.dtype("float64")
    return dt


def _broadcast(*shapes):
    if any(s is None for s in shapes):
        return None
    rank = builtins.max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError("shapes " + " and ".join(format_shape(s) for s in shapes)
                             + " do not broadcast")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _elementwise(*avals: Aval):
    return _broadcast(*[a.shape for a in avals]), _dtype(*avals)


def _unary(x: Aval):
    return x.shape, _float_dtype(x)


def _normalize_infer(x: Aval, axis):
    _axis_of(x.shape, axis)
    return x.shape, _float_dtype(x)


def _same(x: Aval, *rest, **attrs):
    return x.shape, x.dtype


def _axis_of(shape, axis):
    if axis is None or shape is None:
        return axis
    axes = axis if isinstance(axis, tuple) else (axis,)
    rank = len(shape)
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} is out of range for shape {format_shape(shape)}")
    return tuple(a % rank for a in axes)


def _reduced(x: Aval, axis=None, keepdims=False):
    if x.shape is None:  # a full reduction is a scalar whatever the input's rank
        return (() if axis is None and not keepdims else None), x.dtype
    axes = _axis_of(x.shape, axis)
    axes = range(len(x.shape)) if axes is None else axes
    if keepdims:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return shape, x.dtype


def _reduced_float(x: Aval, axis=None, keepdims=False):
    shape, _ = _reduced(x, axis, keepdims)
    return shape, _float_dtype(x)


def _rank(x: Aval, rank: int, what: str):
    if x.shape is not None and len(x.shape) != rank:
        raise ShapeError(f"{what} must have {rank} dimensions, got {format_shape(x.shape)}")


def _dims_agree(a, b) -> bool:
    return a is None or b is None or a == b


def _matmul_infer(a: Aval, b: Aval):
    _rank(a, 2, "left operand")
    _rank(b, 2, "right operand")
    if a.shape is not None and b.shape is not None and not _dims_agree(a.shape[1], b.shape[0]):
        raise ShapeError(f"cannot multiply {format_shape(a.shape)} by {format_shape(b.shape)}: "
                         f"inner dimensions {a.shape[1]} and {b.shape[0]} differ")
    rows = a.shape[0] if a.shape is not None else None
    cols = b.shape[1] if b.shape is not None else None
    return (rows, cols), _dtype(a, b)


def _transpose_infer(x: Aval):
    _rank(x, 2, "input")
    return (None if x.shape is None else x.shape[::-1]), x.dtype


def _add_bias_infer(x: Aval, b: Aval):
    if b.shape is not None and not (len(b.shape) == 1 or (len(b.shape) == 2 and b.shape[0] == 1)):
        raise ShapeError(f"bias must have shape (1, n) or (n,), got {format_shape(b.shape)}")
    if x.shape is not None and b.shape is not None and not _dims_agree(x.shape[-1], b.shape[-1]):
        raise ShapeError(f"bias of {b.shape[-1]} values does not match the "
                         f"{x.shape[-1]} features of {format_shape(x.shape)}")
    return _elementwise(x, b)


def _clip_infer(x: Aval, lo, hi):
    if not lo < hi:
        raise ShapeError(f"clip bounds must satisfy lo < hi, got {lo} and {hi}")
    return x.shape, _float_dtype(x)


def _pick_infer(x: Aval, labels: Aval):
    _rank(x, 2, "predictions")
    if labels.dtype is not None and labels.shape is not None and len(labels.shape) == 1 \
            and labels.dtype.kind not in "iub":
        raise ShapeError(f"class labels must be integers, got {labels.dtype}")
    if labels.shape is not None:
        if len(labels.shape) not in (1, 2):
            raise ShapeError(f"labels must be class indices (N,) or one-hot (N, C), "
                             f"got {format_shape(labels.shape)}")
        if x.shape is not None:
            if not _dims_agree(x.shape[0], labels.shape[0]):
                raise ShapeError(f"{labels.shape[0]} labels for {x.shape[0]} samples")
            if len(labels.shape) == 2 and not _dims_agree(x.shape[1], labels.shape[1]):
                raise ShapeError(f"one-hot labels of {labels.shape[1]} classes for "
                                 f"{x.shape[1]} outputs")
    return ((None if x.shape is None else (x.shape[0],)), x.dtype)


def _unpick_infer(g: Aval, labels: Aval, x: Aval):
    return x.shape, x.dtype


def _broadcast_like_infer(g: Aval, x: Aval, axis=None, keepdims=False):
    return x.shape, g.dtype


def _count_infer(x: Aval, axis=None):
    _axis_of(x.shape, axis)
    return (), _float_dtype(x)


def _sum_like_infer(g: Aval, x: Aval):
    return x.shape, g.dtype


def _gate_infer(g: Aval, a: Aval, b: Aval, strict=True):
    shape = _broadcast(g.shape, a.shape, b.shape)
    return shape, g.dtype


def _compare_infer(a: Aval, b: Aval):
    return _broadcast(a.shape, b.shape), _float_dtype(a, b)


# ---------------------------------------------------------------- forwards

def _matmul(a, b):
    # np.dot looked up at call time: nnfs.init() replaces it (float64 inside).
    return np.dot(a, b)


def _transpose(x):
    return x.T


def _clip(x, lo, hi):
    return np.clip(x, lo, hi)


def _normalize(x, axis):
    return x / np.sum(x, axis=axis, keepdims=True)


def _rows(n):
    return np.arange(n)


def _check_labels(x, labels):
    if labels.ndim == 1:
        if labels.dtype.kind not in "iub":
            raise ValueError(f"class labels must be integers, got {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() >= x.shape[1]):
            raise ValueError(f"labels must lie in [0, {x.shape[1]}), "
                             f"got values from {labels.min()} to {labels.max()}")


def _pick(x, labels):
    _check_labels(x, labels)
    if labels.ndim == 1:
        return x[_rows(len(x)), labels]
    return np.sum(x * labels.astype(x.dtype, copy=False), axis=1)


def _unpick(g, labels, x):
    if labels.ndim == 2:
        return g[:, None] * labels.astype(g.dtype, copy=False)
    out = np.zeros(x.shape, dtype=g.dtype)
    out[_rows(len(x)), labels] = g
    return out


def _broadcast_like(g, x, axis=None, keepdims=False):
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, x.shape)


def _count(x, axis=None):
    n = x.size if axis is None else int(np.prod([x.shape[a] for a in np.atleast_1d(axis)]))
    return np.asarray(n, dtype=x.dtype if x.dtype.kind == "f" else np.float64)


def _gate(g, a, b, strict=True):
    # g where a > b (strict) or a >= b, else 0; the product keeps g's dtype.
    return g * (a > b if strict else a >= b)


def _equal(a, b):
    return (a == b).astype(np.result_type(a, b))


def _identity(x):
    return x


def _ones_like(x):
    return np.ones_like(x)


def _zeros_like(x):
    return np.zeros_like(x)


def _sum_like(g, x):
    lead = g.ndim - x.ndim
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(x.shape) if d == 1 and g.shape[lead + i] != 1)
    return np.sum(g, axis=axes, keepdims=True).reshape(x.shape) if axes else g


# ---------------------------------------------------------------- gradient rules
# rule(g, node) -> gradient with respect to one input (broadcasting undone later).

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
    share = div(g, sum(ties, axis=axis, keepdims=keepdims))
    return mul(broadcast_like(share, x, axis=axis, keepdims=keepdims), ties)


def _sum_dx(g, n):
    return broadcast_like(g, n.inputs[0], axis=n.attrs.get("axis"),
                          keepdims=n.attrs.get("keepdims", False))


def _mean_dx(g, n):
    x, axis = n.inputs[0], n.attrs.get("axis")
    return div(broadcast_like(g, x, axis=axis, keepdims=n.attrs.get("keepdims", False)),
               count(x, axis=axis))


def _normalize_dx(g, n):
    # y = x / s with s = sum(x): dx = (g - sum(g * y)) / s
    axis = n.attrs["axis"]
    total = sum(n.inputs[0], axis=axis, keepdims=True)
    return div(sub(g, sum(mul(g, n), axis=axis, keepdims=True)), total)


def _pick_dx(g, n): return unpick(g, n.inputs[1], n.inputs[0])
def _unpick_dg(g, n): return pick(g, n.inputs[1])
def _broadcast_like_dg(g, n):
    axis = n.attrs.get("axis")
    if axis is None:  # a plain broadcast: sum back over whatever was stretched
        return sum_like(g, n.inputs[0])
    return sum(g, axis=axis, keepdims=n.attrs.get("keepdims", False))


def _sum_like_dg(g, n): return broadcast_like(g, n.inputs[0])
def _gate_dg(g, n): return gate(g, n.inputs[1], n.inputs[2], strict=n.attrs.get("strict", True))


# ---------------------------------------------------------------- the table

MATMUL = register(Primitive("matmul", _matmul, _matmul_infer, (_matmul_da, _matmul_db),
                            "a (N, K) · b (K, M) -> (N, M), with np.dot"))
TRANSPOSE = register(Primitive("transpose", _transpose, _transpose_infer, (_transpose_dx,),
                               "x (N, M) -> (M, N)"))
ADD = register(Primitive("add", np.add, _elementwise, (_pass, _pass), "a + b, broadcasting"))
ADD_BIAS = register(Primitive("add_bias", np.add, _add_bias_infer, (_pass, _pass),
                              "x (N, M) + b (1, M)"))
SUB = register(Primitive("sub", np.subtract, _elementwise, (_pass, _negate), "a - b, broadcasting"))
MUL = register(Primitive("mul", np.multiply, _elementwise, (_mul_da, _mul_db), "a * b, broadcasting"))
DIV = register(Primitive("div", np.divide, _elementwise, (_div_da, _div_db), "a / b, broadcasting"))
NEG = register(Primitive("neg", np.negative, _same, (_negate,), "-x"))
EXP = register(Primitive("exp", np.exp, _unary, (_exp_dx,), "e ** x"))
LOG = register(Primitive("log", np.log, _unary, (_log_dx,), "natural logarithm"))
MAXIMUM = register(Primitive("maximum", np.maximum, _elementwise, (_maximum_da, _maximum_db),
                             "elementwise larger of a and b (ReLU is maximum(0, x))"))
MAX = register(Primitive("max", np.max, _reduced, (_max_dx,), "largest value over axis",
                         ("axis", "keepdims")))
SUM = register(Primitive("sum", np.sum, _reduced, (_sum_dx,), "sum over axis",
                         ("axis", "keepdims")))
MEAN = register(Primitive("mean", np.mean, _reduced_float, (_mean_dx,), "mean over axis",
                          ("axis", "keepdims")))
NORMALIZE = register(Primitive("normalize", _normalize, _normalize_infer, (_normalize_dx,),
                               "x / sum(x over axis)", ("axis",)))
CLIP = register(Primitive("clip", _clip, _clip_infer, (_clip_dx,), "limit x to [lo, hi]",
                          ("lo", "hi")))
PICK = register(Primitive("pick", _pick, _pick_infer, (_pick_dx, None),
                          "x (N, C), labels (N,) -> x[i, labels[i]]; one-hot labels (N, C) "
                          "-> sum(x * labels, axis=1)"))
UNPICK = register(Primitive("unpick", _unpick, _unpick_infer, (_unpick_dg, None, ZERO),
                            "scatter g (N,) back to the picked entries of a zero (N, C)",
                            shape_only=(2,)))
BROADCAST_LIKE = register(Primitive("broadcast_like", _broadcast_like, _broadcast_like_infer,
                                    (_broadcast_like_dg, ZERO),
                                    "g broadcast to x's shape (undoes a reduction over axis)",
                                    ("axis", "keepdims"), shape_only=(1,)))
COUNT = register(Primitive("count", _count, _count_infer, (ZERO,),
                           "number of elements reduced over axis", ("axis",), shape_only=(0,)))
GATE = register(Primitive("gate", _gate, _gate_infer, (_gate_dg, ZERO, ZERO),
                          "g where a > b (a >= b if not strict), else 0", ("strict",)))
EQUAL = register(Primitive("equal", _equal, _compare_infer, (ZERO, ZERO), "1 where a == b, else 0"))
STOP_GRADIENT = register(Primitive("stop_gradient", _identity, _same, (ZERO,),
                                   "x, seen by autodiff as a constant"))
ONES_LIKE = register(Primitive("ones_like", _ones_like, _same, (ZERO,), "ones of x's shape",
                               shape_only=(0,)))
ZEROS_LIKE = register(Primitive("zeros_like", _zeros_like, _same, (ZERO,), "zeros of x's shape",
                                shape_only=(0,)))
SUM_LIKE = register(Primitive("sum_like", _sum_like, _sum_like_infer, (_sum_like_dg, ZERO),
                              "g summed over the axes along which x was broadcast", shape_only=(1,)))


# ---------------------------------------------------------------- builders

def matmul(a, b, name=None): return apply(MATMUL, (a, b), name=name)
def transpose(x, name=None): return apply(TRANSPOSE, (x,), name=name)
def add(a, b, name=None): return apply(ADD, (a, b), name=name)
def add_bias(x, b, name=None): return apply(ADD_BIAS, (x, b), name=name)
def sub(a, b, name=None): return apply(SUB, (a, b), name=name)
def mul(a, b, name=None): return apply(MUL, (a, b), name=name)
def div(a, b, name=None): return apply(DIV, (a, b), name=name)
def neg(x, name=None): return apply(NEG, (x,), name=name)
def exp(x, name=None): return apply(EXP, (x,), name=name)
def log(x, name=None): return apply(LOG, (x,), name=name)
def maximum(a, b, name=None): return apply(MAXIMUM, (a, b), name=name)
def normalize(x, axis=-1, name=None): return apply(NORMALIZE, (x,), {"axis": axis}, name)
def clip(x, lo, hi, name=None): return apply(CLIP, (x,), {"lo": lo, "hi": hi}, name)
def pick(x, labels, name=None): return apply(PICK, (x, labels), name=name)
def unpick(g, labels, like, name=None): return apply(UNPICK, (g, labels, like), name=name)
def count(x, axis=None, name=None): return apply(COUNT, (x,), {"axis": axis}, name)
def equal(a, b, name=None): return apply(EQUAL, (a, b), name=name)
def stop_gradient(x, name=None): return apply(STOP_GRADIENT, (x,), name=name)
def ones_like(x, name=None): return apply(ONES_LIKE, (x,), name=name)
def zeros_like(x, name=None): return apply(ZEROS_LIKE, (x,), name=name)
def sum_like(g, like, name=None): return apply(SUM_LIKE, (g, like), name=name)


def _reduction(prim, x, axis, keepdims, name):
    return apply(prim, (x,), {"axis": axis, "keepdims": keepdims}, name)


def max(x, axis=None, keepdims=False, name=None): return _reduction(MAX, x, axis, keepdims, name)  # noqa: A001
def sum(x, axis=None, keepdims=False, name=None): return _reduction(SUM, x, axis, keepdims, name)  # noqa: A001
def mean(x, axis=None, keepdims=False, name=None): return _reduction(MEAN, x, axis, keepdims, name)


def broadcast_like(g, like, axis=None, keepdims=False, name=None):
    return apply(BROADCAST_LIKE, (g, like), {"axis": axis, "keepdims": keepdims}, name)


def gate(g, a, b, strict=True, name=None):
    return apply(GATE, (g, a, b), {"strict": strict}, name)


def bind(node: Node) -> Callable:
    """The forward function of ``node`` with its attributes bound."""
    prim = PRIMITIVES[node.op]
    if not node.attrs:
        return prim.forward
    return functools.partial(prim.forward, **node.attrs)


def infer(node: Node, avals: list[Aval]) -> tuple:
    """Re-run ``node``'s shape rule on concrete input values (a feed's shapes)."""
    try:
        return PRIMITIVES[node.op].infer(*avals, **node.attrs)
    except ShapeError as e:
        shapes = ", ".join(f"{i.name} {format_shape(a.shape)}" for i, a in zip(node.inputs, avals))
        raise GraphError(f"{node.where()}: {e} [inputs: {shapes}]") from None


# ================================================================ training primitives
# Added for training like the book (issue 4): the penalties of regularized
# layers, dropout, and the joint Softmax + cross-entropy gradient that
# :mod:`graphnn.rewrite` substitutes for the long chain.

def _abs_infer(x: Aval, at_zero=0.0):
    return x.shape, x.dtype


def _sign_infer(x: Aval, at_zero=0.0):
    return x.shape, x.dtype


def _dropout_mask_infer(x: Aval, rate):
    if not 0.0 <= rate < 1.0:
        raise ShapeError(f"dropout rate must be in [0, 1), got {rate}")
    return x.shape, _float_dtype(x)


def _softmax_cce_grad_infer(probs: Aval, labels: Aval, lo, hi, mask_clipped=False):
    _pick_infer(probs, labels)
    return probs.shape, probs.dtype


def _softmax_cce_scale_infer(probs: Aval, labels: Aval, lo, hi, mask_clipped=False):
    _pick_infer(probs, labels)
    rows = None if probs.shape is None else probs.shape[0]
    return (rows, 1), probs.dtype


def _abs(x, at_zero=0.0):
    return np.abs(x)


def _sign(x, at_zero=0.0):
    # np.sign gives 0 at 0; the book's L1 penalty uses +1 there
    # (sign = ones_like(w); sign[w < 0] = -1), so the value at 0 is an attribute.
    out = np.sign(x)
    if at_zero:
        out = np.where(x == 0, np.asarray(at_zero, dtype=out.dtype), out)
    return out


def _dropout_mask(x, rate):
    # Drawn at run time from numpy's global generator, exactly as the book's
    # Layer_Dropout does, so nnfs.init()'s seed gives the book's masks. Cast to
    # x's dtype so a float32 network stays float32.
    keep = 1.0 - rate
    return (np.random.binomial(1, keep, size=x.shape) / keep).astype(x.dtype, copy=False)


def _check_one_hot(labels):
    if not (((labels == 0) | (labels == 1)).all() and (labels.sum(axis=1) == 1).all()):
        raise ValueError("the joint softmax/cross-entropy gradient needs one-hot label rows "
                         "(one 1, the rest 0); for other targets use grad(..., rewrite=False)")


def _cce_rows_inside(probs, labels, lo, hi):
    """Rows whose picked probability lies strictly inside (lo, hi), as clip's gradient sees it."""
    if labels.ndim == 1:
        picked = probs[_rows(len(probs)), labels]
    else:
        picked = np.sum(probs * labels.astype(probs.dtype, copy=False), axis=1)
    return (picked > lo) & (hi > picked)


def _softmax_cce_grad(probs, labels, lo, hi, mask_clipped=False):
    # The book's chapter 9 result, in its order of operations:
    # d = probs.copy(); d[range(N), y] -= 1; d = d / N.
    n = len(probs)
    d = probs.copy()
    if labels.ndim == 1:
        _check_labels(probs, labels)
        d[_rows(n), labels] -= 1
    else:
        _check_one_hot(labels)
        d -= labels.astype(d.dtype, copy=False)  # the zeros change nothing: the book's bits
    d = d / n
    if mask_clipped:
        inside = _cce_rows_inside(probs, labels, lo, hi)
        if not inside.all():
            d[~inside] = 0  # the plain chain's clip passes no gradient there
    return d


def _softmax_cce_scale(probs, labels, lo, hi, mask_clipped=False):
    n = len(probs)
    if labels.ndim == 1:
        _check_labels(probs, labels)
    if not mask_clipped:
        return np.full((n, 1), 1 / n, dtype=probs.dtype)
    return (_cce_rows_inside(probs, labels, lo, hi).astype(probs.dtype) / n)[:, None]


def _abs_dx(g, n): return mul(g, sign(n.inputs[0], at_zero=n.attrs.get("at_zero", 0.0)))
def _square_dx(g, n): return mul(mul(g, 2.0), n.inputs[0])  # (g * 2) * x: the book's 2 * l2 * w


def _softmax_cce_grad_dp(g, n):
    # softmax_cce_grad is (p - one_hot) / N, times a row mask that is piecewise
    # constant in p: its derivative along p is mask / N on the diagonal.
    return mul(g, softmax_cce_scale(*n.inputs, **n.attrs))


ABS = register(Primitive("abs", _abs, _abs_infer, (_abs_dx,),
                         "|x|; derivative sign(x), taken as at_zero at 0 (the book's L1 "
                         "penalty uses +1, np.sign 0)", ("at_zero",)))
SIGN = register(Primitive("sign", _sign, _sign_infer, (ZERO,),
                          "-1, 0 or +1 by the sign of x, with at_zero where x == 0", ("at_zero",)))
SQUARE = register(Primitive("square", np.square, _unary, (_square_dx,), "x * x"))
DROPOUT_MASK = register(Primitive(
    "dropout_mask", _dropout_mask, _dropout_mask_infer, (ZERO,),
    "random (not pure: a new draw on every run): binomial(1, 1 - rate, x.shape) / (1 - rate), "
    "in x's dtype", ("rate",), pure=False))
SOFTMAX_CCE_GRAD = register(Primitive(
    "softmax_cce_grad", _softmax_cce_grad, _softmax_cce_grad_infer, (_softmax_cce_grad_dp, None),
    "the book's joint gradient of mean(-log(clip(probs, lo, hi)[labels])) with respect to the "
    "logits of probs = softmax(logits): (probs - one_hot) / N; labels (N,) or one-hot (N, C). "
    "mask_clipped=True zeroes rows whose picked probability is on or beyond [lo, hi], as the "
    "clip's own gradient does; the book does not", ("lo", "hi", "mask_clipped")))
SOFTMAX_CCE_SCALE = register(Primitive(
    "softmax_cce_scale", _softmax_cce_scale, _softmax_cce_scale_infer, (ZERO, None),
    "(N, 1): d softmax_cce_grad / d probs, 1 / N per row (0 on masked rows)",
    ("lo", "hi", "mask_clipped")))


def abs(x, at_zero=0.0, name=None): return apply(ABS, (x,), {"at_zero": at_zero}, name)  # noqa: A001
def sign(x, at_zero=0.0, name=None): return apply(SIGN, (x,), {"at_zero": at_zero}, name)
def square(x, name=None): return apply(SQUARE, (x,), name=name)
def dropout_mask(x, rate, name=None): return apply(DROPOUT_MASK, (x,), {"rate": rate}, name)


def softmax_cce_grad(probs, labels, lo=1e-7, hi=1 - 1e-7, mask_clipped=False, name=None):
    attrs = {"lo": lo, "hi": hi, "mask_clipped": mask_clipped}
    return apply(SOFTMAX_CCE_GRAD, (probs, labels), attrs, name)


def softmax_cce_scale(probs, labels, lo=1e-7, hi=1 - 1e-7, mask_clipped=False, name=None):
    attrs = {"lo": lo, "hi": hi, "mask_clipped": mask_clipped}
    return apply(SOFTMAX_CCE_SCALE, (probs, labels), attrs, name)
