"""Executor kernels: the primitives' forwards, made cheaper to call and able to write in place.

The primitive table in :mod:`graphnn.ops` says what each operation computes;
this module only says how the executor calls it once a plan knows every
shape and dtype. A kernel computes exactly what the primitive's forward
computes, bit for bit (``tests/test_kernels.py`` compares them on many
shapes), but it may

- write into a preallocated buffer (``out=``), so a training step allocates
  nothing for the values the user does not get back;
- call the numpy function underneath the convenience wrapper
  (``np.add.reduce`` for ``np.sum``, the ``clip`` ufunc for ``np.clip``);
- take what it needs from the plan's shapes instead of an input's value
  (``broadcast_like``, ``unpick`` and ``sum_like`` read only the shape of
  their last input, so that input need not be kept alive for them);
- use Python constants already converted to the dtype numpy would convert
  them to (``x * 0.5`` on float32 multiplies by ``float32(0.5)`` either way).

A primitive without a kernel here runs its own forward: a new op needs no
kernel to work, only to be fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphnn import ops

try:  # numpy's own dot, whatever nnfs.init() later puts at np.dot
    from numpy._core.multiarray import dot as NUMPY_DOT
    from numpy._core.umath import clip as _clip_ufunc
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import dot as NUMPY_DOT
    from numpy.core.umath import clip as _clip_ufunc


@dataclass
class Kernel:
    """How the executor calls one node.

    ``fn(*[inputs[i] for i in args])``, with ``out=buffer`` added when the
    plan gives the node a buffer (only if ``out``). ``inplace``: inputs whose
    buffer may be the output buffer (elementwise ops). ``views``: inputs the
    result may share memory with. ``expr``: inline code instead of a call
    (``"{0}.T"``). ``consts``: input positions replaced by a ready value.
    """

    fn: Callable | None
    args: tuple[int, ...]
    out: bool = False
    inplace: tuple[int, ...] = ()
    views: tuple[int, ...] = ()
    expr: str | None = None
    consts: dict[int, Any] = field(default_factory=dict)


_UFUNCS = {
    "add": np.add, "add_bias": np.add, "sub": np.subtract, "mul": np.multiply,
    "div": np.divide, "maximum": np.maximum, "neg": np.negative, "exp": np.exp, "log": np.log,
}


def kernel_for(node, ins: list, out) -> Kernel:
    """The kernel for ``node`` given its inputs' and its own ``ops.Aval``."""
    build = _BUILDERS.get(node.op)
    kernel = build(node, ins, out) if build is not None else None
    return plain_kernel(node) if kernel is None else kernel


def plain_kernel(node) -> Kernel:
    """The primitive's own forward (``stop_gradient`` is its input, unchanged)."""
    if node.op == "stop_gradient":
        return _stop_gradient(node, None, None)
    positions = tuple(range(len(node.inputs)))
    return Kernel(ops.bind(node), positions, views=positions)


def _known(*avals) -> bool:
    return all(a.shape is not None and None not in a.shape and a.dtype is not None for a in avals)


