"""Hostile input: every bad feed, label, option, gradient, file and path is a clear GraphError, before any change.

Each case asserts the exact outcome: the error class and what its message
names (or the correct result where the input is fine).
"""

import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import graphnn as gn
from graphnn.cli import main


@pytest.fixture(autouse=True)
def numpy_random_state_left_alone():
    """Dense layers draw from numpy's global generator: leave it as the other test files expect it."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def _raises(call, message, error=gn.GraphError):
    with pytest.raises(error, match=message) as info:
        call()
    assert isinstance(info.value, gn.GraphError)
    return info.value


def _classifier(optimizer=None, n_in=2, hidden=8, classes=3, dropout=False):
    model = gn.Model()
    model.add(gn.Dense(n_in, hidden))
    model.add(gn.ReLU())
    if dropout:
        model.add(gn.Dropout(0.1))
    model.add(gn.Dense(hidden, classes))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=optimizer or gn.Adam(learning_rate=0.01))
    model.finalize()
    model.out = lambda line: None
    return model


def _regressor(optimizer=None):
    model = gn.Model()
    for layer in (gn.Dense(1, 8), gn.ReLU(), gn.Dense(8, 1), gn.Linear()):
        model.add(layer)
    model.set(loss=gn.MeanSquaredError(), optimizer=optimizer or gn.Adam())
    model.finalize()
    model.out = lambda line: None
    return model


def _data(n=12, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)).astype(dtype), np.arange(n) % 3


def _state(model):
    """Everything a step may change, in parameter order: values, optimizer state, iterations, learning rate."""
    opt = model.optimizer if isinstance(model, gn.Model) else model[0]
    params = model.params if isinstance(model, gn.Model) else model[1]
    return (
        [p.value.copy() for p in params],
        [
            {k: v.copy() for k, v in opt.state[p].items() if not k.startswith(("tmp", "next_"))}
            if p in opt.state
            else None
            for p in params
        ],
        opt.iterations,
        opt.current_learning_rate,
    )


def _same(a, b):
    """Bit for bit."""
    params_a, state_a, it_a, lr_a = a
    params_b, state_b, it_b, lr_b = b
    return (
        all(x.tobytes() == y.tobytes() and x.dtype == y.dtype for x, y in zip(params_a, params_b))
        and len(params_a) == len(params_b)
        and all(
            (x is None and y is None)
            or (
                x is not None
                and y is not None
                and x.keys() == y.keys()
                and all(x[k].tobytes() == y[k].tobytes() and x[k].dtype == y[k].dtype for k in x)
            )
            for x, y in zip(state_a, state_b)
        )
        and it_a == it_b
        and lr_a == lr_b
    )


# ================================================================ feeds (Graph.run)


def _graph(dtype=None, shape=None):
    x = gn.Input("x", shape=shape, dtype=dtype)
    return x, gn.Graph([x * 2])


@pytest.mark.parametrize(
    "value, message",
    [
        (np.array([1 + 2j]), "feed for x: needs real numbers, got complex numbers"),
        (
            np.array([1.0, None], dtype=object),
            r"feed for x: needs real numbers, got object values \(a ragged list or None\?\)",
        ),
        ([1.0, None], r"feed for x: needs real numbers, got object values"),
        (np.array(["a", "b"]), "feed for x: needs real numbers, got <U1 values"),
        (["1", "2"], "feed for x: needs real numbers, got <U1 values"),
        (b"ab", "feed for x: needs real numbers, got |S2 values".replace("|", r"\|")),
        ([[1.0, 2.0], [3.0]], "feed for x: not an array of numbers"),
        ([1.0, [2.0, 3.0]], "feed for x: not an array of numbers"),
        (None, "feed for x: needs real numbers, got object values"),
        ({"a": 1}, "feed for x: needs real numbers, got object values"),
        ([2**70], "feed for x: needs real numbers, got object values"),
    ],
)
def test_feeds_that_are_not_real_numbers(value, message):
    x, graph = _graph()
    _raises(lambda: graph.run({x: value}), message)


@pytest.mark.parametrize("value", [[2**32 + 1], [2**31], [-(2**31) - 1], np.array([2**40], np.int64)])
def test_int32_inputs_refuse_values_that_do_not_fit(value):
    x, graph = _graph("int32")
    _raises(lambda: graph.run({x: value}), "feed for x: its int64 values do not fit int32 exactly")


def test_int32_inputs_take_values_that_fit_exactly():
    x, graph = _graph("int32")
    out = graph.run({x: [2**31 - 1, -(2**31)]})[graph.outputs[0]]
    assert out.dtype == np.int32 and out.tolist() == [(2**31 - 1) * 2 - 2**32, 0]  # numpy's int32 arithmetic


@pytest.mark.parametrize(
    "dtype, value, message",
    [
        ("int32", np.array([1.5]), "feed for x: expected int32, got float64"),
        ("int32", np.array([1.0]), "feed for x: expected int32, got float64"),
        ("float32", np.array([2**24 + 1], np.int64), "its int64 values do not fit float32 exactly"),
        ("float32", np.array([0.1], np.float64), "its float64 values do not fit float32 exactly"),
        ("uint8", np.array([-1]), "its int64 values do not fit uint8 exactly"),
        ("bool", np.array([2]), "its int64 values do not fit bool exactly"),
    ],
)
def test_inexact_conversions_are_refused(dtype, value, message):
    x, graph = _graph(dtype)
    _raises(lambda: graph.run({x: value}), message)


@pytest.mark.parametrize(
    "dtype, value, expected",
    [
        ("float32", np.array([3], np.int64), np.array([6], np.float32)),
        ("float32", np.array([0.5]), np.array([1.0], np.float32)),
        ("float64", np.array([True, False]), np.array([2.0, 0.0])),
        ("int32", [7], np.array([14], np.int32)),
    ],
)
def test_exact_conversions_are_made(dtype, value, expected):
    x, graph = _graph(dtype)
    out = graph.run({x: value})[graph.outputs[0]]
    assert out.dtype == expected.dtype and np.array_equal(out, expected)


@pytest.mark.parametrize(
    "feeds, message",
    [
        (lambda x: [(x, np.ones(2))], "feeds must be a dict from inputs .* got list"),
        (lambda x: {x}, "feeds must be a dict from inputs .* got set"),
        (lambda x: np.ones(2), "feeds must be a dict from inputs .* got ndarray"),
        (lambda x: {x: np.ones(2), "x": np.ones(2)}, r"feed for x: given twice \(by node and by name\)"),
        (lambda x: {"X": np.ones(2)}, r"feed for 'X': not an input of this graph \(its inputs are x\)"),
        (
            lambda x: {"xx": np.ones(2)},
            r"feed for 'xx': not an input of this graph \(its inputs are x\); did you mean x\?",
        ),
        (lambda x: {gn.Input("other"): np.ones(2)}, "feed for 'other': not an input of this graph"),
        (lambda x: {5: np.ones(2)}, "feed for 5: not an input of this graph"),
    ],
)
def test_bad_feed_mappings(feeds, message):
    x, graph = _graph()
    _raises(lambda: graph.run(feeds(x)), message)


def test_a_feed_of_the_wrong_shape():
    x, graph = _graph("float64", (None, 2))
    _raises(lambda: graph.run({x: np.ones((3, 4))}), r"feed for x: expected shape \(None, 2\), got \(3, 4\)")


def test_feeding_a_parameter_is_refused():
    w = gn.Parameter(np.ones(2), "w")
    graph = gn.Graph([w * 2])
    _raises(lambda: graph.run({w: np.zeros(2)}), "feed for 'w': not an input of this graph")
    assert np.array_equal(w.value, np.ones(2))


def test_a_missing_feed_names_the_input():
    x, graph = _graph()
    _raises(lambda: graph.run({}), "x")


# ================================================================ labels


def _cce_graph():
    inputs, labels = gn.Input("X"), gn.Input("y")
    dense = gn.Dense(2, 3)
    loss = gn.CategoricalCrossEntropy()(gn.Softmax()(dense(inputs)), labels)
    return inputs, labels, loss, gn.Graph([loss, *gn.grad(loss, [dense.weights, dense.biases])])


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([True, False, True]), "class labels must be integers, got bool"),
        (np.array([0.0, 1.0, 2.0]), "class labels must be integers, got float64"),
        (np.array([0, 1, 3]), r"labels must lie in \[0, 3\)"),
        (np.array([0, -1, 2]), r"labels must lie in \[0, 3\)"),
        (np.array([0, 1]), "2 labels for 3 samples"),
        (np.zeros((3, 4)), "one-hot labels of 4 classes for 3 outputs"),
        (np.array([[[0]]]), r"labels must be class indices \(N,\) or one-hot \(N, C\)"),
    ],
)
def test_bad_labels_through_the_graph(labels, message):
    inputs, targets, loss, graph = _cce_graph()
    _raises(lambda: graph.run({inputs: np.zeros((3, 2)), targets: labels}), message)


@pytest.mark.parametrize("labels", [np.array([0, 1, 2], np.int32), np.array([0, 1, 2], np.uint8), np.eye(3)])
def test_good_labels_of_any_integer_type_or_one_hot_give_the_same_loss(labels):
    inputs, targets, loss, graph = _cce_graph()
    assert graph.run({inputs: np.zeros((3, 2)), targets: labels})[loss] == pytest.approx(np.log(3))


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([True, False] * 6), r"class labels y must be integers, got bool \(use y.astype\(int\)"),
        (np.arange(12) % 3 * 1.0, "class labels y must be integers, got float64"),
        (np.full(12, 3), r"class labels must lie in \[0, 3\)"),
        (np.eye(3)[np.arange(12) % 3] * np.nan, "training data: y holds nan at row 0, column 0"),
        (np.array(["a"] * 12), "training data: y holds strings"),
        (np.array([1 + 0j] * 12), "training data: y holds complex numbers"),
        ([0, 1, None] * 4, "training data: y holds None at row 2"),
        ([[0, 1, 0]] * 11 + [[0, 1]], r"training data: y is not a rectangular array of numbers \(a ragged list\?\)"),
    ],
)
def test_bad_labels_through_the_model(labels, message):
    model = _classifier()
    before = _state(model)
    X, _ = _data()
    _raises(lambda: model.train(X, labels), message)
    assert _same(before, _state(model))


# ================================================================ Model data

BAD_X = [
    (
        "nan",
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X),
        "X holds nan at row 3, column 1; data must be finite",
    ),
    (
        "inf",
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 4, np.inf, X),
        "X holds inf at row 2, column 0; data must be finite",
    ),
    (
        "-inf",
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 0, -np.inf, X),
        "X holds -inf at row 0, column 0",
    ),
    ("None", lambda X: np.array([[1.0, None]] + X[1:].tolist(), dtype=object), "X holds None at row 0, column 1"),
    (
        "string in objects",
        lambda X: np.array(X.tolist()[:5] + [["a", 1.0]] + X.tolist()[6:], dtype=object),
        "X holds 'a' at row 5, column 0",
    ),
    (
        "complex in objects",
        lambda X: np.array([[1j, 1.0]] + X[1:].tolist(), dtype=object),
        "X holds 1j at row 0, column 0",
    ),
    ("complex", lambda X: X.astype(complex), "X holds complex numbers; it must hold real numbers"),
    ("strings", lambda X: X.astype(str), "X holds strings"),
    ("ragged", lambda X: X.tolist()[:-1] + [[1.0]], r"X is not a rectangular array of numbers \(a ragged list\?\)"),
    ("objects of numbers", lambda X: X.astype(object), r"X is an array of Python objects; convert it"),
    ("1-D", lambda X: X[:, 0], r"X must have shape \(N, 2\) for dense1, got \(12,\)"),
    ("3 columns", lambda X: np.ones((12, 3)), r"X must have shape \(N, 2\) for dense1, got \(12, 3\)"),
    ("3-D", lambda X: np.ones((12, 2, 1)), r"X must have shape \(N, 2\)"),
    ("inexact ints", lambda X: np.full((12, 2), 2**24 + 1), "X: feed for X: its int64 values do not fit float32"),
    ("inexact float64", lambda X: np.full((12, 2), 0.1), "X: feed for X: its float64 values do not fit float32"),
]


@pytest.mark.parametrize("name, make, message", BAD_X, ids=[c[0] for c in BAD_X])
def test_bad_training_data_is_refused_before_anything_runs(book_numpy, name, make, message):
    model = _classifier()
    X, y = _data()
    model.train(X, y, epochs=1, verbose=False)  # some optimizer state to keep
    before = _state(model)
    _raises(lambda: model.train(make(X), y, epochs=3), "training data: " + message)
    _raises(lambda: model.train(X, y, validation_data=(make(X), y)), "validation data: " + message)
    _raises(lambda: model.evaluate(make(X), y), "evaluation data: " + message)
    _raises(lambda: model.predict(make(X)), "prediction data: " + message)
    assert _same(before, _state(model))


def test_exact_int_data_is_accepted_and_converted():
    model = _classifier()
    X = np.array([[1, 2], [3, -4], [0, 0]])
    assert np.array_equal(model.predict(X), model.predict(X.astype(np.float32)))


def test_data_bad_only_in_a_late_batch_is_refused_before_the_first_batch(book_numpy):
    model = _classifier()
    X, y = _data(40)
    X = X.astype(np.float64)
    X[-1, 0] = 0.1  # not a float32: the last batch would fail, after 3 updates
    before = _state(model)
    _raises(lambda: model.train(X, y, batch_size=10), "training data: X: feed for X: its float64 values")
    assert _same(before, _state(model))


def test_regression_targets_with_nan(book_numpy):
    model = _regressor()
    X = np.linspace(0, 1, 10, dtype=np.float32).reshape(-1, 1)
    y = np.sin(X)
    y[4, 0] = np.nan
    _raises(lambda: model.train(X, y), "training data: y holds nan at row 4, column 0")
    _raises(lambda: model.train(X, np.sin(X).astype(np.float64) * 0.1 + 0.3), "training data: y: feed for y")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": True}, "epochs must be a whole number >= 0, got True"),
        ({"epochs": 2.0}, "epochs must be a whole number >= 0, got 2.0"),
        ({"epochs": "3"}, "epochs must be a whole number >= 0, got '3'"),
        ({"batch_size": 0}, "batch_size must be a whole number >= 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a whole number >= 1, got 2.5"),
        ({"print_every": 0}, "print_every must be a whole number >= 1, got 0"),
        ({"verbose": "no"}, "verbose must be True or False, got 'no'"),
        ({"verbose": None}, "verbose must be True or False, got None"),
        ({"validation_data": (1, 2, 3)}, r"validation_data must be a pair \(X_val, y_val\)"),
        ({"validation_data": "xy"}, r"validation_data must be a pair"),
    ],
)
def test_bad_training_options(kwargs, message):
    model = _classifier()
    X, y = _data()
    before = _state(model)
    _raises(lambda: model.train(X, y, **kwargs), message)
    assert _same(before, _state(model))


def _with_first(weights):
    return [(weights, np.ones((1, 8))), (np.ones((8, 3)), np.ones((1, 3)))]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, X, y: m.evaluate(X, y, verbose="yes"), "verbose must be True or False"),
        (lambda m, X, y: m.evaluate(X, y, batch_size=-1), "batch_size must be a whole number >= 1"),
        (lambda m, X, y: m.predict(X, batch_size="2"), "batch_size must be a whole number >= 1"),
        (lambda m, X, y: m.set(loss="cce"), "loss must be a loss such as"),
        (lambda m, X, y: m.set(accuracy=gn.Adam()), "accuracy must be an accuracy such as"),
        (lambda m, X, y: m.add(gn.Dense(2, 2)), "the model is finalized"),
        (lambda m, X, y: m.set_parameters([(np.ones((2, 8)), np.ones((1, 8)))]), "1 parameter sets for 2"),
        (
            lambda m, X, y: m.set_parameters(_with_first(np.full((2, 8), np.nan))),
            "the array for dense1/weights holds NaN or Inf",
        ),
        (
            lambda m, X, y: m.set_parameters(_with_first(np.ones((2, 8), complex))),
            "needs arrays of real numbers, got complex128",
        ),
        (
            lambda m, X, y: m.set_parameters(_with_first(np.full((2, 8), 0.1))),
            "set_parameters: dense1/weights: its float64 values do not fit float32 exactly",
        ),
        (lambda m, X, y: m.set_parameters(5), r"needs a list of \(weights, biases\) pairs"),
    ],
)
def test_bad_model_calls(call, message):
    model = _classifier()
    for p in model.params:
        p.value = p.value.astype(np.float32)
    X, y = _data()
    before = _state(model)
    _raises(lambda: call(model, X, y), message)
    assert _same(before, _state(model))


# ================================================================ training that goes non-finite


def test_a_nan_loss_stops_training_before_the_update_naming_epoch_and_node():
    model = _classifier()
    X, y = _data()
    model.train(X, y, epochs=2)
    model.params[2].value[3, 1] = np.nan  # dense2/weights
    before = _state(model)
    error = _raises(
        lambda: model.train(X, y, epochs=3),
        r"Model.train: epoch 1: training diverged: the loss is nan; the first NaN/Inf: "
        r"dense2/weights: parameter holds 1 NaN",
    )
    assert "are those before this step" in str(error)
    assert _same(before, _state(model))


def test_an_exploding_regression_stops_at_the_first_bad_step_with_everything_as_before():
    model = _regressor(gn.SGD(learning_rate=10.0))
    X = np.linspace(0, 1, 32).reshape(-1, 1)
    y = 1e3 * np.sin(6 * X)
    seen = []
    original = model._step

    def recording(*args):  # the state before each step
        seen.append(_state(model))
        return original(*args)

    model._step = recording
    error = _raises(
        lambda: model.train(X, y, epochs=1000, batch_size=8),
        r"Model.train: epoch \d+, step \d: "
        r"training diverged",
    )
    assert re.search(r"the first NaN/Inf: \S+ \(in layer \w+\)", str(error))
    assert _same(seen[-1], _state(model))  # the failed step changed nothing
    assert model.optimizer.iterations == len(seen) - 1


def test_outputs_that_overflow_stop_training_before_the_update():
    model = _regressor()
    X = np.ones((4, 1))
    model.params[2].value[:] = 1e300  # dense2/weights: outputs overflow to inf in float64
    before = _state(model)
    _raises(lambda: model.train(X, np.ones((4, 1))), "Model.train: epoch 1: training diverged")
    assert _same(before, _state(model))


# ================================================================ optimizer.step

OPTIMIZERS = [
    lambda: gn.SGD(learning_rate=0.5, momentum=0.9, decay=1e-2),
    lambda: gn.Adagrad(decay=1e-3),
    lambda: gn.RMSprop(decay=1e-3),
    lambda: gn.Adam(decay=1e-3),
]
OPTIMIZER_IDS = ["sgd", "adagrad", "rmsprop", "adam"]


def _params(n=4):
    rng = np.random.default_rng(1)
    params = [gn.Parameter(rng.standard_normal((3, 2)).astype(np.float32), f"p{i}") for i in range(n)]
    grads = [rng.standard_normal((3, 2)).astype(np.float32) for _ in params]
    return params, grads


def _stepped(make):
    opt = make()
    params, grads = _params()
    opt.step(params, grads)  # state to keep
    return opt, params, grads


FAULTS = [
    (
        "complex",
        lambda ps, gs: (ps, [gs[0], gs[1].astype(complex), *gs[2:]]),
        "gradient for p1 must hold real floats, got complex128",
    ),
    (
        "int",
        lambda ps, gs: (ps, [gs[0], np.ones((3, 2), int), *gs[2:]]),
        "gradient for p1 must hold real floats, got int64",
    ),
    (
        "object",
        lambda ps, gs: (ps, [*gs[:3], gs[3].astype(object)]),
        "gradient for p3 must hold real floats, got object",
    ),
    (
        "nan",
        lambda ps, gs: (ps, [*gs[:2], np.where(gs[2] > 0, np.nan, gs[2]), gs[3]]),
        "gradient for p2 holds .* NaN and 0 Inf",
    ),
    (
        "inf",
        lambda ps, gs: (ps, [*gs[:3], np.full((3, 2), -np.inf, np.float32)]),
        r"gradient for p3 holds 0 NaN and 6 Inf of 6 values \(the first at index \(0, 0\)\)",
    ),
    ("shape", lambda ps, gs: (ps, [gs[0], gs[1].T, *gs[2:]]), r"gradient of shape \(2, 3\) for p1 of shape \(3, 2\)"),
    ("count", lambda ps, gs: (ps, gs[:3]), "4 parameters but 3 gradients"),
    ("twice", lambda ps, gs: ([ps[0], ps[1], ps[0], ps[3]], gs), "p0 is given twice"),
    ("not a parameter", lambda ps, gs: ([*ps[:3], gn.Input("x")], gs), r"\(position 3\) is not a parameter node"),
    (
        "constant",
        lambda ps, gs: ([gn.Constant(np.ones((3, 2))), *ps[1:]], gs),
        r"\(position 0\) is not a parameter node",
    ),
    ("ragged", lambda ps, gs: (ps, [*gs[:3], [[1.0, 2.0], [1.0]]]), "the gradient for p3 is not an array of numbers"),
    ("not lists", lambda ps, gs: (ps[0], gs[0]), "params and grads must be lists"),
]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
@pytest.mark.parametrize("name, fault, message", FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize("chunk", [None, 40], ids=["one chunk", "chunks of 40 bytes"])
def test_a_bad_step_changes_nothing(make, name, fault, message, chunk, monkeypatch):
    import graphnn.nn.chunks as module

    if chunk:  # several chunks: a bound first, the step in scratch when it cannot prove anything
        monkeypatch.setattr(module, "CHUNK_BYTES", chunk)
    opt, params, grads = _stepped(make)
    before = _state((opt, params))
    bad_params, bad_grads = fault(params, grads)
    _raises(lambda: opt.step(bad_params, bad_grads), message)
    assert _same(before, _state((opt, params)))


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
@pytest.mark.parametrize(
    "flag, message", [("writeable", "p2's array is read-only"), ("contiguous", "p2's array is not contiguous")]
)
def test_parameter_arrays_that_cannot_be_updated_in_place(make, flag, message):
    opt, params, grads = _stepped(make)
    if flag == "writeable":
        params[2].value.flags.writeable = False
    else:
        params[2].value = np.asfortranarray(params[2].value)
    before = _state((opt, params))
    _raises(lambda: opt.step(params, grads), message)
    assert _same(before, _state((opt, params)))


def _interrupted_at(line, step):
    """Run ``step()`` with a real Ctrl-C (SIGINT to this process) at the ``line``-th line it runs in the
    optimizer's modules; return the number of lines it ran and whether KeyboardInterrupt came out."""
    import graphnn.nn.chunks
    import graphnn.nn.optimizers

    files, count = {graphnn.nn.chunks.__file__, graphnn.nn.optimizers.__file__}, [0]

    def local(frame, event, arg):
        if event == "line":
            count[0] += 1
            if count[0] == line:
                os.kill(os.getpid(), signal.SIGINT)
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename in files else None)
    try:
        step()
        sys.settrace(None)
        for _ in range(3):  # a signal is handled between bytecodes: let it land here
            time.sleep(0)
    except KeyboardInterrupt:
        return count[0], True
    finally:
        sys.settrace(None)
    return count[0], False


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
@pytest.mark.parametrize("chunk", [None, 40], ids=["one chunk", "chunks of 40 bytes"])
def test_ctrl_c_at_any_line_of_a_step_applies_all_of_it_or_none(make, chunk, monkeypatch):
    import graphnn.nn.chunks as module

    if chunk:  # parameters split over chunks: bounded, then updated in place with Ctrl-C held back
        monkeypatch.setattr(module, "CHUNK_BYTES", chunk)
    twin, twin_params, grads = _stepped(make)
    twin.step(twin_params, grads)
    after = _state((twin, twin_params))
    opt, params, grads = _stepped(make)
    lines, _ = _interrupted_at(0, lambda: opt.step(params, grads))
    outcomes = set()
    for line in range(1, lines + 1):
        opt, params, grads = _stepped(make)
        before = _state((opt, params))
        _, raised = _interrupted_at(line, lambda o=opt, p=params, g=grads: o.step(p, g))
        assert raised
        now = _state((opt, params))
        assert _same(now, before) or _same(now, after), f"half a step after Ctrl-C at line {line}"
        outcomes.add(_same(now, after))
    assert outcomes == {False, True}  # interrupts before the commit stop it, later ones let it finish


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_an_error_while_computing_changes_nothing(make, monkeypatch):
    import graphnn.nn.chunks as module

    monkeypatch.setattr(module, "CHUNK_BYTES", 40)  # several chunks, each computed and checked first
    opt, params, grads = _stepped(make)
    before = _state((opt, params))
    compute, calls = module._Group.compute, []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError
        compute(self, *args, **kwargs)

    monkeypatch.setattr(module._Group, "compute", failing)
    monkeypatch.setattr(type(opt), "_cannot_overflow", lambda *args: False)  # every chunk checked first
    with pytest.raises(MemoryError):
        opt.step(params, grads)
    assert _same(before, _state((opt, params)))


