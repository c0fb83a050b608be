"""The book's optimizers: its formulas bit for bit, in steps that are all or nothing.

Each follows the book's formulas and order of operations exactly, so results
match the book bit for bit: an elementwise operation rounds the same whether
it writes a new array or a scratch buffer, and Python numbers (learning rate,
betas) are cast to the arrays' dtype as in the book's expressions.

``step(params, grads)`` is the book's ``pre_update_params``, one
``update_params`` per parameter, then ``post_update_params``:

>>> grads = gn.grad(loss, params)
>>> step = gn.Graph([loss, *grads])
>>> optimizer = gn.Adam(learning_rate=0.05, decay=5e-7)
>>> for epoch in range(10001):
...     values = step.run({inputs: X, targets: y})
...     optimizer.step(params, [values[g] for g in grads])

Optimizer state (momentums, caches) is kept per parameter node, allocated on
its first update with numpy's result dtype of parameter and gradient (a
float64 gradient for a float32 parameter gives float64 state, as the book's
expressions would).

How a step runs (:mod:`graphnn.nn.chunks`). It checks every pair (a
parameter node given once, holding a writable contiguous float array; a real
float gradient of its shape). A small network's values, gradients and state
are copied side by side into scratch (one chunk of at most 256 KiB per
buffer), where each formula is one numpy call for all its parameters; the
results are checked (a NaN or Inf gradient, an overflow: an error naming the
parameter) and only then copied back, which Ctrl-C cannot stop half way. A
larger network is first shown unable to overflow, by a bound from the largest
magnitude among the arrays the step reads (or, when the bound is too loose,
by computing the step in scratch), then updated in place, chunk by chunk so
that each stays in the processor's cache, with Ctrl-C held back until the end.
So a bad step changes nothing, and the parameters, the state, ``iterations``
and ``current_learning_rate`` move together or not at all.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import numpy as np

from graphnn.core.errors import GraphError, check_number
from graphnn.core.node import Node, format_shape
from graphnn.nn.chunks import finish, groups_of, interrupts_deferred


class Optimizer:
    """Learning-rate decay ``lr / (1 + decay * iterations)``, iteration count, per-parameter state.

    Subclasses name their state arrays in ``slots`` and give the book's
    formulas in ``_compute``, on scratch buffers that it updates in place.
    """

    type_name = "optimizer"
    slots: tuple[str, ...] = ()  # names of the per-parameter state arrays

    def __init__(self, learning_rate: float, decay: float):
        name = type(self).__name__
        self.learning_rate = check_number(learning_rate, f"{name}: learning_rate", 0)
        self.decay = check_number(decay, f"{name}: decay", 0)
        self.current_learning_rate = self.learning_rate
        self.iterations = 0
        self.state: dict[Node, dict[str, np.ndarray]] = {}
        self._layouts: dict[tuple, list] = {}  # per parameters, shapes and dtypes: scratch
        self._state_bounds: dict = {}  # group -> squared norm bound of the state its last step wrote

    # ------------------------------------------------------------ the book's three steps

    def pre_update_params(self) -> None:
        self.current_learning_rate = self._next_rate()

    def update_params(self, param: Node, grad: np.ndarray) -> None:
        """Update ``param.value`` in place from its gradient ``grad`` (same shape), checked and atomic."""
        self._apply(self._checked([param], [grad]), self.current_learning_rate, self.iterations)

    def post_update_params(self) -> None:
        self.iterations += 1

    def step(self, params: Sequence[Node], grads: Sequence[np.ndarray]) -> None:
        """One update of every parameter: ``pre_update``, ``update`` each, ``post_update``.

        ``params`` are parameter nodes, ``grads`` their gradient arrays, in
        the same order. Everything is checked (shapes, real float dtypes,
        finite gradients, writable parameter arrays, no parameter twice, no
        overflow) and every new value computed before any parameter or state
        changes.
        """
        self._apply(self._checked(params, grads), self._next_rate(), self.iterations + 1)

    # ------------------------------------------------------------ checking, computing, committing

    def _next_rate(self) -> float:
        if self.decay:
            return self.learning_rate * (1. / (1. + self.decay * self.iterations))
        return self.current_learning_rate

    def _checked(self, params, grads) -> list[tuple[Node, np.ndarray]]:
        """``(parameter, gradient array)`` pairs, once every structural check has passed."""
        name = f"{type(self).__name__}.step"
        try:
            params, grads = list(params), list(grads)
        except TypeError:
            raise GraphError(f"{name}: params and grads must be lists (of parameter nodes and of "
                             f"gradient arrays)") from None
        if len(params) != len(grads):
            raise GraphError(f"{name}: {len(params)} parameters but {len(grads)} gradients")
        seen, pairs = set(), []
        for i, (param, grad) in enumerate(zip(params, grads)):
            if not isinstance(param, Node) or param.kind != "parameter":
                raise GraphError(f"{name}: {param!r} (position {i}) is not a parameter node")
            if param in seen:
                raise GraphError(f"{name}: {param.name} is given twice")
            seen.add(param)
            value = param.value
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise GraphError(f"{name}: {param.name} must hold a float array, got "
                                 f"{getattr(value, 'dtype', type(value).__name__)}")
            if not value.flags.writeable or not value.flags.c_contiguous:
                raise GraphError(f"{name}: {param.name}'s array is "
                                 f"{'read-only' if not value.flags.writeable else 'not contiguous'}; "
                                 f"it is updated in place")
            try:
                grad = np.asarray(grad)
            except (TypeError, ValueError):
                raise GraphError(f"{name}: the gradient for {param.name} is not an array of numbers") from None
            if grad.dtype.kind != "f":
                raise GraphError(f"{name}: the gradient for {param.name} must hold real floats, "
                                 f"got {grad.dtype}")
            if grad.shape != value.shape:
                raise GraphError(f"{name}: gradient of shape {format_shape(grad.shape)} "
                                 f"for {param.name} of shape {format_shape(value.shape)}")
            pairs.append((param, grad))
        return pairs

    def _apply(self, pairs, rate: float, iterations: int) -> None:
        """Check the step (small groups computed in scratch, large ones bounded or computed), then
        write it and count it."""
        key = tuple((param, grad.shape, param.value.dtype, grad.dtype) for param, grad in pairs)
        groups = self._layouts.get(key)
        if groups is None:
            if len(self._layouts) >= 16:
                self._layouts.clear()
            groups = self._layouts[key] = groups_of(pairs, self.slots)
        states, new, first = [None] * len(pairs), {}, self.slots[0]
        for group in groups:  # the state's dtype follows parameter and gradient
            for i in group.indices:
                param, grad = pairs[i]
                state = self.state.get(param)
                if state is None or state[first].shape != grad.shape:
                    state = new[param] = {s: np.zeros(grad.shape, group.dtype) for s in self.slots}
                elif state[first].dtype != group.dtype:
                    state = new[param] = {s: a.astype(group.dtype) for s, a in state.items()}
                states[i] = state
        sources = [[param.value, *(state[s] for s in self.slots), grad] for (param, grad), state in zip(pairs, states)]
        params, t = [param for param, _ in pairs], self.iterations + 1
        with np.errstate(all="ignore"):  # an overflow is found in the results, and named
            several = [group for group in groups if len(group.chunks) > 1]
            if several:  # updated chunk by chunk: no chunk may change a gradient a later one reads
                written = [a for source in sources for a in source[:-1]]
                owned = all(a.base is None for a in written)
                for source in sources:
                    g = source[-1]
                    if g.base is None and owned:  # arrays that own their memory share it only by being one
                        shared = any(g is a for a in written)
                    else:
                        shared = any(np.may_share_memory(g, a) for a in written)
                    if shared:
                        source[-1] = g.copy()
            proven = several and self._cannot_overflow(sources, several, rate, t)
            for group in groups:  # a single chunk is computed once; several are computed to check
                if len(group.chunks) == 1 or not proven:  # them first, unless nothing can overflow
                    for chunk in group.chunks:
                        group.compute(self, chunk, sources, rate, t, params)
            jobs = [(group.commit, (group.chunks[0], sources)) for group in groups if len(group.chunks) == 1]
            bounds = dict.fromkeys(several, 0.0)
            jobs.append((self._count, (new, rate, iterations, bounds)))
            with interrupts_deferred() if several else contextlib.nullcontext():
                for group in several:  # checked: in place, as the same computation cannot fail now
                    for chunk in group.chunks:
                        bounds[group] = max(bounds[group], group.update_in_place(self, chunk, sources, rate, t))
                finish(jobs)

    def _cannot_overflow(self, sources, groups, rate: float, t: int) -> bool:
        """Whether every value of ``groups`` is finite and none this step computes can come near the
        largest number of its dtype: ``_bound`` of the largest magnitude among the arrays it reads
        (for the state, the one the last step measured when it wrote that state in place)."""
        largest = 1.0
        for group in groups:
            known = self._state_bounds.get(group)
            largest = max(largest, known or 0.0)
            for i in group.indices:
                for a in sources[i] if known is None else (sources[i][0], sources[i][-1]):
                    flat = a.reshape(-1)
                    squares = float(flat.dot(flat))
                    if not math.isfinite(squares):  # a NaN or Inf (or a sum too large): checked in scratch
                        return False
                    largest = max(largest, squares)
        limit = min(np.finfo(d).max for group in groups for d in (group.dtype, group.gdtype)) / 16
        return self._bound(math.sqrt(largest), rate, t) < limit

    def _bound(self, b: float, lr: float, t: int) -> float:
        """A bound on the magnitude of every value ``_compute`` makes when no input exceeds ``b >= 1``."""
        raise NotImplementedError

    def _count(self, states: dict, rate: float, iterations: int, bounds: dict) -> None:
        self.state.update(states)
        self.current_learning_rate, self.iterations = rate, iterations
        self._state_bounds = bounds  # only for the state this step wrote in place

    def _compute(self, old: list, new: list, g, lr: float, t: int, tmp, tmp2) -> None:
        """The book's update on a chunk: from ``old`` (values, then the state arrays in ``slots``'
        order) and the gradient ``g`` into ``new`` (the same; it may be ``old`` itself)."""
        raise NotImplementedError

    def load_state(self, param: Node, slots: dict[str, np.ndarray]) -> None:
        """Set ``param``'s state arrays (``{"momentums": ..., "cache": ...}``), as saved: finite, of its
        shape, caches of squares not negative."""
        dtype = np.result_type(*slots.values())
        state = {s: np.array(slots[s], dtype=dtype, order="C") for s in self.slots}
        for s, a in state.items():
            if a.shape != param.value.shape or not np.isfinite(a).all() or (s == "cache" and (a < 0).any()):
                raise GraphError(f"{type(self).__name__}.load_state: {param.name}'s {s} must be finite, of shape "
                                 f"{format_shape(param.value.shape)}{', not negative' if s == 'cache' else ''}")
        self.state[param], self._state_bounds = state, {}  # the next step measures the state again

    def config(self) -> dict:
        """Hyperparameters, as saved by :mod:`graphnn.saving`."""
        return {"learning_rate": self.learning_rate, "decay": self.decay}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum.

    Without momentum ``w += -lr * g``; with it
    ``m = momentum * m - lr * g; w += m``.

    >>> optimizer = gn.SGD(learning_rate=1.0, decay=1e-3, momentum=0.9)
    """

    type_name = "sgd"
    slots = ("momentums",)

    def __init__(self, learning_rate: float = 1., decay: float = 0., momentum: float = 0.):
        super().__init__(learning_rate, decay)
        self.momentum = check_number(momentum, "SGD: momentum", 0, 1)

    def _compute(self, old, new, g, lr, t, tmp, tmp2) -> None:
        (w, m), (new_w, new_m) = old, new
        if self.momentum:
            np.multiply(m, self.momentum, out=new_m)        # momentum * m
            np.multiply(g, lr, out=tmp)                     # lr * g
            np.subtract(new_m, tmp, out=new_m)              # the update, kept as the momentum
            np.add(w, new_m, out=new_w)
        else:
            if new_m is not m:
                np.copyto(new_m, m)                         # unused, kept as it is
            np.multiply(g, -lr, out=tmp)                    # -lr * g
            np.add(w, tmp, out=new_w)

    def _bound(self, b, lr, t) -> float:
        return (1 + self.momentum + lr) * b

    def config(self) -> dict:
        return {**super().config(), "momentum": self.momentum}


