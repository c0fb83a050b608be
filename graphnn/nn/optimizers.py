"""The book's optimizers, updating parameter arrays in place.

Each follows the book's formulas and order of operations exactly, so results
match the book bit for bit, but works in buffers kept per parameter
(``np.multiply(..., out=...)``): an elementwise operation rounds the same
whether it writes a new array or an old one. Python numbers (learning rate,
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

A step is all or nothing: it checks every pair (a parameter node given once,
holding a writable contiguous float array; a real float gradient of its
shape, finite), computes every new value and state array into scratch
buffers kept per parameter (an overflow is an error, not an Inf), and only
then commits them. A bad gradient or Ctrl-C mid-step leaves the parameters,
the state, ``iterations`` and ``current_learning_rate`` as they were.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from graphnn.core.errors import GraphError, check_number
from graphnn.core.node import Node, format_shape


class Optimizer:
    """Learning-rate decay ``lr / (1 + decay * iterations)``, iteration count, per-parameter state.

    New values go to scratch first and are committed with plain copies
    (parameters) and buffer swaps (state), so a failed step changes nothing.
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

    # ------------------------------------------------------------ the book's three steps

    def pre_update_params(self) -> None:
        self.current_learning_rate = self._next_rate()

    def update_params(self, param: Node, grad: np.ndarray) -> None:
        """Update ``param.value`` in place from its gradient ``grad`` (same shape), checked and atomic."""
        pairs = self._checked([param], [grad])
        states = self._compute(pairs, self.current_learning_rate)
        self._commit(pairs, states, self.current_learning_rate, self.iterations)

    def post_update_params(self) -> None:
        self.iterations += 1

    def step(self, params: Sequence[Node], grads: Sequence[np.ndarray]) -> None:
        """One update of every parameter: ``pre_update``, ``update`` each, ``post_update``.

        ``params`` are parameter nodes, ``grads`` their gradient arrays, in
        the same order. Everything is checked (shapes, real float dtypes,
        finite gradients, writable parameter arrays, no parameter twice) and
        every new value computed before any parameter or state changes.
        """
        pairs = self._checked(params, grads)
        rate = self._next_rate()
        states = self._compute(pairs, rate)
        self._commit(pairs, states, rate, self.iterations + 1)

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

    def _compute(self, pairs, rate: float) -> list[dict[str, np.ndarray]]:
        """Each pair's state with the new values in scratch: ``next_<slot>`` and ``tmp`` (the parameter)."""
        states = [self._state(param, grad) for param, grad in pairs]
        t, param, grad = self.iterations + 1, None, None
        try:
            with np.errstate(over="raise", invalid="raise"):  # an overflow is an error, not an inf
                for (param, grad), s in zip(pairs, states):
                    if not _finite(grad):
                        raise FloatingPointError
                    self._update(param.value, grad, s, rate, t)
        except FloatingPointError as error:
            where = f"{type(self).__name__}.step: "
            if not np.isfinite(grad).all():
                raise GraphError(f"{where}the gradient for {param.name} holds {_nonfinite_text(grad)}; "
                                 f"nothing was updated") from None
            raise GraphError(f"{where}updating {param.name} overflowed ({error}); nothing was updated") from None
        return states

    def _update(self, w: np.ndarray, g: np.ndarray, s: dict, lr: float, t: int) -> None:
        """Write the new state into ``s["next_<slot>"]`` and the new ``w`` into ``s["tmp"]``; change nothing."""
        raise NotImplementedError

    def _commit(self, pairs, states, rate: float, iterations: int) -> None:
        for (param, _), s in zip(pairs, states):
            np.copyto(param.value, s["tmp"])
            for slot in self.slots:
                s[slot], s["next_" + slot] = s["next_" + slot], s[slot]
            self.state[param] = s
        self.current_learning_rate, self.iterations = rate, iterations

    def _state(self, param: Node, grad: np.ndarray) -> dict[str, np.ndarray]:
        """This parameter's state arrays (zeros at first) and scratch; a new dict is stored only on commit."""
        dtype = np.result_type(param.value, grad)
        state = self.state.get(param)
        if state is None or state["tmp"].dtype != dtype or state["tmp"].shape != param.value.shape:
            old = state or {}
            state = {s: (old[s].astype(dtype) if s in old else np.zeros(param.value.shape, dtype))
                     for s in self.slots}
            state.update(_scratch(self.slots, param.value.shape, dtype))
        return state

    def load_state(self, param: Node, slots: dict[str, np.ndarray]) -> None:
        """Set ``param``'s state arrays (``{"momentums": ..., "cache": ...}``), as saved."""
        dtype = np.result_type(*slots.values())
        self.state[param] = {**{s: np.array(slots[s], dtype=dtype, order="C") for s in self.slots},
                             **_scratch(self.slots, param.value.shape, dtype)}

    def config(self) -> dict:
        """Hyperparameters, as saved by :mod:`graphnn.saving`."""
        return {"learning_rate": self.learning_rate, "decay": self.decay}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _scratch(slots, shape, dtype) -> dict[str, np.ndarray]:
    """Buffers a step computes into: ``tmp``, ``tmp2`` and one ``next_<slot>`` per state array."""
    return {name: np.empty(shape, dtype) for name in ("tmp", "tmp2", *("next_" + s for s in slots))}


