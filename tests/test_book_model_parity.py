"""Model parity: graphnn's Model prints the book's Model's lines and ends on its weights.

The oracle is the book-style ``Model`` in benchmarks/book_numpy.py (chapters
18-22, the book's order of operations). The chapter 18 and 22 examples run
in-process (shortened through GRAPHNN_EPOCHS) under ``nnfs.init()``, then the
reference runs the same configuration from the same seed; every printed line
and every final weight must be equal.
"""

import contextlib
import io
import re
import runpy
import tempfile
from pathlib import Path

import numpy as np
from nnfs.datasets import spiral_data

import graphnn as gn
from benchmarks import book_numpy as bk

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _example(name, epochs, monkeypatch, tmp_path):
    """Run examples/<name> with GRAPHNN_EPOCHS=epochs; its printed lines and its ``model``."""
    monkeypatch.setenv("GRAPHNN_EPOCHS", str(epochs))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the example's files go under tmp_path
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        scope = runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return out.getvalue().splitlines(), scope["model"]


def _printed(run, *args):
    """Call ``run(*args)`` with stdout captured: its lines and its result."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = run(*args)
    return out.getvalue().splitlines(), result


def _assert_same_weights(model, reference):
    ours, theirs = model.get_parameters(), reference.get_parameters()
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        for name, x, r in zip(("weights", "biases"), a, b):
            assert x.dtype == r.dtype == np.float32, (i, name)
            assert np.array_equal(x, r), f"layer {i} {name} differ by up to {np.max(np.abs(x - r))}"


def test_chapter18_model_prints_the_books_lines(book_numpy, monkeypatch, tmp_path):
    lines, model = _example("ch18_model.py", 200, monkeypatch, tmp_path)
    np.random.seed(0)
    book_lines, reference = _printed(bk.train_chapter18, 200)
    assert len(book_lines) == 3                            # epochs 100 and 200, validation
    assert lines[:-1] == book_lines
    assert re.fullmatch(r"training graph: \d+ nodes", lines[-1])
    _assert_same_weights(model, reference)


def test_chapter22_batched_model_prints_the_books_lines(book_numpy, monkeypatch, tmp_path):
    lines, model = _example("ch22_model.py", 2, monkeypatch, tmp_path)
    np.random.seed(0)
    book_lines, reference = _printed(bk.train_chapter22, 2)
    assert len(book_lines) == 2 * (1 + 4 + 2) + 4         # per epoch: epoch, 4 steps, training, validation
    assert lines == book_lines
    assert lines[-3:-1] == ["same predictions after load_parameters: True", "same predictions after Model.load: True"]
    _assert_same_weights(model, reference)


class _Float32Dropout(bk.Layer_Dropout):
    """The book's dropout with its mask cast to the inputs' dtype, as graphnn's ``dropout_mask`` does."""
    def forward(self, inputs, training=True):
        self.inputs = inputs
        if not training:
            self.output = inputs.copy()
            return
        self.binary_mask = (np.random.binomial(1, self.rate, size=inputs.shape) / self.rate).astype(inputs.dtype)
        self.output = inputs * self.binary_mask


def _regularized_dropout_runs(dropout):
    """L2 on two layers, L1 on biases, dropout, 3 batched epochs: graphnn's and the book's lines and models."""
    X, y = spiral_data(samples=100, classes=3)
    X_val, y_val = spiral_data(samples=50, classes=3)
    state = np.random.get_state()

    def build(model, dense, relu, drop, softmax, loss, adam, accuracy):
        model.add(dense(2, 32, weight_regularizer_l2=5e-4, bias_regularizer_l1=5e-4))
        model.add(relu())
        model.add(drop(0.1))
        model.add(dense(32, 3, weight_regularizer_l2=1e-3))
        model.add(softmax())
        model.set(loss=loss(), optimizer=adam(learning_rate=0.02), accuracy=accuracy())
        model.finalize()
        return model

    def train(model):
        model.train(X, y, validation_data=(X_val, y_val), epochs=3, batch_size=128, print_every=2)
        model.evaluate(X_val, y_val, batch_size=100)
        return model

    model = build(gn.Model(), gn.Dense, gn.ReLU, gn.Dropout, gn.Softmax, gn.CategoricalCrossEntropy, gn.Adam,
                  gn.CategoricalAccuracy)
    lines, model = _printed(train, model)
    np.random.set_state(state)  # the same initial weights and dropout masks
    reference = build(bk.Model(), bk.Layer_Dense, bk.Activation_ReLU, dropout, bk.Activation_Softmax,
                      bk.Loss_CategoricalCrossentropy, bk.Optimizer_Adam, bk.Accuracy_Categorical)
    book_lines, reference = _printed(train, reference)
    assert len(book_lines) == 3 * (1 + 2 + 2) + 1         # per epoch: epoch, steps 0 and 2, training, validation
    return lines, model, book_lines, reference


def test_batched_regularized_dropout_model_prints_the_books_lines(book_numpy):
    """The book's float64 dropout mask: the same lines, weights equal to float32 rounding only."""
    lines, model, book_lines, reference = _regularized_dropout_runs(bk.Layer_Dropout)
    assert lines == book_lines
    for ours, theirs in zip(model.get_parameters(), reference.get_parameters()):
        for x, r in zip(ours, theirs):
            np.testing.assert_allclose(x, r, rtol=1e-5, atol=1e-7)


def test_batched_regularized_model_matches_the_book_bit_for_bit_with_a_float32_mask(book_numpy):
    """Regularization (read before the step's update, and after the epoch's) and batching are exact;
    the one difference from the book is graphnn's float32 dropout mask."""
    lines, model, book_lines, reference = _regularized_dropout_runs(_Float32Dropout)
    assert lines == book_lines
    _assert_same_weights(model, reference)