@pytest.mark.parametrize(
    "make", [lambda: gn.SGD(learning_rate=1e38), lambda: gn.Adagrad(learning_rate=1e38)], ids=["sgd", "adagrad"]
)
def test_an_update_that_overflows_is_an_error_not_an_inf(make):
    opt, params, grads = _stepped(lambda: gn.SGD())
    opt = make()
    params[1].value[:] = 3e38
    before = _state((opt, params))
    _raises(lambda: opt.step(params, grads), r"updating p\d overflowed .*; nothing was updated")
    assert _same(before, _state((opt, params)))


def test_gradients_as_float_lists_and_aliases_of_the_parameter_are_fine():
    W = gn.Parameter(np.ones((2, 2)), "W")
    gn.SGD(learning_rate=0.5).step([W], [[[1.0, 2.0], [3.0, 4.0]]])
    assert W.value.tolist() == [[0.5, 0.0], [-0.5, -1.0]]
    gn.SGD(learning_rate=1.0).step([W], [W.value])  # the gradient is the parameter's own array
    assert W.value.tolist() == [[0.0, 0.0], [0.0, 0.0]]


# ================================================================ building graphs


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda x: gn.Graph(None), "Graph needs a node or a list of nodes as outputs, got NoneType"),
        (lambda x: gn.Graph([]), "Graph needs one or more nodes as outputs"),
        (lambda x: gn.Graph("x"), "Graph needs a node or a list of nodes as outputs, got str"),
        (lambda x: gn.Graph([x, 3]), "Graph needs one or more nodes as outputs"),
        (lambda x: gn.Graph(x, optimize="yes"), "optimize must be True or False"),
        (lambda x: gn.sum(x, axis=[0, 1]), r"sum: axis must be an int, a tuple of ints or None, got \[0, 1\]"),
        (lambda x: gn.sum(x, axis=1.0), "sum: axis must be an int, a tuple of ints or None, got 1.0"),
        (lambda x: gn.sum(x, axis=2), r"axis 2 is out of range for shape \(None, 2\)"),
        (lambda x: gn.sum(x, axis=(1, -1)), r"axis \(1, -1\) repeats an axis"),
        (lambda x: gn.max(x, axis=True), "max: axis must be an int"),
        (lambda x: gn.mean(x, axis=[1]), r"mean: axis must be an int, a tuple of ints or None, got \[1\]"),
        (lambda x: gn.sum(x, axis=0, keepdims="yes"), "keepdims must be True or False"),
        (lambda x: gn.clip(x, np.array([0.0]), 1), r"clip bounds must be Python numbers, got array\(\[0.\]\)"),
        (lambda x: gn.clip(x, 0, np.array(1.0)), "clip bounds must be Python numbers"),
        (lambda x: gn.clip(x, 1, 0), "clip bounds must satisfy lo < hi, got 1 and 0"),
        (lambda x: gn.clip(x, False, 1), "clip bounds must be Python numbers, got False"),
        (lambda x: gn.matmul(x, gn.Input("w", shape=(3, 4))), r"inner dimensions 2 and 3 differ"),
        (lambda x: gn.Input("a", dtype="notatype"), "Input a: 'notatype' is not a numpy dtype"),
        (lambda x: gn.Input("a", dtype=complex), "Input a: dtype must be a number type .* got complex128"),
        (lambda x: gn.Input("a", dtype=object), "Input a: dtype must be a number type"),
        (lambda x: gn.Input("a", dtype=str), "Input a: dtype must be a number type"),
        (lambda x: gn.Input(""), "Input: the name must be a non-empty string"),
        (lambda x: gn.Input(None), "Input: the name must be a non-empty string"),
        (lambda x: gn.Input("a", shape=(-1, 2)), r"Input a: shape must be a tuple of sizes or None, got \(-1, 2\)"),
        (lambda x: gn.Input("a", shape=(1.5,)), "Input a: shape must be a tuple of sizes"),
        (lambda x: gn.Input("a", shape=5), "Input a: shape must be a tuple of sizes"),
        (lambda x: gn.Constant(["a"]), "needs numbers, got an array of <U1"),
        (lambda x: gn.Parameter(np.ones(2, int), "p"), "parameter p: needs a float array, got int64"),
        (lambda x: x * "a", "needs numbers"),
        (lambda x: bool(x), "a node has no truth value"),
    ],
)
def test_bad_graph_building(build, message):
    x = gn.Input("x", shape=(None, 2))
    _raises(lambda: build(x), message)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gn.Dense(0, 3), r"Dense\(0, 3\): n_inputs must be a whole number >= 1, got 0"),
        (lambda: gn.Dense(2.5, 3), r"n_inputs must be a whole number >= 1, got 2.5"),
        (lambda: gn.Dense(True, 3), "n_inputs must be a whole number >= 1, got True"),
        (lambda: gn.Dense(2, "3"), "n_neurons must be a whole number >= 1, got '3'"),
        (lambda: gn.Dense(2, 3, weight_regularizer_l2=-1), "weight_regularizer_l2 must be a finite number >= 0"),
        (lambda: gn.Dense(2, 3, bias_regularizer_l1=float("nan")), "bias_regularizer_l1 must be a finite number"),
        (lambda: gn.Dense(2, 3, weight_scale=0), "weight_scale must be a finite number > 0"),
        (lambda: gn.Dense(2, 3, name="a/b"), "Dense: name must be a non-empty string without '/'"),
        (lambda: gn.Dense(2, 3, name=5), "Dense: name must be a non-empty string"),
        (lambda: gn.ReLU(name=""), "ReLU: name must be a non-empty string"),
        (lambda: gn.Dropout(1), r"Dropout: rate .* must be a finite number >= 0 and < 1, got 1"),
        (lambda: gn.Dropout("0.1"), "Dropout: rate .* must be a number, got '0.1'"),
        (lambda: gn.Dropout(0.1)(gn.Input("x"), training="no"), "training= must be True or False, got 'no'"),
        (lambda: gn.ReLU()(gn.Input("x"), training=None), "training= must be True or False, got None"),
        (lambda: gn.Dense(2, 3)(gn.Input("x", shape=(None, 4))), r"Dense\(2, 3\) expects inputs of shape \(N, 2\)"),
        (
            lambda: gn.MeanSquaredError()(gn.Input("p", shape=(None, 1)), gn.Input("t", shape=(None,))),
            r"needs targets of the predictions' shape \(None, 1\).*reshape them",
        ),
    ],
)
def test_bad_layer_arguments(make, message):
    _raises(make, message)


