"""Run hooks: record every value as a run computes it, or stop at the first NaN/Inf.

>>> trace = gn.Trace()
>>> graph.run(feeds, hook=trace)       # every node's value as it is computed
>>> graph.run(feeds, check_numerics=True)   # stops at the first NaN/Inf, naming the node
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphnn.core.errors import GraphError
from graphnn.core.node import Node, format_shape
from graphnn.seeing.stats import Stats, has_nonfinite, percent, stats


@dataclass(frozen=True)
class TraceEntry:
    step: int
    node: Node
    stats: Stats
    value: Any = None


class Trace:
    """A hook that records every node's value (a copy) and statistics as a run computes them.

    >>> trace = gn.Trace()
    >>> values = graph.run(feeds, hook=trace)
    >>> print(trace)                   # one line per node, in execution order
    >>> trace["dense1/matmul"].stats.max
    """

    def __init__(self, keep_values: bool = True):
        self.keep_values = keep_values
        self.entries: list[TraceEntry] = []

    def __call__(self, node: Node, value: Any) -> None:
        # a copy: parameters change in place, and a plan may reuse its buffers
        kept = np.array(value, copy=True) if self.keep_values else None
        self.entries.append(TraceEntry(len(self.entries), node, stats(value), kept))

    def __getitem__(self, name: str) -> TraceEntry:
        """The last entry for the node called ``name``."""
        for entry in reversed(self.entries):
            if entry.node.name == name:
                return entry
        raise KeyError(f"{name!r} was not computed in the traced runs")

    def __len__(self) -> int:
        return len(self.entries)

    def __str__(self) -> str:
        return "\n".join(f"{e.step:4d} {e.node.name}: {format_shape(e.stats.shape)} {e.stats.dtype} "
                         f"{e.stats.line()}" + ("" if e.stats.finite else " NaN/Inf!")
                         for e in self.entries)


class NumericsError(GraphError):
    """A node produced NaN or Inf; ``node`` is it, ``input_stats`` its inputs' statistics."""

    def __init__(self, node: Node, value_stats: Stats, input_stats: dict[str, Stats]):
        self.node, self.stats, self.input_stats = node, value_stats, input_stats
        shown = "; ".join(f"{name} {format_shape(s.shape)} {s.line()}, zeros {percent(s.zeros)}"
                          + ("" if s.finite else f", NaN {s.nans}, Inf {s.infs}")
                          for name, s in input_stats.items())
        what = f"{node.op} produced" if node.kind == "op" else f"{node.kind} holds"
        super().__init__(f"{node.location}: {what} {value_stats.nans} NaN and "
                         f"{value_stats.infs} Inf of {value_stats.size} values"
                         + (f" [inputs: {shown}]" if shown else ""))


class NumericsCheck:
    """A hook that raises :class:`NumericsError` at the first node whose value has NaN/Inf.

    ``graph.run(feeds, check_numerics=True)`` uses it; ``hook`` (optional) is
    called first, so a trace still records the bad value.
    """

    def __init__(self, hook: Callable[[Node, Any], None] | None = None):
        self.hook = hook
        self.seen: dict[Node, Any] = {}

    def __call__(self, node: Node, value: Any) -> None:
        if self.hook is not None:
            self.hook(node, value)
        self.seen[node] = value
        if has_nonfinite(value):
            inputs = {i.name: stats(self.seen[i]) for i in node.inputs if i in self.seen}
            raise NumericsError(node, stats(value), inputs)
