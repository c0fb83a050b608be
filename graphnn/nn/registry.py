"""What can be saved and rebuilt: explicit registries of layers, losses, accuracies and optimizers.

Only these kinds are read from a file; ``register_layer`` adds a layer class of your own.
"""

from __future__ import annotations

from graphnn.core.errors import GraphError
from graphnn.nn.layers import Dense, Dropout, Layer, Linear, ReLU, Sigmoid, Softmax
from graphnn.nn.losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
)
from graphnn.nn.metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from graphnn.nn.optimizers import OPTIMIZERS  # noqa: F401 (a registry too)

# Explicit registries: only these kinds can be saved and rebuilt.
BUILT_IN = (Dense, ReLU, Softmax, Sigmoid, Linear, Dropout)
LAYERS: dict[str, type[Layer]] = {c.type_name: c for c in BUILT_IN}
LOSSES: dict[str, type[Loss]] = {c.type_name: c for c in (CategoricalCrossEntropy, BinaryCrossEntropy,
                                                     MeanSquaredError, MeanAbsoluteError)}
ACCURACIES: dict[str, type[Accuracy]] = {c.type_name: c for c in (CategoricalAccuracy, BinaryAccuracy,
                                                             RegressionAccuracy)}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Let models with layers of class ``cls`` be saved and loaded (a decorator).

    The class needs a unique ``type_name`` and a ``config()`` whose keywords
    rebuild it; its parameters are saved like Dense's.

    >>> @gn.register_layer
    ... class Softplus(gn.Layer):
    ...     type_name = "softplus"
    ...     def forward(self, x): return softplus(x)
    """
    if not (isinstance(cls, type) and issubclass(cls, Layer)) or issubclass(cls, Loss):
        raise GraphError(f"register_layer: {cls!r} is not a Layer subclass")
    name = getattr(cls, "type_name", None)
    if not isinstance(name, str) or not name.isidentifier() or name == Layer.type_name:
        raise GraphError(f"register_layer: {cls.__name__} needs a type_name of its own, got {name!r}")
    if LAYERS.get(name, cls) is not cls:
        raise GraphError(f"register_layer: type_name {name!r} is taken by {LAYERS[name].__name__}")
    LAYERS[name] = cls
    return cls
