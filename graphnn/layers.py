"""The book's layers, each a composition of primitives inside a named scope.

No layer holds numpy code or a backward method of its own: calling a layer
builds primitive nodes, and :func:`graphnn.grad` differentiates them.
"""

from __future__ import annotations

import numpy as np

from graphnn import ops
from graphnn.core import GraphError, Node, Parameter, _used_names, as_node, scope, unique_name


class Layer:
    """Base class: names itself on first use (``dense1``, ``relu1`` ...)."""

    kind = "layer"

    def __init__(self, name: str | None = None):
        self.name = name
        self.named = False

    def __call__(self, *args) -> Node:
        if not self.named:
            self.name = _layer_name(self.kind, self.name)
            self.named = True
            for attr, param in self.parameters().items():
                param.name = unique_name(f"{self.name}/{attr}")
        with scope(self.name):
            return self.forward(*(as_node(a) for a in args))

    def forward(self, *inputs: Node) -> Node:
        raise NotImplementedError

    def parameters(self) -> dict[str, Node]:
        """This layer's parameter nodes by attribute name."""
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

    >>> dense1 = Dense(2, 3)
    >>> out = dense1(gn.Input("X"))      # nodes dense1/matmul, dense1/add_bias
    """

    kind = "dense"

    def __init__(self, n_inputs: int, n_neurons: int, name: str | None = None):
        super().__init__(name)
        self.n_inputs, self.n_neurons = int(n_inputs), int(n_neurons)
        self.weights = Parameter(0.01 * np.random.randn(self.n_inputs, self.n_neurons))
        self.biases = Parameter(np.zeros((1, self.n_neurons)))

    def parameters(self) -> dict[str, Node]:
        return {"weights": self.weights, "biases": self.biases}

    def forward(self, x: Node) -> Node:
        if x.shape is not None and (len(x.shape) != 2 or x.shape[1] not in (None, self.n_inputs)):
            raise GraphError(f"{self.name}: Dense({self.n_inputs}, {self.n_neurons}) expects inputs "
                             f"of shape (N, {self.n_inputs}), got {x.name} of shape "
                             f"{_shape(x.shape)}")
        return ops.add_bias(ops.matmul(x, self.weights), self.biases)


def _shape(shape) -> str:
    from graphnn.core import format_shape
    return format_shape(shape)


class ReLU(Layer):
    """``maximum(0, x)``: negative values become 0."""

    kind = "relu"

    def forward(self, x: Node) -> Node:
        return ops.maximum(0.0, x)


class Softmax(Layer):
    """``exp(x - max(x)) / sum``, row by row; the max is a stop-gradient.

    Subtracting the row maximum keeps ``exp`` from overflowing and does not
    change the result, so it carries no gradient.
    """

    kind = "softmax"

    def forward(self, x: Node) -> Node:
        shift = ops.stop_gradient(ops.max(x, axis=1, keepdims=True))
        return ops.normalize(ops.exp(ops.sub(x, shift)), axis=1)


class CategoricalCrossEntropy(Layer):
    """Mean of ``-log`` of the probability given to the correct class.

    ``loss_fn(probs, labels)``: ``probs (N, C)``; labels are class indices
    ``(N,)`` or one-hot ``(N, C)``. Probabilities are clipped to
    ``[1e-7, 1 - 1e-7]`` first, as the book does, so ``log`` never sees 0.
    """

    kind = "cce"

    def forward(self, probs: Node, labels: Node) -> Node:
        clipped = ops.clip(probs, 1e-7, 1 - 1e-7)
        if labels.shape is not None and len(labels.shape) == 2:
            confidences = ops.sum(ops.mul(clipped, labels), axis=1)
        else:
            confidences = ops.pick(clipped, labels)
        return ops.mean(ops.neg(ops.log(confidences)))