# ================================================================ run semantics


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"keep": "some"}, "keep must be 'all' or 'fetched', got 'some'"),
        ({"optimize": "yes"}, "optimize must be True, False or None, got 'yes'"),
        ({"fetch": "nope"}, "fetch: no node named 'nope' in this graph"),
        ({"fetch": 5}, "fetch must be a node, a name or a list of them, got 5"),
        ({"fetch": [gn.Constant(1.0)]}, "fetch: .* is not part of this graph"),
        ({"hook": "print"}, "hook must be a function"),
    ],
)
def test_bad_run_arguments(kwargs, message):
    x, graph = _graph()
    _raises(lambda: graph.run({x: np.ones(2)}, **kwargs), message)


def test_check_numerics_names_the_first_node_with_nan():
    x = gn.Input("x")
    y = gn.log(x)
    graph = gn.Graph([gn.exp(y)])
    error = _raises(
        lambda: graph.run({x: np.array([-1.0, 1.0])}, check_numerics=True),
        "log produced 1 NaN and 0 Inf of 2 values",
        gn.NumericsError,
    )
    assert error.node is y


# ================================================================ gradients


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, y: gn.grad(3, [x]), "grad: y must be a node, got int"),
        (lambda x, y: gn.grad(y, 5), "grad: xs must be a node or a list of nodes, got int"),
        (lambda x, y: gn.grad(y, ["x"]), "grad: can only differentiate with respect to nodes, got str"),
        (lambda x, y: gn.grad(x * 2, [x]), r"grad: .* has shape \(None, 2\), not a scalar"),
        (
            lambda x, y: gn.grad(x * 2, [x], upstream=np.ones(3)),
            r"upstream= has shape \(3,\) but .* has shape \(None, 2\)",
        ),
        (lambda x, y: gn.grad(x * 2, [x], upstream=np.ones((4, 3))), r"upstream= has shape \(4, 3\)"),
        (lambda x, y: gn.grad(y, [gn.Input("z")]), "does not depend on z; pass allow_unused=True"),
        (lambda x, y: gn.grad(y, [x], allow_unused="yes"), "allow_unused must be True or False"),
        (lambda x, y: gn.grad(y, [x], rewrite="bogus"), "rewrite must be True, False, 'book' or 'strict'"),
        (lambda x, y: gn.grad(y, [gn.Input("i", dtype="int32")]), "cannot differentiate with respect to i"),
    ],
)
def test_bad_gradient_requests(call, message):
    x = gn.Input("x", shape=(None, 2))
    y = gn.sum(x * x)
    _raises(lambda: call(x, y), message)


