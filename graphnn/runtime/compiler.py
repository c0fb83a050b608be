"""From a plan's nodes to one straight-line Python function.

:class:`graphnn.runtime.plan.Plan` knows which nodes a fetch needs and every shape
and dtype; this module turns that into code, in three steps:

1. **Simplify** (``optimize=True``): merge nodes that compute the same thing
   from the same inputs, fold nodes that depend only on constants and shapes
   (the ``ones_like`` that seeds a gradient, ``count``, a mean's gradient) into
   constants computed once, and drop nodes that no kept value needs.
2. **Plan memory** (``optimize=True`` and ``keep="fetched"``): each value the
   caller does not get back is written into a buffer allocated once for the
   plan and reused by later nodes and later runs; an elementwise node writes
   into the buffer of an input that dies there (so gradient sums accumulate
   in place). Values the caller gets back are always new arrays, so a later
   run never changes what an earlier one returned.
3. **Generate code**: one line per node, ``v7 = f7(v3, v5, out=b2)``, and a
   ``del`` as soon as a value is no longer needed.

Every step computes exactly what the plain forwards compute (the kernels are
bit-exact, folding runs the same forward earlier); ``optimize=False`` skips the
first two, for comparison. A primitive whose shape rule is not known to hold
(one defined by a user) gets a line that checks its value against the rule.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphnn.core.building import gc_paused
from graphnn.core.errors import GraphError
from graphnn.core.kernels import Kernel
from graphnn.core.node import Node, format_shape
from graphnn.runtime import rewrites

# Values smaller than this are not worth a buffer: numpy allocates them from a
# cache, and a ufunc writing in place into a tiny array is slower than one
# writing a new array (about 1.1 µs against 0.5 µs for a (1, 1) array).
POOL_MIN_SIZE = 256


@dataclass
class Program:
    """A compiled plan: ``function(hook, *inputs)`` returns the kept values in order."""

    function: Callable
    lines: dict[Any, dict[int, Node]]  # code object -> line -> node, to name the node behind an error
    var: dict[Node, str]     # node -> its variable in the function
    rep: dict[Node, Node]    # node -> the node whose line computes its value
    buffers: list[np.ndarray]
    source: str

    @property
    def buffer_bytes(self) -> int:
        return sum(b.nbytes for b in self.buffers)


def compile_program(nodes: list[Node], inputs: list[Node], kept: list[Node], avals: dict, *,
                    optimize: bool, pool: bool, hooked: bool) -> Program:
    """Compile ``nodes`` (topologically ordered) into a function returning ``kept``.

    ``avals`` are the shapes and dtypes of every node on this feed, from the
    shape rules.
    """
    with gc_paused():
        return _compile_program(nodes, inputs, kept, avals, optimize, pool, hooked)


def _compile_program(nodes, inputs, kept, avals, optimize, pool, hooked) -> Program:
    sources: dict = {}  # node -> the nodes a rewritten node's kernel reads (graphnn.runtime.rewrites)
    if optimize:
        rep, folded = simplify(nodes, avals)
        sources, rewritten = rewrites.rewrite(nodes, avals, rep, folded, kept)
    else:
        rep, folded, rewritten = {n: n for n in nodes}, {}, {}
    kernels, order = _live(nodes, [rep[k] for k in kept], rep, folded, avals, optimize, sources, rewritten)
    # the nodes each kernel reads, by kernel.args; None where a ready constant stands in
    args = {n: [None if p in k.consts else rep[sources.get(n, n.inputs)[p]] for p in k.args]
            for n, k in kernels.items()}
    owned, c_order = _sharing(order, kernels, args)
    buffer_of: dict[Node, int] = {}
    shapes: list[tuple] = []
    if pool:
        buffer_of, shapes = _plan_memory(order, kernels, args, avals, {rep[k] for k in kept}, c_order)
    buffers = [np.empty(shape, dtype=dtype) for shape, dtype in shapes]
    copied = {n for n in order if owned[n] and n not in folded}  # handed back as copies of their own
    return _generate(order, inputs, kept, rep, folded, kernels, args, buffer_of, buffers, hooked, avals, copied)


# ------------------------------------------------------------ simplify

def simplify(nodes: list[Node], avals: dict) -> tuple[dict, dict]:
    """Representatives and folded values.

    ``rep[n]`` is the node that computes ``n``'s value (itself, an earlier
    identical node, or the input of a ``stop_gradient``); ``folded`` maps
    representatives whose value is known before any run to that value
    (read-only, shared by every run).
    """
    rep: dict[Node, Node] = {}
    folded: dict[Node, Any] = {}
    seen: dict[tuple, Node] = {}
    for n in nodes:
        if n.kind != "op":
            rep[n] = n
            continue
        if n.prim.identity:  # the value passes through at run time
            rep[n] = rep[n.inputs[0]]
            continue
        ins = [rep[i] for i in n.inputs]
        pure = n.prim.pure  # a random op always runs
        if pure:
            key = (n.op, tuple(ins), _attrs_key(n.attrs))
            same = seen.get(key)
            if same is not None:
                rep[n] = same
                continue
            seen[key] = n
        rep[n] = n
        if pure and n.prim.foldable:
            value = _fold(n, ins, folded, avals)
            if value is not _NOT_FOLDED:
                folded[n] = value
    return rep, folded


_NOT_FOLDED = object()


def _attrs_key(attrs: dict) -> tuple:
    if not attrs:
        return ()
    return tuple(sorted((k, type(v).__name__, repr(v)) for k, v in attrs.items()))


def _fold(n: Node, ins: list[Node], folded: dict, avals: dict):
    shape_only = n.prim.shape_only
    values = []
    for position, i in enumerate(ins):
        if position in shape_only:
            aval = avals[i]
            if aval.shape is None or None in aval.shape or aval.dtype is None:
                return _NOT_FOLDED
            values.append(np.zeros(aval.shape, dtype=aval.dtype))
        elif i in folded:
            values.append(folded[i])
        elif i.kind == "constant":
            values.append(i.value)
        else:
            return _NOT_FOLDED
    try:
        with np.errstate(all="ignore"):
            value = n.prim.bind(n)(*values)
    except Exception:  # leave it to fail at run time, with the usual message
        return _NOT_FOLDED
    if isinstance(value, np.ndarray):
        value = value.view()
        value.flags.writeable = False  # shared by every run: nobody may change it
    return value


def _live(nodes, kept_reps, rep, folded, avals, optimize, sources, rewritten):
    """Kernels of the nodes that kept values need, and those nodes in order."""
    live = set(kept_reps)
    kernels: dict[Node, Kernel] = {}
    for n in reversed(nodes):
        if n not in live or rep[n] is not n or n.kind != "op" or n in folded:
            continue
        kernel = rewritten.get(n) or _kernel(n, avals, optimize)
        kernels[n] = kernel
        reads = sources.get(n, n.inputs)
        for p in kernel.args:
            if p not in kernel.consts:
                live.add(rep[reads[p]])
    return kernels, [n for n in nodes if n in live]


def _kernel(n: Node, avals: dict, optimize: bool) -> Kernel:
    if optimize:
        return n.prim.kernel_for(n, [avals[i] for i in n.inputs], avals[n])
    return n.prim.plain_kernel(n)


# ------------------------------------------------------------ memory

def _sharing(order, kernels, args) -> tuple[dict, dict]:
    """What each value may share memory with, and whether it is surely C-ordered.

    ``owned[n]``: the inputs, parameters, constants and folded values whose
    memory ``n``'s value may be (a transpose of a parameter is a view of it);
    such a value is copied before the caller gets it, so writing into it, or a
    later optimizer step, changes nothing else. ``c_order[n]``: the value is a
    C-ordered array; only such values' users write into C-ordered buffers,
    because numpy lays out (and so sums) a result as its inputs are laid out,
    and a buffer must not change the bits.
    """
    owned: dict[Node, frozenset] = {}
    c_order: dict[Node, bool] = {}
    for n in order:
        kernel = kernels.get(n)
        if kernel is None:  # a leaf or a folded value: C-ordered (feeds are made contiguous)
            owned[n], c_order[n] = frozenset([n]), True
            continue
        reads = [a for a in args[n] if a is not None]
        viewed = [args[n][kernel.args.index(p)] for p in kernel.views]
        owned[n] = frozenset().union(*(owned[a] for a in viewed))
        if viewed:  # a view: C-ordered only if it is its input unchanged
            c_order[n] = kernel.expr == "{0}" and all(c_order[a] for a in viewed)
        else:
            c_order[n] = kernel.fresh_layout or all(c_order[a] for a in reads)
    return owned, c_order


def _plan_memory(order, kernels, args, avals, kept, c_order):
    """Give buffers to values the caller never sees; reuse them once dead.

    A value may share memory with others (a transpose is a view); a buffer is
    free again only after the last read of every value that may share it.
    A node writes into a buffer only when its inputs are C-ordered like the
    buffer (see :func:`_sharing`).
    """
    storage: dict[Node, frozenset] = {}
    candidates = set()
    for n in order:
        kernel = kernels.get(n)
        if kernel is None:
            storage[n] = frozenset()
            continue
        shared = set()
        for p in kernel.views:
            shared |= storage.get(args[n][kernel.args.index(p)], frozenset())
        aval = avals[n]
        if kernel.out and aval.shape and None not in aval.shape and aval.dtype is not None \
                and math.prod(aval.shape) >= POOL_MIN_SIZE \
                and (kernel.fresh_layout or all(c_order[a] for a in args[n] if a is not None)):
            candidates.add(n)
            shared.add(n)
        storage[n] = frozenset(shared)
    for k in kept:  # what the caller gets back is never in a buffer
        candidates -= storage[k]

    last: dict[Node, int] = {}
    for i, n in enumerate(order):
        for a in args.get(n, ()):
            for s in storage.get(a, ()):
                last[s] = i

    shapes: list[tuple] = []
    free: dict[tuple, list[int]] = defaultdict(list)
    buffer_of: dict[Node, int] = {}
    handed_on: set = set()
    for i, n in enumerate(order):
        if n in candidates:
            key = (avals[n].shape, np.dtype(avals[n].dtype))
            chosen = None
            for p in kernels[n].inplace:
                a = args[n][kernels[n].args.index(p)]
                if (a in buffer_of and a not in handed_on and storage[a] == {a}
                        and last.get(a) == i and shapes[buffer_of[a]] == key):
                    chosen = buffer_of[a]
                    handed_on.add(a)  # its buffer now holds n's value
                    break
            if chosen is None:
                if free[key]:
                    chosen = free[key].pop()
                else:
                    chosen = len(shapes)
                    shapes.append(key)
            buffer_of[n] = chosen
        dying = {s for a in args.get(n, ()) for s in storage.get(a, ()) if last.get(s) == i}
        if n in buffer_of and n not in last:
            dying.add(n)  # computed, never read (kept values have no buffer)
        for s in dying:
            if s in buffer_of and s not in handed_on:
                free[shapes[buffer_of[s]]].append(buffer_of[s])
                handed_on.add(s)
    return buffer_of, shapes


# ------------------------------------------------------------ code

def _generate(order, inputs, kept, rep, folded, kernels, args, buffer_of, buffers, hooked, avals,
              copied) -> Program:
    slot = {n: i for i, n in enumerate(order)}
    namespace: dict[str, Any] = {f"b{k}": b for k, b in enumerate(buffers)}
    namespace["_check"], namespace["_copy"] = check_value, _copy
    kept_set = {rep[k] for k in kept}
    last_use: dict[Node, Node] = {}
    for n in order:
        for a in args.get(n, ()):
            if a is not None:
                last_use[a] = n
    # A value takes over the variable of an argument read for the last time on
    # its line (within one chunk): the assignment drops that argument as a
    # ``del`` would, and fewer lines and variables compile faster (a fifth fewer
    # instructions in compile()). Other arguments read for the last time are deleted.
    chunk = (lambda i: i // CHUNK) if len(order) > CHUNK else (lambda i: 0)
    var: dict[Node, str] = {}
    frees: dict[Node, list[str]] = {}
    for n in order:
        dying = [a for a in dict.fromkeys(args.get(n, ()))
                 if a is not None and last_use[a] is n and a not in kept_set]
        heir = next((a for a in dying if chunk(slot[a]) == chunk(slot[n])), None)
        var[n] = var[heir] if heir is not None else f"v{slot[n]}"
        if len(dying) > (heir is not None):
            frees[n] = [var[a] for a in dying if a is not heir]

    params = [f"i{k}" for k in range(len(inputs))]
    position = {n: k for k, n in enumerate(inputs)}
    body: list[list[str]] = []  # per node: its line, then its hook and del lines
    for n in order:
        v, s = var[n], slot[n]
        if n.kind == "input":
            body.append([f"    {v} = i{position[n]}"])
        elif n.kind == "parameter":
            namespace[f"n{s}"] = n
            body.append([f"    {v} = n{s}.value"])  # read each run: optimizers may replace it
        elif n.kind == "constant":
            namespace[f"c{s}"] = n.value
            body.append([f"    {v} = c{s}"])
        elif n in folded:
            namespace[f"c{s}"] = folded[n]
            # shared by every run and read-only: the caller gets a copy of their own
            body.append([f"    {v} = c{s}.copy()" if n in kept_set else f"    {v} = c{s}"])
        else:
            body.append([f"    {v} = {_call(n, s, kernels[n], args[n], var, buffer_of, namespace)}"])
            if n.prim.check_shapes:
                namespace[f"e{s}"] = (n, avals[n])
                body[-1].append(f"    _check(e{s}, {v})")
        if n in kept_set and n in copied:
            body[-1].append(f"    {v} = _copy({v})")
        if hooked:
            namespace[f"n{s}"] = n
            body[-1].append(f"    _hook(n{s}, {v})")
        if n in frees:
            body[-1].append(f"    del {', '.join(frees[n])}")
    returned = [var[rep[k]] for k in kept]
    lines: dict[Any, dict[int, Node]] = {}
    if len(order) <= CHUNK:
        source = _define("_plan", ["_hook"] + params, order, body, namespace, lines, _tuple(returned))
    else:
        source = _chunked(order, body, params, returned, var, args, position, namespace, lines)
    return Program(namespace["_plan"], lines, var, rep, buffers, source)


def _copy(value):
    """A value of the caller's own (Python numbers and numpy scalars are immutable already)."""
    return value.copy(order="K") if isinstance(value, np.ndarray) else value  # the same layout: the same sums


