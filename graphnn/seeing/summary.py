"""Where each node belongs (its layer) and a table of layers like Keras' ``model.summary()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from graphnn.core.node import Node, format_shape


def placements(graph) -> dict[Node, tuple[str, ...]]:
    """The scope each node of ``graph`` is drawn and counted in.

    That is ``node.scope``, except for parameters: they are created when their
    layer is constructed, before it is called and has a scope, so they go
    where the forward ops that use them are (``dense1/weights`` beside
    ``dense1/matmul``, also inside a block); failing that, where they were
    created, or where their name says.
    """
    users: dict[Node, set] = {}
    for n in graph.nodes:
        if not n.backward:
            for i in n.inputs:
                users.setdefault(i, set()).add(tuple(n.scope))
    out = {}
    for n in graph.nodes:
        scope = tuple(n.scope)
        if n.kind == "parameter":
            seen = users.get(n, set())
            if len(seen) == 1:
                scope = next(iter(seen))
            elif not scope and n.name and "/" in n.name:
                scope = tuple(n.name.split("/")[:-1])
        out[n] = scope
    return out


def layer_depth(node: Node, scope: tuple[str, ...]) -> int:
    """How many layer levels deep a node in ``scope`` sits (the ``grad`` of gradients not counted)."""
    return len(scope) - (1 if scope[:1] == ("grad",) and node.backward else 0)


def layer_of(node: Node, scope: tuple[str, ...], depth: int = 1) -> tuple[str, ...]:
    """``scope`` cut to ``depth`` layer levels (``grad/dense1`` is one level, like ``dense1``)."""
    return scope[:depth + len(scope) - layer_depth(node, scope)]


def param_count(nodes) -> int:
    """Number of parameter elements among ``nodes``."""
    return sum(int(np.prod(n.shape)) for n in nodes if n.kind == "parameter" and n.shape is not None)


@dataclass(frozen=True)
class SummaryRow:
    layer: str
    ops: int
    output_shape: str
    params: int


@dataclass
class Summary:
    """A table of layers like Keras' ``model.summary()``; ``str()`` draws it.

    >>> s = graph.summary()
    >>> s.total_params
    21
    """

    rows: list[SummaryRow]
    total_params: int
    ops: int
    backward_ops: int
    nodes: int = 0
    outputs: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = ("Layer", "Ops", "Output shape", "Params")
        body = [(r.layer, str(r.ops), r.output_shape, f"{r.params:,}") for r in self.rows]
        widths = [max(len(row[k]) for row in [head, *body]) for k in range(4)]
        rule = "-" * (sum(widths) + 6)

        def line(cells):
            return "  ".join(c.ljust(w) if k in (0, 2) else c.rjust(w)
                             for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

        text = [line(head), rule, *(line(r) for r in body), rule,
                f"Total params: {self.total_params:,}",
                f"Nodes: {self.nodes} ({self.ops} forward ops, {self.backward_ops} gradient ops)",
                "Outputs: " + _outputs_text(self.outputs)]
        return "\n".join(text)

    __repr__ = __str__


def _outputs_text(names: list[str]) -> str:
    """Forward outputs by name; gradient outputs (``grad/...``) only counted."""
    grads = [n for n in names if n.startswith("grad/")]
    shown = [n for n in names if not n.startswith("grad/")]
    return ", ".join(shown) + (f" (and {len(grads)} gradients)" if grads else "")


def summary(graph, values: Mapping | None = None, depth: int = 1) -> Summary:
    """One row per layer (scope cut to ``depth``) and per input, in order of first use.

    Output shapes are those of the values a layer passes on (to another layer
    or as a graph output): the static ones, or the run's where ``values`` has
    them. Gradient nodes are counted, not listed.
    """
    scopes = placements(graph)
    groups: dict[tuple, list[Node]] = {}
    group_of: dict[Node, tuple] = {}
    for node in graph.nodes:
        if node.backward or node.kind == "constant":
            continue
        key = group_of[node] = layer_of(node, scopes[node], depth) or (node.name,)
        groups.setdefault(key, []).append(node)
    passed_on = set(graph.outputs)
    for user in graph.nodes:
        for i in user.inputs:
            if user in group_of and i in group_of and group_of[user] != group_of[i]:
                passed_on.add(i)
    position = {n: k for k, n in enumerate(graph.nodes)}

    def first_op(members: list[Node]) -> int:
        return min((position[n] for n in members if n.kind == "op"), default=position[members[0]])

    rows = []
    for key, members in sorted(groups.items(), key=lambda item: first_op(item[1])):
        outs = [n for n in members if n.kind != "parameter" and n in passed_on]
        shapes = ", ".join(_shape_text(n, values) for n in outs) or "-"
        label = "/".join(key) + (" (input)" if members[0].kind == "input" else "")
        rows.append(SummaryRow(label, sum(n.kind == "op" for n in members), shapes, param_count(members)))
    return Summary(rows, param_count(graph.nodes),
                   sum(n.kind == "op" and not n.backward for n in graph.nodes),
                   sum(n.kind == "op" and n.backward for n in graph.nodes),
                   len(graph.nodes), list(dict.fromkeys(o.name for o in graph.outputs)))


def _shape_text(node: Node, values: Mapping | None) -> str:
    if values is not None and node in values:
        return format_shape(np.shape(values[node]))
    return format_shape(node.shape)
