"""How the executor calls a primitive once a plan knows every shape and dtype.

A kernel computes exactly what its primitive's forward computes, bit for bit
(``tests/test_kernels.py`` compares every primitive on many shapes), but it may
write into a preallocated buffer (``out=``), call the numpy function beneath a
convenience wrapper (``np.add.reduce`` for ``np.sum``), read an input's shape
from the plan instead of its value, and use Python constants already converted
to the dtype numpy would convert them to.

A primitive whose forward is a numpy ufunc gets :func:`ufunc_kernel` without
writing anything; the others name their builder in their table entry
(:mod:`graphnn.core.ops`). A primitive with neither runs its own forward.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphnn.core.nnfs_dot import NUMPY_DOT, book_dot, is_book_dot, worth_scratch

try:
    from numpy._core.umath import clip as _clip_ufunc
except ImportError:  # numpy 1.x
    from numpy.core.umath import clip as _clip_ufunc


@dataclass
class Kernel:
    """How the executor calls one node.

    ``fn(*[inputs[i] for i in args])``, with ``out=buffer`` added when the plan
    gives the node a buffer (only if ``out``). ``inplace``: inputs whose buffer
    may be the output buffer (elementwise ops). ``views``: inputs the result may
    share memory with. ``expr``: inline code instead of a call (``"{0}.T"``).
    ``consts``: input positions replaced by a ready value. ``fresh_layout``:
    the result is a new C-ordered array whatever its inputs' layouts (``np.dot``,
    fancy indexing); otherwise it may follow them, as numpy's ufuncs do.
    """

    fn: Callable | None
    args: tuple[int, ...]
    out: bool = False
    inplace: tuple[int, ...] = ()
    views: tuple[int, ...] = ()
    expr: str | None = None
    consts: dict[int, Any] = field(default_factory=dict)
    fresh_layout: bool = False


def plain_kernel(forward: Callable, n_inputs: int, aliases: bool = True) -> Kernel:
    """Call the forward as it is; if it ``aliases``, its result may be a view of any input."""
    positions = tuple(range(n_inputs))
    return Kernel(forward, positions, views=positions if aliases else ())


def known(*avals) -> bool:
    return all(a.shape is not None and None not in a.shape and a.dtype is not None for a in avals)


def weak_consts(ins: list, group: tuple[int, ...]) -> dict[int, Any]:
    """Python-number inputs among ``group`` converted now to the dtype numpy computes in.

    numpy (NEP 50) converts a Python number to the dtype of the arrays it meets
    in one operation, so ``maximum(0.0, x)`` on float32 compares with
    ``float32(0.0)`` anyway; converting once saves doing it every run.
    """
    consts = {}
    arrays = [ins[i].dtype for i in group if ins[i].weak is None and ins[i].dtype is not None]
    for i in group:
        weak = ins[i].weak
        if weak is None or isinstance(weak, bool) or not arrays:
            continue
        dtype = np.result_type(*arrays, weak)
        if dtype.kind != "f":
            continue
        with np.errstate(all="ignore"):
            value = dtype.type(weak)
        if np.isfinite(value) or not math.isfinite(weak):
            consts[i] = value
    return consts


def same_as_out(a, out) -> bool:
    return a.weak is None and a.shape == out.shape and a.dtype == out.dtype


def ufunc_kernel(ufunc: np.ufunc, ins: list, out) -> Kernel:
    """Any ufunc: writes into a buffer, may reuse a dying input's buffer, converts Python numbers once."""
    positions = tuple(range(len(ins)))
    inplace = tuple(i for i, a in enumerate(ins) if same_as_out(a, out))
    consts = weak_consts(ins, positions)
    if ufunc in (np.maximum, np.minimum) and known(out) and 1 < math.prod(out.shape) <= _FILLED_MAX:
        # numpy's maximum against a scalar is a plain loop, against an array of the same shape a
        # vector one: 3-4x faster (ReLU), the same bits, signed zeros and NaN too. Arrays larger
        # than a cache are bound by memory either way (60000 x 512: 20.5 against 19.3 ms).
        consts = {i: _filled(out.shape, v) for i, v in consts.items()}
    return Kernel(ufunc, positions, out=True, inplace=inplace, consts=consts)