def check_value(expected: tuple, value) -> None:
    """A user-defined primitive's value against its shape rule: a mismatch would mislead later kernels."""
    node, aval = expected
    shape, dtype = np.shape(value), np.asarray(value).dtype
    if len(shape) != len(aval.shape or shape) or any(
            a is not None and a != b for a, b in zip(aval.shape or shape, shape)) \
            or (aval.dtype is not None and dtype != aval.dtype):
        raise GraphError(f"{node.location}: {node.op} returned {format_shape(shape)} {dtype}, but its shape "
                         f"rule said {format_shape(aval.shape)} {aval.dtype}; fix the shape rule or the forward")


def _tuple(names) -> str:
    return f"({''.join(v + ', ' for v in names)})"


def _define(name, params, nodes, body, namespace, lines, returned) -> str:
    """Compile ``def name(params)``: ``nodes``' lines, then ``return returned``."""
    code = [f"def {name}({', '.join(params)}):"]
    numbers = {}  # line -> node, to name the node behind an error
    for n, node_lines in zip(nodes, body):
        numbers[len(code) + 1] = n
        code.extend(node_lines)
    code.append(f"    return {returned}")
    source = "\n".join(code)
    exec(compile(source, "<graphnn plan>", "exec"), namespace)
    lines[namespace[name].__code__] = numbers
    return source


