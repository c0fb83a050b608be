"""Graph-building state: names handed out, the scope stack, whether a backward pass is being built.

All of it lives in one :class:`BuildContext` per thread, so threads that build
graphs at the same time never see each other's scopes, and names are unique
and deterministic within each thread (``dense1``, ``relu1`` ... in order of
first use). ``reset_names()`` starts the current thread's names again.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator


class BuildContext:
    """What the nodes and layers being built right now need to know."""

    def __init__(self):
        self.used: dict[str, int] = {}       # name -> how often handed out
        self.layer_counts: dict[str, int] = {}  # layer type -> layers of that type named so far
        self.scopes: list[str] = []
        self.backward_depth = 0

    def unique(self, base: str) -> str:
        """``base`` the first time, then ``base_2``, ``base_3`` ..."""
        count = self.used.get(base, 0) + 1
        self.used[base] = count
        return base if count == 1 else f"{base}_{count}"

    def layer_name(self, type_name: str) -> str:
        """The next free ``dense1``, ``dense2`` ... for a layer of ``type_name``."""
        while True:
            count = self.layer_counts.get(type_name, 0) + 1
            self.layer_counts[type_name] = count
            candidate = f"{type_name}{count}"
            if candidate not in self.used:
                return self.unique(candidate)


_local = threading.local()


def context() -> BuildContext:
    """This thread's building state."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = _local.ctx = BuildContext()
    return ctx


def reset_names() -> None:
    """Forget the names handed out so far in this thread (``dense1``, ``relu1`` ... start again)."""
    ctx = context()
    ctx.used.clear()
    ctx.layer_counts.clear()


def unique_name(base: str) -> str:
    return context().unique(base)


def named(base: str, name: str | None) -> str:
    """A unique full name for a node: the current scope, then ``name`` (or ``base``)."""
    ctx = context()
    return ctx.unique("/".join([*ctx.scopes, name or base]))


def current_scope() -> tuple[str, ...]:
    return tuple(context().scopes)


def building_backward() -> bool:
    return context().backward_depth > 0


@contextlib.contextmanager
def scope(name: str) -> Iterator[None]:
    """Tag every node created inside with ``name`` (layers use this)."""
    scopes = context().scopes
    scopes.append(name)
    try:
        yield
    finally:
        scopes.pop()


@contextlib.contextmanager
def backward_scope() -> Iterator[None]:
    """Mark nodes created inside as part of a backward pass."""
    ctx = context()
    ctx.backward_depth += 1
    try:
        yield
    finally:
        ctx.backward_depth -= 1


@contextlib.contextmanager
def scope_path(path: tuple[str, ...]) -> Iterator[None]:
    """Create nodes in exactly the scope ``path``, whatever the current one is."""
    scopes = context().scopes
    saved = scopes[:]
    scopes[:] = path
    try:
        yield
    finally:
        scopes[:] = saved


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while building many objects at once (graphs, plans):
    it would scan them again and again (superlinear time); they hold no cycles to find."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
