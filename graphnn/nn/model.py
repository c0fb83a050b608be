"""The book's Model API (chapters 18-22) on a graph.

``finalize()`` builds one training graph (forward, loss, regularization and
the gradient nodes from :func:`graphnn.grad`) and an inference graph (the same
layers without dropout); training runs the compiled training graph with
``keep="fetched"`` and hands the gradients to the optimizer.

>>> model = gn.Model()
>>> model.add(gn.Dense(2, 64)); model.add(gn.ReLU())
>>> model.add(gn.Dense(64, 3)); model.add(gn.Softmax())
>>> model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05, decay=5e-7),
...           accuracy=gn.CategoricalAccuracy())
>>> model.finalize()
>>> model.train(X, y, epochs=10000, print_every=100, validation_data=(X_test, y_test))
>>> model.graph.render("model.svg")
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from graphnn.autodiff.grad import grad
from graphnn.core.building import scope
from graphnn.core.errors import GraphError, check_count
from graphnn.core.node import Input, Node
from graphnn.graph import Graph
from graphnn.nn import checks, saving
from graphnn.nn.layers import Dense, Dropout, Layer
from graphnn.nn.losses import CategoricalCrossEntropy, Loss, regularization_loss
from graphnn.nn.metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from graphnn.nn.optimizers import Optimizer
from graphnn.nn.printer import printer
from graphnn.runtime.hooks import NumericsError
from graphnn.seeing.health import gradients
from graphnn.seeing.recorder import Recorder


class Model:
    """Layers in sequence, a loss, an optimizer and an accuracy, trained like the book's Model.

    After :meth:`finalize`: ``graph`` is the training graph (forward, loss,
    regularization, gradients), ``inference_graph`` the one used by
    :meth:`evaluate` and :meth:`predict`; both render like any graph.
    """

    def __init__(self):
        self.layers: list[Layer] = []
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        self.accuracy: Accuracy | None = None
        self.finalized = False
        self.out: Callable[[str], None] = print  # where training lines go

    # ------------------------------------------------------------ building

    def add(self, layer: Layer) -> None:
        """Append a layer (Dense, ReLU, Dropout, Softmax, Sigmoid, Linear ...)."""
        if self.finalized:
            raise GraphError("Model.add: the model is finalized; layers can no longer be added")
        if isinstance(layer, Loss) or not isinstance(layer, Layer):
            raise GraphError(f"Model.add: expected a layer such as gn.Dense or gn.ReLU, got {layer!r}"
                             + (" (set losses with model.set(loss=...))" if isinstance(layer, Loss) else ""))
        self.layers.append(layer)

    def set(self, *, loss: Loss | None = None, optimizer: Optimizer | None = None,
            accuracy: Accuracy | None = None) -> None:
        """Choose the loss, optimizer and accuracy (keywords, as in the book)."""
        if loss is not None:
            if not isinstance(loss, Loss):
                raise GraphError(f"Model.set: loss must be a loss such as gn.CategoricalCrossEntropy(), "
                                 f"got {loss!r}")
            if self.finalized:
                raise GraphError("Model.set: the model is finalized; its loss can no longer change")
            self.loss = loss
        if optimizer is not None:
            if not isinstance(optimizer, Optimizer):
                raise GraphError(f"Model.set: optimizer must be an optimizer such as gn.Adam(), "
                                 f"got {optimizer!r}")
            self.optimizer = optimizer
        if accuracy is not None:
            if not isinstance(accuracy, Accuracy):
                raise GraphError(f"Model.set: accuracy must be an accuracy such as "
                                 f"gn.CategoricalAccuracy(), got {accuracy!r}")
            self.accuracy = accuracy

    def finalize(self) -> None:
        """Build the training and inference graphs. Call once, after ``add`` and ``set``."""
        if self.finalized:
            raise GraphError("Model.finalize: already finalized")
        if not self.layers:
            raise GraphError("Model.finalize: the model has no layers; add some with model.add()")
        if self.loss is None:
            raise GraphError("Model.finalize: no loss; call model.set(loss=...) first")
        if self.accuracy is None:
            self.accuracy = _default_accuracy(self.loss)
        self.trainable_layers = [layer for layer in self.layers if layer.parameters()]
        self.params: list[Node] = [p for layer in self.trainable_layers for p in layer.parameters().values()]
        self.output_layer_activation = self.layers[-1]
        first = self.layers[0]
        n_in = first.n_inputs if isinstance(first, Dense) else None
        dtype = self.params[0].value.dtype if self.params else None

        self.input = Input("X", shape=None if n_in is None else (None, n_in), dtype=dtype)
        output = self.input
        for layer in self.layers:
            output = layer(output)
        self.output = output
        if isinstance(self.loss, CategoricalCrossEntropy):
            self.target = Input("y")  # class indices (N,) or one-hot (N, C)
        else:
            self.target = Input("y", shape=output.shape, dtype=output.dtype)
        self.data_loss = self.loss(output, self.target)
        self.sample_losses = self.data_loss.inputs[0]
        self.regularization = regularization_loss(self.trainable_layers)
        total = self.data_loss if self.regularization is None else self.data_loss + self.regularization
        self.total_loss = total
        self.grads = grad(total, self.params) if self.params else []
        extra = [] if self.regularization is None else [self.regularization]
        self.graph = Graph([total, self.data_loss, self.sample_losses, output, *self.grads, *extra])
        self._reg_graph = Graph(extra) if extra else None

        if any(isinstance(layer, Dropout) for layer in self.layers):
            with scope("inference"):  # the same layers and parameters, without dropout
                out = self.input
                for layer in self.layers:
                    out = layer(out, training=False)
                loss = self.loss(out, self.target)
            self.inference_output, self.inference_samples = out, loss.inputs[0]
        else:
            self.inference_output, self.inference_samples = output, self.sample_losses
        self.inference_graph = Graph([self.inference_output, self.inference_samples])
        self.finalized = True

    # ------------------------------------------------------------ training

    def train(self, X: Any, y: Any, *, epochs: int = 1, batch_size: int | None = None,
              print_every: int = 1, validation_data: tuple | None = None,
              verbose: bool = True, record: Recorder | None = None, client=None) -> dict:
        """Train on ``X (N, features)`` and targets ``y``, printing the book's lines.

        Without ``batch_size`` each epoch is one full-batch step and every
        ``print_every``-th epoch prints
        ``epoch: N, acc: ..., loss: ... (data_loss: ..., reg_loss: ...), lr: ...``
        (chapter 18); ``validation_data=(X_val, y_val)`` is evaluated at the end.
        With ``batch_size`` each epoch prints ``epoch: N``, a ``step:`` line
        every ``print_every`` steps and a ``training, ...`` summary, then the
        validation line (chapter 19). A progress bar shows in a terminal;
        ``verbose=False`` prints nothing. ``record=gn.Recorder(...)`` records
        tensors at the steps it is due (numbered by ``optimizer.iterations``)
        for :func:`graphnn.explore`; the training numbers stay the same.

        Everything (data shapes, label range, hyperparameters) is checked
        before any parameter changes. Returns per-epoch ``accuracy``,
        ``loss``, ``data_loss``, ``reg_loss`` and ``learning_rate`` lists and
        the final ``validation`` result (or None).

        Dask arrays chunked by rows train data-parallel on a ``dask.distributed``
        cluster (the current client, or ``client=``): :mod:`graphnn.interop.dask`.
        """
        if _dask(X, client):
            from graphnn.interop.dask import train  # only with the dask extra
            return train(self, X, y, epochs=epochs, batch_size=batch_size, print_every=print_every,
                         validation_data=validation_data, verbose=verbose, client=client)
        epochs, print_every, batch_size = self._options(epochs, print_every, batch_size, verbose, validation_data)
        if record is not None and not isinstance(record, Recorder):
            raise GraphError(f"Model.train: record must be a gn.Recorder, got {record!r}")
        X, y = self.check_data(X, y, "training data")
        if validation_data is not None:
            validation_data = self.check_data(*validation_data, "validation data")
        self.accuracy.init(y)
        batches = _batches(len(X), batch_size)
        labels = self.accuracy.targets(y)
        plans: dict = {}  # batch length -> plan, for this training run's checked data

        def step(k: int, epoch: int) -> tuple:
            if batch_size is None:  # the whole data: no slicing
                data_loss, reg_loss, _, accuracy = self._step(X, y, (epoch, None), record, labels, plans)
                return data_loss, reg_loss, None, len(X), accuracy
            rows = batches[k]
            data_loss, reg_loss, samples, accuracy = self._step(X[rows], y[rows], (epoch, k), record, labels[rows],
                                                                plans)
            return data_loss, reg_loss, np.sum(samples), len(samples), accuracy

        validate = None if validation_data is None else (lambda say: self._evaluate(*validation_data, batch_size, say))
        return self._loop(len(batches), step, validate, epochs, print_every, batch_size, verbose)

    def _options(self, epochs, print_every, batch_size, verbose, validation_data) -> tuple:
        """``train``'s options, checked: ``(epochs, print_every, batch_size)``."""
        self._require("train")
        if self.optimizer is None:
            raise GraphError("Model.train: no optimizer; call model.set(optimizer=...) first")
        if validation_data is not None and not (isinstance(validation_data, (tuple, list))
                                                and len(validation_data) == 2):
            raise GraphError("Model.train: validation_data must be a pair (X_val, y_val)")
        return (check_count(epochs, "Model: epochs", 0), check_count(print_every, "Model: print_every", 1),
                checks.check_options(batch_size, verbose))

    def _loop(self, n_batches: int, step, validate, epochs: int, print_every: int, batch_size: int | None,
              verbose: bool) -> dict:
        """The book's training loop, printing its lines; returns the history.

        ``step(k, epoch)`` trains on batch ``k`` and returns ``(data_loss, reg_loss,
        sum of the batch's sample losses (read only with batches), its rows, accuracy)``;
        ``validate(say)`` (or None) evaluates. The Dask path runs the same loop.
        """
        history = {k: [] for k in ("accuracy", "loss", "data_loss", "reg_loss", "learning_rate")}
        history["validation"] = None
        say, close = printer(verbose, epochs * n_batches, self.out)
        try:
            for epoch in range(1, epochs + 1):
                if batch_size is not None:
                    say(f"epoch: {epoch}")
                self.accuracy.new_pass()
                loss_sum, loss_count = 0.0, 0
                for k in range(n_batches):
                    data_loss, reg_loss, batch_loss, rows, accuracy = step(k, epoch)
                    say.tick()
                    if batch_size is not None:
                        loss_sum, loss_count = loss_sum + batch_loss, loss_count + rows
                        if verbose and (not k % print_every or k == n_batches - 1):
                            say(self._line(f"step: {k}", accuracy, data_loss, reg_loss))
                if batch_size is None:
                    if verbose and not epoch % print_every:  # a line is written only to be printed
                        say(self._line(f"epoch: {epoch}", accuracy, data_loss, reg_loss))
                else:
                    data_loss = loss_sum / loss_count
                    reg_loss = self.regularization_loss()
                    accuracy = self.accuracy.calculate_accumulated()
                    if verbose:
                        say(self._line("training", accuracy, data_loss, reg_loss))
                    if validate is not None:
                        history["validation"] = validate(say)
                history["accuracy"].append(float(accuracy))
                history["loss"].append(float(data_loss + reg_loss))
                history["data_loss"].append(float(data_loss))
                history["reg_loss"].append(float(reg_loss))
                history["learning_rate"].append(self.optimizer.current_learning_rate)
            if validate is not None and (batch_size is None or epochs == 0):
                history["validation"] = validate(say)
        finally:
            close()
        return history

    def _line(self, head: str, accuracy, data_loss, reg_loss) -> str:
        """The book's training line."""
        return (f"{head}, acc: {accuracy:.3f}, loss: {data_loss + reg_loss:.3f} "
                f"(data_loss: {data_loss:.3f}, reg_loss: {reg_loss:.3f}), "
                f"lr: {self.optimizer.current_learning_rate}")

    def _step(self, X: np.ndarray, y: np.ndarray, where: tuple | None = None, record: Recorder | None = None,
              labels: np.ndarray | None = None, plans: dict | None = None):
        """One forward/backward/update on a batch; returns data loss, reg loss, samples, accuracy.

        A NaN/Inf loss or gradient stops training before the update, with an
        error naming ``where`` (epoch, step) and the first node that went
        non-finite. ``labels``: ``y`` as the accuracy compares it. ``plans``:
        see :meth:`_run_checked`.
        """
        feeds = {self.input: X, self.target: y}
        if record is not None and record.due(self.optimizer.iterations):
            values = self.graph.run(feeds)
            record.record_model(self, feeds, values)  # before the optimizer changes the parameters
        elif plans is None:
            values = self.graph.run(feeds, keep="fetched")
        else:
            values = self._run_checked(feeds, plans)
        data_loss, total = values[self.data_loss], values[self.total_loss]
        reg_loss = values[self.regularization] if self.regularization is not None else 0
        predictions = self.output_layer_activation.predictions(values[self.output])
        accuracy = self.accuracy.calculate(predictions, y if labels is None else labels)
        if not math.isfinite(total):
            raise self._diverged(feeds, where, f"the loss is {total}")
        try:
            self.optimizer.step(self.params, [values[g] for g in self.grads])
        except GraphError as error:  # the gradients are right by construction: NaN/Inf or an overflow
            raise self._diverged(feeds, where, str(error)) from None
        return data_loss, reg_loss, values[self.sample_losses], accuracy

    def _run_checked(self, feeds: dict, plans: dict) -> dict:
        """``graph.run(feeds, keep="fetched")`` on row ranges of data that :meth:`check_data` has checked
        and converted as a run would: the plan for each batch length is found, and its feed checked,
        once per training run (``plans``), not at every step (parameters keep their shapes and dtypes)."""
        rows = len(feeds[self.input])
        plan = plans.get(rows)
        if plan is None:
            plan = plans[rows] = self.graph.plan(feeds, keep="fetched")
        return plan.execute(feeds, None)

    def gradient_graph(self) -> tuple | None:
        """``(graph, forward node -> gradient node)`` for every forward op, built once (what a Recorder
        shows); None when the model has random ops (dropout), whose masks another run would redraw."""
        self._require("gradient_graph")
        if not hasattr(self, "_gradient_graph"):
            self._gradient_graph = None
            if all(n.kind != "op" or n.prim.pure for n in self.graph.nodes):
                mapping = {fwd: g for fwd, g in gradients(self.total_loss).items() if fwd.kind == "op"}
                if mapping:
                    self._gradient_graph = Graph(list(dict.fromkeys(mapping.values()))), mapping
        return self._gradient_graph

    def _diverged(self, feeds: dict, where: tuple | None, problem: str) -> GraphError:
        """The error for a step that cannot be applied, naming the first NaN/Inf node (found by running it again)."""
        where = "a step" if where is None else f"epoch {where[0]}" + ("" if where[1] is None else f", step {where[1]}")
        try:
            self.graph.run(feeds, check_numerics=True)
        except NumericsError as error:
            problem = f"training diverged: {problem}; the first NaN/Inf: {error}"
        return GraphError(f"Model.train: {where}: {problem}. The parameters and optimizer state are those "
                          f"before this step")

    def regularization_loss(self) -> float:
        """The current regularization loss of the trainable layers (0 without regularizers)."""
        self._require("regularization_loss")
        if self._reg_graph is None:
            return 0
        return self._reg_graph.run({}, keep="fetched")[self.regularization]

    # ------------------------------------------------------------ inference

    def evaluate(self, X: Any, y: Any, *, batch_size: int | None = None, verbose: bool = True,
                 client=None) -> dict:
        """Print and return ``validation, acc: ..., loss: ...`` (data loss, no dropout).

        On Dask arrays it runs on the cluster's workers (``batch_size`` is not needed there).
        """
        if _dask(X, client):
            from graphnn.interop.dask import evaluate  # only with the dask extra
            return evaluate(self, X, y, verbose=verbose, client=client)
        self._require("evaluate")
        batch_size = checks.check_options(batch_size, verbose)
        X, y = self.check_data(X, y, "evaluation data")
        say, close = printer(verbose, 0, self.out)
        try:
            return self._evaluate(X, y, batch_size, say)
        finally:
            close()

    def _evaluate(self, X, y, batch_size, say) -> dict:
        self.accuracy.init(y)
        self.accuracy.new_pass()
        loss_sum, loss_count = 0.0, 0
        for rows in _batches(len(X), batch_size):
            bx, by = X[rows], y[rows]
            values = self.inference_graph.run({self.input: bx, self.target: by}, keep="fetched")
            samples = values[self.inference_samples]
            loss_sum += np.sum(samples)
            loss_count += len(samples)
            predictions = self.output_layer_activation.predictions(values[self.inference_output])
            self.accuracy.calculate(predictions, by)
        loss, accuracy = loss_sum / loss_count, self.accuracy.calculate_accumulated()
        say(f"validation, acc: {accuracy:.3f}, loss: {loss:.3f}")
        return {"accuracy": float(accuracy), "loss": float(loss)}

    def predict(self, X: Any, *, batch_size: int | None = None, client=None) -> np.ndarray:
        """The model's outputs on ``X (N, features)``, without dropout (``(N, outputs)``).

        On a Dask array it runs on the cluster's workers and returns a Dask array chunked like X.
        """
        if _dask(X, client):
            from graphnn.interop.dask import predict  # only with the dask extra
            return predict(self, X, client=client)
        self._require("predict")
        batch_size = checks.check_options(batch_size, True)
        X = self._check_inputs(X, "prediction data")
        outputs = []
        for rows in _batches(len(X), batch_size):
            values = self.inference_graph.run({self.input: X[rows]}, fetch=[self.inference_output],
                                              keep="fetched")
            outputs.append(values[self.inference_output])
        return np.vstack(outputs)

    # ------------------------------------------------------------ parameters and files

    def get_parameters(self) -> list[tuple[np.ndarray, ...]]:
        """Copies of each trainable layer's arrays, ``[(weights, biases), ...]`` as in the book."""
        return [tuple(p.value.copy() for p in layer.parameters().values()) for layer in self.trainable_layers]

    def set_parameters(self, parameters) -> None:
        """Set every trainable layer's arrays from ``[(weights, biases), ...]`` (shapes checked first)."""
        saving.assign_parameters(self, parameters)

    def save_parameters(self, path) -> None:
        """Write the parameters (and the architecture, to check on loading) to an ``.npz`` file."""
        saving.save_parameters(self, path)

    def load_parameters(self, path) -> None:
        """Read parameters saved from a model of the same architecture; anything else is an error."""
        saving.load_parameters(self, path)

    def save(self, path) -> None:
        """Write the whole model: architecture, loss, accuracy, optimizer with its state, parameters."""
        saving.save_model(self, path)

    @classmethod
    def load(cls, path) -> Model:
        """A finalized model read from a file written by :meth:`save`."""
        return saving.load_model(path, cls)

    # ------------------------------------------------------------ checks

    def _require(self, what: str) -> None:
        if not self.finalized:
            raise GraphError(f"Model.{what}: the model is not finalized; call model.finalize() "
                             f"after add() and set()")

    def _check_inputs(self, X: Any, what: str) -> np.ndarray:
        return checks.check_inputs(self, X, what)

    def check_data(self, X: Any, y: Any, what: str = "data") -> tuple[np.ndarray, np.ndarray]:
        """``X`` and ``y`` as arrays, checked against the model: numbers, finiteness, shapes, labels.

        Everything a run would refuse is refused here, for the whole data at
        once, so that training never stops halfway for bad data.
        """
        self._require("check_data")
        return checks.check_data(self, X, y, what)

    def __repr__(self) -> str:
        layers = ", ".join(type(layer).__name__ for layer in self.layers)
        return f"<Model [{layers}], loss {type(self.loss).__name__ if self.loss else None}, " \
               f"{'finalized' if self.finalized else 'not finalized'}>"


def _dask(X: Any, client) -> bool:
    """Whether ``X`` is a Dask array (then the work goes to :mod:`graphnn.interop.dask`)."""
    if type(X).__module__.startswith("dask."):
        return True
    if client is not None:
        raise GraphError("Model: client= is for Dask arrays; X is a numpy array, which trains in this process")
    return False


def _batches(n: int, batch_size: int | None) -> list[slice]:
    """The row ranges of each step: everything at once, or ``batch_size`` rows at a time."""
    if batch_size is None:
        return [slice(None)]
    return [slice(start, start + batch_size) for start in range(0, max(n, 1), batch_size)]


def _default_accuracy(loss: Loss) -> Accuracy:
    if isinstance(loss, CategoricalCrossEntropy):
        return CategoricalAccuracy()
    if loss.type_name == "bce":
        return BinaryAccuracy()
    return RegressionAccuracy()
