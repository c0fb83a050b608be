"""What a primitive is, and the one way to define one.

A :class:`Primitive` holds everything graphnn knows about an operation: the
forward computation (numpy), the shape/dtype rule (run when a node is built,
and again on a feed's concrete shapes), one gradient rule per input, how the
executor calls it (its kernel; derived automatically when the forward is a
numpy ufunc) and its properties. No other module tests an op's name to decide
what to do: it asks the primitive.

A gradient rule is ``rule(g, node) -> Node``: ``g`` is the gradient of the
output, ``node`` the forward node (so the rule can reuse the output, which is
``node`` itself). It may return a gradient of the output's shape;
:func:`graphnn.grad` sums it down to the input's shape. ``ZERO`` marks an input
the output does not vary with (piecewise constant, shape-only); ``None`` an
input with no derivative (integer labels): asking for a gradient through it is
an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from graphnn.core.building import named
from graphnn.core.errors import GraphError
from graphnn.core.kernels import Kernel, plain_kernel, ufunc_kernel
from graphnn.core.node import Node, as_node, format_shape


class ShapeError(Exception):
    """Raised by shape rules; turned into a GraphError that names the node and its layer."""


class Aval(NamedTuple):
    """What a shape rule sees of an input: shape, dtype, and a weak Python scalar."""

    shape: tuple | None
    dtype: Any
    weak: Any = None  # the Python number of a weakly typed constant


ZERO = "zero"  # gradient rule marker: this input gets no gradient (it is zero)


@dataclass(frozen=True, eq=False)
class Primitive:
    """One operation and everything known about it.

    ``pure``: equal inputs always give equal outputs (false for random ops), so
    the executor may merge duplicates and fold constants. ``foldable``: may be
    computed ahead of time when its inputs are constants (false for matmul: its
    result depends on the ``np.dot`` installed when it runs). ``identity``: the
    value passes through unchanged at run time (``stop_gradient``).
    ``commutative``: argument order does not matter (diagrams leave out argument
    positions). ``broadcasts``: inputs may be broadcast to the output, so their
    gradients may need summing back (false where each rule already gives the
    input's shape). ``aliases``: the forward's result may share memory with
    an input (a view); the executor then copies it before handing it to the
    caller. ``shape_only``: positions of inputs whose shape and dtype are
    read, never their values. ``kernel``: ``build(node, in_avals, out_aval) ->
    Kernel | None`` for the executor. ``check_shapes``: each run compares the
    forward's output with the shape rule, and the forward runs as it is (off
    for the built-ins, whose rules the tests compare with their forwards; turn
    it off for speed once yours are tested: then a ufunc forward gets a fast
    kernel that writes into reused buffers). ``onnx``: an optional
    lowering used by :mod:`graphnn.interop.onnx`.
    """

    name: str
    forward: Callable
    infer: Callable
    grads: tuple = ()
    doc: str = ""
    attrs: tuple = ()
    pure: bool = True
    foldable: bool = True
    identity: bool = False
    commutative: bool = False
    broadcasts: bool = True
    aliases: bool = True
    shape_only: tuple = ()
    kernel: Callable | None = None
    check_shapes: bool = True
    onnx: Callable | None = None

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def __reduce__(self):
        # A primitive is one object per process (code asks ``node.prim is ops.MAX``): a pickled
        # node (sent to a Dask worker) finds it by name there, where its module defines it too.
        return (registered, (self.name,))

    def bind(self, node: Node) -> Callable:
        """The forward function with ``node``'s attributes bound."""
        return functools.partial(self.forward, **node.attrs) if node.attrs else self.forward

    def kernel_for(self, node: Node, ins: list[Aval], out: Aval) -> Kernel:
        """How the executor calls ``node``: its own kernel, a ufunc's, or the plain forward.

        A primitive whose shape rule is checked on every run always runs its
        plain forward: a buffer made from a wrong rule would hide the mistake.
        """
        if self.identity:
            return Kernel(None, (0,), views=(0,), expr="{0}")
        kernel = None
        if not self.check_shapes:
            if self.kernel is not None:
                kernel = self.kernel(node, ins, out)
            elif isinstance(self.forward, np.ufunc) and not node.attrs and self.forward.nin == len(ins):
                kernel = ufunc_kernel(self.forward, ins, out)
        return self.plain_kernel(node) if kernel is None else kernel

    def plain_kernel(self, node: Node) -> Kernel:
        """The forward as it is (``stop_gradient``: its input, unchanged)."""
        if self.identity:
            return Kernel(None, (0,), views=(0,), expr="{0}")
        return plain_kernel(self.bind(node), len(node.inputs), self.aliases)

    def check(self, node: Node, ins: list[Aval]) -> tuple:
        """The shape rule on ``ins``; a mistake is a GraphError naming the node and its inputs."""
        try:
            shape, dtype = self.infer(*ins, **node.attrs)
            dtype = None if dtype is None else np.dtype(dtype)
            if shape is not None and not isinstance(shape, tuple):
                raise ValueError(f"it gave the shape {shape!r}, not a tuple")
        except (ShapeError, TypeError, ValueError) as e:  # TypeError: a missing or unknown attribute
            shapes = ", ".join(f"{i.name} {format_shape(a.shape)}" for i, a in zip(node.inputs, ins))
            what = "" if isinstance(e, ShapeError) else f"the shape rule of {self.name} failed: "
            raise GraphError(f"{node.location}: {what}{e} [inputs: {shapes}]") from None
        return shape, dtype


