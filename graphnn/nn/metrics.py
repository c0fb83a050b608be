"""Accuracy, as the book computes it: numpy on the predictions, outside the graph.

Accuracy is a metric, never differentiated, so it runs on the arrays a graph
returns. Each class compares predictions (``layer.predictions(outputs)``:
class indices for Softmax, 0/1 for Sigmoid, raw values for Linear) with the
targets, returns the mean, and accumulates sums for epoch averages (the
book's ``calculate_accumulated``).

>>> acc = gn.CategoricalAccuracy()
>>> acc.calculate(np.argmax(probs, axis=1), y)
0.967
"""

from __future__ import annotations

import numpy as np

from graphnn.core.errors import GraphError, check_number
from graphnn.core.node import format_shape


class Accuracy:
    """Base class: ``calculate`` = mean of ``compare``; sums kept for ``calculate_accumulated``."""

    type_name = "accuracy"

    def __init__(self):
        self.new_pass()

    def init(self, y: np.ndarray, reinit: bool = False) -> None:
        """Prepare from the training targets (only the regression accuracy needs to)."""

    def targets(self, y: np.ndarray) -> np.ndarray:
        """``y`` as :meth:`compare` reads it fastest (the same comparisons), made once per training run."""
        return y

    def compare(self, predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def calculate(self, predictions: np.ndarray, y: np.ndarray) -> float:
        """Fraction of correct predictions in this batch (also accumulated)."""
        comparisons = self.compare(np.asarray(predictions), np.asarray(y))
        if isinstance(comparisons, np.ndarray) and comparisons.dtype == np.bool_ and comparisons.size:
            # one count instead of a sum and a mean; the same numbers (a float64 sum of 0s and 1s is exact)
            correct = np.count_nonzero(comparisons)
            self.accumulated_sum += correct
            self.accumulated_count += len(comparisons)
            return np.float64(correct / comparisons.size)
        self.accumulated_sum += np.sum(comparisons)
        self.accumulated_count += len(comparisons)
        return np.mean(comparisons)

    def calculate_accumulated(self) -> float:
        """Fraction correct over every batch since :meth:`new_pass`."""
        if not self.accumulated_count:
            raise GraphError(f"{type(self).__name__}: nothing accumulated since new_pass()")
        return self.accumulated_sum / self.accumulated_count

    def new_pass(self) -> None:
        self.accumulated_sum = 0
        self.accumulated_count = 0

    def config(self) -> dict:
        return {}


class CategoricalAccuracy(Accuracy):
    """Class indices ``(N,)`` compared with labels ``(N,)`` or one-hot ``(N, C)``.

    ``binary=True`` compares 0/1 predictions ``(N, K)`` with targets as they
    are, as the book's ``Accuracy_Categorical(binary=True)``.
    """

    type_name = "categorical"

    def __init__(self, binary: bool = False):
        if not isinstance(binary, (bool, np.bool_)):
            raise GraphError(f"CategoricalAccuracy: binary must be True or False, got {binary!r}")
        self.binary = bool(binary)
        super().__init__()

    def targets(self, y: np.ndarray) -> np.ndarray:
        # class indices as argmax returns them (intp): the comparison then casts nothing
        return y.astype(np.intp) if y.ndim == 1 and y.dtype.kind in "iu" and np.can_cast(y.dtype, np.intp) else y

    def compare(self, predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
        if not self.binary and y.ndim == 2:
            y = np.argmax(y, axis=1)
        _same_shape(self, predictions, y)
        return predictions == y

    def config(self) -> dict:
        return {"binary": self.binary}


class BinaryAccuracy(Accuracy):
    """0/1 predictions ``(N, K)`` (``outputs > 0.5``) compared with 0/1 targets ``(N, K)``."""

    type_name = "binary"

    def compare(self, predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
        _same_shape(self, predictions, y)
        return predictions == y


class RegressionAccuracy(Accuracy):
    """A prediction counts as correct within ``precision = std(y) / 250`` of its target.

    ``precision`` is set by :meth:`init` from the training targets (the book's
    choice of 250), or given explicitly.
    """

    type_name = "regression"

    def __init__(self, precision: float | None = None):
        if precision is not None:
            precision = check_number(precision, "RegressionAccuracy: precision", 0)
        self.precision = precision
        super().__init__()

    def init(self, y: np.ndarray, reinit: bool = False) -> None:
        if self.precision is None or reinit:
            self.precision = np.std(y) / 250

    def compare(self, predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.precision is None:
            raise GraphError("RegressionAccuracy: call init(y) first (it sets precision = std(y) / 250)")
        _same_shape(self, predictions, y)
        return np.absolute(predictions - y) < self.precision

    def config(self) -> dict:
        return {"precision": None if self.precision is None else float(self.precision)}


def _same_shape(acc: Accuracy, predictions: np.ndarray, y: np.ndarray) -> None:
    # A (N,) against (N, 1) comparison would broadcast to (N, N) and give nonsense.
    if predictions.shape != y.shape:
        raise GraphError(f"{type(acc).__name__}: predictions of shape {format_shape(predictions.shape)} "
                         f"and targets of shape {format_shape(y.shape)} differ")
