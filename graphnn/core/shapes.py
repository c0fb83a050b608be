"""Shape and dtype rules: what a primitive's output will be, from its inputs' avals.

A rule takes one :class:`~graphnn.core.primitive.Aval` per input (``shape``
with ``None`` for a size known only at run time, ``dtype`` or ``None``, and the
Python number of a weakly typed constant) plus the node's attributes, and
returns ``(shape, dtype)`` or raises :class:`ShapeError`. The same rule runs
when a node is built and again on a feed's concrete shapes.
"""

from __future__ import annotations

import math

import numpy as np

from graphnn.core.nnfs_dot import NUMPY_DOT
from graphnn.core.node import format_shape
from graphnn.core.primitive import Aval, ShapeError


def result_dtype(*avals: Aval):
    """Result dtype as numpy computes it; weak Python scalars do not upcast.

    ``None`` while every array operand's dtype is still unknown.
    """
    known = [a.dtype for a in avals if a.weak is None and a.dtype is not None]
    weak = [a.weak for a in avals if a.weak is not None]
    if not known and len(weak) < len(avals):
        return None
    return np.result_type(*known, *weak)


def float_dtype(*avals: Aval):
    """The result dtype, with integers and booleans computed in float64 (as ``np.exp`` does)."""
    dt = result_dtype(*avals)
    if dt is not None and dt.kind in "biu":
        return np.dtype("float64")
    return dt


def broadcast(*shapes):
    """numpy's broadcast of ``shapes``; an unknown dimension (``None``) matches anything."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        sizes = {d for d in dims if d is not None and d != 1}
        if len(sizes) > 1:
            raise ShapeError("shapes " + " and ".join(format_shape(s) for s in shapes) + " do not broadcast")
        if sizes:
            out.append(sizes.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def same_shape(x: Aval, *rest, **attrs):
    """The first input's shape and dtype (``neg``, ``stop_gradient``, ``abs`` ...)."""
    return x.shape, x.dtype


def elementwise(*avals: Aval, **attrs):
    """Broadcast shape, numpy's result dtype (``add``, ``mul``, ``maximum`` ...)."""
    return broadcast(*[a.shape for a in avals]), result_dtype(*avals)


def unary_float(x: Aval, **attrs):
    """Same shape, float dtype (``exp``, ``log``, ``square`` ...)."""
    return x.shape, float_dtype(x)


def axes(shape, axis):
    """``axis`` checked against ``shape`` and made positive (a tuple), or None."""
    if axis is None:
        return None
    chosen = axis if isinstance(axis, tuple) else (axis,)
    if not chosen or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in chosen):
        raise ShapeError(f"axis must be an int, a tuple of ints or None, got {axis!r}")
    if shape is None:
        return axis
    rank = len(shape)
    for a in chosen:
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a!r} is out of range for shape {format_shape(shape)}")
    positive = tuple(int(a) % rank for a in chosen)
    if len(set(positive)) != len(positive):
        raise ShapeError(f"axis {axis!r} repeats an axis")
    return positive


def reduced(x: Aval, axis=None, keepdims=False):
    """The shape left after reducing ``axis`` (``max``, ``sum``)."""
    if not isinstance(keepdims, bool):
        raise ShapeError(f"keepdims must be True or False, got {keepdims!r}")
    if x.shape is None:  # a full reduction is a scalar whatever the input's rank
        axes(None, axis)
        return (() if axis is None and not keepdims else None), x.dtype
    chosen = axes(x.shape, axis)
    chosen = range(len(x.shape)) if chosen is None else chosen
    if keepdims:
        shape = tuple(1 if i in chosen else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in chosen)
    return shape, x.dtype


def reduced_float(x: Aval, axis=None, keepdims=False):
    shape, _ = reduced(x, axis, keepdims)
    return shape, float_dtype(x)


def rank(x: Aval, n: int, what: str) -> None:
    if x.shape is not None and len(x.shape) != n:
        raise ShapeError(f"{what} must have {n} dimensions, got {format_shape(x.shape)}")


def agree(a, b) -> bool:
    """Two dimensions agree when equal or when either is unknown."""
    return a is None or b is None or a == b


def matmul(a: Aval, b: Aval):
    rank(a, 2, "left operand")
    rank(b, 2, "right operand")
    if a.shape is not None and b.shape is not None and not agree(a.shape[1], b.shape[0]):
        raise ShapeError(f"cannot multiply {format_shape(a.shape)} by {format_shape(b.shape)}: "
                         f"inner dimensions {a.shape[1]} and {b.shape[0]} differ")
    rows = a.shape[0] if a.shape is not None else None
    cols = b.shape[1] if b.shape is not None else None
    return (rows, cols), dot_dtype(a, b)


