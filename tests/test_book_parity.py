"""Book parity: graphnn's training reproduces the book's arithmetic bit for bit.

The oracle is benchmarks/book_numpy.py, a book-style numpy implementation.
Every test runs under nnfs.init() (the ``book_numpy`` fixture), as the book does.
"""

import numpy as np
import pytest
from nnfs.datasets import spiral_data

import graphnn as gn
from benchmarks import book_chapters
from benchmarks import book_numpy as bk

BOOK_LINE = "epoch: 10000, acc: 0.967, loss: 0.074, lr: 0.04975126853296942"


def test_chapter10_adam_reaches_the_books_line_and_weights(book_numpy):
    """The issue's loop, 10,001 epochs: the book's printed line, and the oracle's final weights."""
    X, y = spiral_data(samples=100, classes=3)
    inputs, targets = gn.Input("X"), gn.Input("y")
    dense1, relu, dense2 = gn.Dense(2, 64), gn.ReLU(), gn.Dense(64, 3)
    probs = gn.Softmax()(dense2(relu(dense1(inputs))))
    loss = gn.CategoricalCrossEntropy()(probs, targets)
    graph = gn.Graph([probs, loss])

    params = graph.params
    grads = gn.grad(loss, params)
    step = gn.Graph([loss, probs, *grads])
    optimizer = gn.Adam(learning_rate=0.05, decay=5e-7)
    lines = []
    for epoch in range(10001):
        values = step.run({inputs: X, targets: y})
        if not epoch % 100:
            accuracy = np.mean(np.argmax(values[probs], axis=1) == y)
            lines.append(f"epoch: {epoch}, acc: {accuracy:.3f}, loss: {values[loss]:.3f}, "
                         f"lr: {optimizer.current_learning_rate}")
        optimizer.step(params, [values[g] for g in grads])
    assert lines[-1] == BOOK_LINE

    np.random.seed(0)  # numpy is still patched by nnfs.init(); start its run from the same seed
    book_lines, reference = book_chapters.chapter10()  # the book's own chapter 10 script
    assert book_lines[-1] == BOOK_LINE
    for param, array, key in zip(params, reference, ["dense1.weights", "dense1.biases", "dense2.weights",
                                                      "dense2.biases"]):
        assert param.value.dtype == np.float32
        assert np.array_equal(param.value, array), key


def _book_run(X, y, layers_spec, make_optimizer, epochs):
    """The book's loop with its numpy layers: Dense/ReLU stack, Softmax + CCE head."""
    layers = [bk.Layer_Dense(*args, **kwargs) if kind == "dense" else bk.Activation_ReLU()
              for kind, args, kwargs in layers_spec]
    dense = [layer for layer in layers if isinstance(layer, bk.Layer_Dense)]
    head = bk.Activation_Softmax_Loss_CategoricalCrossentropy()
    optimizer = make_optimizer()
    for _ in range(epochs):
        out = X
        for layer in layers:
            layer.forward(out)
            out = layer.output
        head.forward(out, y)
        head.backward(head.output, y)
        grad = head.dinputs
        for layer in reversed(layers):
            layer.backward(grad)
            grad = layer.dinputs
        optimizer.pre_update_params()
        for layer in dense:
            optimizer.update_params(layer)
        optimizer.post_update_params()
    return [a for layer in dense for a in (layer.weights, layer.biases)]


def _graph_run(X, y, layers_spec, make_optimizer, epochs):
    layers = [gn.Dense(*args, **kwargs) if kind == "dense" else gn.ReLU()
              for kind, args, kwargs in layers_spec]
    inputs, targets = gn.Input("X"), gn.Input("y")
    out = inputs
    for layer in layers:
        out = layer(out)
    data_loss = gn.CategoricalCrossEntropy()(gn.Softmax()(out), targets)
    reg = gn.regularization_loss(layers)
    loss = data_loss if reg is None else data_loss + reg
    params = gn.Graph([loss]).params
    grads = gn.grad(loss, params)
    step = gn.Graph([loss, *grads])
    optimizer = make_optimizer()
    for _ in range(epochs):
        values = step.run({inputs: X, targets: y}, keep="fetched")
        optimizer.step(params, [values[g] for g in grads])
    return [p.value for p in params]


L2 = {"weight_regularizer_l2": 5e-4, "bias_regularizer_l2": 5e-4}
ALL = {"weight_regularizer_l1": 5e-4, "weight_regularizer_l2": 5e-4,
       "bias_regularizer_l1": 1e-3, "bias_regularizer_l2": 5e-4}


