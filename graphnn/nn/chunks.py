"""How an optimizer's step computes, checks and commits, all or nothing.

The parameters of a step are grouped by the dtypes of their state and
gradient, and each group is laid out in chunks of scratch (at most
``CHUNK_BYTES`` per row). A group that fits one chunk is copied into it side
by side, so each formula is one numpy call for all its parameters; the
results are checked, and :func:`finish` copies them back so that Ctrl-C
cannot stop it half way. A larger group is checked first (the optimizer's
bound, or the step computed chunk by chunk in scratch), then updated in place
chunk by chunk, each chunk staying in cache, inside :func:`interrupts_deferred`.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading

import numpy as np

from graphnn.core.errors import GraphError

CHUNK_BYTES = 1 << 18  # per row of scratch: with the 5-6 rows of a step, within a core's cache


def groups_of(pairs, slots: tuple[str, ...]) -> list[_Group]:
    """The parameters grouped by the dtypes of their state and gradient, each group laid out in scratch."""
    by_dtype = {}
    for i, (param, grad) in enumerate(pairs):
        by_dtype.setdefault((np.result_type(param.value, grad), grad.dtype), []).append(i)
    return [_Group(indices, [pairs[i][1].shape for i in indices], dtype, gdtype, slots)
            for (dtype, gdtype), indices in by_dtype.items()]


class _Group:
    """Parameters with the same state and gradient dtypes, side by side in chunks of scratch."""

    def __init__(self, indices: list[int], shapes: list[tuple], dtype, gdtype, slots: tuple[str, ...]):
        self.indices, self.dtype, self.gdtype = indices, dtype, gdtype
        sizes = [math.prod(shape) for shape in shapes]
        size = max(1, min(CHUNK_BYTES // dtype.itemsize, sum(sizes)))
        block, grad = np.empty((3 + len(slots)) * size, dtype), np.empty(size, gdtype)
        spans, pieces, a = [], [], 0
        for i, shape, total in zip(indices, shapes, sizes):
            lo = 0
            while lo < total:
                n = min(total - lo, size - a)
                pieces.append((i, shape, lo, lo + n, a))
                lo, a = lo + n, a + n
                if a == size:
                    spans.append((a, pieces))
                    pieces, a = [], 0
        if pieces:
            spans.append((a, pieces))
        self.chunks = [_Chunk(n, pieces, block, grad, slots) for n, pieces in spans]

    def compute(self, opt, chunk: _Chunk, sources, lr: float, t: int, params: list) -> None:
        """Run the optimizer's formulas on a chunk of ``sources`` (value, state arrays, gradient per
        parameter) into scratch, refusing a NaN or Inf gradient and an overflow (naming ``params``)."""
        if len(chunk.pieces) == 1:  # one parameter's elements: read where they are
            i, part, _, _ = chunk.pieces[0]
            *old, g = (source.reshape(-1)[part or slice(None)] for source in sources[i])
        else:  # several side by side: copied in
            for i, part, views, _ in chunk.pieces:
                for view, source in zip(views, sources[i]):
                    view[...] = source if part is None else source.reshape(-1)[part]
            old, g = chunk.new, chunk.g
        if not _finite(g):
            i = chunk.pieces[0][0] if len(chunk.pieces) == 1 else chunk.first_bad(-1)[0]
            raise GraphError(f"{type(opt).__name__}.step: the gradient for {params[i].name} holds "
                             f"{_nonfinite_text(sources[i][-1])}; nothing was updated")
        opt._compute(old, chunk.new, g, lr, t, chunk.tmp, chunk.tmp2)
        if not _finite(chunk.results):
            i, part, values = chunk.first_bad(*range(len(sources[0]) - 1))
            name, old, where = params[i].name, sources[i][0], f"{type(opt).__name__}.step"
            if not np.isfinite(old).all():
                raise GraphError(f"{where}: {name} already holds {_nonfinite_text(old)}; nothing was updated")
            raise GraphError(f"{where}: updating {name} overflowed (its new values hold "
                             f"{_nonfinite_text(values, part.start if part else 0, old.shape)}); nothing was updated")

    @staticmethod
    def update_in_place(opt, chunk: _Chunk, sources, lr: float, t: int) -> float:
        """Run the formulas on the chunk's elements where they are, once nothing can fail; returns the
        largest squared norm among the new state's pieces (read while in cache: the next step's bound)."""
        largest = 0.0
        for i, part, _, _ in chunk.pieces:
            *old, g = (source.reshape(-1)[part or slice(None)] for source in sources[i])
            opt._compute(old, old, g, lr, t, chunk.tmp[:g.size], chunk.tmp2[:g.size])
            largest = max([largest, *(float(a.dot(a)) for a in old[1:])])
        return largest

    @staticmethod
    def commit(chunk: _Chunk, sources) -> None:
        """Copy a computed chunk back into the parameters and their state; safe to repeat."""
        for i, part, _, views in chunk.pieces:
            for view, target in zip(views, sources[i]):  # the gradient, last, is left out
                if part is None:
                    target[...] = view
                else:
                    target.reshape(-1)[part] = view


class _Chunk:
    """``n`` elements of scratch: contiguous rows for the new values, each state array, ``tmp`` and
    ``tmp2``, and one for the gradient. ``pieces`` are ``(i, part, views, results)``: the flat
    elements ``part`` (a slice, or None for all) of the ``i``-th parameter's value, state arrays and
    gradient sit in ``views`` (shaped like the parameter when whole), the results in the first ones."""

    def __init__(self, n: int, pieces, block: np.ndarray, grad: np.ndarray, slots: tuple[str, ...]):
        rows = block[:(3 + len(slots)) * n].reshape(3 + len(slots), n)
        self.new, self.g, self.tmp, self.tmp2 = list(rows[:-2]), grad[:n], rows[-2], rows[-1]
        self.results = rows[:-2].reshape(-1)  # new values and state, checked for NaN and Inf
        self.pieces = []
        for i, shape, lo, hi, a in pieces:
            whole = hi - lo == math.prod(shape)
            views = [row[a:a + hi - lo] for row in (*rows[:-2], self.g)]
            views = [view.reshape(shape) for view in views] if whole else views
            self.pieces.append((i, None if whole else slice(lo, hi), views, views[:-1]))

    def first_bad(self, *rows) -> tuple[int, slice | None, np.ndarray]:
        """The first piece with a NaN or Inf in one of its views ``rows``: its parameter's index, its
        part and those values, flat."""
        for i, part, views, _ in self.pieces:
            for row in rows:
                if not np.isfinite(views[row]).all():
                    return i, part, views[row].reshape(-1)
        raise AssertionError("no NaN or Inf in the chunk")


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C (SIGINT) back until the block ends, then deliver it (main thread only, where
    Python runs signal handlers; elsewhere the block cannot be interrupted by one)."""
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is None:
        yield
        return
    received = []
    signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(*received[0])
        elif received and previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGINT)