def _finite(a: np.ndarray) -> bool:
    """Whether ``a`` holds no NaN or Inf: its dot product with itself is finite, else a full check."""
    flat = a.ravel()
    try:
        if math.isfinite(flat.dot(flat)):
            return True
    except FloatingPointError:  # large finite values can overflow the sum of squares
        pass
    return bool(np.isfinite(a).all())


def _nonfinite_text(a: np.ndarray) -> str:
    nans, infs = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    first = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    return f"{nans} NaN and {infs} Inf of {a.size} values (the first at index {first})"


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

    def _update(self, w, g, s, lr, t) -> None:
        tmp = s["tmp"]
        if self.momentum:
            m = s["next_momentums"]
            np.multiply(s["momentums"], self.momentum, out=m)  # momentum * m
            np.multiply(g, lr, out=tmp)                     # lr * g
            np.subtract(m, tmp, out=m)                      # the update, kept as the momentum
            np.add(w, m, out=tmp)
        else:
            np.multiply(g, -lr, out=tmp)                    # -lr * g
            np.add(w, tmp, out=tmp)

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

    def _update(self, w, g, s, lr, t) -> None:
        cache, tmp = s["next_cache"], s["tmp"]
        np.square(g, out=tmp)
        np.add(s["cache"], tmp, out=cache)
        _scaled_step(w, g, cache, lr, self.epsilon, tmp, s["tmp2"])

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

    def _update(self, w, g, s, lr, t) -> None:
        cache, tmp = s["next_cache"], s["tmp"]
        np.multiply(s["cache"], self.rho, out=cache)        # rho * cache
        np.square(g, out=tmp)
        np.multiply(tmp, 1 - self.rho, out=tmp)             # (1 - rho) * g ** 2
        np.add(cache, tmp, out=cache)
        _scaled_step(w, g, cache, lr, self.epsilon, tmp, s["tmp2"])

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

    def _update(self, w, g, s, lr, t) -> None:
        m, c, tmp, tmp2 = s["next_momentums"], s["next_cache"], s["tmp"], s["tmp2"]
        b1, b2 = self.beta_1, self.beta_2
        np.multiply(s["momentums"], b1, out=m)              # beta_1 * m
        np.multiply(g, 1 - b1, out=tmp)                     # (1 - beta_1) * g
        np.add(m, tmp, out=m)
        np.divide(m, 1 - b1 ** t, out=tmp2)                 # corrected momentum
        np.multiply(s["cache"], b2, out=c)                  # beta_2 * c
        np.square(g, out=tmp)
        np.multiply(tmp, 1 - b2, out=tmp)                   # (1 - beta_2) * g ** 2
        np.add(c, tmp, out=c)
        np.divide(c, 1 - b2 ** t, out=tmp)                  # corrected cache
        np.sqrt(tmp, out=tmp)
        np.add(tmp, self.epsilon, out=tmp)
        np.multiply(tmp2, -lr, out=tmp2)
        np.divide(tmp2, tmp, out=tmp2)
        np.add(w, tmp2, out=tmp)

    def config(self) -> dict:
        return {**super().config(), "epsilon": self.epsilon, "beta_1": self.beta_1, "beta_2": self.beta_2}


def _scaled_step(w, g, cache, lr, epsilon, tmp, tmp2) -> None:
    """The new ``w + -lr * g / (sqrt(cache) + epsilon)`` into ``tmp`` (Adagrad and RMSprop)."""
    np.sqrt(cache, out=tmp)
    np.add(tmp, epsilon, out=tmp)
    np.multiply(g, -lr, out=tmp2)
    np.divide(tmp2, tmp, out=tmp2)
    np.add(w, tmp2, out=tmp)


OPTIMIZERS = {cls.type_name: cls for cls in (SGD, Adagrad, RMSprop, Adam)}
