"""Nodes: the vertices of a graphnn graph, and the leaves users create.

A node is one primitive operation applied to an ordered tuple of input nodes.
Its shape and dtype are inferred when it is built (``None`` marks a dimension
known only at run time, such as the batch), so mistakes surface at build time.
Leaves are inputs (fed at run time), parameters (hold an array that training
updates in place) and constants.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np


class GraphError(ValueError):
    """A mistake in building, feeding or differentiating a graph."""


_serial = itertools.count()  # creation order; also a valid topological order
_used_names: dict[str, int] = {}
_scope_stack: list[str] = []
_backward_depth = [0]


def reset_names() -> None:
    """Forget the names handed out so far (``dense1``, ``relu1`` ... start again)."""
    _used_names.clear()


def unique_name(base: str) -> str:
    """``base`` the first time, then ``base_2``, ``base_3`` ..."""
    count = _used_names.get(base, 0) + 1
    _used_names[base] = count
    return base if count == 1 else f"{base}_{count}"


@contextlib.contextmanager
def scope(name: str) -> Iterator[None]:
    """Tag every node created inside with ``name`` (layers use this)."""
    _scope_stack.append(name)
    try:
        yield
    finally:
        _scope_stack.pop()


@contextlib.contextmanager
def backward_scope() -> Iterator[None]:
    """Mark nodes created inside as part of a backward pass."""
    _backward_depth[0] += 1
    try:
        yield
    finally:
        _backward_depth[0] -= 1


@contextlib.contextmanager
def scope_path(path: tuple[str, ...]) -> Iterator[None]:
    """Create nodes in exactly the scope ``path``, whatever the current one is."""
    saved = _scope_stack[:]
    _scope_stack[:] = path
    try:
        yield
    finally:
        _scope_stack[:] = saved


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while building many objects at once (graphs,
    plans): it would scan them again and again (superlinear time); they hold no
    cycles to find."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def current_scope() -> tuple[str, ...]:
    return tuple(_scope_stack)


def format_shape(shape: tuple | None) -> str:
    if shape is None:
        return "(?)"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


class Node:
    """One vertex: ``op`` applied to ``inputs`` with ``attrs``.

    ``kind`` is ``"input"``, ``"parameter"``, ``"constant"`` or ``"op"``.
    ``backward`` is true for nodes created by :func:`graphnn.grad`.
    """

    __slots__ = (
        "op", "inputs", "attrs", "name", "scope", "shape", "dtype",
        "kind", "value", "backward", "serial", "__weakref__",
    )

    def __init__(self, op: str, inputs: tuple = (), attrs: dict | None = None, *,
                 kind: str = "op", name: str | None = None,
                 shape: tuple | None = None, dtype: Any = None, value: Any = None):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs or {}
        self.kind = kind
        self.scope = current_scope()
        self.shape = shape
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.value = value
        self.backward = _backward_depth[0] > 0
        self.serial = next(_serial)
        self.name = name

    @property
    def label(self) -> str:
        """Short, human name: the part of ``name`` after the scope."""
        return self.name.rsplit("/", 1)[-1] if self.name else self.op

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}: {format_shape(self.shape)} {self.dtype_str}>"

    @property
    def dtype_str(self) -> str:
        if self.kind == "constant" and self.value is not None and np.ndim(self.value) == 0 \
                and not isinstance(self.value, np.ndarray):
            return type(self.value).__name__
        return str(self.dtype) if self.dtype is not None else "?"

    def where(self) -> str:
        """``name`` with its layer, for error messages."""
        if self.scope:
            return f"{self.name} (in layer {'/'.join(self.scope)})"
        return str(self.name)

    # Operators build primitive nodes, so expressions read like numpy.
    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().sub(self, other)
    def __rsub__(self, other): return _ops().sub(other, self)
    def __mul__(self, other): return _ops().mul(self, other)
    def __rmul__(self, other): return _ops().mul(other, self)
    def __truediv__(self, other): return _ops().div(self, other)
    def __rtruediv__(self, other): return _ops().div(other, self)
    def __neg__(self): return _ops().neg(self)
    def __matmul__(self, other): return _ops().matmul(self, other)

    # Nodes are identities, never compared by value.
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other


def _ops():
    from graphnn import ops
    return ops


def _named(base: str, name: str | None) -> str:
    return unique_name("/".join(current_scope() + ((name or base),)))


def Input(name: str, shape: tuple | None = None, dtype: Any = None) -> Node:
    """A value fed at run time. ``shape`` may use ``None`` for unknown sizes.

    >>> X = Input("X", shape=(None, 2), dtype="float32")
    """
    if shape is not None:
        shape = tuple(None if d is None else int(d) for d in shape)
    return Node("input", kind="input", name=_named("input", name), shape=shape, dtype=dtype)


def Parameter(value: Any, name: str | None = None) -> Node:
    """A trainable array; training updates ``node.value`` in place."""
    value = np.asarray(value)
    if value.dtype.kind != "f":
        raise GraphError(f"parameter {name}: needs a float array, got {value.dtype}")
    node = Node("parameter", kind="parameter", shape=value.shape, dtype=value.dtype, value=value)
    node.name = _named("parameter", name) if name is not None else None
    return node


def Constant(value: Any, name: str | None = None) -> Node:
    """A fixed value. Python numbers stay weakly typed, so ``x * 0.5`` keeps x's dtype."""
    if isinstance(value, (bool, int, float)):
        shape, dtype = (), np.result_type(value)
    else:
        value = np.asarray(value)
        shape, dtype = value.shape, value.dtype
    return Node("constant", kind="constant", name=_named("const", name),
                shape=shape, dtype=dtype, value=value)


def ancestors(nodes) -> set:
    """``nodes`` and every node they depend on (an iterative walk: no recursion limit)."""
    seen, stack = set(nodes), list(nodes)
    while stack:
        for i in stack.pop().inputs:
            if i not in seen:
                seen.add(i)
                stack.append(i)
    return seen


def as_node(x: Any) -> Node:
    return x if isinstance(x, Node) else Constant(x)


def write_atomically(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    An interrupted write leaves the old file or none, never half a file. The
    file gets the usual permissions (0o666 less the umask), as ``open`` gives.
    """
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