_FILLED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_FILLED_MAX = 1 << 20  # elements: at most 4 MiB of float32 (8 of float64) per shape and number


def _filled(shape: tuple, value: np.generic) -> np.ndarray:
    """A read-only array of ``value``, shared by every kernel that asks for the same one."""
    key = (shape, value.dtype, value.tobytes())
    array = _FILLED.get(key)
    if array is None:
        array = np.full(shape, value)
        array.flags.writeable = False
        _FILLED[key] = array
    return array


def axes_of(shape, axis) -> tuple:
    """``axis`` (None, an int or a tuple, negatives allowed) as a tuple of positive axes."""
    if axis is None:
        return tuple(range(len(shape)))
    return tuple(a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,)))


def broadcast_axes(g_shape: tuple, x_shape: tuple) -> tuple:
    """The axes of ``g_shape`` along which ``x_shape`` was broadcast to it."""
    lead = len(g_shape) - len(x_shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(x_shape) if d == 1 and g_shape[lead + i] != 1)


_UNSIGNED = {np.dtype(t).itemsize: np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64)}


def check_labels(x: np.ndarray, labels: np.ndarray) -> None:
    """Class indices must be integers in ``[0, classes)``; one-hot rows pass."""
    if labels.ndim == 1:
        if labels.dtype.kind not in "iu":
            raise ValueError(f"class labels must be integers, got {labels.dtype}")
        # one reduction for both bounds: seen as unsigned, a negative label is huge
        unsigned = labels.view(_UNSIGNED[labels.dtype.itemsize]) if labels.dtype.kind == "i" else labels
        if labels.size and np.maximum.reduce(unsigned, None) >= x.shape[1]:
            raise ValueError(f"labels must lie in [0, {x.shape[1]}), "
                             f"got values from {labels.min()} to {labels.max()}")


# ---------------------------------------------------------------- reductions


def _row_reduce(ufunc: np.ufunc, width: int, kshape: tuple, keepdims: bool) -> Callable:
    """``ufunc`` over a short last axis as ``width - 1`` elementwise calls, left to right.

    numpy's reduction loop runs once per row and costs more than a few
    elementwise calls on whole columns.
    """
    def row_reduce(x, out=None):
        target = out if out is None or keepdims else out.reshape(kshape)
        acc = ufunc(x[..., 0:1], x[..., 1:2], out=target)
        for j in range(2, width):
            ufunc(acc, x[..., j:j + 1], out=acc)
        if ufunc is np.add:  # numpy's sum starts from +0.0: a row of -0.0 sums to +0.0
            ufunc(acc, 0.0, out=acc)
        return acc if keepdims else acc.reshape(kshape[:-1])
    return row_reduce


def _reducer(ufunc: np.ufunc, axis, keepdims) -> Callable:
    reduce = ufunc.reduce

    def reduction(x, out=None):
        return reduce(x, axis, None, out, keepdims)
    return reduction


_SEQUENTIAL_SUM: dict = {}


def _rows_add_in_order(x, axis) -> bool:
    """Whether a sum over ``axis`` may be done as left-to-right additions of columns.

    numpy adds a short contiguous last axis from left to right (pairwise
    summation starts at 8 elements); whether this numpy does is checked once
    per width and dtype on random data, else the plain reduction is used.
    """
    width = x.shape[-1] if x.shape else 0
    if x.dtype.kind != "f" or not 2 <= width <= 7 or axes_of(x.shape, axis) != (len(x.shape) - 1,):
        return False
    key = (width, x.dtype)
    if key not in _SEQUENTIAL_SUM:
        rng = np.random.default_rng(0)
        data = (rng.standard_normal((4096, width)) * rng.uniform(1e-3, 1e3, (4096, width))).astype(x.dtype)
        _SEQUENTIAL_SUM[key] = np.array_equal(_row_reduce(np.add, width, (4096, 1), True)(data),
                                              np.add.reduce(data, 1, None, None, True))
    return _SEQUENTIAL_SUM[key]


