"""Recording tensors over training, for the explorer page (:mod:`graphnn.seeing.explore`).

A :class:`Recorder` keeps, at the steps it is asked to, every chosen node's
statistics, a histogram, and a sample of its numbers (its gradient's too).
Statistics and histograms are always of the whole tensor; the numbers kept
are all of them for small tensors and a deterministic sample of rows
(evenly spaced) for large batch tensors, and past ``max_bytes`` a step keeps
statistics and histograms only. The page says which.

>>> recorder = gn.Recorder(every=100)
>>> model.train(X, y, epochs=1000, record=recorder)          # records steps 0, 100, ..., 900
>>> gn.explore(model.graph, "training.html", history=recorder)

A loop of your own asks :meth:`Recorder.due` (a counter check) and records::

    for step in range(1001):
        rec = recorder.due(step)
        values = graph.run(feeds, keep="all" if rec else "fetched")
        if rec:
            recorder.record(step, values, grads)               # before the parameters change
        optimizer.step(params, [values[g] for g in grad_nodes])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from graphnn.core.errors import GraphError
from graphnn.core.node import Node
from graphnn.seeing.health import Finding, diagnose, gradient_values
from graphnn.seeing.stats import Stats, stats

BINS = 24
WHOLE_LIMIT = 16384  # tensors without a batch dimension are kept whole up to this many numbers


@dataclass
class Entry:
    """One node at one recorded step."""

    stats: Stats
    hist: tuple | None  # (counts, lo, hi) over the finite entries, None when there are none
    sample: np.ndarray | None  # float32 numbers kept (None past the memory budget)
    rows: tuple[int, int] | None = None  # (kept, total) rows when only a sample of rows is kept
    cols: tuple[int, int] | None = None  # (kept, total) columns likewise
    grad: Stats | None = None
    grad_hist: tuple | None = None


@dataclass
class Frame:
    """Everything recorded at one step (``step`` is None for a single run's values)."""

    step: int | None
    entries: dict[str, Entry]
    findings: list[Finding] = field(default_factory=list)
    arrays: bool = True  # False: past the memory budget, statistics and histograms only


def histogram(value: Any, bins: int = BINS) -> tuple | None:
    """``(counts, lo, hi)`` of the finite entries of ``value``; None when there are none."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf" or a.size == 0:
        return None
    x = a.astype(np.float64, copy=False).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return None
    lo, hi = float(x.min()), float(x.max())
    counts, _ = np.histogram(x, bins=bins, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
    return counts.astype(int).tolist(), lo, hi


def sample_rows(node: Node | None, value: Any, max_rows: int, max_cols: int = 64) -> tuple:
    """``(numbers, rows, cols)``: the numbers to keep of ``value`` as 2-D float32, and what was sampled.

    Batch tensors (static first dimension unknown) with more than ``max_rows``
    rows keep ``max_rows`` evenly spaced rows, always the same ones (other
    tensors are kept whole up to :data:`WHOLE_LIMIT` numbers); more than
    ``max_cols`` columns keep ``max_cols`` evenly spaced ones. ``rows`` and
    ``cols`` are ``(kept, total)`` where sampled, else None.
    """
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        a = np.zeros(a.shape, np.float32)
    a = a.reshape(1, -1) if a.ndim < 2 else a.reshape(a.shape[0], -1)
    batch = node is None or node.shape is None or (len(node.shape) > 0 and node.shape[0] is None)
    rows = cols = None
    if a.shape[0] > max_rows and (batch or a.size > WHOLE_LIMIT):
        a, rows = a[np.linspace(0, a.shape[0] - 1, max_rows).round().astype(np.intp)], (max_rows, a.shape[0])
    if a.shape[1] > max_cols:
        a, cols = a[:, np.linspace(0, a.shape[1] - 1, max_cols).round().astype(np.intp)], (max_cols, a.shape[1])
    return np.array(a, dtype=np.float32), rows, cols


class Recorder:
    """Keeps chosen nodes' values and gradients at chosen steps, within a memory budget.

    nodes:     node names to record (default: every node that is not a constant).
    every:     record steps 0, every, 2*every, ... (default 1, when ``steps`` is not given).
    steps:     or exactly these steps.
    grads:     record gradients too (forward node -> gradient, as :func:`graphnn.gradients` gives).
    max_rows:  batch tensors with more rows keep this many evenly spaced rows of numbers.
    max_cols:  and at most this many evenly spaced columns (of the tensor seen as rows x columns).
    max_bytes: the numbers kept, over all steps; past it a step keeps statistics and histograms.

    ``frames`` holds what was recorded, one :class:`Frame` per step.
    """

    def __init__(self, nodes: Iterable[str] | None = None, *, every: int | None = None,
                 steps: Iterable[int] | None = None, grads: bool = True, max_rows: int = 32,
                 max_cols: int = 64, max_bytes: int = 64 * 2**20):
        if every is not None and steps is not None:
            raise GraphError("Recorder: give every= or steps=, not both")
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise GraphError(f"Recorder: every must be an integer >= 1, got {every!r}")
        for name, v, least in (("max_rows", max_rows, 1), ("max_cols", max_cols, 1), ("max_bytes", max_bytes, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise GraphError(f"Recorder: {name} must be an integer >= {least}, got {v!r}")
        self.nodes = None if nodes is None else [n.name if isinstance(n, Node) else str(n) for n in nodes]
        self.every = 1 if every is None and steps is None else every
        self.steps = None if steps is None else frozenset(int(s) for s in steps)
        self.grads, self.max_rows, self.max_cols, self.max_bytes = grads, max_rows, max_cols, max_bytes
        self.frames: list[Frame] = []
        self.bytes = 0

    def due(self, step: int) -> bool:
        """Whether ``step`` is one to record (a counter check; nothing else happens)."""
        if self.every is not None:
            return step % self.every == 0
        return step in self.steps

    @property
    def sampled(self) -> dict[str, tuple]:
        """Node name -> ``(rows, cols)`` (each ``(kept, total)`` or None), for the nodes whose numbers were sampled."""
        return {name: (e.rows, e.cols) for f in self.frames for name, e in f.entries.items() if e.rows or e.cols}

    @property
    def over_budget(self) -> list[int | None]:
        """Steps that kept statistics and histograms only (past ``max_bytes``)."""
        return [f.step for f in self.frames if not f.arrays]

    def record(self, step: int | None, values: Mapping, grads: Mapping | None = None) -> Frame:
        """Record ``values`` (a run's, by node) and ``grads`` (forward node -> gradient node or array).

        Call it before an optimizer changes the parameters: a run's values
        hold the parameters' live arrays. Statistics and histograms are
        computed now; the numbers kept are copies.
        """
        by_node = {n: v for n, v in values.items() if isinstance(n, Node)}
        if not by_node and values:
            raise GraphError("Recorder.record: values must be keyed by node (the result of graph.run)")
        graph = getattr(values, "graph", None)
        nodes = graph.nodes if graph is not None else list(by_node)
        chosen = [n for n in nodes if n in by_node and n.kind != "constant"]
        if self.nodes is not None:
            names = {n.name: n for n in chosen}
            missing = [name for name in self.nodes if name not in names]
            if missing:
                raise GraphError(f"Recorder.record: no value for {', '.join(map(repr, missing))} in this run "
                                 f"(run the graph with keep='all', or fetch them)")
            chosen = [names[name] for name in self.nodes]
        grad_arrays = gradient_values(grads, by_node) if self.grads else {}
        wanted = set(chosen)
        findings = [f for f in diagnose(SimpleNamespace(nodes=chosen), by_node,
                                            grads if self.grads else None)
                    if f.node in {n.name for n in wanted}]
        entries, size = {}, 0
        for n in chosen:
            sample, rows, cols = sample_rows(n, by_node[n], self.max_rows, self.max_cols)
            size += sample.nbytes
            g = grad_arrays.get(n)
            entries[n.name] = Entry(stats(by_node[n]), histogram(by_node[n]), sample, rows, cols,
                                    None if g is None else stats(g), None if g is None else histogram(g))
        keep = self.bytes + size <= self.max_bytes
        if keep:
            self.bytes += size
        else:
            for e in entries.values():
                e.sample = None
        frame = Frame(step, entries, findings, keep)
        self.frames.append(frame)
        return frame

    def record_model(self, model, feeds: Mapping, values: Mapping) -> Frame:
        """Record a Model's training step (``Model.train(..., record=recorder)`` calls this).

        The gradients of every forward node come from a separate gradient graph
        run on the same feed (built once), so training runs exactly as without
        recording; a model with random ops (dropout) records its parameters'
        gradients only, since another run would draw other random numbers.
        """
        grads: dict[Node, Any] = dict(zip(model.params, (values[g] for g in model.grads)))
        if self.grads:
            extra = model.gradient_graph()
            if extra is not None:
                graph, mapping = extra
                run = graph.run(feeds, keep="fetched")
                grads.update({fwd: run[g] for fwd, g in mapping.items() if fwd not in grads})
        return self.record(model.optimizer.iterations, values, grads)

    def __repr__(self) -> str:
        steps = [f.step for f in self.frames]
        return f"<Recorder: {len(steps)} steps recorded {steps[:5]}{' ...' if len(steps) > 5 else ''}>"