PRIMITIVES: dict[str, Primitive] = {}  # every primitive by name: names are unique


def register(prim: Primitive) -> Primitive:
    if prim.name in PRIMITIVES:
        raise GraphError(f"a primitive named {prim.name!r} already exists")
    PRIMITIVES[prim.name] = prim
    return prim


def registered(name: str) -> Primitive:
    """The primitive called ``name`` (defined in this process)."""
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise GraphError(f"no primitive named {name!r} in this process: import the module that defines it "
                         f"first") from None


def aval_of(node: Node) -> Aval:
    weak = node.value if node.kind == "constant" and isinstance(node.value, (bool, int, float)) else None
    return Aval(node.shape, node.dtype, weak)


def apply(prim: Primitive, inputs: tuple, attrs: dict | None = None, name: str | None = None) -> Node:
    """Build a node of ``prim``; checks shapes now and names the node in errors."""
    inputs = tuple(as_node(x) for x in inputs)
    attrs = attrs or {}
    node = Node(prim, inputs, attrs, name=named(prim.name, name))
    node.shape, dtype = prim.check(node, [aval_of(i) for i in inputs])
    node.dtype = None if dtype is None else np.dtype(dtype)
    return node


def define_primitive(name: str, forward: Callable, shape_rule: Callable, grads: tuple = (), *,
                     doc: str = "", attrs: tuple = (), pure: bool = True, foldable: bool = True,
                     identity: bool = False, commutative: bool = False, broadcasts: bool = True,
                     aliases: bool = True, shape_only: tuple = (),
                     kernel: Callable | None = None, check_shapes: bool = True,
                     onnx: Callable | None = None) -> Callable[..., Node]:
    """Add a primitive, everywhere at once; returns the function that builds its nodes.

    ``forward(*arrays, **attrs) -> array``; ``shape_rule(*avals, **attrs) ->
    (shape, dtype)`` where each aval has ``.shape`` (``None`` where unknown) and
    ``.dtype`` (raise :class:`ShapeError` for a mistake); ``grads``: one rule
    ``rule(g, node) -> Node`` per input, or ``ZERO``/``None``; ``attrs``: the
    names of the keyword attributes the forward takes. The builder takes the
    inputs positionally and attributes as keywords, plus ``name=``. The other
    keywords are the properties described in :class:`Primitive`. The
    primitive then runs (optimized or not), differentiates (to second order if
    its rules are differentiable), checks, prints and draws like a built-in one.

    >>> softplus = gn.define_primitive(
    ...     "softplus", lambda x: np.logaddexp(0, x), gn.same_shape,
    ...     grads=(lambda g, n: g / (1 + gn.exp(-n.inputs[0])),), doc="log(1 + e**x)")
    >>> y = softplus(x)
    """
    if not (isinstance(name, str) and name.isidentifier()):
        raise GraphError(f"define_primitive: the name must be an identifier, got {name!r}")
    for what, f in (("forward", forward), ("shape_rule", shape_rule)):
        if not callable(f):
            raise GraphError(f"define_primitive {name}: {what} must be callable, got {f!r}")
    grads = tuple(grads)
    for rule in grads:
        if not (rule is None or rule is ZERO or callable(rule)):
            raise GraphError(f"define_primitive {name}: each gradient rule must be callable, ZERO or None")
    prim = register(Primitive(
        name, forward, shape_rule, grads, doc, tuple(attrs), pure=pure, foldable=foldable, identity=identity,
        commutative=commutative, broadcasts=broadcasts, aliases=aliases, shape_only=tuple(shape_only),
        kernel=kernel, check_shapes=check_shapes, onnx=onnx))
    return builder(prim)


def builder(prim: Primitive) -> Callable[..., Node]:
    """The function that builds nodes of ``prim``: ``f(*inputs, name=None, **attrs)``."""
    def build(*inputs, name: str | None = None, **attrs) -> Node:
        unknown = sorted(set(attrs) - set(prim.attrs))
        if unknown:
            raise GraphError(f"{prim.name}: unknown attribute {', '.join(unknown)} "
                             f"(it takes {', '.join(prim.attrs) or 'none'})")
        if prim.grads and len(inputs) != len(prim.grads):
            raise GraphError(f"{prim.name}: takes {len(prim.grads)} inputs, got {len(inputs)}")
        return apply(prim, inputs, attrs, name)

    build.__name__ = build.__qualname__ = prim.name
    build.__doc__ = prim.doc
    build.primitive = prim
    return build