def max_kernel(node, ins, out):
    (x,) = ins
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    if not known(x):
        return None
    width = x.shape[-1] if x.shape else 0
    if axes_of(x.shape, axis) == (len(x.shape) - 1,) and x.dtype.kind == "f" and 2 <= width <= 8:
        # the maximum of a row is the same number whichever order it is taken in
        return Kernel(_row_reduce(np.maximum, width, x.shape[:-1] + (1,), keepdims), (0,), out=True)
    return Kernel(_reducer(np.maximum, axis, keepdims), (0,), out=True)


def sum_kernel(node, ins, out):
    (x,) = ins
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    if known(x) and _rows_add_in_order(x, axis):
        return Kernel(_row_reduce(np.add, x.shape[-1], x.shape[:-1] + (1,), keepdims), (0,), out=True)
    return Kernel(_reducer(np.add, axis, keepdims), (0,), out=True)


def mean_kernel(node, ins, out):
    (x,) = ins
    if not known(x) or x.dtype not in (np.float32, np.float64):
        return None
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    count = np.intp(math.prod(x.shape[a] for a in axes_of(x.shape, axis)))
    reduce = np.add.reduce

    def mean(v, out=None):
        # numpy's _mean for float input: sum, then divide by an intp count
        total = reduce(v, axis, None, out, keepdims)
        if isinstance(total, np.ndarray):
            return np.true_divide(total, count, out=total, casting="unsafe")
        return total.dtype.type(total / count)

    return Kernel(mean, (0,), out=True)


def normalize_kernel(node, ins, out):
    (x,) = ins
    axis = node.attrs["axis"]
    if not known(x) or x.dtype.kind != "f":
        return None
    kshape = tuple(1 if i in axes_of(x.shape, axis) else d for i, d in enumerate(x.shape))
    if _rows_add_in_order(x, axis):
        reduce = _row_reduce(np.add, x.shape[-1], kshape, True)
    else:
        reduce = _reducer(np.add, axis, True)
    scratch = np.empty(kshape, dtype=x.dtype)  # one per plan: a plan runs one call at a time

    def normalize(v, out=None):
        if out is None:
            return np.divide(v, reduce(v))
        return np.divide(v, reduce(v, out=scratch), out=out)

    return Kernel(normalize, (0,), out=True)


# ---------------------------------------------------------------- others


def matmul_kernel(node, ins, out):
    a, b = ins
    if not (known(a, b, out) and a.dtype == b.dtype == out.dtype):
        return None

    large = a.dtype == np.float32 and worth_scratch(a.shape, b.shape)

    def matmul(x, y, out=None):
        # np.dot as it is at call time; only numpy's own accepts out=
        dot = np.dot
        if dot is NUMPY_DOT:
            return dot(x, y) if out is None else dot(x, y, out)
        if large and is_book_dot(dot):
            return book_dot(x, y, out)
        return dot(x, y)

    return Kernel(matmul, (0, 1), out=True, fresh_layout=True)


def transpose_kernel(node, ins, out):
    return Kernel(None, (0,), views=(0,), expr="{0}.T")


def clip_kernel(node, ins, out):
    (x,) = ins
    lo, hi = node.attrs["lo"], node.attrs["hi"]
    if x.dtype is None or x.dtype.kind != "f":
        return None
    with np.errstate(all="ignore"):
        lo_c, hi_c = x.dtype.type(lo), x.dtype.type(hi)
    if not (np.isfinite(lo_c) and np.isfinite(hi_c)):
        return None

    def clip(v, out=None):
        return _clip_ufunc(v, lo_c, hi_c, out=out)

    return Kernel(clip, (0,), out=True)


