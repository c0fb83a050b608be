"""graphnn: the networks of "Neural Networks from Scratch" as computational graphs.

>>> import graphnn as gn
>>> X = gn.Input("X")
>>> probs = gn.Softmax()(gn.Dense(2, 3)(X))
>>> values = gn.Graph([probs]).run({X: np.zeros((4, 2), np.float32)})
"""

from graphnn.autodiff import check_grad, grad
from graphnn.core import Constant, GraphError, Input, Node, Parameter, reset_names, scope
from graphnn.graph import Graph, Values
from graphnn.layers import CategoricalCrossEntropy, Dense, Layer, ReLU, Softmax
from graphnn.ops import (
    PRIMITIVES, add, add_bias, clip, div, exp, log, matmul, max, maximum, mean, mul, neg,
    normalize, pick, stop_gradient, sub, sum, transpose,
)

__all__ = [
    "CategoricalCrossEntropy", "Constant", "Dense", "Graph", "GraphError", "Input", "Layer", "Node",
    "PRIMITIVES", "Parameter", "ReLU", "Softmax", "Values", "add", "add_bias", "check_grad", "clip",
    "div", "exp", "grad", "log", "matmul", "max", "maximum", "mean", "mul", "neg", "normalize",
    "pick", "reset_names", "scope", "stop_gradient", "sub", "sum", "transpose",
]
