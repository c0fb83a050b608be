"""Nodes: the vertices of a graphnn graph, and the leaves users create.

A node is one primitive applied to an ordered tuple of input nodes. Its shape
and dtype are inferred when it is built (``None`` marks a dimension known only
at run time, such as the batch), so mistakes surface at build time. Leaves are
inputs (fed at run time), parameters (hold an array that training updates in
place) and constants. Operators (``a + b``, ``x @ w`` ...) are installed by
:mod:`graphnn.core.ops`, which defines the primitives they build.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from graphnn.core.building import building_backward, current_scope, named
from graphnn.core.errors import GraphError

_serial = itertools.count()  # creation order; also a valid topological order
LEAVES = ("input", "parameter", "constant")


def format_shape(shape: tuple | None) -> str:
    if shape is None:
        return "(?)"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


class Node:
    """One vertex: primitive ``prim`` applied to ``inputs`` with ``attrs``.

    ``kind`` is ``"input"``, ``"parameter"``, ``"constant"`` or ``"op"``; ``op``
    is the primitive's name (the kind, for leaves). ``backward`` is true for
    nodes created by :func:`graphnn.grad`. ``custom`` holds the gradient rules
    declared for this node as an output (:mod:`graphnn.autodiff.custom`), or None.
    """

    __slots__ = ("prim", "op", "inputs", "attrs", "name", "scope", "shape", "dtype",
                 "kind", "value", "backward", "serial", "custom", "__weakref__")

    def __init__(self, prim: Any, inputs: tuple = (), attrs: dict | None = None, *,
                 kind: str = "op", name: str | None = None,
                 shape: tuple | None = None, dtype: Any = None, value: Any = None):
        self.prim = prim
        self.op = prim.name if kind == "op" else kind
        self.inputs = tuple(inputs)
        self.attrs = attrs or {}
        self.kind = kind
        self.scope = current_scope()
        self.shape = shape
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.value = value
        self.backward = building_backward()
        self.serial = next(_serial)
        self.name = name
        self.custom = None

    @property
    def label(self) -> str:
        """Short, human name: the part of ``name`` after the scope."""
        return self.name.rsplit("/", 1)[-1] if self.name else self.op

    @property
    def location(self) -> str:
        """``name`` with its layer, for error messages: ``dense1/matmul (in layer dense1)``."""
        if self.scope:
            return f"{self.name} (in layer {'/'.join(self.scope)})"
        return str(self.name)

    @property
    def dtype_str(self) -> str:
        if self.kind == "constant" and isinstance(self.value, (bool, int, float)):
            return type(self.value).__name__
        return str(self.dtype) if self.dtype is not None else "?"

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}: {format_shape(self.shape)} {self.dtype_str}>"

    def __getstate__(self) -> dict:
        # A pickled node (sent to a Dask worker) runs as it is; its declared gradient rules are closures
        # that only the process that built them can use, so they stay behind.
        return {k: getattr(self, k) for k in self.__slots__ if k not in ("__weakref__", "custom")}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        self.custom = None

    # Nodes are identities, never compared by value.
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __bool__(self):
        raise GraphError(f"{self.name}: a node has no truth value until the graph runs "
                         f"(use gn.maximum, gn.clip ... instead of if/and/or on nodes)")


def Input(name: str, shape: tuple | None = None, dtype: Any = None) -> Node:
    """A value fed at run time. ``shape`` may use ``None`` for unknown sizes.

    >>> X = Input("X", shape=(None, 2), dtype="float32")
    """
    if not isinstance(name, str) or not name:
        raise GraphError(f"Input: the name must be a non-empty string, got {name!r}")
    if shape is not None:
        try:
            shape = tuple(None if d is None else _dimension(d) for d in shape)
        except TypeError:
            raise GraphError(f"Input {name}: shape must be a tuple of sizes or None, got {shape!r}") from None
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise GraphError(f"Input {name}: {dtype!r} is not a numpy dtype") from None
        if dtype.kind not in "biuf":
            raise GraphError(f"Input {name}: dtype must be a number type (float, int, bool), got {dtype}")
    return Node(None, kind="input", name=named("input", name), shape=shape, dtype=dtype)


def _dimension(d) -> int:
    if isinstance(d, bool) or int(d) != d or int(d) < 0:
        raise TypeError
    return int(d)


def Parameter(value: Any, name: str | None = None) -> Node:
    """A trainable array of floats; training updates ``node.value`` in place."""
    value = np.array(value)  # a copy of its own: the caller's array is not trained behind their back
    if value.dtype.kind != "f":
        raise GraphError(f"parameter {name}: needs a float array, got {value.dtype}")
    node = Node(None, kind="parameter", shape=value.shape, dtype=value.dtype, value=value)
    node.name = named("parameter", name) if name is not None else None
    return node


def Constant(value: Any, name: str | None = None) -> Node:
    """A fixed value. Python numbers stay weakly typed, so ``x * 0.5`` keeps x's dtype.

    An array is copied and made read-only: changing it later cannot change a graph.
    """
    if isinstance(value, (bool, int, float)):
        shape, dtype = (), np.result_type(value)
    else:
        value = np.array(value)
        if value.dtype.kind not in "biuf":
            raise GraphError(f"constant {name or ''}: needs numbers, got an array of {value.dtype}")
        value.flags.writeable = False
        shape, dtype = value.shape, value.dtype
    return Node(None, kind="constant", name=named("const", name), shape=shape, dtype=dtype, value=value)


def as_node(x: Any) -> Node:
    return x if isinstance(x, Node) else Constant(x)


def ancestors(nodes) -> set:
    """``nodes`` and every node they depend on (an iterative walk: no recursion limit)."""
    seen, stack = set(nodes), list(nodes)
    while stack:
        for i in stack.pop().inputs:
            if i not in seen:
                seen.add(i)
                stack.append(i)
    return seen


def in_order(nodes) -> list[Node]:
    """``nodes`` sorted by creation, which is a topological order (inputs exist before their users)."""
    return sorted(nodes, key=_serial_of)


def _serial_of(node: Node) -> int:
    return node.serial
