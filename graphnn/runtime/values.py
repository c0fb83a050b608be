"""The values of one run, by node or by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from graphnn.core.errors import did_you_mean
from graphnn.core.node import Node, format_shape


class Values(Mapping):
    """The values of one run, by node or by name (``values["dense1/matmul"]``).

    ``graph`` and ``fetched`` record the run (``Graph.run`` sets them). In
    Jupyter a run displays as its graph's diagram with these values.
    """

    graph = None
    fetched: tuple | None = None

    def __init__(self, by_node: dict):
        self._by_node = by_node
        self._names: dict | None = None

    @property
    def _by_name(self) -> dict:
        if self._names is None:
            self._names = {n.name: n for n in self._by_node}
        return self._names

    def __getitem__(self, key: Node | str):
        try:
            return self._by_node[key]  # by node: the common case, one lookup
        except KeyError:
            pass
        if isinstance(key, Node):
            raise KeyError(f"{key.name} was not computed in this run (fetch it, or keep='all')")
        node = self._by_name.get(key)
        if node is None:
            raise KeyError(f"no value named {key!r} in this run{did_you_mean(key, self._by_name)}")
        return self._by_node[node]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._by_node)

    def __len__(self) -> int:
        return len(self._by_node)

    def __contains__(self, key) -> bool:
        return key in self._by_node or (isinstance(key, str) and key in self._by_name)

    def __repr__(self) -> str:
        rows = [f"{n.name}: {format_shape(np.shape(v))}" for n, v in self._by_node.items()]
        return "Values(\n  " + "\n  ".join(rows) + "\n)"

    def _repr_svg_(self) -> str | None:
        return None if self.graph is None else self.graph.svg(values=self)
