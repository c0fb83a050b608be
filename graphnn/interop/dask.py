"""Training, evaluation, prediction and inspection on Dask arrays chunked by rows (``pip install graphnn[dask]``).

``Model.train``, ``evaluate`` and ``predict`` hand Dask arrays here: the same
printed lines and returned history as the in-process Model; each step is one
:class:`~graphnn.interop.dask_step.DistributedStep` on the workers and one
optimizer update on the client. :func:`gradients` and :func:`node_stats` are
the same for the low-level loop; :mod:`graphnn.interop.dask_step` says how a
step runs.
"""

from __future__ import annotations

import math
import weakref

import dask.array as da
import numpy as np

from graphnn.core.errors import GraphError
from graphnn.interop.dask_stats import NodeStats, node_stats  # noqa: F401 (public here)
from graphnn.interop.dask_step import DistributedStep, StepResult, _as_dask, get_client, gradients, is_dask  # noqa: F401
from graphnn.nn.printer import printer

_MODEL_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_step(model, client=None) -> DistributedStep:
    """The model's :class:`DistributedStep` on ``client`` (built and shipped once per model and client)."""
    client = get_client(client)
    step = _MODEL_STEPS.get(model)
    if step is None or step.client is not client:
        step = _MODEL_STEPS[model] = DistributedStep(
            model.data_loss, model.params, [model.input, model.target], regularization=model.regularization,
            output=model.output, activation=model.output_layer_activation,
            inference=(model.inference_output, model.inference_samples), client=client)
    return step


def _check(model, X, y, what: str, client) -> None:
    """What ``Model.check_data`` checks: dtypes and shapes on empty arrays of X's and y's kinds, then one
    pass over the cluster for finiteness and the class labels' range."""
    X, y = _as_dask(X), _as_dask(y)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise GraphError(f"{what}: X has {X.shape[0]} samples but y has "
                         f"{'no samples' if y.ndim == 0 else y.shape[0]}")
    model.check_data(np.zeros((0,) + X.shape[1:], X.dtype), np.zeros((0,) + y.shape[1:], y.dtype), what)
    classes = model.output.shape[1] if model.output.shape is not None and len(model.output.shape) == 2 else None
    labels = y.ndim == 1 and y.dtype.kind in "iu" and classes is not None and y.shape[0]
    finite = [da.isfinite(a).all() for a in (X, y) if a.dtype.kind == "f"]
    found = client.gather(client.compute(finite + ([y.min(), y.max()] if labels else [])))
    if not all(found[:len(finite)]):
        raise GraphError(f"{what}: X or y holds NaN or Inf; data must be finite")
    if labels:
        low, high = (int(v) for v in found[len(finite):])
        if low < 0 or high >= classes:
            raise GraphError(f"{what}: class labels must lie in [0, {classes}) for the {classes} outputs of "
                             f"{model.layers[-1].name}, got values from {low} to {high}")


def _init_accuracy(accuracy, y, client) -> None:
    """``accuracy.init(y)`` without gathering y: the regression accuracy's std comes from the cluster."""
    if getattr(accuracy, "precision", 0) is None:
        accuracy.precision = float(client.compute(_as_dask(y).std()).result()) / 250


def train(model, X, y, *, epochs: int = 1, batch_size: int | None = None, print_every: int = 1,
          validation_data: tuple | None = None, verbose: bool = True, client=None) -> dict:
    """``Model.train`` on row-chunked Dask arrays ``X (N, features)``, ``y``: same lines, same history.

    Each step (the full batch, or rows ``[k * batch_size, (k + 1) * batch_size)``)
    runs chunk by chunk on the workers; the optimizer steps once on the client.
    """
    client = get_client(client)
    epochs, print_every, batch_size = model._options(epochs, print_every, batch_size, verbose, validation_data)
    _check(model, X, y, "training data", client)
    if validation_data is not None:
        _check(model, *validation_data, "validation data", client)
    step = model_step(model, client)
    data = step.data([X, y])
    _init_accuracy(model.accuracy, y, client)
    acc = model.accuracy

    def one(k: int, where: str) -> tuple:
        rows = None if batch_size is None else (k * batch_size, min(data.rows, (k + 1) * batch_size))
        result = step.gradients(data, rows, accuracy=acc)
        model.optimizer.step(model.params, result.grads)
        acc.accumulated_sum += result.correct
        acc.accumulated_count += result.count
        return (result.data_loss, result.reg_loss, result.data_loss * result.rows, result.rows,
                result.correct / result.count)

    def validate(say) -> dict:
        return _evaluate(model, *validation_data, say, client)

    n_batches = 1 if batch_size is None else max(1, math.ceil(data.rows / batch_size))
    return model._loop(n_batches, one, None if validation_data is None else validate, epochs, print_every,
                       batch_size, verbose)


def evaluate(model, X, y, *, verbose: bool = True, client=None) -> dict:
    """``Model.evaluate`` on Dask arrays: prints and returns ``validation, acc: ..., loss: ...``."""
    client = get_client(client)
    model._require("evaluate")
    _check(model, X, y, "evaluation data", client)
    say, close = printer(verbose, 0, model.out)
    try:
        return _evaluate(model, X, y, say, client)
    finally:
        close()


def _evaluate(model, X, y, say, client) -> dict:
    if not is_dask(X):  # numpy validation data alongside Dask training data
        return model._evaluate(*model.check_data(X, y, "validation data"), None, say)
    _init_accuracy(model.accuracy, y, client)
    loss_sum, correct, count = model_step(model, client).evaluate([X, y], model.accuracy)
    loss, accuracy = loss_sum / count, correct / count
    say(f"validation, acc: {accuracy:.3f}, loss: {loss:.3f}")
    return {"accuracy": float(accuracy), "loss": float(loss)}


def predict(model, X, *, client=None):
    """``Model.predict`` on a Dask array ``X (N, features)``: the outputs ``(N, outputs)`` as a Dask array
    chunked like X, computed on (and held by) the workers; ``.compute()`` gathers them."""
    client = get_client(client)
    model._require("predict")
    model._check_inputs(_as_dask(X), "prediction data")
    return model_step(model, client).predict(X)
