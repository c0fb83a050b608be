"""Primitives for training like the book: penalties, dropout, the joint Softmax + cross-entropy gradient.

``abs``/``sign`` make the book's L1 penalty, ``dropout_mask`` its dropout, and
``softmax_cce_grad`` is the gradient the book derives in chapter 9, which
:func:`graphnn.grad` substitutes for the long chain (see
:mod:`graphnn.autodiff.rewrite`).
"""

from __future__ import annotations

import functools

import numpy as np

from graphnn.core import shapes as s
from graphnn.core.kernels import Kernel, check_labels, flat_picks, known, same_as_out
from graphnn.core.node import Node
from graphnn.core.ops import mul
from graphnn.core.primitive import ZERO, Aval, ShapeError, define_primitive


def _abs(x, at_zero=0.0):
    return np.abs(x)


def _sign(x, at_zero=0.0):
    # np.sign gives 0 at 0; the book's L1 penalty uses +1 there
    # (sign = ones_like(w); sign[w < 0] = -1), so the value at 0 is an attribute.
    out = np.sign(x)
    if at_zero:
        out = np.where(x == 0, np.asarray(at_zero, dtype=out.dtype), out)
    return out


def _dropout_mask(x, rate, dtype=None):
    # Drawn at run time from numpy's global generator, exactly as the book's
    # Layer_Dropout does, so nnfs.init()'s seed gives the book's masks. The
    # book's division gives float64; cast to x's dtype (dtype=None) so a
    # float32 network stays float32, or to dtype.
    return _draw_mask(x.shape, rate, x.dtype if dtype is None else np.dtype(dtype))


def _draw_mask(shape, rate, dtype, out=None):
    """binomial(1, 1 - rate, shape) / (1 - rate) as ``dtype`` (integers: float64, as the shape rule
    says), or divided into ``out``: the book's float64 quotient rounded as ``astype`` rounds it."""
    keep = 1.0 - rate
    drawn = np.random.binomial(1, keep, size=shape)
    if out is None:
        return (drawn / keep).astype(dtype if dtype.kind == "f" else np.float64, copy=False)
    return np.divide(drawn, keep, out=out)


def _dropout_mask_kernel(node, ins, out):
    """The same draw, divided into the plan's buffer: one large temporary instead of two, so the
    allocator reuses its memory from step to step instead of returning it to the system and
    faulting it in again."""
    if not known(out):
        return None
    return Kernel(functools.partial(_draw_mask, out.shape, node.attrs["rate"], out.dtype), (), out=True)


def _dropout_mask_rule(x: Aval, rate, dtype=None):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ShapeError(f"dropout rate must be a number in [0, 1), got {rate!r}")
    if dtype is not None:
        if np.dtype(dtype).kind != "f":
            raise ShapeError(f"dropout mask dtype must be a float type, got {dtype!r}")
        return x.shape, np.dtype(dtype)
    return x.shape, s.float_dtype(x)


def _check_one_hot(labels):
    if not (((labels == 0) | (labels == 1)).all() and (labels.sum(axis=1) == 1).all()):
        raise ValueError("the joint softmax/cross-entropy gradient needs one-hot label rows "
                         "(one 1, the rest 0); for other targets use grad(..., rewrite=False)")


def _rows_inside(probs, labels, lo, hi):
    """Rows whose picked probability lies strictly inside (lo, hi), as clip's gradient sees it."""
    if labels.ndim == 1:
        picked = probs[np.arange(len(probs)), labels]
    else:
        picked = np.sum(probs * labels.astype(probs.dtype, copy=False), axis=1)
    return (picked > lo) & (hi > picked)


def _softmax_cce_grad(probs, labels, lo, hi, mask_clipped=False):
    if labels.ndim == 1:
        d = _minus_one_hot_over_n(probs, labels, flat_picks(probs), np.empty(probs.shape, probs.dtype))
    else:
        _check_one_hot(labels)
        d = probs - labels.astype(probs.dtype, copy=False)  # the zeros change nothing: the book's bits
        d = np.divide(d, len(probs), out=d)
    if mask_clipped:
        inside = _rows_inside(probs, labels, lo, hi)
        if not inside.all():
            d[~inside] = 0  # the plain chain's clip passes no gradient there
    return d


def _minus_one_hot_over_n(probs, labels, index, d):
    """The book's chapter 9 result for class indices into ``d`` (a C-ordered array of ``probs``' shape
    and dtype, which may be ``probs`` itself), in its order of operations: d = probs.copy(); d[range(N), y] -= 1;
    d = d / N. ``index``: :func:`flat_picks` for ``probs``' shape."""
    check_labels(probs, labels)
    if d is not probs:
        np.copyto(d, probs)
    d.reshape(-1)[index(labels)] -= 1
    return np.divide(d, len(probs), out=d)


