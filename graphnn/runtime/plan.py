"""A plan: the nodes one fetch needs, checked against one feed's shapes, compiled once.

Making a plan runs every node's shape rule on the feed's concrete shapes (so a
bad feed fails before anything runs, naming the node and its layer), then
compiles the nodes into one straight-line Python function
(:mod:`graphnn.runtime.compiler`). Running it calls that function; a plan whose
buffers are reused from run to run (``keep="fetched"`` with ``optimize``) runs
one call at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from graphnn.core.building import gc_paused
from graphnn.core.errors import GraphError
from graphnn.core.node import Node, ancestors, format_shape
from graphnn.core.primitive import Aval, aval_of
from graphnn.runtime.compiler import Program, compile_program


class Plan:
    """What one ``run`` of a fetch on one feed's shapes does.

    ``nodes``: the nodes that run, in order; ``avals``: each one's shape and
    dtype on this feed; ``kept``: what the run returns; ``optimized`` and
    ``pooled``: whether duplicates are merged and constants folded, and whether
    values nobody gets back live in reused buffers. :meth:`explain` says all this.
    """

    def __init__(self, nodes: list[Node], inputs: list[Node], targets: tuple, feed_avals: dict[Node, Aval],
                 keep: str, hooked: bool, optimize: bool):
        needed = ancestors(targets)
        self.nodes = [n for n in nodes if n in needed]
        self.inputs = [n for n in inputs if n in needed]
        missing = [n.name for n in self.inputs if n not in feed_avals]
        if missing:
            raise GraphError(f"no feed for input {', '.join(missing)} "
                             f"(needed by {', '.join(t.name for t in targets)})")
        with gc_paused():  # many small objects at once: see building.gc_paused
            self.avals = _infer(self.nodes, feed_avals)
            self.kept = list(dict.fromkeys(targets if keep == "fetched" else self.nodes))
            self.optimized = optimize and not hooked
            self.pooled = self.optimized and keep == "fetched"
            self.program: Program = compile_program(self.nodes, self.inputs, self.kept, self.avals,
                                                    optimize=self.optimized, pool=self.pooled, hooked=hooked)
        self._lock = threading.Lock()  # the buffers belong to one run at a time

    def check(self, feed_avals: dict[Node, Aval]) -> None:
        """Run the shape rules on a feed's own shapes (a plan made with the batch size left open)."""
        _infer(self.nodes, feed_avals)

    def execute(self, arrays: dict[Node, np.ndarray], hook: Callable | None) -> dict[Node, Any]:
        """Run on ``arrays`` (input node -> array); returns the kept values by node."""
        args = [arrays[n] for n in self.inputs]
        if self.pooled:
            with self._lock:
                out = self._call(args, hook)
        else:
            out = self._call(args, hook)
        return dict(zip(self.kept, out))

    def _call(self, args: list, hook) -> tuple:
        try:
            return self.program.function(hook, *args)
        except GraphError:
            raise
        except Exception as error:
            raise self._failure(error) from error

    def _failure(self, error: Exception) -> GraphError:
        """A GraphError naming the node whose line in the compiled function raised, and its inputs."""
        program, tb = self.program, error.__traceback__
        # to the node's line in _plan or one of its chunks (not a hook's line)
        while tb is not None and tb.tb_lineno not in program.lines.get(tb.tb_frame.f_code, ()):
            tb = tb.tb_next
        if tb is None:
            return GraphError(f"running the graph failed: {error}")
        local = tb.tb_frame.f_locals
        node = program.lines[tb.tb_frame.f_code][tb.tb_lineno]
        shown = []
        for i in node.inputs:
            value = local.get(program.var.get(program.rep.get(i, i), ""))
            shown.append(f"{i.name} {format_shape(np.shape(value))}" if value is not None else i.name)
        return GraphError(f"{node.location}: {node.op} failed: {error} [inputs: {', '.join(shown)}]")

    def explain(self) -> str:
        """What this plan runs: its settings, buffers, and the compiled code."""
        buffers = f"{len(self.program.buffers)} buffers of {self.program.buffer_bytes} bytes" if self.pooled \
            else "no buffers"
        head = (f"plan: {len(self.nodes)} nodes, {len(self.kept)} kept, "
                f"{'optimized' if self.optimized else 'not optimized'}, {buffers}")
        return head + "\n" + self.program.source

    @property
    def buffer_bytes(self) -> int:
        return self.program.buffer_bytes


def _infer(nodes: list[Node], feed_avals: dict[Node, Aval]) -> dict[Node, Aval]:
    """Every node's aval on this feed: its shape rule run on its inputs' concrete avals."""
    avals: dict[Node, Aval] = {}
    for n in nodes:
        if n.kind == "input":
            avals[n] = feed_avals[n]
        elif n.kind == "parameter":
            avals[n] = Aval(n.value.shape, n.value.dtype)
        elif n.kind == "constant":
            avals[n] = aval_of(n)
        else:
            avals[n] = Aval(*n.prim.check(n, [avals[i] for i in n.inputs]))
    return avals