def test_upstream_of_the_wrong_shape_at_run_time():
    x = gn.Input("x")
    y = x * 2
    g = gn.grad(y, [x], upstream=gn.Input("u"))[0]
    graph = gn.Graph([g])
    _raises(lambda: graph.run({"x": np.ones(3), "u": np.ones(4)}), r"\(4,\).*\(3,\)|\(3,\).*\(4,\)")
    assert graph.run({"x": np.ones(3), "u": np.full(3, 0.5)})[g].tolist() == [1.0, 1.0, 1.0]


# ================================================================ hyperparameters and options


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gn.Adam(learning_rate="fast"), "Adam: learning_rate must be a number, got 'fast'"),
        (lambda: gn.Adam(learning_rate=float("inf")), "Adam: learning_rate must be a finite number >= 0"),
        (lambda: gn.SGD(learning_rate=-1), "SGD: learning_rate must be a finite number >= 0, got -1"),
        (lambda: gn.SGD(decay=float("nan")), "SGD: decay must be a finite number"),
        (lambda: gn.SGD(momentum=1), "SGD: momentum must be a finite number >= 0 and < 1, got 1"),
        (lambda: gn.SGD(momentum=True), "SGD: momentum must be a number, got True"),
        (lambda: gn.Adagrad(epsilon=0), "Adagrad: epsilon must be a finite number > 0, got 0"),
        (lambda: gn.RMSprop(rho=-0.1), "RMSprop: rho must be a finite number >= 0 and < 1"),
        (lambda: gn.Adam(beta_2=1.0), "Adam: beta_2 must be a finite number >= 0 and < 1, got 1.0"),
        (lambda: gn.Adam(beta_1=np.array([0.9])), "Adam: beta_1 must be a number"),
        (
            lambda: gn.CategoricalAccuracy(binary="false"),
            "CategoricalAccuracy: binary must be True or False, got 'false'",
        ),
        (lambda: gn.CategoricalAccuracy(binary=1), "binary must be True or False, got 1"),
        (lambda: gn.RegressionAccuracy(precision="x"), "RegressionAccuracy: precision must be a number, got 'x'"),
        (lambda: gn.RegressionAccuracy(precision=-1), "RegressionAccuracy: precision must be a finite number >= 0"),
        (lambda: gn.Thresholds(dead_relu="x"), r"Thresholds: dead_relu \(a fraction\) must be a number, got 'x'"),
        (
            lambda: gn.Thresholds(saturation=2.0),
            r"Thresholds: saturation \(a fraction\) must be a finite number >= 0 and <= 1",
        ),
        (lambda: gn.Thresholds(clip_hit=float("nan")), "Thresholds: clip_hit"),
        (
            lambda: gn.Thresholds(saturation_eps=0.7),
            "Thresholds: saturation_eps must be a finite number >= 0 and < 0.5",
        ),
        (lambda: gn.Thresholds(vanishing_grad=-1), "Thresholds: vanishing_grad must be a finite number >= 0"),
        (lambda: gn.Thresholds(exploding_grad=1e-9), "Thresholds: exploding_grad must be a finite number > 1e-07"),
        (lambda: gn.Model().set(optimizer="adam"), "optimizer must be an optimizer such as gn.Adam()"),
        (lambda: gn.Model().add(gn.CategoricalCrossEntropy()), r"set losses with model.set\(loss=...\)"),
        (lambda: gn.Graph([gn.Input("x") * 2]).render("out.bmp"), "cannot render to out.bmp"),
        (lambda: gn.Graph([gn.Input("x") * 2]).to_dot(depht=1), "unknown render option 'depht'; did you mean depth"),
        (lambda: gn.Graph([gn.Input("x") * 2]).to_dot(depth=0), "render option depth must be a whole number >= 1"),
        (lambda: gn.Graph([gn.Input("x") * 2]).to_dot(rankdir="up"), "render option rankdir must be one of"),
        (lambda: gn.Graph([gn.Input("x") * 2]).to_dot(values=[1]), "render option values must be a mapping"),
    ],
)
def test_bad_hyperparameters_and_options(make, message):
    _raises(make, message)


