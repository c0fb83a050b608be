"""Graph: the nodes an output depends on, ordered once and compiled to a plan.

``Graph(outputs)`` collects every node reachable from ``outputs`` into a
networkx ``MultiDiGraph`` (``graph.nx``; one edge per argument, so ``a + a``
has two) and orders them topologically once. ``run``
specialises the order to what a fetch needs and to the feed's shapes (checking
every shape rule on them, so a bad feed fails before anything runs), then
compiles it into a straight-line Python function: one line per node,
``v7 = f7(v3, v5)``. That function is cached and reused; there is no per-node
dictionary or networkx work in the hot loop. With ``optimize`` (the default)
the compiled function merges duplicate nodes, folds constants and reuses
buffers (:mod:`graphnn.executor`).
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import networkx as nx
import numpy as np

from graphnn import ops
from graphnn.core import GraphError, Node, ancestors, format_shape, gc_paused, unique_name
from graphnn.executor import Program, compile_program


class Graph:
    """A computational graph with the given outputs.

    >>> graph = Graph([probs, loss])
    >>> values = graph.run({"X": X, "y": y})
    >>> values["dense1/matmul"].shape
    (300, 3)
    """

    def __init__(self, outputs: Node | Iterable[Node], *, optimize: bool = True):
        self.optimize = optimize  # default for run(); see graphnn.executor
        self.outputs: tuple[Node, ...] = (outputs,) if isinstance(outputs, Node) else tuple(outputs)
        if not self.outputs or not all(isinstance(o, Node) for o in self.outputs):
            raise GraphError("Graph needs one or more nodes as outputs")
        # networkx holds the graph, one edge per argument (so a + a has two);
        # ordering by creation serial breaks ties, so the order is deterministic.
        self.nx = nx.MultiDiGraph()
        with gc_paused():
            for node in sorted(ancestors(self.outputs), key=lambda n: n.serial):
                self.nx.add_node(node)
                for position, inp in enumerate(node.inputs):
                    self.nx.add_edge(inp, node, key=position)
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
        self._params = [n for n in self.nodes if n.kind == "parameter"]

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
        try:
            return self.by_name[key]
        except (KeyError, TypeError):
            near = difflib.get_close_matches(str(key), self.by_name, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise KeyError(f"no node named {key!r} in this graph{hint}") from None

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
        bit (:mod:`graphnn.executor`). A run with a hook is never optimized.
        """
        if check_numerics:
            from graphnn.inspection import NumericsCheck
            hook = NumericsCheck(hook)
        if keep not in ("all", "fetched"):
            raise ValueError("keep must be 'all' or 'fetched'")
        targets = self.outputs if fetch is None else tuple(
            self.node(f) for f in ((fetch,) if isinstance(fetch, (Node, str)) else fetch))
        arrays = self._feed_arrays(feeds or {})
        optimize = self.optimize if optimize is None else optimize
        # A plan is specialised to the feed's and the parameters' shapes and dtypes.
        key = (targets, keep, hook is not None, optimize,
               tuple([None if a is None else (a.shape, a.dtype) for a in arrays]),
               tuple([(p.value.shape, p.value.dtype) for p in self._params]))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = Plan(self, targets, arrays, keep, hook is not None, optimize)
        values = plan.execute(arrays, hook)
        values.graph, values.fetched = self, targets
        return values

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

    def summary(self, values: Mapping | None = None, depth: int = 1):
        """A table of layers with output shapes and parameter counts; ``print`` it.

        See :func:`graphnn.inspection.summary`.
        """
        from graphnn.inspection import summary
        return summary(self, values, depth)

    def _repr_svg_(self) -> str:
        """Jupyter shows a graph as its diagram."""
        from graphnn.render import svg
        return svg(self)


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
    """The nodes one fetch needs, checked against one feed's shapes and compiled.

    An optimized plan relies on the shape rules: its kernels use the shapes
    and dtypes they predict, and with ``keep="fetched"`` its buffers are
    allocated from them. So its first run is a plain one, which compares
    every value with the prediction; only a plan whose predictions all held
    is then compiled optimized (otherwise it stays plain, and says why in
    ``not_optimized``).
    """

    def __init__(self, graph: Graph, targets: tuple, arrays: list, keep: str, hooked: bool,
                 optimize: bool = True):
        needed = ancestors(targets)
        self.nodes = [n for n in graph.nodes if n in needed]
        self.inputs = [n for n in graph.inputs if n in needed]
        fed = {n: a for n, a in zip(graph.inputs, arrays)}
        missing = [n.name for n in self.inputs if fed[n] is None]
        if missing:
            raise GraphError(f"no feed for input {', '.join(missing)} "
                             f"(needed by {', '.join(t.name for t in targets)})")
        with gc_paused():  # many small objects at once: see core.gc_paused
            self.shapes = self._check_shapes(fed)
        self.feed_slots = [graph.inputs.index(n) for n in self.inputs]
        self.kept = list(dict.fromkeys(targets if keep == "fetched" else self.nodes))
        self.optimize = optimize and not hooked
        self.pooled = self.optimize and keep == "fetched"
        self.not_optimized: str | None = None if self.optimize else "optimize=False or a hook"
        self.checked = not self.optimize
        # An optimized plan is compiled after its first run, which checks the shape rules.
        self.program: Program | None = None if self.optimize else _compile(
            self.nodes, self.inputs, self.kept, self.shapes, False, False, hooked)
        self._plain: Program | None = self.program
        self._lock = threading.Lock()  # buffers belong to one run at a time

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
        if not self.checked:
            with gc_paused():
                return self._first_run(args)
        program = self.program
        if self.pooled and not self._lock.acquire(blocking=False):
            # Another run (a thread, or a hook calling run) holds the buffers.
            program = self._unpooled()
        try:
            out = program.function(hook, *args)
        except GraphError:
            raise
        except Exception as error:
            raise self._explain(program, error) from error
        finally:
            if self.pooled and program is self.program:
                self._lock.release()
        return Values(dict(zip(self.kept, out)))

    def _first_run(self, args: list) -> Values:
        """Run each node's own forward, one by one, and compare with the shape rules."""
        values = dict(zip(self.inputs, args))
        last_use = {i: n for n in self.nodes for i in n.inputs}
        kept = set(self.kept)
        wrong: list[str] = []
        primitives = ops.PRIMITIVES
        for n in self.nodes:
            if n.kind in ("parameter", "constant"):
                values[n] = n.value
            elif n.kind == "op":
                try:
                    value = values[n.inputs[0]] if n.op == "stop_gradient" else \
                        primitives[n.op].forward(*[values[i] for i in n.inputs], **n.attrs)
                except GraphError:
                    raise
                except Exception as error:
                    raise _failure(n, error, lambda i: values.get(i)) from error
                got = value if isinstance(value, (np.ndarray, np.generic)) else np.asarray(value)
                expected = self.shapes[n]
                if got.shape != expected.shape or got.dtype != expected.dtype:
                    wrong.append(f"{n.name}: {format_shape(got.shape)} {got.dtype}, shape rule said "
                                 f"{format_shape(expected.shape)} {expected.dtype}")
                values[n] = value
                for i in set(n.inputs):
                    if last_use[i] is n and i not in kept:
                        del values[i]  # as the compiled plan would
        if wrong:
            self.optimize = self.pooled = False
            self.not_optimized = "the shape rules mispredicted " + "; ".join(wrong[:3])
        self.program = _compile(self.nodes, self.inputs, self.kept, self.shapes, self.optimize,
                                self.pooled, False)
        if not self.pooled:
            self._plain = self.program
        self.checked = True
        return Values({n: values[n] for n in self.kept})

    def _unpooled(self) -> Program:
        if self._plain is None:
            self._plain = _compile(self.nodes, self.inputs, self.kept, self.shapes, True, False, False)
        return self._plain

    def _explain(self, program: Program, error: Exception) -> GraphError:
        """Name the node whose line in the compiled function raised."""
        tb = error.__traceback__
        # to the node's line in _plan or one of its chunks (not a hook's line)
        while tb is not None and tb.tb_lineno not in program.lines.get(tb.tb_frame.f_code, ()):
            tb = tb.tb_next
        if tb is None:
            return GraphError(f"running the graph failed: {error}")
        local = tb.tb_frame.f_locals

        def value_of(i):
            name = program.var.get(program.rep.get(i, i))
            return local.get(name) if name is not None else None

        return _failure(program.lines[tb.tb_frame.f_code][tb.tb_lineno], error, value_of)


def _failure(node: Node, error: Exception, value_of: Callable) -> GraphError:
    shown = []
    for i in node.inputs:
        v = value_of(i)
        shown.append(f"{i.name} {format_shape(np.shape(v))}" if v is not None else i.name)
    return GraphError(f"{node.where()}: {node.op} failed: {error} [inputs: {', '.join(shown)}]")


def _compile(nodes: list, inputs: list, kept: list, avals: dict, optimize: bool, pool: bool,
             hooked: bool) -> Program:
    """Straight-line Python for ``nodes``; see :func:`graphnn.executor.compile_program`."""
    return compile_program(nodes, inputs, kept, avals, optimize=optimize, pool=pool, hooked=hooked)


class Values(Mapping):
    """The values of one run, by node or by name (``values["dense1/matmul"]``).

    Parameters appear as their live arrays: an optimizer step changes them.
    ``graph`` and ``fetched`` record the run (Graph.run sets them).
    """

    graph: Graph | None = None
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

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a run as the graph's diagram with these values."""
        if self.graph is None:
            return None
        from graphnn.render import svg
        return svg(self.graph, values=self)