def _weak_consts(node, ins: list, group: tuple[int, ...]) -> dict[int, Any]:
    """Python-number constants among ``group`` converted now to the dtype numpy computes in.

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


def _ufunc(node, ins, out):
    ufunc = _UFUNCS[node.op]
    positions = tuple(range(len(ins)))
    inplace = tuple(i for i, a in enumerate(ins)
                    if a.weak is None and a.shape == out.shape and a.dtype == out.dtype)
    return Kernel(ufunc, positions, out=True, inplace=inplace,
                  consts=_weak_consts(node, ins, positions))


def _matmul(node, ins, out):
    a, b = ins
    if not (_known(a, b, out) and a.dtype == b.dtype == out.dtype):
        return Kernel(ops.bind(node), (0, 1))

    def matmul(x, y, out=None):
        # np.dot as it is at call time; only numpy's own accepts out=.
        if out is not None and np.dot is NUMPY_DOT:
            return NUMPY_DOT(x, y, out)
        return np.dot(x, y)

    return Kernel(matmul, (0, 1), out=True)


def _transpose(node, ins, out):
    return Kernel(None, (0,), views=(0,), expr="{0}.T")


def _stop_gradient(node, ins, out):
    return Kernel(None, (0,), views=(0,), expr="{0}")


def _axes(shape, axis) -> tuple:
    if axis is None:
        return tuple(range(len(shape)))
    return tuple(a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,)))


def _max(node, ins, out):
    (x,) = ins
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    if not _known(x):
        return None
    axes = _axes(x.shape, axis)
    last = len(x.shape) - 1
    width = x.shape[-1] if x.shape else 0
    if axes == (last,) and x.dtype.kind == "f" and 2 <= width <= 8:
        # A short last axis: numpy's reduction loop runs once per row and costs
        # more than width - 1 elementwise maximums. The maximum of a row is the
        # same number whichever order it is taken in.
        kshape = x.shape[:-1] + (1,)
        return Kernel(_short_max(width, kshape, keepdims), (0,), out=True)
    return Kernel(_reducer(np.maximum, axis, keepdims), (0,), out=True)


def _short_max(width: int, kshape: tuple, keepdims: bool) -> Callable:
    def short_max(x, out=None):
        target = out if out is None or keepdims else out.reshape(kshape)
        top = np.maximum(x[..., 0:1], x[..., 1:2], out=target)
        for j in range(2, width):
            np.maximum(top, x[..., j:j + 1], out=top)
        return top if keepdims else top.reshape(kshape[:-1])
    return short_max


def _reducer(ufunc, axis, keepdims) -> Callable:
    reduce = ufunc.reduce

    def reduction(x, out=None):
        return reduce(x, axis, None, out, keepdims)
    return reduction


def _sum(node, ins, out):
    (x,) = ins
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    if _known(x) and _short_sum_ok(x, axis):
        kshape = x.shape[:-1] + (1,)
        return Kernel(_short_sum(x.shape[-1], kshape, keepdims), (0,), out=True)
    return Kernel(_reducer(np.add, axis, keepdims), (0,), out=True)


def _short_sum_ok(x, axis) -> bool:
    """Whether a sum over ``axis`` may be done as the left-to-right additions of columns.

    numpy adds a short contiguous last axis from left to right (pairwise
    summation starts at 8 elements); whether this numpy does is checked once
    per width and dtype on random data, else the plain reduction is used.
    """
    width = x.shape[-1] if x.shape else 0
    if x.dtype.kind != "f" or not 2 <= width <= 7 or _axes(x.shape, axis) != (len(x.shape) - 1,):
        return False
    key = (width, x.dtype)
    if key not in _SEQUENTIAL_SUM:
        rng = np.random.default_rng(0)
        data = (rng.standard_normal((4096, width)) * rng.uniform(1e-3, 1e3, (4096, width))).astype(x.dtype)
        _SEQUENTIAL_SUM[key] = np.array_equal(_short_sum(width, (4096, 1), True)(data),
                                              np.add.reduce(data, 1, None, None, True))
    return _SEQUENTIAL_SUM[key]


_SEQUENTIAL_SUM: dict = {}


def _short_sum(width: int, kshape: tuple, keepdims: bool) -> Callable:
    def short_sum(x, out=None):
        target = out if out is None or keepdims else out.reshape(kshape)
        total = np.add(x[..., 0:1], x[..., 1:2], out=target)
        for j in range(2, width):
            np.add(total, x[..., j:j + 1], out=total)
        return total if keepdims else total.reshape(kshape[:-1])
    return short_sum


def _mean(node, ins, out):
    (x,) = ins
    if not _known(x) or x.dtype not in (np.float32, np.float64):
        return None
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    count = np.intp(math.prod(x.shape[a] for a in _axes(x.shape, axis)))
    reduce = np.add.reduce

    def mean(v, out=None):
        # numpy's _mean for float input: sum, then divide by an intp count.
        total = reduce(v, axis, None, out, keepdims)
        if isinstance(total, np.ndarray):
            return np.true_divide(total, count, out=total, casting="unsafe")
        return total.dtype.type(total / count)

    return Kernel(mean, (0,), out=True)


def _normalize(node, ins, out):
    (x,) = ins
    axis = node.attrs["axis"]
    if not _known(x) or x.dtype.kind != "f":
        return None
    kshape = tuple(1 if i in _axes(x.shape, axis) else d for i, d in enumerate(x.shape))
    if _short_sum_ok(x, axis):
        reduce = _short_sum(x.shape[-1], kshape, True)
    else:
        add_reduce = np.add.reduce

        def reduce(v, out=None):
            return add_reduce(v, axis, None, out, True)
    dtype = x.dtype
    scratch: list = []

    def normalize(v, out=None):
        if out is None:
            return np.divide(v, reduce(v))
        if not scratch:
            scratch.append(np.empty(kshape, dtype=dtype))
        return np.divide(v, reduce(v, out=scratch[0]), out=out)

    return Kernel(normalize, (0,), out=True)


def _clip(node, ins, out):
    (x,) = ins
    lo, hi = node.attrs["lo"], node.attrs["hi"]
    if x.dtype is None or x.dtype.kind != "f" or not {type(lo), type(hi)} <= {int, float}:
        return None  # numpy arrays or scalars as bounds take part in the dtype: leave to np.clip
    with np.errstate(all="ignore"):
        lo_c, hi_c = x.dtype.type(lo), x.dtype.type(hi)
    if not (np.isfinite(lo_c) and np.isfinite(hi_c)):
        return None

    def clip(v, out=None):
        return _clip_ufunc(v, lo_c, hi_c, out=out)

    return Kernel(clip, (0,), out=True)


def _pick(node, ins, out):
    x, labels = ins
    if not _known(x, labels) or len(labels.shape) != 1:
        return None
    rows = np.arange(x.shape[0])
    check = ops._check_labels

    def pick(v, y):
        check(v, y)
        return v[rows, y]

    return Kernel(pick, (0, 1))


def _unpick(node, ins, out):
    g, labels, x = ins
    if not _known(g, labels, x) or len(labels.shape) != 1:
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

    return Kernel(unpick, (0, 1), out=True)


def _broadcast_like(node, ins, out):
    x = ins[1]
    if not _known(x):
        return None
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    shape = x.shape
    expand = axis is not None and not keepdims

    def broadcast_like(v):
        return np.broadcast_to(np.expand_dims(v, axis) if expand else v, shape)

    return Kernel(broadcast_like, (0,), views=(0,))


def _sum_like(node, ins, out):
    g, x = ins
    if not _known(g, x):
        return None
    lead = len(g.shape) - len(x.shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(x.shape) if d == 1 and g.shape[lead + i] != 1)
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


def _gate(node, ins, out):
    g, a, b = ins
    if not _known(a, b):
        return None
    compare = np.greater if node.attrs.get("strict", True) else np.greater_equal
    mask_shape = np.broadcast_shapes(a.shape, b.shape)
    consts = _weak_consts(node, ins, (1, 2))
    multiply = np.multiply
    scratch: list = []

    def gate(v, x, y, out=None):
        if out is None:
            return multiply(v, compare(x, y))
        if not scratch:
            scratch.append(np.empty(mask_shape, dtype=bool))
        return multiply(v, compare(x, y, out=scratch[0]), out=out)

    inplace = (0,) if g.weak is None and g.shape == out.shape and g.dtype == out.dtype else ()
    return Kernel(gate, (0, 1, 2), out=True, inplace=inplace, consts=consts)


def _constant_like(fill):
    def build(node, ins, out):
        if not _known(out):
            return None
        shape, dtype = out.shape, out.dtype

        def like():
            return fill(shape, dtype=dtype)
        return Kernel(like, ())
    return build


_BUILDERS: dict[str, Callable] = {
    **{name: _ufunc for name in _UFUNCS},
    "matmul": _matmul,
    "transpose": _transpose,
    "stop_gradient": _stop_gradient,
    "max": _max,
    "sum": _sum,
    "mean": _mean,
    "normalize": _normalize,
    "clip": _clip,
    "pick": _pick,
    "unpick": _unpick,
    "broadcast_like": _broadcast_like,
    "sum_like": _sum_like,
    "gate": _gate,
    "ones_like": _constant_like(np.ones),
    "zeros_like": _constant_like(np.zeros),
}
