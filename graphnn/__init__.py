"""graphnn: the networks of "Neural Networks from Scratch" as computational graphs.

>>> import graphnn as gn
>>> X = gn.Input("X")
>>> probs = gn.Softmax()(gn.Dense(2, 3)(X))
>>> values = gn.Graph([probs]).run({X: np.zeros((4, 2), np.float32)})

The package's layers, each importing only those before it: ``core`` (nodes,
the building context, the primitive table), ``autodiff`` (gradients),
``seeing`` (statistics, health, summaries, diagrams), ``runtime`` (plans,
compiler, hooks), ``graph`` (the Graph users run), ``nn`` (the book's
toolbox), ``testing`` (gradient checks) and ``cli``.
"""

from graphnn.autodiff.custom import custom_gradient
from graphnn.autodiff.grad import grad
from graphnn.core.building import reset_names, scope
from graphnn.core.errors import GraphError
from graphnn.core.nn_ops import abs_ as abs  # noqa: A004
from graphnn.core.nn_ops import dropout_mask, sign
from graphnn.core.node import Constant, Input, Node, Parameter
from graphnn.core.ops import (
    add,
    add_bias,
    clip,
    div,
    exp,
    log,
    matmul,
    maximum,
    mean,
    mul,
    neg,
    normalize,
    pick,
    square,
    stop_gradient,
    sub,
    tanh,
    transpose,
)
from graphnn.core.ops import max_ as max  # noqa: A004
from graphnn.core.ops import sum_ as sum  # noqa: A004
from graphnn.core.primitive import ZERO, Primitive, ShapeError, define_primitive
from graphnn.core.shapes import elementwise as elementwise_shape
from graphnn.core.shapes import same_shape
from graphnn.graph import Graph
from graphnn.nn import datasets
from graphnn.nn.layers import Dense, Dropout, Layer, Linear, ReLU, Sigmoid, Softmax
from graphnn.nn.losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    regularization_loss,
)
from graphnn.nn.metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from graphnn.nn.model import Model
from graphnn.nn.optimizers import SGD, Adagrad, Adam, Optimizer, RMSprop
from graphnn.nn.saving import register_layer
from graphnn.runtime.hooks import NumericsError, Trace
from graphnn.runtime.values import Values
from graphnn.seeing.health import Finding, Thresholds, diagnose, gradients
from graphnn.seeing.recorder import Recorder
from graphnn.seeing.stats import stats
from graphnn.seeing.summary import summary
from graphnn.testing import check_grad, compare_custom

__all__ = [
    "Accuracy", "Adagrad", "Adam", "BinaryAccuracy", "BinaryCrossEntropy", "CategoricalAccuracy",
    "CategoricalCrossEntropy", "Constant", "Dense", "Dropout", "Explorer", "Finding", "Graph", "GraphError",
    "Input", "Layer", "Linear", "Loss", "MeanAbsoluteError", "MeanSquaredError", "Model", "Node",
    "NumericsError", "Optimizer", "Parameter", "Primitive", "RMSprop", "ReLU", "Recorder", "RegressionAccuracy",
    "SGD", "ShapeError", "Sigmoid", "Softmax", "Thresholds", "Trace", "Values", "ZERO", "abs", "add",
    "add_bias", "check_grad", "clip", "compare_custom", "custom_gradient", "datasets", "define_primitive",
    "diagnose", "div", "dropout_mask", "elementwise_shape", "exp", "explore", "grad", "gradients", "log",
    "matmul", "max", "maximum", "mean", "mul", "neg", "normalize", "pick", "register_layer",
    "regularization_loss", "reset_names", "same_shape", "scope", "sign", "square", "stats", "stop_gradient",
    "sub", "sum", "summary", "tanh", "transpose",
]


def __getattr__(name: str):
    """Imported on first use: ``gn.onnx`` and ``gn.dask`` (optional extras), ``gn.explore`` and
    ``gn.Explorer`` (the drawing code is slow to import, and most programs draw nothing)."""
    import importlib

    if name in ("onnx", "dask"):
        return importlib.import_module(f"graphnn.interop.{name}")
    if name in ("explore", "Explorer"):
        return getattr(importlib.import_module("graphnn.seeing.explore"), name)
    raise AttributeError(f"module 'graphnn' has no attribute {name!r}")
