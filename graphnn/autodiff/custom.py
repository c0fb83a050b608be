"""Custom gradients: a composite of primitives that declares its own gradient rule.

A function decorated with :func:`custom_gradient` returns ``(y, rule)``: ``y``
is built from primitives as usual (it runs, prints and draws like any other
node), ``rule(g)`` gives the gradient of each input from the gradient ``g``
of ``y``. Calling the function records a :class:`CustomGradient` on ``y``
(``y.custom``); :func:`graphnn.grad` then applies the rule when it walks back
through ``y``, instead of the rules of the primitives between the inputs and
``y`` (the *inner* nodes, which then get no gradient of their own):

>>> @gn.custom_gradient
... def softsign(x):                       # x: any shape; y: x's shape
...     y = x / (1 + gn.abs(x))
...     def grad(g):                       # g: dL/dy, y's shape -> dL/dx, x's shape
...         return g / gn.square(1 + gn.abs(x))
...     return y, grad

The rule builds graphnn nodes inside the backward pass, so they are drawn as
gradient nodes, in the scope ``grad/<function>/custom_gradient``, and can be
differentiated again (second order) when they are built from primitives.

A declaration is used only where it is valid; otherwise :func:`graphnn.grad`
differentiates the primitives one by one (the same function, other rounding):

- no inner node is asked for (``grad(y, [inner])``);
- no inner node is used, within what is differentiated, by anything but
  other inner nodes and ``y`` (that use's gradient would be lost);
- no node outside the declaration that needs a gradient feeds an inner node
  (a parameter captured by the function, not passed as an input).

``grad(..., custom=False)`` ignores every declaration, ``custom="softsign"``
(or a set of names) uses only those. The library's own closed-form rules (the
book's: Softmax + cross-entropy, Sigmoid, binary cross-entropy, squared and
absolute error) are declarations too, marked ``book=True``: ``grad(...,
rewrite=False)`` leaves them out as well.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphnn.core import ops
from graphnn.core.building import scope
from graphnn.core.errors import GraphError
from graphnn.core.node import Node, ancestors, as_node, format_shape, in_order

SCOPE = "custom_gradient"  # the scope under grad/<function>/ that holds a user rule's nodes


@dataclass(frozen=True, eq=False)
class CustomGradient:
    """A declared gradient: ``rule`` gives the gradient of each of ``inputs`` from the gradient of ``output``.

    ``rule(g)`` (``rule(g, mode)`` when ``takes_mode``: the ``"book"`` or
    ``"strict"`` of ``grad(rewrite=)``) returns one node per input (a tuple
    when there are several; ``None`` for an input that gets no gradient), of
    the input's shape or one broadcasting stretched it to. ``inner`` are the
    forward nodes between the inputs and ``output`` whose own rules it
    replaces. ``scope``: where its nodes are built, under ``grad/``.
    """

    name: str
    output: Node
    inputs: tuple
    rule: Callable
    inner: frozenset
    book: bool = False
    takes_mode: bool = False
    scope: tuple = ()

    def gradients(self, g: Node, mode: str | None) -> tuple:
        """The rule's gradients, one per input (``None`` where there is none); checked."""
        out = self.rule(g, mode) if self.takes_mode else self.rule(g)
        if not isinstance(out, (tuple, list)):
            out = (out,)
        if len(out) != len(self.inputs):
            raise GraphError(f"custom gradient {self.name}: the rule gave {len(out)} gradients "
                             f"for {len(self.inputs)} inputs")
        return tuple(None if gx is None else self._fit(as_node(gx), x) for gx, x in zip(out, self.inputs))

    def _fit(self, gx: Node, x: Node) -> Node:
        """``gx`` summed down to ``x``'s shape where the shapes show it was broadcast; else checked."""
        gs, xs = gx.shape, x.shape
        if gs is None or xs is None:
            return gx
        if len(gs) >= len(xs) and all(a == b or a is None or b is None or b == 1
                                      for a, b in zip(gs[len(gs) - len(xs):], xs)):
            if len(gs) > len(xs) or any(b == 1 and a != 1 for a, b in zip(gs[len(gs) - len(xs):], xs)):
                return ops.sum_like(gx, x)
            return gx
        raise GraphError(f"custom gradient {self.name}: the rule gave shape {format_shape(gs)} "
                         f"for input {x.name} of shape {format_shape(xs)}")