def test_good_thresholds_are_kept():
    t = gn.Thresholds(dead_relu=0.5, saturation=1, exploding_grad=10)
    assert (t.dead_relu, t.saturation, t.exploding_grad) == (0.5, 1, 10)


# ================================================================ model files


def _saved(tmp_path, content="model"):
    model = _classifier()
    X, y = _data()
    model.train(X, y, epochs=2)
    path = tmp_path / "m.npz"
    model.save(path) if content == "model" else model.save_parameters(path)
    return model, path


def _parts(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return json.loads(str(arrays.pop("__graphnn__"))), arrays


def _write(path, header, arrays):
    text = header if isinstance(header, str) else json.dumps(header)
    np.savez(path, __graphnn__=np.array(text), **arrays)
    return path


class Raw(str):
    """A record's text, written as it is."""


def _tamper(tmp_path, change):
    _, path = _saved(tmp_path)
    header, arrays = _parts(path)
    text = change(header, arrays)
    header = text if isinstance(text, Raw) else header
    return _write(tmp_path / "tampered.npz", header, arrays)


def _set(*keys_value):
    *keys, value = keys_value

    def change(header, arrays):
        target = header
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def _refused_everywhere(path, message):
    """Model.load and load_parameters into an existing model both refuse, and the model is unchanged."""
    _raises(lambda: gn.Model.load(path), message)
    gn.reset_names()
    other = _classifier()
    before = _state(other)
    try:
        other.load_parameters(path)
    except gn.GraphError as error:
        assert str(path) in str(error)
    assert _same(before, _state(other)) or not other.params


FILE_FAULTS = [
    ("iterations -1", _set("optimizer", "iterations", -1), "optimizer.iterations: must be a whole number >= 0, got -1"),
    (
        "iterations string",
        _set("optimizer", "iterations", "3"),
        "optimizer.iterations: must be a whole number >= 0, got '3'",
    ),
    ("iterations float", _set("optimizer", "iterations", 1.5), "optimizer.iterations: must be a whole number"),
    (
        "iterations bool",
        _set("optimizer", "iterations", True),
        "optimizer.iterations: must be a whole number >= 0, got True",
    ),
    (
        "lr string NaN",
        _set("optimizer", "current_learning_rate", "NaN"),
        "optimizer.current_learning_rate: must be a finite number >= 0, got 'NaN'",
    ),
    (
        "lr -50",
        _set("optimizer", "current_learning_rate", -50),
        "optimizer.current_learning_rate: must be a finite number >= 0, got -50",
    ),
    ("lr 1e999", _set("optimizer", "current_learning_rate", "1e999-marker"), None),
    (
        "lr NaN constant",
        _set("optimizer", "current_learning_rate", float("nan")),
        "NaN is not a number this format allows",
    ),
    ("lr null", _set("optimizer", "current_learning_rate", None), "current_learning_rate: must be a finite number"),
    ("optimizer kind", _set("optimizer", "kind", "lbfgs"), r"optimizer.kind: unknown 'lbfgs' \(known: sgd"),
    ("optimizer config", _set("optimizer", "config", "beta_1", 2), r"optimizer: cannot rebuild adam .*beta_1"),
    (
        "optimizer config key",
        _set("optimizer", "config", "betas", 2),
        "optimizer.config.betas: not an argument of Adam",
    ),
    ("optimizer extra field", _set("optimizer", "momentum", 1), "optimizer: unknown field 'momentum'"),
    ("state partial", lambda h, a: h["optimizer"]["state"].pop(), "optimizer.state: must name every state array"),
    (
        "state unknown",
        lambda h, a: h["optimizer"]["state"].append("optimizer.layer9.weights.cache"),
        "optimizer.state: must name every state array .*unknown",
    ),
    (
        "state member missing",
        lambda h, a: a.pop("optimizer.layer0.weights.cache"),
        "no array optimizer.layer0.weights.cache",
    ),
    (
        "cache shape",
        lambda h, a: a.update({"optimizer.layer0.weights.cache": np.zeros((3, 8), np.float32)}),
        r"optimizer.layer0.weights.cache: an array of shape \(3, 8\); the record says \(2, 8\)",
    ),
    (
        "cache nan",
        lambda h, a: a["optimizer.layer2.biases.momentums"].__setitem__((0, 1), np.nan),
        "optimizer.layer2.biases.momentums: holds NaN or Inf",
    ),
    (
        "cache negative",
        lambda h, a: a["optimizer.layer2.weights.cache"].__setitem__((0, 1), -1.0),
        "optimizer.layer2.weights.cache: a cache of squared gradients holds negative values",
    ),
    (
        "cache int",
        lambda h, a: a.update({"optimizer.layer0.biases.cache": np.zeros((1, 8), int)}),
        "optimizer.layer0.biases.cache: holds int64, not floats",
    ),
    (
        "weights (3, 8) under Dense(2, 8)",
        lambda h, a: a.update({"layer0.weights": np.zeros((3, 8), np.float32)}),
        r"layer0.weights: an array of shape \(3, 8\); the record says \(2, 8\)",
    ),
    (
        "record shape (3, 8) under Dense(2, 8)",
        _set("parameters", 0, "shape", [3, 8]),
        r"parameters \(layer 0\): Dense\(2, 8\) has weights \(2, 8\) and biases \(1, 8\); the record lists "
        r"layer0.weights \(3, 8\)",
    ),
    (
        "n_inputs string",
        _set("layers", 0, "config", "n_inputs", "2"),
        r"layers\[0\].config.n_inputs: must be a whole number >= 1, got '2'",
    ),
    (
        "n_inputs 0",
        _set("layers", 0, "config", "n_inputs", 0),
        r"layers\[0\].config.n_inputs: must be a whole number >= 1, got 0",
    ),
    ("n_inputs float", _set("layers", 0, "config", "n_inputs", 2.0), r"n_inputs: must be a whole number >= 1, got 2.0"),
    (
        "n_neurons missing",
        lambda h, a: h["layers"][2]["config"].pop("n_neurons"),
        r"layers\[2\].config.n_neurons: must be",
    ),
    (
        "regularizer string",
        _set("layers", 0, "config", "weight_regularizer_l2", "0.1"),
        r"layers\[0\]: cannot rebuild dense",
    ),
    (
        "string boolean",
        lambda h, a: h["accuracy"].update(config={"binary": "false"}),
        "accuracy: cannot rebuild categorical .*binary must be True or False, got 'false'",
    ),
    (
        "markup name",
        _set("layers", 1, "config", "name", "<b onload=x>"),
        r"layers\[1\].config.name: not an argument of ReLU",
    ),
    ("long string", _set("layers", 1, "kind", "x" * 500), r"layers\[1\].kind: must be a string of at most 200"),
    ("layer kind", _set("layers", 1, "kind", "conv"), r"layers\[1\].kind: unknown 'conv' \(known: dense, relu"),
    ("layer not object", _set("layers", 1, "relu"), r"layers\[1\]: must be an object, got str"),
    ("layers not list", _set("layers", {"0": 1}), "layers: must be a list"),
    (
        "dropout rate",
        lambda h, a: h["layers"].__setitem__(1, {"kind": "dropout", "config": {"rate": 1.5}}),
        r"layers\[1\]: cannot rebuild dropout",
    ),
    (
        "relu with params",
        lambda h, a: (
            h["parameters"].append({"key": "layer1.w", "shape": [1], "dtype": "float32"}),
            a.update({"layer1.w": np.zeros(1, np.float32)}),
        ),
        r"parameters \(layer 1\): relu has no parameters",
    ),
    ("param key", _set("parameters", 0, "key", "../../etc"), r"parameters\[0\].key: '../../etc' is not layer<i>"),
    ("param dtype", _set("parameters", 0, "dtype", "object"), r"parameters\[0\].dtype: unknown 'object'"),
    (
        "param dtype mismatch",
        _set("parameters", 0, "dtype", "float16"),
        r"layer0.weights: holds float\d+, the record says float16",
    ),
    (
        "param shape negative",
        _set("parameters", 0, "shape", [-2, 8]),
        r"parameters\[0\].shape: must be a whole number >= 0",
    ),
    ("weights nan", lambda h, a: a["layer0.weights"].__setitem__((1, 1), np.inf), "layer0.weights: holds NaN or Inf"),
    (
        "weights int",
        lambda h, a: a.update({"layer0.weights": np.zeros((2, 8), int)}),
        r"layer0.weights: holds int64, the record says float\d+",
    ),
    (
        "weights object",
        lambda h, a: a.update({"layer0.weights": np.zeros((2, 8), object)}),
        "layer0.weights: holds object",
    ),
    ("weights missing", lambda h, a: a.pop("layer2.biases"), "no array layer2.biases"),
    (
        "extra member",
        lambda h, a: a.update({"secret": np.zeros(3)}),
        "holds an array 'secret.npy' that its __graphnn__ record does not name",
    ),
    ("loss kind", _set("loss", "kind", "hinge"), "loss.kind: unknown 'hinge'"),
    ("loss missing", lambda h, a: h.pop("loss"), "__graphnn__: no field 'loss'"),
    ("loss null", _set("loss", None), "loss: must be an object, got NoneType"),
    ("unknown top field", _set("comment", "hi"), "__graphnn__: unknown field 'comment'"),
    ("version true", _set("version", True), "graphnn file version True; this graphnn reads version 1"),
    ("version 2", _set("version", 2), "graphnn file version 2"),
    ("format", _set("format", "keras"), r"not a graphnn model file \(format 'keras'\)"),
    ("content", _set("content", "weights"), "__graphnn__: unknown field 'loss'"),
    (
        "deep nesting",
        lambda h, a: Raw('{"format": "graphnn", "version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "__graphnn__: nested 100001 levels deep",
    ),
    ("duplicate keys", lambda h, a: Raw(json.dumps(h)[:-1] + ', "version": 1}'), "a key appears twice in one object"),
    ("not json", lambda h, a: Raw("{not json"), "the __graphnn__ record is not valid JSON"),
    ("json list", lambda h, a: Raw("[1, 2]"), "malformed __graphnn__ record"),
]


@pytest.mark.parametrize("name, change, message", FILE_FAULTS, ids=[f[0] for f in FILE_FAULTS])
def test_a_tampered_file_is_refused_naming_the_field(tmp_path, name, change, message):
    if name == "lr 1e999":  # JSON has no inf, but 1e999 parses to one
        _, path = _saved(tmp_path)
        header, arrays = _parts(path)
        text = json.dumps(header).replace('"current_learning_rate": ', '"current_learning_rate": 1e999, "x": ')
        path = _write(tmp_path / "t.npz", text, arrays)
        message = "optimizer.current_learning_rate: must be a finite number >= 0, got inf"
        _raises(lambda: gn.Model.load(path), "unknown field 'x'|" + message)
        header["optimizer"]["current_learning_rate"] = "@"
        text = json.dumps(header).replace('"@"', "1e999")
        path = _write(tmp_path / "t2.npz", text, arrays)
    else:
        path = _tamper(tmp_path, change)
    error = _raises(lambda: gn.Model.load(path), message)
    assert str(path) in str(error)
    _refused_everywhere(path, message)


def test_dense_12000_by_12000_with_tiny_arrays_fails_fast_without_allocating(tmp_path):
    _, path = _saved(tmp_path)
    header, arrays = _parts(path)
    header["layers"][0]["config"].update(n_inputs=12000, n_neurons=12000)
    header["layers"][2]["config"]["n_inputs"] = 12000
    path = _write(tmp_path / "big.npz", header, arrays)
    tracemalloc.start()
    start = time.perf_counter()
    _raises(lambda: gn.Model.load(path), r"parameters \(layer 0\): Dense\(12000, 12000\) has weights")
    header["parameters"][0]["shape"] = [12000, 12000]  # the record agrees, the arrays do not
    header["parameters"][1]["shape"] = [1, 12000]
    header["parameters"][2]["shape"] = [12000, 3]
    for key in ("momentums", "cache"):
        arrays[f"optimizer.layer0.weights.{key}"] = np.zeros((12000, 12000)[:1] + (1,), np.float32)
    path = _write(tmp_path / "big2.npz", header, arrays)
    _raises(
        lambda: gn.Model.load(path), r"layer0.weights: an array of shape \(2, 8\); the record says \(12000, 12000\)"
    )
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1 and peak < 20e6


def _bomb_member(name: str, blocks: int) -> tuple[bytes, int, int]:
    """A deflated .npy of ``blocks`` x 16 MiB of float32 zeros, made by repeating one full-flush block."""
    header = io.BytesIO()
    count = blocks * 2**22
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
    chunk = 1 << 24
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = head.compress(header.getvalue()) + head.flush(zlib.Z_FULL_FLUSH)
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = zeros.compress(bytes(chunk)) + zeros.flush(zlib.Z_FULL_FLUSH)
    data += block * (count * 4 // chunk) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return data, len(header.getvalue()) + count * 4, 0  # the CRC is never reached


def _add_raw_member(path, name: str, data: bytes, size: int, crc: int):
    """Append a deflated member written by hand (zipfile cannot store precompressed data)."""
    with zipfile.ZipFile(path) as archive:
        members = [(i, archive.read(i.filename)) for i in archive.infolist()]
    out, central = io.BytesIO(), io.BytesIO()
    entries = [(i.filename.encode(), 0, zlib.crc32(raw), len(raw), len(raw), raw) for i, raw in members]
    entries.append((name.encode(), 8, crc, len(data), size, data))
    for fname, method, crc_, csize, usize, raw in entries:
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 33, crc_, csize, usize, len(fname), 0))
        out.write(fname + raw)
        central.write(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                33,
                crc_,
                csize,
                usize,
                len(fname),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + fname
        )
    start = out.tell()
    out.write(central.getvalue())
    out.write(
        struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central.getvalue()), start, 0)
    )
    path.write_bytes(out.getvalue())


