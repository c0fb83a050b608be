"""Graph: the nodes some outputs depend on, run through compiled plans, printed and drawn.

``Graph(outputs)`` collects every node the outputs depend on, in creation
order (which is topological: a node's inputs exist before it). ``run``
specialises to what a fetch needs and to the feed's shapes in a
:class:`~graphnn.runtime.plan.Plan`, cached per fetch and shapes (a bounded
number of them, least recently used dropped first). ``graph.nx`` is the graph
as a networkx ``MultiDiGraph`` for analyses (``depends_on``, ``influences``,
``path``); the hot path never touches networkx.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from graphnn.core.building import gc_paused, unique_name
from graphnn.core.errors import GraphError, did_you_mean
from graphnn.core.node import Node, ancestors, format_shape, in_order
from graphnn.core.primitive import Aval
from graphnn.runtime.hooks import NumericsCheck
from graphnn.runtime.plan import Plan
from graphnn.runtime.values import Values
from graphnn.seeing.stats import preview
from graphnn.seeing.summary import Summary, summary

MAX_PLANS = 16  # plans kept per graph; each holds compiled code and, when pooled, buffers


class Graph:
    """A computational graph with the given outputs.

    >>> graph = Graph([probs, loss])
    >>> values = graph.run({"X": X, "y": y})
    >>> values["dense1/matmul"].shape
    (300, 3)
    """

    def __init__(self, outputs: Node | Iterable[Node], *, optimize: bool = True):
        if isinstance(outputs, Node):
            outputs = (outputs,)
        elif isinstance(outputs, (str, bytes)) or not isinstance(outputs, Iterable):
            raise GraphError(f"Graph needs a node or a list of nodes as outputs, got {type(outputs).__name__}")
        self.outputs: tuple[Node, ...] = tuple(outputs)
        if not self.outputs or not all(isinstance(o, Node) for o in self.outputs):
            raise GraphError("Graph needs one or more nodes as outputs")
        if not isinstance(optimize, bool):
            raise GraphError(f"Graph: optimize must be True or False, got {optimize!r}")
        self.optimize = optimize  # default for run(); see graphnn.runtime.compiler
        with gc_paused():
            self.nodes: list[Node] = in_order(ancestors(self.outputs))
        for node in self.nodes:
            if node.name is None:  # a parameter made outside a layer
                node.name = unique_name(node.kind)
        self.by_name: dict[str, Node] = {}
        for node in self.nodes:
            if node.name in self.by_name:
                raise GraphError(f"two nodes are named {node.name!r}; names must be unique in a graph "
                                 f"(was reset_names() called while building it, or built in two threads?)")
            self.by_name[node.name] = node
        self.index = {node: i for i, node in enumerate(self.nodes)}
        self.inputs: list[Node] = [n for n in self.nodes if n.kind == "input"]
        self._params = [n for n in self.nodes if n.kind == "parameter"]
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()
        self._open_plans: OrderedDict[tuple, Plan | None] = OrderedDict()  # by shapes without the batch size
        self._nx = None

    @property
    def params(self) -> list[Node]:
        """Parameter nodes, in the order they were created (dense1/weights first)."""
        return list(self._params)

    def node(self, key: Node | str) -> Node:
        """The node for a node or a name; unknown names suggest the nearest ones."""
        if isinstance(key, Node):
            if key not in self.index:
                raise KeyError(f"{key.name} is not part of this graph")
            return key
        if isinstance(key, str) and key in self.by_name:
            return self.by_name[key]
        raise KeyError(f"no node named {key!r} in this graph{did_you_mean(key, self.by_name)}")

    # ------------------------------------------------------------ networkx

    @property
    def nx(self):
        """The graph as a networkx ``MultiDiGraph``: one edge per argument (``a + a`` has two),
        keyed by argument position. Built on first use."""
        if self._nx is None:
            g = _networkx().MultiDiGraph()
            g.add_nodes_from(self.nodes)
            g.add_edges_from((i, n, k) for n in self.nodes for k, i in enumerate(n.inputs))
            self._nx = g
        return self._nx

    def depends_on(self, node: Node | str) -> list[Node]:
        """Every node ``node`` depends on, in graph order."""
        return in_order(_networkx().ancestors(self.nx, self.node(node)))

    def influences(self, node: Node | str) -> list[Node]:
        """Every node that depends on ``node`` (what changes when it does), in graph order."""
        return in_order(_networkx().descendants(self.nx, self.node(node)))

    def path(self, source: Node | str, target: Node | str) -> list[Node]:
        """A shortest chain of nodes from ``source`` to ``target`` (``[]`` if target does not depend on it)."""
        networkx = _networkx()
        try:
            return networkx.shortest_path(self.nx, self.node(source), self.node(target))
        except networkx.NetworkXNoPath:
            return []

    # ------------------------------------------------------------ running

    def run(self, feeds: Mapping | None = None, fetch: Iterable | Node | str | None = None, *,
            keep: str = "all", hook: Callable[[Node, Any], None] | None = None,
            check_numerics: bool = False, optimize: bool | None = None) -> Values:
        """Evaluate the graph and return every value computed, by node and by name.

        ``feeds`` maps inputs (nodes or names) to arrays. ``fetch`` picks the
        nodes to compute (default: the graph's outputs); only what they need
        runs. ``keep="fetched"`` frees everything else as early as possible.
        ``hook(node, value)`` is called after each node is computed
        (``gn.Trace()`` records them). ``check_numerics=True`` stops at the
        first node whose value has NaN or Inf with a ``gn.NumericsError``
        naming it and its inputs' statistics.

        ``optimize`` (default: the graph's, True) merges duplicate nodes, folds
        constants and, with ``keep="fetched"``, computes the values it does not
        return in buffers reused from run to run; results are the same bit for
        bit (:mod:`graphnn.runtime.compiler`). A run with a hook is never optimized.
        """
        if not isinstance(check_numerics, bool):
            raise GraphError(f"check_numerics must be True or False, got {check_numerics!r}")
        if check_numerics:
            hook = NumericsCheck(hook)
        if hook is not None and not callable(hook):
            raise GraphError(f"hook must be a function (node, value) -> None, got {hook!r}")
        plan, arrays, targets = self._prepare(feeds, fetch, keep, hook is not None, optimize)
        values = Values(plan.execute(arrays, hook))
        values.graph, values.fetched = self, targets
        return values

    def plan(self, feeds: Mapping | None = None, fetch: Iterable | Node | str | None = None, *,
             keep: str = "all", hooked: bool = False, optimize: bool | None = None) -> Plan:
        """The plan a run with these arguments uses (made and cached if new); ``plan.explain()`` shows it."""
        return self._prepare(feeds, fetch, keep, hooked, optimize)[0]

    def _prepare(self, feeds, fetch, keep, hooked, optimize) -> tuple[Plan, dict, tuple]:
        if keep not in ("all", "fetched"):
            raise GraphError(f"keep must be 'all' or 'fetched', got {keep!r}")
        if optimize is not None and not isinstance(optimize, bool):
            raise GraphError(f"optimize must be True, False or None, got {optimize!r}")
        optimize = self.optimize if optimize is None else optimize
        targets = self._targets(fetch)
        arrays = self._feed_arrays(feeds)
        # A plan is specialised to the feed's and the parameters' shapes and dtypes. The first batch
        # size gets a plan of its own; any other shares one plan whose first dimension is left open.
        base = (targets, keep, hooked, optimize, tuple([(p.value.shape, p.value.dtype) for p in self._params]))
        fed = sorted(arrays.items(), key=lambda item: self.index[item[0]])
        key = base + (tuple([(n, a.shape, a.dtype) for n, a in fed]),)
        plan = self._plans.get(key)
        if plan is None:
            avals = {n: Aval(a.shape, a.dtype) for n, a in fed}
            open_key = base + (tuple([(n, _open_batch(a.shape), a.dtype) for n, a in fed]),)
            if open_key not in self._open_plans:  # the first batch size
                _remember(self._open_plans, open_key, None)
                plan = Plan(self.nodes, self.inputs, targets, avals, keep, hooked, optimize)
            else:
                plan = self._open_plans[open_key]
                if plan is None:
                    open_avals = {n: Aval(_open_batch(a.shape), a.dtype) for n, a in fed}
                    plan = Plan(self.nodes, self.inputs, targets, open_avals, keep, hooked, optimize)
                    _remember(self._open_plans, open_key, plan)
                plan.check(avals)  # the shape rules on this feed's own shapes, once per new shape
            _remember(self._plans, key, plan)
        else:
            self._plans.move_to_end(key)
        return plan, arrays, targets

    def _targets(self, fetch) -> tuple[Node, ...]:
        if fetch is None:
            return self.outputs
        if isinstance(fetch, (Node, str)):
            fetch = (fetch,)
        try:
            return tuple(self.node(f) for f in fetch)
        except KeyError as error:
            raise GraphError(f"fetch: {error.args[0]}") from None
        except TypeError:
            raise GraphError(f"fetch must be a node, a name or a list of them, got {fetch!r}") from None

    def _feed_arrays(self, feeds: Mapping | None) -> dict[Node, np.ndarray]:
        """The feed as arrays by input node, each checked against its input's shape and dtype."""
        if feeds is None:
            return {}
        if not isinstance(feeds, Mapping):
            raise GraphError(f"feeds must be a dict from inputs (nodes or names) to arrays, "
                             f"got {type(feeds).__name__}")
        arrays: dict[Node, np.ndarray] = {}
        for key, value in feeds.items():
            node = self.by_name.get(key) if isinstance(key, str) else key
            if not isinstance(node, Node) or node.kind != "input" or node not in self.index:
                names = [n.name for n in self.inputs]
                label = key if isinstance(key, str) else getattr(key, "name", key)
                raise GraphError(f"feed for {label!r}: not an input of this graph "
                                 f"(its inputs are {', '.join(names) or 'none'}){did_you_mean(label, names)}")
            if node in arrays:
                raise GraphError(f"feed for {node.name}: given twice (by node and by name)")
            arrays[node] = as_feed(node, value)
        return arrays

    # ------------------------------------------------------------ text and pictures

    def __str__(self) -> str:
        return "\n".join(describe(n) for n in self.nodes)

    def __repr__(self) -> str:
        return f"<Graph: {len(self.nodes)} nodes, outputs {', '.join(o.name for o in self.outputs)}>"

    def render(self, path: str, **options) -> str:
        """Write a Graphviz diagram; the format comes from the suffix. See :mod:`graphnn.seeing.render`."""
        return _drawing().render(self, path, **options)

    def to_dot(self, **options):
        """The diagram as a ``graphviz.Digraph``."""
        return _drawing().to_dot(self, **options)

    def summary(self, values: Mapping | None = None, depth: int = 1) -> Summary:
        """A table of layers with output shapes and parameter counts; ``print`` it."""
        return summary(self, values, depth)

    def svg(self, **options) -> str:
        """The diagram as SVG text (the options of :meth:`render`)."""
        return _drawing().svg(self, **options)

    def explore(self, path=None, **options):
        """Write the interactive explorer page (``.html``); see :func:`graphnn.seeing.explore.explore`.

        >>> graph.explore("net.html", values=graph.run(feeds), grads=grads, history=recorder)
        """
        from graphnn.seeing.explore import explore  # deferred with the rest of the drawing code

        return explore(self, path, **options)

    def _repr_svg_(self) -> str:
        """Jupyter shows a graph as its diagram."""
        return self.svg()


def _open_batch(shape: tuple) -> tuple:
    """``shape`` with its first (batch) dimension left open."""
    return (None, *shape[1:]) if shape else shape


def _remember(cache: OrderedDict, key, value) -> None:
    """Put ``key`` in a least-recently-used cache of at most MAX_PLANS entries."""
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > MAX_PLANS:
        cache.popitem(last=False)


def _drawing():
    """graphnn.seeing.render, imported on first use: with graphviz and the lookup of the Graphviz program it
    takes about 0.1 s to import, and most programs draw nothing."""
    from graphnn.seeing import render

    return render


def _networkx():
    """networkx, imported on first use: only analyses need it, and it takes a third of a second to import."""
    import networkx

    return networkx


def describe(node: Node) -> str:
    """One line: ``dense1/matmul: (None, 3) float32 = matmul(X, dense1/weights)``."""
    head = f"{node.name}: {format_shape(node.shape)} {node.dtype_str} = "
    if node.kind == "op":
        args = [i.name for i in node.inputs] + [f"{k}={v!r}" for k, v in node.attrs.items()]
        return head + f"{node.op}({', '.join(args)})"
    if node.kind == "constant":
        text = " ".join(preview(node.value).split())
        return head + f"constant {text if len(text) < 60 else text[:57] + '...'}"
    return head + node.kind


def as_feed(node: Node, value) -> np.ndarray:
    """``value`` as an array for ``node``: numbers only, converted only where the conversion is exact."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise GraphError(f"feed for {node.name}: not an array of numbers ({error})") from None
    if array.dtype.kind not in "biuf":
        what = "complex numbers" if array.dtype.kind == "c" else f"{array.dtype} values"
        raise GraphError(f"feed for {node.name}: needs real numbers, got {what}"
                         + (" (a ragged list or None?)" if array.dtype.kind == "O" else ""))
    if node.dtype is not None and array.dtype != node.dtype:
        if array.dtype.kind == "f" and node.dtype.kind in "biu":
            raise GraphError(f"feed for {node.name}: expected {node.dtype}, got {array.dtype}")
        converted = array.astype(node.dtype)
        if not np.can_cast(array.dtype, node.dtype) and not np.array_equal(converted, array):
            raise GraphError(f"feed for {node.name}: its {array.dtype} values do not fit {node.dtype} exactly")
        array = converted
    if node.shape is not None:
        if array.ndim != len(node.shape) or any(d is not None and d != a for d, a in zip(node.shape, array.shape)):
            raise GraphError(f"feed for {node.name}: expected shape {format_shape(node.shape)}, "
                             f"got {format_shape(array.shape)}")
    # C-ordered (a copy only if it is not): results never depend on the caller's layout
    return array if array.flags.c_contiguous else array.copy(order="C")
