"""nnfs.init()'s ``np.dot``, computed without its temporaries.

The book's scripts call ``nnfs.init()``, which replaces ``np.dot`` with a
wrapper that copies both arguments to float64, multiplies them with numpy's
own dot and rounds the product to float32 (for results that agree across
machines). graphnn calls ``np.dot`` as it is at call time, so a network
under ``nnfs.init()`` gets the book's numbers; the matmul kernel recognises
this wrapper and computes exactly what it computes, in float64 scratch kept
per thread instead of three new arrays per product.
"""

from __future__ import annotations

import threading

import numpy as np

try:  # numpy's own dot, whatever nnfs.init() later puts at np.dot
    from numpy._core.multiarray import dot as NUMPY_DOT
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import dot as NUMPY_DOT


def is_book_dot(dot) -> bool:
    """Whether ``dot`` is the np.dot nnfs.init() installs around numpy's own: float64 copies of the
    arguments multiplied by numpy's dot, the product rounded to float32."""
    if dot is _BOOK_DOT[0]:
        return True
    cells = getattr(dot, "__closure__", None) or ()
    if (getattr(dot, "__module__", None) == "nnfs.core" and getattr(dot, "__qualname__", None) == "init.<locals>.dot"
            and len(cells) == 1 and cells[0].cell_contents is NUMPY_DOT):
        _BOOK_DOT[0] = dot  # recognised once (nnfs.init() makes a new one each call)
        return True
    return False


_BOOK_DOT: list = [None]


def book_dot(x, y, out):
    """What nnfs.init()'s dot computes on two matrices, without its three new arrays (for large ones
    the allocator returns that memory to the system and faults it in again: chapter 17 spent a third of
    its time so): each argument copied to float64 in its own layout (as ``astype`` copies it) into one
    scratch array per thread, numpy's dot, the product rounded to float32 (into ``out`` when given)."""
    shape = (x.shape[0], y.shape[1])
    size = x.size + y.size + shape[0] * shape[1]
    layouts = [_layout(a) for a in (x, y)]
    if size > _SCRATCH_LIMIT or None in layouts:
        return np.dot(x, y)
    scratch = getattr(_SCRATCH, "array", None)
    if scratch is None or scratch.size < size:
        scratch = _SCRATCH.array = np.empty(size, np.float64)
    wide, at = [], 0
    for a, order in zip((x, y), layouts):
        view = scratch[at:at + a.size]
        view = view.reshape(a.shape) if order == "C" else view.reshape(a.shape[::-1]).T
        np.copyto(view, a)
        wide.append(view)
        at += a.size
    product = NUMPY_DOT(wide[0], wide[1], scratch[at:size].reshape(shape))
    if out is None:
        return product.astype(np.float32)
    np.copyto(out, product)
    return out


def worth_scratch(a_shape: tuple, b_shape: tuple) -> bool:
    """Whether a product of these shapes gets :func:`book_dot`'s scratch: when one of nnfs's float64
    arrays would hold 32,768 numbers (256 KiB) or more. Smaller ones cost less through nnfs's dot, as
    the allocator keeps and reuses their memory."""
    if not len(a_shape) == len(b_shape) == 2:
        return False
    return max(a_shape[0] * a_shape[1], b_shape[0] * b_shape[1], a_shape[0] * b_shape[1]) >= 1 << 15


def _layout(a) -> str | None:
    return "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else None


_SCRATCH = threading.local()  # one float64 array per thread, reused by every product (so it stays in cache)
_SCRATCH_LIMIT = 1 << 22      # elements (32 MiB); larger products allocate, as nnfs's dot does