@pytest.mark.parametrize("named", [False, True])
def test_a_small_file_with_a_huge_compressed_array_is_refused_without_decompressing_it(tmp_path, named):
    _, path = _saved(tmp_path)
    data, size, crc = _bomb_member("huge.npy", 60)  # 960 MiB
    if named:  # the record names it, as a small array: its declared size gives it away
        header, arrays = _parts(path)
        header["parameters"][1]["key"] = "layer0.biases"
        arrays.pop("layer0.biases")
        path = _write(tmp_path / "named.npz", header, arrays)
        _add_raw_member(path, "layer0.biases.npy", data, size, crc)
        message = r"layer0.biases: an array of shape \(251658240,\); the record says \(1, 8\)"
    else:
        _add_raw_member(path, "huge.npy", data, size, crc)
        message = "holds an array 'huge.npy' that its __graphnn__ record does not name"
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    start = time.perf_counter()
    _raises(lambda: gn.Model.load(path), message)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1 and peak < 20e6


def test_a_record_that_is_too_large(tmp_path):
    _, path = _saved(tmp_path)
    header, arrays = _parts(path)
    path = _write(tmp_path / "large.npz", json.dumps(header)[:-1] + ', "pad": "' + "x" * 2**21 + '"}', arrays)
    _raises(lambda: gn.Model.load(path), r"__graphnn__: a record of \d+ bytes \(at most 4194304\)")


