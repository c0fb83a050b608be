"""The book's layers, each a composition of primitives inside a named scope.

No layer holds numpy code or a backward method of its own: calling a layer
builds primitive nodes, and :func:`graphnn.grad` differentiates them.
"""

from __future__ import annotations

import numpy as np

from graphnn import ops
from graphnn.core import GraphError, Node, Parameter, _used_names, as_node, format_shape, scope, unique_name


class Layer:
    """Base class: names itself on first use (``dense1``, ``relu1`` ...)."""

    kind = "layer"

    def __init__(self, name: str | None = None):
        self.name = name
        self.named = False

    def __call__(self, *args, training: bool = True) -> Node:
        """Build this layer's nodes on ``args``.

        ``training=False`` builds the inference version; only :class:`Dropout`
        builds anything different (nothing: it passes its input through).
        """
        self.name_once()
        with scope(self.name):
            return self.forward(*(as_node(a) for a in args))

    def name_once(self) -> str:
        """Pick this layer's name (and its parameters') if not done yet; return it."""
        if not self.named:
            self.name = _layer_name(self.kind, self.name)
            self.named = True
            for attr, param in self.parameters().items():
                param.name = unique_name(f"{self.name}/{attr}")
        return self.name

    def forward(self, *inputs: Node) -> Node:
        raise NotImplementedError

    def parameters(self) -> dict[str, Node]:
        """This layer's parameter nodes by attribute name."""
        return {}

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        """What the outputs predict when this layer is last (the book's ``predictions``)."""
        return outputs

    def config(self) -> dict:
        """Constructor arguments, as saved by :mod:`graphnn.saving`."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _layer_name(kind: str, name: str | None) -> str:
    if name is not None:
        return unique_name(name)
    key = f"layer:{kind}"
    while True:
        count = _used_names.get(key, 0) + 1
        _used_names[key] = count
        candidate = f"{kind}{count}"
        if candidate not in _used_names:
            return unique_name(candidate)


class Dense(Layer):
    """Fully connected layer: ``inputs (N, n_inputs) · weights + biases -> (N, n_neurons)``.

    Weights are drawn at construction exactly as the book does,
    ``0.01 * np.random.randn(n_inputs, n_neurons)``, biases are
    ``np.zeros((1, n_neurons))``; so after ``nnfs.init()`` the same
    construction order gives the book's numbers.

    The book's L1/L2 regularizers (``weight_regularizer_l1`` ...) add a
    penalty that :meth:`penalty` builds as its own node, reported apart from
    the data loss (:func:`graphnn.regularization_loss` sums the layers').
    ``weight_scale`` is the 0.01 above (the book's chapter 17 tries 0.1).

    >>> dense1 = Dense(2, 3)
    >>> out = dense1(gn.Input("X"))      # nodes dense1/matmul, dense1/add_bias
    >>> Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4)
    """

    kind = "dense"

    def __init__(self, n_inputs: int, n_neurons: int, name: str | None = None, *,
                 weight_regularizer_l1: float = 0., weight_regularizer_l2: float = 0.,
                 bias_regularizer_l1: float = 0., bias_regularizer_l2: float = 0.,
                 weight_scale: float = 0.01):
        super().__init__(name)
        self.n_inputs, self.n_neurons = int(n_inputs), int(n_neurons)
        if self.n_inputs < 1 or self.n_neurons < 1:
            raise GraphError(f"Dense({n_inputs}, {n_neurons}): sizes must be at least 1")
        where = f"Dense({n_inputs}, {n_neurons})"
        self.weight_regularizer_l1 = _non_negative(weight_regularizer_l1, f"{where}: weight_regularizer_l1")
        self.weight_regularizer_l2 = _non_negative(weight_regularizer_l2, f"{where}: weight_regularizer_l2")
        self.bias_regularizer_l1 = _non_negative(bias_regularizer_l1, f"{where}: bias_regularizer_l1")
        self.bias_regularizer_l2 = _non_negative(bias_regularizer_l2, f"{where}: bias_regularizer_l2")
        self.weight_scale = float(weight_scale)
        self.weights = Parameter(self.weight_scale * np.random.randn(self.n_inputs, self.n_neurons))
        self.biases = Parameter(np.zeros((1, self.n_neurons)))
        self._penalty: Node | None = None

    def parameters(self) -> dict[str, Node]:
        return {"weights": self.weights, "biases": self.biases}

    def forward(self, x: Node) -> Node:
        if x.shape is not None and (len(x.shape) != 2 or x.shape[1] not in (None, self.n_inputs)):
            raise GraphError(f"{self.name}: Dense({self.n_inputs}, {self.n_neurons}) expects inputs "
                             f"of shape (N, {self.n_inputs}), got {x.name} of shape "
                             f"{format_shape(x.shape)}")
        return ops.add_bias(ops.matmul(x, self.weights), self.biases)

    def penalty(self) -> Node | None:
        """The regularization loss of this layer, a scalar node (None without regularizers).

        ``l1 * sum(|w|) + l2 * sum(w * w)`` for weights then biases, in the
        book's order. The derivative of ``|w|`` at 0 is +1, as the book's
        ``sign = ones_like(w); sign[w < 0] = -1``. Built once and reused;
        build it after the layer's forward pass, so that :func:`graphnn.grad`
        adds data, L1 and L2 gradients in the book's order (bit for bit).
        """
        if self._penalty is None:
            terms = []
            with scope(self.name_once()):
                for param, l1, l2 in (
                        (self.weights, self.weight_regularizer_l1, self.weight_regularizer_l2),
                        (self.biases, self.bias_regularizer_l1, self.bias_regularizer_l2)):
                    if l1 > 0:
                        terms.append(ops.mul(l1, ops.sum(ops.abs(param, at_zero=1.0))))
                    if l2 > 0:
                        terms.append(ops.mul(l2, ops.sum(ops.square(param))))
                if terms:
                    total = terms[0]
                    for term in terms[1:]:
                        total = ops.add(total, term)
                    self._penalty = total
        return self._penalty

    def config(self) -> dict:
        return {"n_inputs": self.n_inputs, "n_neurons": self.n_neurons, "weight_scale": self.weight_scale,
                "weight_regularizer_l1": self.weight_regularizer_l1,
                "weight_regularizer_l2": self.weight_regularizer_l2,
                "bias_regularizer_l1": self.bias_regularizer_l1,
                "bias_regularizer_l2": self.bias_regularizer_l2}


def _non_negative(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number >= 0):
        raise GraphError(f"{what} must be a number >= 0, got {value!r}")
    return number


class ReLU(Layer):
    """``maximum(0, x)``: negative values become 0."""

    kind = "relu"

    def forward(self, x: Node) -> Node:
        return ops.maximum(0.0, x)


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``: outputs in (0, 1), for binary logistic regression.

    Its predictions are ``outputs > 0.5`` as 0/1.
    """

    kind = "sigmoid"

    def forward(self, x: Node) -> Node:
        return ops.div(1.0, ops.add(1.0, ops.exp(ops.neg(x))))

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        return (outputs > 0.5) * 1


class Linear(Layer):
    """The identity, the output activation for regression: builds no node."""

    kind = "linear"

    def forward(self, x: Node) -> Node:
        return x


class Dropout(Layer):
    """Zero a fraction ``rate`` of the values while training, scaling the rest by ``1 / (1 - rate)``.

    Training builds ``x * dropout_mask(x, rate)``; the mask is drawn anew on
    every run with ``np.random.binomial(1, 1 - rate, x.shape) / (1 - rate)``,
    as the book's Layer_Dropout does, and the gradient reuses the same run's
    mask. Dropout is inactive at inference: ``layer(x, training=False)``
    builds nothing and returns ``x``, so an inference graph is built by
    calling the layers again with ``training=False`` (the Model does this).

    >>> h = Dropout(0.1)(relu_out)                   # training graph
    >>> h_eval = dropout(relu_eval, training=False)  # inference: h_eval is relu_eval
    """

    kind = "dropout"

    def __init__(self, rate: float, name: str | None = None):
        super().__init__(name)
        if not (isinstance(rate, (int, float)) and 0 <= rate < 1):
            raise GraphError(f"Dropout: rate is the fraction of values dropped and must be in "
                             f"[0, 1), got {rate!r}")
        self.rate = float(rate)

    def __call__(self, x, training: bool = True) -> Node:
        if not training:
            self.name_once()
            return as_node(x)
        return super().__call__(x)

    def forward(self, x: Node) -> Node:
        return ops.mul(x, ops.dropout_mask(x, self.rate))

    def config(self) -> dict:
        return {"rate": self.rate}


class Softmax(Layer):
    """``exp(x - max(x)) / sum``, row by row; the max is a stop-gradient.

    Subtracting the row maximum keeps ``exp`` from overflowing and does not
    change the result, so it carries no gradient.
    """

    kind = "softmax"

    def forward(self, x: Node) -> Node:
        shift = ops.stop_gradient(ops.max(x, axis=1, keepdims=True))
        return ops.normalize(ops.exp(ops.sub(x, shift)), axis=1)

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        return np.argmax(outputs, axis=1)