def _softmax_cce_grad_kernel(node, ins, out):
    """The unmasked gradient for class indices, written into the plan's buffer, the same bits."""
    probs, labels = ins
    if node.attrs.get("mask_clipped") or not known(probs, labels) or len(probs.shape) != 2 \
            or len(labels.shape) != 1:
        return None
    index = flat_picks(probs)

    def softmax_cce_grad(p, y, out=None):
        return _minus_one_hot_over_n(p, y, index, np.empty(p.shape, p.dtype) if out is None else out)

    return Kernel(softmax_cce_grad, (0, 1), out=True, inplace=(0,) if same_as_out(probs, out) else ())


def _softmax_cce_scale(probs, labels, lo, hi, mask_clipped=False):
    n = len(probs)
    if labels.ndim == 1:
        check_labels(probs, labels)
    if not mask_clipped:
        return np.full((n, 1), 1 / n, dtype=probs.dtype)
    return (_rows_inside(probs, labels, lo, hi).astype(probs.dtype) / n)[:, None]


def _softmax_cce_grad_rule(probs: Aval, labels: Aval, lo, hi, mask_clipped=False):
    s.pick(probs, labels)
    return probs.shape, probs.dtype


def _softmax_cce_scale_rule(probs: Aval, labels: Aval, lo, hi, mask_clipped=False):
    s.pick(probs, labels)
    return (None if probs.shape is None else probs.shape[0], 1), probs.dtype


def _abs_dx(g, n): return mul(g, sign(n.inputs[0], at_zero=n.attrs.get("at_zero", 0.0)))


def _softmax_cce_grad_dp(g, n):
    # softmax_cce_grad is (p - one_hot) / N, times a row mask that is piecewise
    # constant in p: its derivative along p is mask / N on the diagonal.
    return mul(g, softmax_cce_scale(*n.inputs, **n.attrs))


_CCE_ATTRS = ("lo", "hi", "mask_clipped")
_abs_node = define_primitive(
    "abs", _abs, s.same_shape, (_abs_dx,), attrs=("at_zero",), check_shapes=False, aliases=False,
    doc="|x|; derivative sign(x), taken as at_zero at 0 (the book's L1 penalty uses +1, np.sign 0)")
_sign_node = define_primitive(
    "sign", _sign, s.same_shape, (ZERO,), attrs=("at_zero",), check_shapes=False, aliases=False,
    doc="-1, 0 or +1 by the sign of x, with at_zero where x == 0")
_dropout_mask_node = define_primitive(
    "dropout_mask", _dropout_mask, _dropout_mask_rule, (ZERO,), attrs=("rate", "dtype"), pure=False,
    check_shapes=False, aliases=False, kernel=_dropout_mask_kernel,
    doc="random (a new draw on every run): binomial(1, 1 - rate, x.shape) / (1 - rate), in x's dtype or dtype")
_softmax_cce_grad_node = define_primitive(
    "softmax_cce_grad", _softmax_cce_grad, _softmax_cce_grad_rule, (_softmax_cce_grad_dp, None),
    attrs=_CCE_ATTRS, broadcasts=False, check_shapes=False, aliases=False, kernel=_softmax_cce_grad_kernel,
    doc="the book's joint gradient of mean(-log(clip(probs, lo, hi)[labels])) with respect to the logits "
        "of probs = softmax(logits): (probs - one_hot) / N; labels (N,) or one-hot (N, C). mask_clipped=True "
        "zeroes rows whose picked probability is on or beyond [lo, hi], as the clip's own gradient does; "
        "the book does not")
_softmax_cce_scale_node = define_primitive(
    "softmax_cce_scale", _softmax_cce_scale, _softmax_cce_scale_rule, (ZERO, None), attrs=_CCE_ATTRS,
    broadcasts=False, check_shapes=False, aliases=False,
    doc="(N, 1): d softmax_cce_grad / d probs, 1 / N per row (0 on masked rows)")


ABS = _abs_node.primitive


def abs_(x, at_zero=0.0, name=None) -> Node:
    """``|x|`` (``gn.abs``); its derivative at 0 is ``at_zero``."""
    return _abs_node(x, at_zero=at_zero, name=name)


def sign(x, at_zero=0.0, name=None) -> Node:
    return _sign_node(x, at_zero=at_zero, name=name)


def dropout_mask(x, rate, dtype=None, name=None) -> Node:
    """The book's dropout mask for ``x``: float ``x.shape``, in ``x``'s dtype unless ``dtype`` is given."""
    return _dropout_mask_node(x, rate=rate, dtype=None if dtype is None else np.dtype(dtype).name, name=name)


def softmax_cce_grad(probs, labels, lo=1e-7, hi=1 - 1e-7, mask_clipped=False, name=None) -> Node:
    return _softmax_cce_grad_node(probs, labels, lo=lo, hi=hi, mask_clipped=mask_clipped, name=name)


def softmax_cce_scale(probs, labels, lo=1e-7, hi=1 - 1e-7, mask_clipped=False, name=None) -> Node:
    return _softmax_cce_scale_node(probs, labels, lo=lo, hi=hi, mask_clipped=mask_clipped, name=name)
