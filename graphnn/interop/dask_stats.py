"""Per-node statistics over a whole data set, computed chunk by chunk on the workers and merged exactly."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from graphnn.core.errors import GraphError
from graphnn.graph import Graph
from graphnn.interop.dask_step import DistributedStep, get_client
from graphnn.seeing.stats import Stats


@dataclass
class NodeStats:
    """A node's statistics over every row of a data set, merged exactly from the chunks.

    ``stats``: the :class:`graphnn.seeing.stats.Stats` (``min``/``max``/``mean``/
    ``std``/``zeros``/``norm`` ..., as ``gn.stats`` gives on the whole array);
    ``counts``/``edges``: a histogram of the finite values with fixed bins
    (``np.histogram(values, bins=edges)``); ``dead``: per neuron (the node's
    shape without the rows), True where the value is 0 for every row.
    """

    stats: Stats
    counts: np.ndarray
    edges: np.ndarray
    dead: np.ndarray

    @property
    def dead_fraction(self) -> tuple[int, int]:
        """``(dead, total)`` neurons, as :func:`graphnn.seeing.health.dead_fraction` on the whole array."""
        return int(np.count_nonzero(self.dead)), int(max(self.dead.size, 1))


def node_stats(graph: Graph, feeds: Mapping, nodes: Sequence | None = None, *, bins: int | Sequence = 20,
               client=None) -> dict[str, NodeStats]:
    """Per-node statistics over a whole data set, computed on the workers: ``{name: NodeStats}``.

    ``feeds`` maps the graph's inputs (nodes or names) to Dask arrays chunked by
    rows; ``nodes`` (nodes or names) default to every forward op with a row
    dimension. ``bins``: a number of equal bins between the data set's min and
    max (one more pass over the data), or the bin edges themselves.
    """
    client = get_client(client)
    inputs = [graph.node(k) for k in feeds]
    if nodes is None:
        nodes = [n for n in graph.nodes if n.kind == "op" and not n.backward and n.shape and n.shape[0] is None]
    nodes = [graph.node(n) for n in nodes]
    step = _StatsStep(graph, inputs, nodes, client)
    data = step.data([feeds[k] for k in feeds])
    if np.ndim(bins) == 0:  # a first pass finds each node's range
        if isinstance(bins, bool) or int(bins) != bins or bins < 1:
            raise GraphError(f"graphnn.dask.node_stats: bins must be an integer >= 1 or bin edges, got {bins!r}")
        first = step.merge(step.run("stats", "stats", data, 0, data.rows, None))
        edges = [_edges(m, int(bins)) for m in first]
    else:
        edges = [np.asarray(bins, np.float64)] * len(nodes)
    merged = step.merge(step.run("stats", "stats", data, 0, data.rows, edges))
    return {n.name: _node_stats(m, e, data.rows) for n, m, e in zip(nodes, merged, edges)}


class _StatsStep(DistributedStep):
    def __init__(self, graph: Graph, inputs: list, nodes: list, client):
        self.client, self.params, self.inputs = client, graph.params, inputs
        self._spec({"stats": {"nodes": nodes}})
        self._data = {}

    @staticmethod
    def merge(results: list) -> list[dict]:
        """Chunk partials merged node by node (Chan et al.'s pairwise mean and M2)."""
        merged = [dict(p) for p in results[0]]
        for partials in results[1:]:
            for m, p in zip(merged, partials):
                n = m["n"] + p["n"]
                if p["n"]:
                    delta = p["mean"] - m["mean"]
                    m["m2"] += p["m2"] + delta * delta * m["n"] * p["n"] / n
                    m["mean"] += delta * p["n"] / n
                m["n"] = n
                for k in ("size", "zeros", "nans", "infs", "sumsq"):
                    m[k] += p[k]
                m["min"], m["max"] = min(m["min"], p["min"]), max(m["max"], p["max"])
                m["alive"] = m["alive"] | p["alive"]
                if m["hist"] is not None:
                    m["hist"] = m["hist"] + p["hist"]
        return merged


def _edges(m: dict, bins: int) -> np.ndarray:
    low, high = (m["min"], m["max"]) if m["n"] else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def _node_stats(m: dict, edges: np.ndarray, rows: int) -> NodeStats:
    nan = float("nan")
    shape = (rows, *m["shape"])
    if m["n"]:
        stats = Stats(shape, m["dtype"], m["size"], m["min"], m["max"], m["mean"], math.sqrt(m["m2"] / m["n"]),
                      m["zeros"] / m["size"] if m["size"] else 0.0, m["nans"], m["infs"], math.sqrt(m["sumsq"]))
    else:
        stats = Stats(shape, m["dtype"], m["size"], nan, nan, nan, nan, m["zeros"] / max(m["size"], 1),
                      m["nans"], m["infs"], nan)
    return NodeStats(stats, m["hist"], edges, ~np.asarray(m["alive"]))