def test_a_padded_member_is_refused(tmp_path):
    _, path = _saved(tmp_path)
    header, arrays = _parts(path)
    path = _write(tmp_path / "p.npz", header, {k: v for k, v in arrays.items() if k != "layer0.biases"})
    raw = io.BytesIO()
    np.save(raw, arrays["layer0.biases"])
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("layer0.biases.npy", raw.getvalue() + b"\0" * 64)
    _raises(
        lambda: gn.Model.load(path),
        r"layer0.biases: the archive stores \d+ bytes for an array of 64 bytes \(truncated or padded\)",
    )


def test_a_good_file_still_loads_and_a_float64_file_loads_into_float32_only_when_exact(book_numpy, tmp_path):
    model, path = _saved(tmp_path)
    loaded = gn.Model.load(path)
    assert _same(_state(model), _state(loaded))
    header, arrays = _parts(path)
    header = {k: v for k, v in header.items() if k not in ("loss", "accuracy", "optimizer")} | {"content": "parameters"}
    arrays = {k: v.astype(np.float64) for k, v in arrays.items() if not k.startswith("optimizer.")}
    for entry in header["parameters"]:
        entry["dtype"] = "float64"
    gn.reset_names()
    target = _classifier()
    target.load_parameters(_write(tmp_path / "exact.npz", header, arrays))
    assert all(a.value.tobytes() == b.value.tobytes() for a, b in zip(target.params, model.params))
    arrays["layer0.weights"][0, 0] = 0.1
    before = _state(target)
    _raises(
        lambda: target.load_parameters(_write(tmp_path / "inexact.npz", header, arrays)),
        "layer0.weights for dense1/weights: its float64 values do not fit float32 exactly",
    )
    assert _same(before, _state(target))