def finish(jobs) -> None:
    """Run every ``(function, args)`` in order, through Ctrl-C to the end, then raise the interrupt.

    A job may run again until the next one starts: it recomputes scratch from
    sources no job has changed yet, or copies scratch back. So an interrupted
    job is simply run again.
    """
    done, interrupt = 0, None
    while done < len(jobs):
        try:
            while done < len(jobs):
                function, args = jobs[done]
                function(*args)
                done += 1
        except KeyboardInterrupt as error:
            interrupt = error
    if interrupt is not None:
        raise interrupt


def _finite(a: np.ndarray) -> bool:
    """Whether ``a`` holds no NaN or Inf: its dot product with itself is finite, else a full check."""
    flat = a.reshape(-1)
    return math.isfinite(flat.dot(flat)) or bool(np.isfinite(a).all())


def _nonfinite_text(a: np.ndarray, offset: int = 0, shape: tuple | None = None) -> str:
    """How many NaN and Inf ``a`` holds, and the first one's index (in ``shape`` when ``a`` is a
    flat piece starting at ``offset``)."""
    nans, infs = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    first = np.argwhere(~np.isfinite(a))[0]
    if shape is not None:
        first = np.unravel_index(offset + int(first[0]), shape)
    return f"{nans} NaN and {infs} Inf of {a.size} values (the first at index {tuple(int(i) for i in first)})"
