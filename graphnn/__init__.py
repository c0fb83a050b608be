"""graphnn: the networks of "Neural Networks from Scratch" as computational graphs.

>>> import graphnn as gn
>>> X = gn.Input("X")
>>> probs = gn.Softmax()(gn.Dense(2, 3)(X))
>>> values = gn.Graph([probs]).run({X: np.zeros((4, 2), np.float32)})
"""

from graphnn.autodiff import check_grad, grad
from graphnn.core import Constant, GraphError, Input, Node, Parameter, reset_names, scope
from graphnn.graph import Graph, Values
from graphnn.inspection import (
    Finding,
    NumericsError,
    Thresholds,
    Trace,
    diagnose,
    gradients,
    stats,
    summary,
)
from graphnn.layers import Dense, Dropout, Layer, Linear, ReLU, Sigmoid, Softmax
from graphnn.ops import (
    PRIMITIVES,
    add,
    add_bias,
    clip,
    div,
    exp,
    log,
    matmul,
    max,
    maximum,
    mean,
    mul,
    neg,
    normalize,
    pick,
    stop_gradient,
    sub,
    sum,
    transpose,
)

__all__ = [
    "CategoricalCrossEntropy", "Constant", "Dense", "Finding", "Graph", "GraphError", "Input", "Layer",
    "Node", "NumericsError", "Thresholds", "Trace", "diagnose", "gradients", "stats", "summary",
    "PRIMITIVES", "Parameter", "ReLU", "Softmax", "Values", "add", "add_bias", "check_grad", "clip",
    "div", "exp", "grad", "log", "matmul", "max", "maximum", "mean", "mul", "neg", "normalize",
    "pick", "reset_names", "scope", "stop_gradient", "sub", "sum", "transpose",
]

# Training like the book (issue 4): losses, accuracy, optimizers, the Model.
from graphnn.accuracy import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from graphnn.losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    regularization_loss,
)
from graphnn.model import Model
from graphnn.ops import abs, dropout_mask, sign, softmax_cce_grad, square
from graphnn.optimizers import SGD, Adagrad, Adam, Optimizer, RMSprop

__all__ += [
    "Accuracy", "Adagrad", "Adam", "BinaryAccuracy", "BinaryCrossEntropy", "CategoricalAccuracy",
    "Dropout", "Linear", "Loss", "MeanAbsoluteError", "MeanSquaredError", "Model", "Optimizer",
    "RMSprop", "RegressionAccuracy", "SGD", "Sigmoid", "abs", "dropout_mask", "regularization_loss",
    "sign", "softmax_cce_grad", "square",
]
