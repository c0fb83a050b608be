"""Checking what the Model is given: data (numbers, finiteness, shapes, labels) and options, all before a step."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from graphnn.core.errors import GraphError, check_count
from graphnn.core.node import Node, format_shape
from graphnn.graph import as_feed
from graphnn.nn.losses import CategoricalCrossEntropy


def check_inputs(model, X: Any, what: str) -> np.ndarray:
    """``X`` as the input's array: real numbers, finite, of shape (N, features), converted exactly."""
    X = _numbers(X, what, "X")
    first = model.layers[0]
    n_in = model.input.shape[1] if model.input.shape is not None else None
    if X.ndim != 2 or (n_in is not None and X.shape[1] != n_in):
        want = f"(N, {n_in})" if n_in is not None else "(N, features)"
        raise GraphError(f"{what}: X must have shape {want} for {first.name}, "
                         f"got {format_shape(X.shape)}")
    _check_finite(X, what, "X")
    return _feed(model.input, X, what, "X")


def check_data(model, X: Any, y: Any, what: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``y`` as arrays, checked against the model: numbers, finiteness, shapes, labels.

    Everything a run would refuse is refused here, for the whole data at
    once, so that training never stops halfway for bad data.
    """
    X = check_inputs(model, X, what)
    y = _numbers(y, what, "y")
    if y.ndim == 0 or len(y) != len(X):
        raise GraphError(f"{what}: X has {len(X)} samples but y has "
                         f"{'no samples' if y.ndim == 0 else len(y)}")
    _check_finite(y, what, "y")
    out = model.output.shape
    if isinstance(model.loss, CategoricalCrossEntropy):
        classes = out[1] if out is not None and len(out) == 2 else None
        if y.ndim == 1:
            if y.dtype.kind not in "iu":
                raise GraphError(f"{what}: class labels y must be integers, got {y.dtype}"
                                 + (" (use y.astype(int) if True/False mean classes 1/0)"
                                    if y.dtype.kind == "b" else ""))
            if len(y) and classes is not None and (y.min() < 0 or y.max() >= classes):
                raise GraphError(f"{what}: class labels must lie in [0, {classes}) for the "
                                 f"{classes} outputs of {model.layers[-1].name}, got values from "
                                 f"{y.min()} to {y.max()}")
        elif y.ndim != 2 or (classes is not None and y.shape[1] != classes):
            raise GraphError(f"{what}: y must be class indices (N,) or one-hot (N, {classes}) "
                             f"for {model.loss.name}, got shape {format_shape(y.shape)}")
    elif out is not None and (y.ndim != len(out) or any(
            d is not None and d != t for d, t in zip(out[1:], y.shape[1:]))):
        hint = " (reshape it with y.reshape(-1, 1))" if y.ndim == 1 and len(out) == 2 else ""
        raise GraphError(f"{what}: {type(model.loss).__name__} needs y of the outputs' shape "
                         f"{format_shape((len(X),) + tuple(out[1:]))}, got "
                         f"{format_shape(y.shape)}{hint}")
    return X, _feed(model.target, y, what, "y")  # as a run converts it (class labels: made contiguous)


def check_options(batch_size, verbose) -> int | None:
    if not isinstance(verbose, bool):
        raise GraphError(f"Model: verbose must be True or False, got {verbose!r}")
    return None if batch_size is None else check_count(batch_size, "Model: batch_size", 1)


def _numbers(data: Any, what: str, name: str) -> np.ndarray:
    """``data`` as an array of real numbers (bool, int, float), else an error naming the first bad value."""
    try:
        array = np.asarray(data)
    except (ValueError, TypeError):
        raise GraphError(f"{what}: {name} is not a rectangular array of numbers (a ragged list?)") from None
    if array.dtype.kind in "biuf":
        return array
    if array.dtype.kind == "O":
        bad = next((i for i, v in np.ndenumerate(array)
                    if isinstance(v, bool) or not isinstance(v, numbers.Real)), None)
        if bad is None:
            raise GraphError(f"{what}: {name} is an array of Python objects; convert it with "
                             f"{name}.astype(float)")
        raise GraphError(f"{what}: {name} holds {array[bad]!r} at {_position(bad)}; it must hold real numbers")
    kind = {"c": "complex numbers", "U": "strings", "S": "bytes"}.get(array.dtype.kind, f"{array.dtype} values")
    raise GraphError(f"{what}: {name} holds {kind}; it must hold real numbers")


def _check_finite(array: np.ndarray, what: str, name: str) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = tuple(np.argwhere(~np.isfinite(array))[0])
        raise GraphError(f"{what}: {name} holds {array[bad]} at {_position(bad)}; data must be finite")


def _position(index: tuple) -> str:
    names = ("row", "column")
    if len(index) <= 2:
        return ", ".join(f"{n} {int(i)}" for n, i in zip(names, index))
    return f"index {tuple(int(i) for i in index)}"


def _feed(node: Node, array: np.ndarray, what: str, name: str) -> np.ndarray:
    """``array`` converted to what ``node`` takes, exactly (the same rule as a run), or an error naming ``what``."""
    try:
        return as_feed(node, array)
    except GraphError as error:
        raise GraphError(f"{what}: {name}: {error}") from None