def dot_dtype(a: Aval, b: Aval):
    """The dtype ``np.dot`` gives, as it is now: ``nnfs.init()`` replaces it by one that returns
    float32 whatever it multiplies (so a float64 dropout output times float32 weights is float32
    in the book's network); numpy's own gives the result dtype."""
    dt = result_dtype(a, b)
    if dt is None or a.dtype is None or b.dtype is None or np.dot is NUMPY_DOT:
        return dt
    return np.dot(np.zeros((1, 1), a.dtype), np.zeros((1, 1), b.dtype)).dtype


def transpose(x: Aval):
    rank(x, 2, "input")
    return (None if x.shape is None else x.shape[::-1]), x.dtype


def add_bias(x: Aval, b: Aval):
    if b.shape is not None and not (len(b.shape) == 1 or (len(b.shape) == 2 and b.shape[0] == 1)):
        raise ShapeError(f"bias must have shape (1, n) or (n,), got {format_shape(b.shape)}")
    if x.shape is not None and b.shape is not None and not agree(x.shape[-1], b.shape[-1]):
        raise ShapeError(f"bias of {b.shape[-1]} values does not match the "
                         f"{x.shape[-1]} features of {format_shape(x.shape)}")
    return elementwise(x, b)


def normalize(x: Aval, axis):
    axes(x.shape, axis)
    return x.shape, float_dtype(x)


def clip(x: Aval, lo, hi):
    for bound in (lo, hi):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ShapeError(f"clip bounds must be Python numbers, got {bound!r}")
    if not lo < hi:
        raise ShapeError(f"clip bounds must satisfy lo < hi, got {lo} and {hi}")
    return x.shape, float_dtype(x)


def pick(x: Aval, labels: Aval):
    rank(x, 2, "predictions")
    if labels.dtype is not None and labels.shape is not None and len(labels.shape) == 1 \
            and labels.dtype.kind not in "iu":
        raise ShapeError(f"class labels must be integers, got {labels.dtype}")
    if labels.shape is not None:
        if len(labels.shape) not in (1, 2):
            raise ShapeError(f"labels must be class indices (N,) or one-hot (N, C), "
                             f"got {format_shape(labels.shape)}")
        if x.shape is not None:
            if not agree(x.shape[0], labels.shape[0]):
                raise ShapeError(f"{labels.shape[0]} labels for {x.shape[0]} samples")
            if len(labels.shape) == 2 and not agree(x.shape[1], labels.shape[1]):
                raise ShapeError(f"one-hot labels of {labels.shape[1]} classes for {x.shape[1]} outputs")
    return ((None if x.shape is None else (x.shape[0],)), x.dtype)


def reshape_target(in_shape: tuple, shape: tuple) -> tuple:
    """``shape`` (ONNX style: 0 copies the input's size there, one -1 takes the rest) with its zeros resolved."""
    if sum(d == -1 for d in shape) > 1 or any(d < -1 for d in shape):
        raise ShapeError(f"reshape: at most one -1 and no other negative size, got {shape}")
    out = []
    for i, d in enumerate(shape):
        if d == 0:
            if i >= len(in_shape):
                raise ShapeError(f"reshape: 0 at position {i} copies no dimension of a rank-{len(in_shape)} input")
            d = in_shape[i]
        out.append(d)
    return tuple(out)


def reshape(x: Aval, shape: tuple):
    if not isinstance(shape, tuple) or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape):
        raise ShapeError(f"reshape: shape must be a tuple of ints, got {shape!r}")
    if x.shape is None:
        return (None if 0 in shape else tuple(None if d == -1 else d for d in shape)), x.dtype
    out = reshape_target(x.shape, shape)
    if None in x.shape or None in out:  # sizes known only at run time: -1 stays open
        return tuple(None if d == -1 else d for d in out), x.dtype
    size, rest = math.prod(x.shape), math.prod(d for d in out if d != -1)
    if -1 in out:
        if rest == 0 or size % rest:
            raise ShapeError(f"cannot reshape {format_shape(x.shape)} to {shape}")
        out = tuple(size // rest if d == -1 else d for d in out)
    elif rest != size:
        raise ShapeError(f"cannot reshape {format_shape(x.shape)} ({size} values) to {shape} ({rest} values)")
    return out, x.dtype


def like_last(g: Aval, *rest, **attrs):
    """The last input's shape, the first's dtype (``unpick``, ``broadcast_like``, ``sum_like``)."""
    return rest[-1].shape, g.dtype


def count(x: Aval, axis=None):
    axes(x.shape, axis)
    return (), float_dtype(x)


def gate(g: Aval, a: Aval, b: Aval, strict=True):
    return broadcast(g.shape, a.shape, b.shape), g.dtype


def compare(a: Aval, b: Aval):
    return broadcast(a.shape, b.shape), float_dtype(a, b)