def flat_picks(x) -> Callable:
    """For an (N, C) aval or array: ``index(y)``, the positions of ``v[range(N), y]`` in ``v.reshape(-1)``.

    One addition and a flat index cost less than numpy's two-array fancy index.
    """
    starts = np.arange(x.shape[0], dtype=np.intp) * x.shape[1]

    def index(y):  # a new array each call: plans without buffers may run in several threads at once
        return np.add(starts, y, dtype=np.intp, casting="unsafe")  # exact: check_labels ran first
    return index


def pick_kernel(node, ins, out):
    x, labels = ins
    if not known(x, labels) or len(labels.shape) != 1 or len(x.shape) != 2:
        return None
    index = flat_picks(x)

    def pick(v, y):
        check_labels(v, y)
        return v.reshape(-1)[index(y)]

    return Kernel(pick, (0, 1), fresh_layout=True)


def unpick_kernel(node, ins, out):
    g, labels, x = ins
    if not known(g, labels, x) or len(labels.shape) != 1:
        return None
    rows = np.arange(x.shape[0])
    shape, dtype = x.shape, g.dtype

    def unpick(v, y, out=None):
        if out is None:
            out = np.zeros(shape, dtype=dtype)
        else:
            out.fill(0)
        out[rows, y] = v
        return out

    return Kernel(unpick, (0, 1), out=True, fresh_layout=True)


def broadcast_like_kernel(node, ins, out):
    x = ins[1]
    if not known(x):
        return None
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    shape = x.shape
    expand = axis is not None and not keepdims

    def broadcast_like(v):
        return np.broadcast_to(np.expand_dims(v, axis) if expand else v, shape)

    return Kernel(broadcast_like, (0,), views=(0,))


def sum_like_kernel(node, ins, out):
    g, x = ins
    if not known(g, x):
        return None
    axes = broadcast_axes(g.shape, x.shape)
    if not axes:
        return Kernel(None, (0,), views=(0,), expr="{0}")
    kshape = tuple(1 if i in axes else d for i, d in enumerate(g.shape))
    shape = x.shape
    reduce = np.add.reduce

    def sum_like(v, out=None):
        if out is None:
            return reduce(v, axes, None, None, True).reshape(shape)
        reduce(v, axes, None, out.reshape(kshape), True)
        return out

    return Kernel(sum_like, (0,), out=True)


def gate_kernel(node, ins, out):
    g, a, b = ins
    if not known(a, b):
        return None
    compare = np.greater if node.attrs.get("strict", True) else np.greater_equal
    shape, empty, multiply = np.broadcast_shapes(a.shape, b.shape), np.empty, np.multiply
    consts = weak_consts(ins, (1, 2))
    if g.weak is None and g.dtype is not None and out.shape == shape and out.dtype == np.result_type(g.dtype, bool):
        # The comparison written into the result's memory as 1s and 0s of the product's dtype, then
        # multiplied there: a product of two float arrays runs without numpy's casting buffers (1.5x faster).
        dtype = out.dtype

        def gate(v, x, y, out=None):
            mask = compare(x, y, out=empty(shape, dtype) if out is None else out)
            return multiply(v, mask, out=mask)

        return Kernel(gate, (0, 1, 2), out=True, inplace=(1,) if same_as_out(a, out) else (), consts=consts)
    scratch = np.empty(shape, dtype=bool)

    def gate_cast(v, x, y, out=None):
        if out is None:
            return multiply(v, compare(x, y))
        return multiply(v, compare(x, y, out=scratch), out=out)

    return Kernel(gate_cast, (0, 1, 2), out=True, inplace=(0,) if same_as_out(g, out) else (), consts=consts)


def filled_kernel(fill: Callable) -> Callable:
    """A kernel builder for ``ones_like``/``zeros_like``: a new array of the known shape."""
    def build(node, ins, out):
        if not known(out):
            return None
        shape, dtype = out.shape, out.dtype

        def like():
            return fill(shape, dtype=dtype)
        return Kernel(like, (), fresh_layout=True)
    return build
