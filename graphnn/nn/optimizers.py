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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphnn.core.errors import GraphError, check_number
from graphnn.core.node import Node, format_shape


class Optimizer:
    """Learning-rate decay ``lr / (1 + decay * iterations)``, iteration count, per-parameter state."""

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
        if self.decay:
            self.current_learning_rate = self.learning_rate * (1. / (1. + self.decay * self.iterations))

    def update_params(self, param: Node, grad: np.ndarray) -> None:
        """Update ``param.value`` in place from its gradient ``grad`` (same shape)."""
        raise NotImplementedError

    def post_update_params(self) -> None:
        self.iterations += 1

    def step(self, params: Sequence[Node], grads: Sequence[np.ndarray]) -> None:
        """One update of every parameter: ``pre_update``, ``update`` each, ``post_update``.

        ``params`` are parameter nodes, ``grads`` their gradient arrays, in
        the same order. Everything is checked before any parameter changes.
        """
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise GraphError(f"{type(self).__name__}.step: {len(params)} parameters but "
                             f"{len(grads)} gradients")
        for p, g in zip(params, grads):
            self._check_pair(p, g)
        self.pre_update_params()
        for p, g in zip(params, grads):
            self.update_params(p, g)
        self.post_update_params()

    # ------------------------------------------------------------ helpers

    def _check_pair(self, param: Node, grad) -> None:
        if not isinstance(param, Node) or param.kind != "parameter":
            raise GraphError(f"{type(self).__name__}.step: {param!r} is not a parameter node")
        shape = np.shape(grad)
        if shape != param.value.shape:
            raise GraphError(f"{type(self).__name__}.step: gradient of shape {format_shape(shape)} "
                             f"for {param.name} of shape {format_shape(param.value.shape)}")

    def _state(self, param: Node, grad: np.ndarray) -> dict[str, np.ndarray]:
        """This parameter's state arrays, zeros at first, plus ``tmp`` scratch buffers."""
        dtype = np.result_type(param.value, grad)
        state = self.state.get(param)
        if state is None or state["tmp"].dtype != dtype or state["tmp"].shape != param.value.shape:
            old = state or {}
            state = {s: (old[s].astype(dtype) if s in old else np.zeros(param.value.shape, dtype))
                     for s in self.slots}
            state["tmp"] = np.empty(param.value.shape, dtype)
            state["tmp2"] = np.empty(param.value.shape, dtype)
            self.state[param] = state
        return state

    def load_state(self, param: Node, slots: dict[str, np.ndarray]) -> None:
        """Set ``param``'s state arrays (``{"momentums": ..., "cache": ...}``), as saved."""
        dtype = np.result_type(*slots.values())
        self.state[param] = {**{s: np.array(slots[s], dtype=dtype) for s in self.slots},
                             "tmp": np.empty(param.value.shape, dtype),
                             "tmp2": np.empty(param.value.shape, dtype)}

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

    def update_params(self, param: Node, grad: np.ndarray) -> None:
        s = self._state(param, grad)
        lr, tmp = self.current_learning_rate, s["tmp"]
        if self.momentum:
            m = s["momentums"]
            np.multiply(m, self.momentum, out=m)            # momentum * m
            np.multiply(grad, lr, out=tmp)                  # lr * g
            np.subtract(m, tmp, out=m)                      # the update, kept as the momentum
            np.add(param.value, m, out=param.value)
        else:
            np.multiply(grad, -lr, out=tmp)                 # -lr * g
            np.add(param.value, tmp, out=param.value)

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

    def update_params(self, param: Node, grad: np.ndarray) -> None:
        s = self._state(param, grad)
        cache, tmp, tmp2 = s["cache"], s["tmp"], s["tmp2"]
        np.square(grad, out=tmp)
        np.add(cache, tmp, out=cache)
        _scaled_step(param, grad, cache, self.current_learning_rate, self.epsilon, tmp, tmp2)

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

    def update_params(self, param: Node, grad: np.ndarray) -> None:
        s = self._state(param, grad)
        cache, tmp, tmp2 = s["cache"], s["tmp"], s["tmp2"]
        np.multiply(cache, self.rho, out=cache)             # rho * cache
        np.square(grad, out=tmp)
        np.multiply(tmp, 1 - self.rho, out=tmp)             # (1 - rho) * g ** 2
        np.add(cache, tmp, out=cache)
        _scaled_step(param, grad, cache, self.current_learning_rate, self.epsilon, tmp, tmp2)

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

    def update_params(self, param: Node, grad: np.ndarray) -> None:
        s = self._state(param, grad)
        m, c, tmp, tmp2 = s["momentums"], s["cache"], s["tmp"], s["tmp2"]
        b1, b2, t = self.beta_1, self.beta_2, self.iterations + 1
        np.multiply(m, b1, out=m)                           # beta_1 * m
        np.multiply(grad, 1 - b1, out=tmp)                  # (1 - beta_1) * g
        np.add(m, tmp, out=m)
        np.divide(m, 1 - b1 ** t, out=tmp2)                 # corrected momentum
        np.multiply(c, b2, out=c)                           # beta_2 * c
        np.square(grad, out=tmp)
        np.multiply(tmp, 1 - b2, out=tmp)                   # (1 - beta_2) * g ** 2
        np.add(c, tmp, out=c)
        np.divide(c, 1 - b2 ** t, out=tmp)                  # corrected cache
        np.sqrt(tmp, out=tmp)
        np.add(tmp, self.epsilon, out=tmp)
        np.multiply(tmp2, -self.current_learning_rate, out=tmp2)
        np.divide(tmp2, tmp, out=tmp2)
        np.add(param.value, tmp2, out=param.value)

    def config(self) -> dict:
        return {**super().config(), "epsilon": self.epsilon, "beta_1": self.beta_1, "beta_2": self.beta_2}


def _scaled_step(param: Node, grad, cache, lr, epsilon, tmp, tmp2) -> None:
    """``w += -lr * g / (sqrt(cache) + epsilon)`` (Adagrad and RMSprop)."""
    np.sqrt(cache, out=tmp)
    np.add(tmp, epsilon, out=tmp)
    np.multiply(grad, -lr, out=tmp2)
    np.divide(tmp2, tmp, out=tmp2)
    np.add(param.value, tmp2, out=param.value)


OPTIMIZERS = {cls.type_name: cls for cls in (SGD, Adagrad, RMSprop, Adam)}