# CPython's compile() takes superlinear time in the size of what it compiles
# (a 16,000-line function: about 21x the time of 1,000 lines), so a plan longer
# than CHUNK nodes is cut into functions compiled one by one. _plan calls them
# in order, passing the values that cross a cut as arguments and return values;
# each chunk also returns its kept values as one tuple.
CHUNK = 2000


def _chunked(order, body, params, returned, var, args, position, namespace, lines) -> str:
    parts = [order[start:start + CHUNK] for start in range(0, len(order), CHUNK)]
    chunk_of = {var[n]: c for c, part in enumerate(parts) for n in part}
    needs = []  # per chunk: the values it reads that earlier chunks (or the caller) made
    for c, part in enumerate(parts):
        reads = [f"i{position[n]}" for n in part if n.kind == "input"] + \
            [var[a] for n in part for a in args.get(n, ()) if a is not None]
        needs.append(list(dict.fromkeys(v for v in reads if chunk_of.get(v) != c)))
    last = {v: c for c, vs in enumerate(needs) for v in vs}  # the last chunk that reads v
    kept: list[list[int]] = [[] for _ in parts]  # per chunk: the positions in returned it makes
    for p, v in enumerate(returned):
        kept[chunk_of[v]].append(p)
    sources, top = [], [f"def _plan({', '.join(['_hook'] + params)}):"]
    for c, part in enumerate(parts):
        gives = _tuple(dict.fromkeys(var[n] for n in part if last.get(var[n], c) > c))
        sources.append(_define(f"_plan{c}", ["_hook"] + needs[c], part, body[c * CHUNK:(c + 1) * CHUNK],
                               namespace, lines, f"{gives}, {_tuple(returned[p] for p in kept[c])}"))
        top.append(f"    {gives}, _k{c} = _plan{c}({', '.join(['_hook'] + needs[c])})")
        dead = [v for v in needs[c] if last[v] == c]
        if dead:  # free what no later chunk reads (the chunk has dropped its own reference)
            top.append(f"    del {', '.join(dead)}")
    flat = [p for ps in kept for p in ps]
    result = " + ".join(f"_k{c}" for c in range(len(parts)))
    if flat != sorted(flat):  # back to the caller's order
        namespace["_order"] = operator.itemgetter(*sorted(range(len(flat)), key=flat.__getitem__))
        result = f"_order({result})"
    top.append(f"    return {result}")
    sources.append("\n".join(top))
    exec(compile(sources[-1], "<graphnn plan>", "exec"), namespace)
    return "\n\n".join(sources)


def _call(n, s, kernel, args, var, buffer_of, namespace) -> str:
    names = []
    for p, a in zip(kernel.args, args):
        if p in kernel.consts:
            namespace[f"k{s}_{p}"] = kernel.consts[p]
            names.append(f"k{s}_{p}")
        else:
            names.append(var[a])
    if kernel.expr is not None:
        return kernel.expr.format(*names)
    namespace[f"f{s}"] = kernel.fn
    if n in buffer_of:
        names.append(f"out=b{buffer_of[n]}")
    return f"f{s}({', '.join(names)})"
