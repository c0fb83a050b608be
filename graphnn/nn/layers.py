"""The book's layers, each a composition of primitives inside a named scope.

No layer holds numpy code or a backward method of its own: calling a layer
builds primitive nodes, and :func:`graphnn.grad` differentiates them.
"""

from __future__ import annotations

import numpy as np

from graphnn.autodiff.custom import declare
from graphnn.core import nn_ops, ops
from graphnn.core.building import context, scope, unique_name
from graphnn.core.errors import GraphError, check_count, check_number
from graphnn.core.node import Node, Parameter, as_node, format_shape


class Layer:
    """Base class: names itself on first use (``dense1``, ``relu1`` ...)."""

    type_name = "layer"

    def __init__(self, name: str | None = None):
        if name is not None and (not isinstance(name, str) or not name or "/" in name or len(name) > 200):
            raise GraphError(f"{type(self).__name__}: name must be a non-empty string without '/', got {name!r}")
        self.name = name
        self.named = False

    def __call__(self, *args, training: bool = True) -> Node:
        """Build this layer's nodes on ``args``.

        ``training=False`` builds the inference version; only :class:`Dropout`
        builds anything different (nothing: it passes its input through).
        """
        _check_training(training)
        self.name_once()
        with scope(self.name):
            return self.forward(*(as_node(a) for a in args))

    def name_once(self) -> str:
        """Pick this layer's name (and its parameters') if not done yet; return it."""
        if not self.named:
            self.name = unique_name(self.name) if self.name is not None else context().layer_name(self.type_name)
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

    type_name = "dense"

    def __init__(self, n_inputs: int, n_neurons: int, name: str | None = None, *,
                 weight_regularizer_l1: float = 0., weight_regularizer_l2: float = 0.,
                 bias_regularizer_l1: float = 0., bias_regularizer_l2: float = 0.,
                 weight_scale: float = 0.01):
        super().__init__(name)
        where = f"Dense({n_inputs!r}, {n_neurons!r})"
        self.n_inputs = check_count(n_inputs, f"{where}: n_inputs", 1)
        self.n_neurons = check_count(n_neurons, f"{where}: n_neurons", 1)
        self.weight_regularizer_l1 = check_number(weight_regularizer_l1, f"{where}: weight_regularizer_l1", 0)
        self.weight_regularizer_l2 = check_number(weight_regularizer_l2, f"{where}: weight_regularizer_l2", 0)
        self.bias_regularizer_l1 = check_number(bias_regularizer_l1, f"{where}: bias_regularizer_l1", 0)
        self.bias_regularizer_l2 = check_number(bias_regularizer_l2, f"{where}: bias_regularizer_l2", 0)
        self.weight_scale = check_number(weight_scale, f"{where}: weight_scale", 0, low_open=True)
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
                        terms.append(ops.mul(l1, ops.sum_(nn_ops.abs_(param, at_zero=1.0))))
                    if l2 > 0:
                        terms.append(ops.mul(l2, ops.sum_(ops.square(param))))
                if terms:
                    self._penalty = ops.add_all(terms)
        return self._penalty

    def config(self) -> dict:
        return {"n_inputs": self.n_inputs, "n_neurons": self.n_neurons, "weight_scale": self.weight_scale,
                "weight_regularizer_l1": self.weight_regularizer_l1,
                "weight_regularizer_l2": self.weight_regularizer_l2,
                "bias_regularizer_l1": self.bias_regularizer_l1,
                "bias_regularizer_l2": self.bias_regularizer_l2}


class ReLU(Layer):
    """``maximum(0, x)``: negative values become 0."""

    type_name = "relu"

    def forward(self, x: Node) -> Node:
        return ops.maximum(0.0, x)


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``: outputs in (0, 1), for binary logistic regression.

    Its predictions are ``outputs > 0.5`` as 0/1. Its gradient is declared as
    the book's ``dvalues * (1 - output) * output`` (a custom gradient named
    ``sigmoid``; ``grad(..., rewrite=False)`` differentiates the primitives).
    """

    type_name = "sigmoid"

    def forward(self, x: Node) -> Node:
        y = ops.div(1.0, ops.add(1.0, ops.exp(ops.neg(x))))
        declare(y, (x,), lambda g: ops.mul(ops.mul(g, ops.sub(1.0, y)), y), "sigmoid", book=True)
        return y

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        return (outputs > 0.5) * 1


class Linear(Layer):
    """The identity, the output activation for regression: builds no node."""

    type_name = "linear"

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

    The mask is cast to ``x``'s dtype, so a float32 network stays float32.
    The book's mask is float64 (``binomial(...) / rate``), which makes its
    network compute in float64 from the dropout on: ``mask_dtype="float64"``
    does the same, to reproduce the book's numbers (``examples/ch15_dropout.py``).

    >>> h = Dropout(0.1)(relu_out)                   # training graph
    >>> h_eval = dropout(relu_eval, training=False)  # inference: h_eval is relu_eval
    >>> Dropout(0.1, mask_dtype="float64")           # the book's float64 mask
    """

    type_name = "dropout"

    def __init__(self, rate: float, name: str | None = None, *, mask_dtype: str | None = None):
        super().__init__(name)
        self.rate = check_number(rate, "Dropout: rate (the fraction of values dropped)", 0, 1)
        if mask_dtype is not None:
            try:
                dtype = np.dtype(mask_dtype)
            except TypeError:
                dtype = None
            if dtype is None or dtype.kind != "f":
                raise GraphError(f"Dropout: mask_dtype must be a float dtype such as 'float64', got {mask_dtype!r}")
            mask_dtype = dtype.name
        self.mask_dtype = mask_dtype

    def __call__(self, x, training: bool = True) -> Node:
        if not _check_training(training):
            self.name_once()
            return as_node(x)
        return super().__call__(x)

    def forward(self, x: Node) -> Node:
        return ops.mul(x, nn_ops.dropout_mask(x, self.rate, dtype=self.mask_dtype))

    def config(self) -> dict:
        return {"rate": self.rate} if self.mask_dtype is None else {"rate": self.rate, "mask_dtype": self.mask_dtype}


class Softmax(Layer):
    """``exp(x - max(x)) / sum``, row by row; the max is a stop-gradient.

    Subtracting the row maximum keeps ``exp`` from overflowing and does not
    change the result, so it carries no gradient.
    """

    type_name = "softmax"

    def forward(self, x: Node) -> Node:
        shift = ops.stop_gradient(ops.max_(x, axis=1, keepdims=True))
        return ops.normalize(ops.exp(ops.sub(x, shift)), axis=1)

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(outputs).argmax(axis=1)  # np.argmax's dispatch costs as much as the work



def _check_training(training) -> bool:
    if not isinstance(training, bool):
        raise GraphError(f"a layer's training= must be True or False, got {training!r}")
    return training