# ================================================================ the command line


def _one_line(err: str, *parts):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(p in lines[0] for p in parts), lines[0]


def _cli_cases(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "folder.svg").mkdir()
    (tmp_path / "bad.npz").write_bytes(b"garbage" * 10)
    return [
        (["render", str(tmp_path / "afile" / "x.svg")], ["graphnn render: cannot create the folder", "afile"]),
        (["render", "/proc/graphnn-hostile/x.svg"], ["graphnn render: cannot create the folder /proc/graphnn-hostile"]),
        (["render", "/proc/x.svg"], ["graphnn render: cannot write /proc/x.svg"]),
        (["render", str(tmp_path / "folder.svg")], ["graphnn render: cannot write", "it is a folder"]),
        (
            ["render", str(tmp_path / "x.svg"), "--model", str(tmp_path / "bad.npz")],
            ["graphnn render:", "bad.npz: not a readable graphnn model file"],
        ),
        (
            ["render", str(tmp_path / "x.svg"), "--model", str(tmp_path / "missing.npz")],
            ["graphnn render:", "missing.npz: no such file"],
        ),
        (["render", str(tmp_path / "x.svg"), "--model", str(tmp_path)], ["graphnn render:", "is a folder"]),
        (["demo", "--out", str(tmp_path / "afile")], ["graphnn demo: cannot create the folder", "afile"]),
        (["demo", "--out", "/proc"], ["graphnn demo: cannot write /proc/forward.svg"]),
    ]


@pytest.mark.parametrize("case", range(9))
def test_cli_bad_paths_and_files_print_one_line(book_numpy, tmp_path, capsys, case):  # nnfs.init() undone
    argv, parts = _cli_cases(tmp_path)[case]
    assert main(argv) == 1
    _one_line(capsys.readouterr().err, *parts)


@pytest.mark.parametrize("case", [0, 3, 4])
def test_cli_as_a_program_prints_one_line_and_exits_non_zero(tmp_path, case):
    argv, parts = _cli_cases(tmp_path)[case]
    result = subprocess.run(
        [sys.executable, "-m", "graphnn.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 1
    _one_line(result.stderr, *parts)


def test_cli_a_tampered_model_file(book_numpy, tmp_path, capsys):
    path = _tamper(tmp_path, _set("optimizer", "iterations", -1))
    assert main(["render", str(tmp_path / "x.svg"), "--model", str(path)]) == 1
    _one_line(capsys.readouterr().err, "tampered.npz: optimizer.iterations: must be a whole number >= 0, got -1")


def test_a_step_the_optimizer_refuses_for_another_reason_is_not_called_divergence():
    model = _classifier()
    X, y = _data()
    model.train(X, y, epochs=2)
    model.params[1].value.flags.writeable = False
    before = _state(model)
    error = _raises(lambda: model.train(X, y, epochs=2),
                    r"Model.train: epoch 1: Adam.step: dense1/biases's array is read-only; it is updated in place. "
                    r"The parameters and optimizer state are those before this step")
    assert "diverged" not in str(error)
    assert _same(before, _state(model))


# ---------------------------------------------------------------- options that once passed for something else

def test_options_that_would_pass_for_true_are_refused():
    X = gn.Input("x", shape=(None, 3))
    graph = gn.Graph([gn.sum(gn.exp(X))])
    with pytest.raises(gn.GraphError, match="check_numerics must be True or False, got 'yes'"):
        graph.run({X: np.ones((2, 3))}, check_numerics="yes")
    with pytest.raises(gn.GraphError, match="rewrite must be True, False, 'book' or 'strict', got 1"):
        gn.grad(graph.outputs[0], [X], rewrite=1)
    values = graph.run({X: np.ones((2, 3))})
    with pytest.raises(gn.GraphError, match="thresholds must be a gn.Thresholds"):
        gn.diagnose(graph, values, thresholds="x")