def between(inputs: Sequence[Node], output: Node) -> frozenset:
    """Nodes on a path from one of ``inputs`` to ``output``, neither end included."""
    starts = set(inputs)
    reached = set(starts)
    for n in in_order(ancestors([output])):
        if n not in starts and any(i in reached for i in n.inputs):
            reached.add(n)
    return frozenset(reached - starts - {output})


def declare(output: Node, inputs: Sequence[Node], rule: Callable, name: str, *, book: bool = False,
            takes_mode: bool = False, scope_: tuple = ()) -> CustomGradient:
    """Record on ``output`` that ``rule`` gives the gradients of ``inputs`` (see :class:`CustomGradient`)."""
    inputs = tuple(inputs)
    if not isinstance(output, Node) or output.kind != "op" or output in inputs:
        raise GraphError(f"custom gradient {name}: the function must return a node it built from its "
                         f"inputs, got {output!r}")
    decl = CustomGradient(name, output, inputs, rule, between(inputs, output), book, takes_mode, scope_)
    output.custom = (*(output.custom or ()), decl)
    return decl


def custom_gradient(f: Callable = None, *, name: str | None = None) -> Callable:
    """Decorator: ``f(*inputs) -> (y, rule)`` becomes ``f(*inputs) -> y`` with ``rule`` as y's gradient.

    ``inputs`` are nodes (arrays and numbers become constants); ``rule(g)``
    returns the gradient of each input, a tuple when there are several.
    The forward is built in the scope ``name`` (``f``'s name by default).
    See the module docstring for when :func:`graphnn.grad` uses the rule.
    """
    if f is None:
        return functools.partial(custom_gradient, name=name)
    label = name or f.__name__
    if not label.isidentifier():
        raise GraphError(f"custom_gradient: the name must be an identifier, got {label!r}")

    @functools.wraps(f)
    def wrapper(*args):
        inputs = tuple(as_node(a) for a in args)
        with scope(label):
            result = f(*inputs)
        if not (isinstance(result, tuple) and len(result) == 2 and callable(result[1])):
            raise GraphError(f"custom gradient {label}: the function must return (output, rule), "
                             f"got {type(result).__name__}")
        y, rule = result
        declare(y, inputs, rule, label, scope_=(SCOPE,))
        return y

    wrapper.custom_gradient_name = label
    return wrapper


def selector(custom, mode: str | None) -> Callable[[CustomGradient], bool]:
    """Which declarations ``grad(custom=..., rewrite=...)`` uses (``mode`` None: no book rules)."""
    if custom is True:
        names = None
    elif custom is False or custom is None:
        names = frozenset()
    elif isinstance(custom, str):
        names = frozenset([custom])
    else:
        try:
            names = frozenset(custom)
        except TypeError:
            raise GraphError(f"grad: custom must be True, False, a name or a set of names, "
                             f"got {custom!r}") from None

    def select(d: CustomGradient) -> bool:
        return (mode is not None or not d.book) and (names is None or d.name in names)
    return select


def applicable(order: list[Node], wanted: set, needs: set, select: Callable) -> dict[Node, CustomGradient]:
    """The declaration used at each output among ``order`` (what ``y`` depends on), by output node.

    The last valid, selected declaration on a node wins (see the module
    docstring for validity).
    """
    declared = [n for n in order if n.custom]
    if not declared:
        return {}
    users: dict[Node, set] = {}
    for n in order:
        for i in n.inputs:
            users.setdefault(i, set()).add(n)
    found = {}
    for n in declared:
        for d in reversed(n.custom):
            if select(d) and _valid(d, users, wanted, needs):
                found[n] = d
                break
    return found


def _valid(d: CustomGradient, users: dict, wanted: set, needs: set) -> bool:
    inside = d.inner | {d.output}
    starts = set(d.inputs)
    for n in d.inner:
        if n in wanted or not users.get(n, set()) <= inside:
            return False
    return not any(i in needs and i not in starts and i not in d.inner
                   for n in inside for i in n.inputs)