class Adagrad(Optimizer):
    """``cache += g ** 2; w += -lr * g / (sqrt(cache) + epsilon)``.

    >>> optimizer = gn.Adagrad(decay=1e-4)
    """

    type_name = "adagrad"
    slots = ("cache",)

    def __init__(self, learning_rate: float = 1., decay: float = 0., epsilon: float = 1e-7):
        super().__init__(learning_rate, decay)
        self.epsilon = check_number(epsilon, "Adagrad: epsilon", 0, low_open=True)

    def _compute(self, old, new, g, lr, t, tmp, tmp2) -> None:
        (w, cache), (new_w, new_cache) = old, new
        np.square(g, out=tmp)
        np.add(cache, tmp, out=new_cache)
        _scaled_step(w, g, new_cache, lr, self.epsilon, tmp, tmp2, new_w)

    def _bound(self, b, lr, t) -> float:
        return b + b * b + lr * b / self.epsilon

    def config(self) -> dict:
        return {**super().config(), "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """``cache = rho * cache + (1 - rho) * g ** 2; w += -lr * g / (sqrt(cache) + epsilon)``.

    >>> optimizer = gn.RMSprop(learning_rate=0.02, decay=1e-5, rho=0.999)
    """

    type_name = "rmsprop"
    slots = ("cache",)

    def __init__(self, learning_rate: float = 0.001, decay: float = 0., epsilon: float = 1e-7,
                 rho: float = 0.9):
        super().__init__(learning_rate, decay)
        self.epsilon = check_number(epsilon, "RMSprop: epsilon", 0, low_open=True)
        self.rho = check_number(rho, "RMSprop: rho", 0, 1)

    def _compute(self, old, new, g, lr, t, tmp, tmp2) -> None:
        (w, cache), (new_w, new_cache) = old, new
        np.multiply(cache, self.rho, out=new_cache)         # rho * cache
        np.square(g, out=tmp)
        np.multiply(tmp, 1 - self.rho, out=tmp)             # (1 - rho) * g ** 2
        np.add(new_cache, tmp, out=new_cache)
        _scaled_step(w, g, new_cache, lr, self.epsilon, tmp, tmp2, new_w)

    _bound = Adagrad._bound

    def config(self) -> dict:
        return {**super().config(), "epsilon": self.epsilon, "rho": self.rho}


class Adam(Optimizer):
    """Momentum and RMSprop with bias correction, in the book's order::

        m = beta_1 * m + (1 - beta_1) * g
        c = beta_2 * c + (1 - beta_2) * g ** 2
        w += -lr * (m / (1 - beta_1 ** t)) / (sqrt(c / (1 - beta_2 ** t)) + epsilon)

    with ``t = iterations + 1``.

    >>> optimizer = gn.Adam(learning_rate=0.05, decay=5e-7)
    """

    type_name = "adam"
    slots = ("momentums", "cache")

    def __init__(self, learning_rate: float = 0.001, decay: float = 0., epsilon: float = 1e-7,
                 beta_1: float = 0.9, beta_2: float = 0.999):
        super().__init__(learning_rate, decay)
        self.epsilon = check_number(epsilon, "Adam: epsilon", 0, low_open=True)
        self.beta_1 = check_number(beta_1, "Adam: beta_1", 0, 1)
        self.beta_2 = check_number(beta_2, "Adam: beta_2", 0, 1)

    def _compute(self, old, new, g, lr, t, tmp, tmp2) -> None:
        (w, old_m, old_c), (new_w, m, c) = old, new
        b1, b2 = self.beta_1, self.beta_2
        np.multiply(old_m, b1, out=m)                       # beta_1 * m
        np.multiply(g, 1 - b1, out=tmp)                     # (1 - beta_1) * g
        np.add(m, tmp, out=m)
        np.divide(m, 1 - b1 ** t, out=tmp2)                 # corrected momentum
        np.multiply(old_c, b2, out=c)                       # beta_2 * c
        np.square(g, out=tmp)
        np.multiply(tmp, 1 - b2, out=tmp)                   # (1 - beta_2) * g ** 2
        np.add(c, tmp, out=c)
        np.divide(c, 1 - b2 ** t, out=tmp)                  # corrected cache
        np.sqrt(tmp, out=tmp)
        np.add(tmp, self.epsilon, out=tmp)
        np.multiply(tmp2, -lr, out=tmp2)
        np.divide(tmp2, tmp, out=tmp2)
        np.add(w, tmp2, out=new_w)

    def _bound(self, b, lr, t) -> float:
        return b + (b + b * b) / (1 - self.beta_2 ** t) + b / (1 - self.beta_1 ** t) * (1 + lr / self.epsilon)

    def config(self) -> dict:
        return {**super().config(), "epsilon": self.epsilon, "beta_1": self.beta_1, "beta_2": self.beta_2}


def _scaled_step(w, g, cache, lr, epsilon, tmp, tmp2, new_w) -> None:
    """``new_w = w + -lr * g / (sqrt(cache) + epsilon)`` (Adagrad and RMSprop)."""
    np.sqrt(cache, out=tmp)
    np.add(tmp, epsilon, out=tmp)
    np.multiply(g, -lr, out=tmp2)
    np.divide(tmp2, tmp, out=tmp2)
    np.add(w, tmp2, out=new_w)


OPTIMIZERS = {cls.type_name: cls for cls in (SGD, Adagrad, RMSprop, Adam)}