@pytest.mark.parametrize("regularizers, book_opt, opt, kwargs", [
    (L2, bk.Optimizer_Adam, gn.Adam, {"learning_rate": 0.02, "decay": 5e-7}),        # chapter 14
    (ALL, bk.Optimizer_Adam, gn.Adam, {"learning_rate": 0.02, "decay": 5e-7}),
    (ALL, bk.Optimizer_SGD, gn.SGD, {"decay": 1e-3, "momentum": 0.9}),
    (L2, bk.Optimizer_Adagrad, gn.Adagrad, {"decay": 1e-4}),
    (L2, bk.Optimizer_RMSprop, gn.RMSprop, {"learning_rate": 0.02, "decay": 1e-5, "rho": 0.999}),
])
def test_regularized_training_matches_the_book_bit_for_bit(book_numpy, regularizers, book_opt, opt, kwargs):
    X, y = spiral_data(samples=100, classes=3)
    spec = [("dense", (2, 64), regularizers), ("relu", (), {}), ("dense", (64, 3), {})]
    np.random.seed(1)
    mine = _graph_run(X, y, spec, lambda: opt(**kwargs), 300)
    np.random.seed(1)
    book = _book_run(X, y, spec, lambda: book_opt(**kwargs), 300)
    for a, b in zip(mine, book):
        assert np.array_equal(a, b)


def test_the_model_api_trains_exactly_as_the_books_loop(book_numpy, capsys):
    X, y = spiral_data(samples=100, classes=3)
    spec = [("dense", (2, 64), L2), ("relu", (), {}), ("dense", (64, 3), {})]
    np.random.seed(2)
    model = gn.Model()
    model.add(gn.Dense(2, 64, **L2))
    model.add(gn.ReLU())
    model.add(gn.Dense(64, 3))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.02, decay=5e-7),
              accuracy=gn.CategoricalAccuracy())
    model.finalize()
    model.train(X, y, epochs=200, print_every=100)
    np.random.seed(2)
    book = _book_run(X, y, spec, lambda: bk.Optimizer_Adam(learning_rate=0.02, decay=5e-7), 200)
    for a, b in zip(model.params, book):
        assert np.array_equal(a.value, b)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("epoch: 100, acc: ") and "(data_loss: " in out[0] and ", reg_loss: " in out[0]
    assert out[1].endswith(f"lr: {model.optimizer.current_learning_rate}")


# ------------------------------------------------------------ the chapter examples, line for line

CHAPTERS = [("10", 301), ("11", 301), ("14", 301), ("15", 201), ("16", 1001), ("17", 201)]


@pytest.mark.parametrize("chapter, epochs", CHAPTERS)
def test_chapter_examples_print_the_books_lines_and_reach_its_weights(book_numpy, chapter, epochs):
    """Each example, shortened, against the book's own script for that chapter (benchmarks/book_chapters.py):
    every printed line equal, and every final weight and bias equal bit for bit (dtype included)."""
    mine, book, params, weights = book_chapters.compare(chapter, epochs)
    assert len(mine) == len(book) == epochs // 100 + 1 + (chapter not in ("10", "17"))
    for k, (a, b) in enumerate(zip(mine, book)):
        assert a == b, f"line {k}: graphnn {a!r}, book {b!r}"
    assert len(params) == len(weights)
    for a, b in zip(params, weights):
        assert a.dtype == b.dtype == np.float32
        assert np.array_equal(a, b)


def test_the_books_float64_dropout_mask_is_an_explicit_option(book_numpy, tmp_path):
    """gn.Dropout keeps a float32 network float32; mask_dtype="float64" computes as the book does:
    float64 from the dropout on, float32 again after the next np.dot (which nnfs.init() replaced)."""
    X = gn.Input("X", shape=(None, 4), dtype="float32")
    plain, book = gn.Dropout(0.1), gn.Dropout(0.1, mask_dtype="float64")
    dense = gn.Dense(4, 2)
    h32, h64 = plain(X), book(X)
    assert h32.dtype == np.float32 and h64.dtype == np.float64 and dense(h64).dtype == np.float32
    x = np.random.randn(5, 4)
    np.random.seed(5)
    values = gn.Graph([h64]).run({X: x})
    np.random.seed(5)
    mask = np.random.binomial(1, 0.9, size=x.shape) / 0.9
    assert values[h64].dtype == np.float64 and np.array_equal(values[h64], x * mask)
    assert book.config() == {"rate": 0.1, "mask_dtype": "float64"} and plain.config() == {"rate": 0.1}
    with pytest.raises(gn.GraphError, match="mask_dtype must be a float dtype"):
        gn.Dropout(0.1, mask_dtype="int32")
