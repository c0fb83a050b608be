"""Graph: the nodes an output depends on, ordered once and compiled to a plan.

``Graph(outputs)`` collects every node reachable from ``outputs`` into a
networkx ``MultiDiGraph`` (one edge per argument, so ``a + a`` has two) and
orders it topologically once. ``run`` specialises the order to what a fetch
needs and to the feed's shapes (checking every shape rule on them, so a bad
feed fails before anything runs), then compiles it into a straight-line Python
function: one line per node, ``v7 = f7(v3, v5)``. That function is cached and
reused; there is no per-node dictionary or networkx work in the hot loop.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Callable, Iterable, Iterator

import networkx as nx
import numpy as np

from graphnn import ops
from graphnn.core import GraphError, Node, format_shape, unique_name


class Graph:
    """A computational graph with the given outputs.

    >>> graph = Graph([probs, loss])
    >>> values = graph.run({"X": X, "y": y})
    >>> values["dense1/matmul"].shape
    (300, 3)
    """

    def __init__(self, outputs: Node | Iterable[Node]):
        self.outputs: tuple[Node, ...] = (outputs,) if isinstance(outputs, Node) else tuple(outputs)
        if not self.outputs or not all(isinstance(o, Node) for o in self.outputs):
            raise GraphError("Graph needs one or more nodes as outputs")
        self.nx = nx.MultiDiGraph()
        stack, seen = list(self.outputs), set(self.outputs)
        while stack:
            node = stack.pop()
            self.nx.add_node(node)
            for position, inp in enumerate(node.inputs):
                self.nx.add_edge(inp, node, key=position)
                if inp not in seen:
                    seen.add(inp)
                    stack.append(inp)
        self.nodes: list[Node] = list(nx.lexicographical_topological_sort(self.nx, key=lambda n: n.serial))
        for node in self.nodes:
            if node.name is None:
                node.name = unique_name(node.kind)
        self.by_name: dict[str, Node] = {}
        for node in self.nodes:
            if node.name in self.by_name:
                raise GraphError(f"two nodes are named {node.name!r}; names must be unique in a graph "
                                 f"(was reset_names() called while building it?)")
            self.by_name[node.name] = node
        self.index = {node: i for i, node in enumerate(self.nodes)}
        self.inputs: list[Node] = [n for n in self.nodes if n.kind == "input"]
        self._input_position = {n: i for i, n in enumerate(self.inputs)}
        self._plans: dict[tuple, Plan] = {}

    @property
    def params(self) -> list[Node]:
        """Parameter nodes, in the order they were created (dense1/weights first)."""
        return [n for n in self.nodes if n.kind == "parameter"]

    def node(self, key: Node | str) -> Node:
        """The node for a node or a name; unknown names suggest the nearest ones."""
        if isinstance(key, Node):
            if key not in self.index:
                raise KeyError(f"{key.name} is not part of this graph")
            return key
        try:
            return self.by_name[key]
        except (KeyError, TypeError):
            near = difflib.get_close_matches(str(key), self.by_name, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise KeyError(f"no node named {key!r} in this graph{hint}") from None

    # ------------------------------------------------------------ running

    def run(self, feeds: Mapping | None = None, fetch: Iterable | Node | str | None = None, *,
            keep: str = "all", hook: Callable[[Node, Any], None] | None = None) -> Values:
        """Evaluate the graph and return every value computed, by node and by name.

        ``feeds`` maps inputs (nodes or names) to arrays. ``fetch`` picks the
        nodes to compute (default: the graph's outputs); only what they need
        runs. ``keep="fetched"`` frees everything else as early as possible.
        ``hook(node, value)`` is called after each node is computed.
        """
        if keep not in ("all", "fetched"):
            raise ValueError("keep must be 'all' or 'fetched'")
        targets = self.outputs if fetch is None else tuple(
            self.node(f) for f in ((fetch,) if isinstance(fetch, (Node, str)) else fetch))
        arrays = self._feed_arrays(feeds or {})
        key = (targets, keep, hook is not None,
               tuple((a.shape, a.dtype) if a is not None else None for a in arrays))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = Plan(self, targets, arrays, keep, hook is not None)
        return plan.execute(arrays, hook)

    def _feed_arrays(self, feeds: Mapping) -> list:
        """The feed as a list aligned with ``self.inputs`` (None where not fed)."""
        inputs = self.inputs
        arrays: list = [None] * len(inputs)
        position = self._input_position
        for key, value in feeds.items():
            if isinstance(key, str):
                node = self.by_name.get(key)
            else:
                node = key
            if node is None or node not in position:
                names = [n.name for n in inputs]
                label = key if isinstance(key, str) else getattr(key, "name", key)
                near = difflib.get_close_matches(str(label), names, n=3)
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                raise GraphError(f"feed for {label!r}: not an input of this graph "
                                 f"(its inputs are {', '.join(names) or 'none'}){hint}")
            arrays[position[node]] = _as_feed(node, value)
        return arrays

    # ------------------------------------------------------------ text

    def __str__(self) -> str:
        return "\n".join(describe(n) for n in self.nodes)

    def __repr__(self) -> str:
        return f"<Graph: {len(self.nodes)} nodes, outputs {', '.join(o.name for o in self.outputs)}>"

    def render(self, path: str, **options) -> str:
        """Write a Graphviz diagram; the format comes from the suffix. See :mod:`graphnn.render`."""
        from graphnn.render import render
        return render(self, path, **options)

    def to_dot(self, **options):
        """The diagram as a ``graphviz.Digraph``."""
        from graphnn.render import to_dot
        return to_dot(self, **options)


def describe(node: Node) -> str:
    """One line: ``dense1/matmul: (None, 3) float32 = matmul(X, dense1/weights)``."""
    head = f"{node.name}: {format_shape(node.shape)} {node.dtype_str} = "
    if node.kind == "op":
        args = [i.name for i in node.inputs] + [f"{k}={v!r}" for k, v in node.attrs.items()]
        return head + f"{node.op}({', '.join(args)})"
    if node.kind == "constant":
        return head + f"constant {_preview(node.value)}"
    return head + node.kind


def _preview(value) -> str:
    text = np.array2string(np.asarray(value), threshold=6, precision=4)
    return text if len(text) < 60 else text[:57] + "..."


def _as_feed(node: Node, value) -> np.ndarray:
    array = np.asarray(value)
    if node.dtype is not None and array.dtype != node.dtype:
        if array.dtype.kind == "f" and node.dtype.kind in "iub":
            raise GraphError(f"feed for {node.name}: expected {node.dtype}, got {array.dtype}")
        array = array.astype(node.dtype)
    if node.shape is not None:
        if array.ndim != len(node.shape) or any(
                d is not None and d != a for d, a in zip(node.shape, array.shape)):
            raise GraphError(f"feed for {node.name}: expected shape {format_shape(node.shape)}, "
                             f"got {format_shape(array.shape)}")
    return array


class Plan:
    """The nodes one fetch needs, checked against one feed's shapes and compiled."""

    def __init__(self, graph: Graph, targets: tuple, arrays: list, keep: str, hooked: bool):
        needed = set()
        for t in targets:
            needed.add(t)
            needed.update(nx.ancestors(graph.nx, t))
        self.nodes = [n for n in graph.nodes if n in needed]
        self.inputs = [n for n in graph.inputs if n in needed]
        fed = {n: a for n, a in zip(graph.inputs, arrays)}
        missing = [n.name for n in self.inputs if fed[n] is None]
        if missing:
            raise GraphError(f"no feed for input {', '.join(missing)} "
                             f"(needed by {', '.join(t.name for t in targets)})")
        self.shapes = self._check_shapes(fed)
        self.feed_slots = [graph.inputs.index(n) for n in self.inputs]
        self.kept = list(targets) if keep == "fetched" else self.nodes
        self.kept = list(dict.fromkeys(self.kept))
        self.function, self.lines = _compile(self.nodes, self.inputs, self.kept, hooked)

    def _check_shapes(self, fed: dict) -> dict:
        avals: dict[Node, ops.Aval] = {}
        for n in self.nodes:
            if n.kind == "input":
                avals[n] = ops.Aval(fed[n].shape, fed[n].dtype)
            elif n.kind == "parameter":
                avals[n] = ops.Aval(n.value.shape, n.value.dtype)
            elif n.kind == "constant":
                avals[n] = ops.aval_of(n)
            else:
                shape, dtype = ops.infer(n, [avals[i] for i in n.inputs])
                avals[n] = ops.Aval(shape, dtype)
        return avals

    def execute(self, arrays: list, hook) -> Values:
        args = [arrays[i] for i in self.feed_slots]
        try:
            out = self.function(hook, *args)
        except GraphError:
            raise
        except Exception as error:
            raise self._explain(error) from error
        return Values(dict(zip(self.kept, out)))

    def _explain(self, error: Exception) -> GraphError:
        """Name the node whose line in the compiled function raised."""
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code is not self.function.__code__:
            tb = tb.tb_next
        if tb is None:
            return GraphError(f"running the graph failed: {error}")
        node = self.lines[tb.tb_lineno]
        local = tb.tb_frame.f_locals
        shown = []
        for i in node.inputs:
            v = local.get(_var(self.nodes.index(i)))
            shown.append(f"{i.name} {format_shape(np.shape(v))}" if v is not None else i.name)
        return GraphError(f"{node.where()}: {node.op} failed: {error} [inputs: {', '.join(shown)}]")


def _var(i: int) -> str:
    return f"v{i}"


def _compile(nodes: list, inputs: list, kept: list, hooked: bool):
    """Straight-line Python for ``nodes``: one assignment per node.

    Returns the function ``f(hook, *inputs) -> tuple of kept values`` and a map
    from line number to node, used to name the node behind an error.
    """
    slot = {n: i for i, n in enumerate(nodes)}
    namespace: dict[str, Any] = {}
    last_use = {}
    for n in nodes:
        for i in n.inputs:
            last_use[i] = n
    frees: dict[Node, list[str]] = {}
    kept_set = set(kept)
    for n, user in last_use.items():
        if n not in kept_set:
            frees.setdefault(user, []).append(_var(slot[n]))
    params = [f"i{k}" for k in range(len(inputs))]
    code = [f"def _plan(_hook, {', '.join(params)}):" if params else "def _plan(_hook):"]
    lines: dict[int, Node] = {}
    for n in nodes:
        v = _var(slot[n])
        if n.kind == "input":
            code.append(f"    {v} = i{inputs.index(n)}")
        elif n.kind == "parameter":
            namespace[f"n{slot[n]}"] = n
            code.append(f"    {v} = n{slot[n]}.value")
        elif n.kind == "constant":
            namespace[f"c{slot[n]}"] = n.value
            code.append(f"    {v} = c{slot[n]}")
        elif n.op == "stop_gradient":
            code.append(f"    {v} = {_var(slot[n.inputs[0]])}")
        else:
            namespace[f"f{slot[n]}"] = ops.bind(n)
            args = ", ".join(_var(slot[i]) for i in n.inputs)
            code.append(f"    {v} = f{slot[n]}({args})")
        lines[len(code)] = n
        if hooked:
            namespace[f"n{slot[n]}"] = n
            code.append(f"    _hook(n{slot[n]}, {v})")
        if n in frees and not hooked:
            code.append(f"    del {', '.join(frees[n])}")
    code.append(f"    return ({''.join(_var(slot[n]) + ', ' for n in kept)})")
    exec(compile("\n".join(code), "<graphnn plan>", "exec"), namespace)
    return namespace["_plan"], lines


class Values(Mapping):
    """The values of one run, by node or by name (``values["dense1/matmul"]``).

    Parameters appear as their live arrays: an optimizer step changes them.
    """

    def __init__(self, by_node: dict):
        self._by_node = by_node
        self._names: dict | None = None

    @property
    def _by_name(self) -> dict:
        if self._names is None:
            self._names = {n.name: n for n in self._by_node}
        return self._names

    def __getitem__(self, key: Node | str):
        if isinstance(key, Node):
            if key in self._by_node:
                return self._by_node[key]
            raise KeyError(f"{key.name} was not computed in this run (fetch it, or keep='all')")
        node = self._by_name.get(key)
        if node is None:
            near = difflib.get_close_matches(str(key), self._by_name, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise KeyError(f"no value named {key!r} in this run{hint}")
        return self._by_node[node]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._by_node)

    def __len__(self) -> int:
        return len(self._by_node)

    def __contains__(self, key) -> bool:
        return key in self._by_node or key in self._by_name

    def __repr__(self) -> str:
        rows = [f"{n.name}: {format_shape(np.shape(v))}" for n, v in self._by_node.items()]
        return "Values(\n  " + "\n  ".join(rows) + "\n)"
