"""Graphs: evaluation order, partial runs, compiled-plan reuse, names, feeds and their errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphnn as gn
from graphnn.runtime import plan as plan_module

ROOT = Path(__file__).resolve().parents[1]


def seed_graph():
    inputs, targets = gn.Input("X"), gn.Input("y")
    dense1, relu, dense2 = gn.Dense(2, 3), gn.ReLU(), gn.Dense(3, 3)
    probs = gn.Softmax()(dense2(relu(dense1(inputs))))
    loss = gn.CategoricalCrossEntropy()(probs, targets)
    return gn.Graph([probs, loss]), inputs, targets, probs, loss


def spiral():
    from nnfs.datasets import spiral_data

    return spiral_data(samples=100, classes=3)


# ------------------------------------------------------------ the notebook's numbers

def test_quick_start_prints_the_notebook_numbers():
    result = subprocess.run([sys.executable, "examples/seed_forward.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "[[0.33333334 0.33333334 0.33333334]"
    assert lines[1] == " [0.3333332  0.3333332  0.33333364]"
    assert lines[5] == "Loss: 1.0986104011535645"
    assert lines[6] == "(300, 3)"


def test_seed_values_within_tolerance(book_numpy):
    X, y = spiral()  # data first, then weights: the notebook's order
    graph, inputs, targets, probs, loss = seed_graph()
    values = graph.run({inputs: X, targets: y})
    assert abs(values[loss] - 1.0986104011535645) < 1e-7
    np.testing.assert_allclose(values[probs][:2], [[0.33333334] * 3, [0.3333332, 0.3333332, 0.33333364]],
                               atol=1e-7)


class NotebookDense:  # the seed notebook's classes, as the oracle for the layers
    def __init__(self, weights, biases):
        self.weights, self.biases = weights, biases

    def forward(self, inputs):
        self.output = np.dot(inputs, self.weights) + self.biases


def notebook_forward(X, y, dense1, dense2):
    d1 = NotebookDense(dense1.weights.value, dense1.biases.value)
    d2 = NotebookDense(dense2.weights.value, dense2.biases.value)
    d1.forward(X)
    relu = np.maximum(0, d1.output)
    d2.forward(relu)
    exp_values = np.exp(d2.output - np.max(d2.output, axis=1, keepdims=True))
    probs = exp_values / np.sum(exp_values, axis=1, keepdims=True)
    clipped = np.clip(probs, 1e-7, 1 - 1e-7)
    loss = np.mean(-np.log(clipped[range(len(probs)), y]))
    return d1.output, relu, d2.output, probs, loss


@pytest.mark.parametrize("with_nnfs", [True, False])
def test_layers_equal_the_notebook_classes(with_nnfs, request):
    if with_nnfs:
        request.getfixturevalue("book_numpy")
    X, y = spiral()
    inputs, targets = gn.Input("X"), gn.Input("y")
    dense1, dense2 = gn.Dense(2, 3), gn.Dense(3, 3)
    rng = np.random.default_rng(0)  # weights big enough that ReLU zeroes some values
    dense1.weights.value[...] = rng.standard_normal((2, 3))
    h = dense1(inputs)
    r = gn.ReLU()(h)
    o = dense2(r)
    p = gn.Softmax()(o)
    loss = gn.CategoricalCrossEntropy()(p, targets)
    values = gn.Graph([loss]).run({inputs: X, targets: y})
    expected = notebook_forward(X, y, dense1, dense2)
    for node, want in zip((h, r, o, p, loss), expected):
        np.testing.assert_array_equal(values[node], want)
        assert np.asarray(values[node]).dtype == np.asarray(want).dtype
    assert (values[r] == 0).any() and (values[r] > 0).any()


def test_one_hot_labels_give_the_same_loss():
    X, y = spiral()
    graph, inputs, targets, probs, loss = seed_graph()
    sparse = graph.run({inputs: X, targets: y})[loss]
    gn.reset_names()
    targets_1h = gn.Input("y", shape=(None, 3))
    probs_1h = gn.Softmax()(gn.Dense(3, 3)(gn.ReLU()(gn.Dense(2, 3)(gn.Input("X")))))
    assert probs_1h.name == "softmax1/normalize"
    loss_1h = gn.CategoricalCrossEntropy()(probs_1h, targets_1h)
    assert "cce1/sum" in str(gn.Graph([loss_1h])) and "pick" not in str(gn.Graph([loss_1h]))
    assert np.isfinite(sparse)


# ------------------------------------------------------------ order, partial runs, plans

def test_evaluation_order_is_topological_and_follows_creation():
    graph, *_ = seed_graph()
    position = {n: i for i, n in enumerate(graph.nodes)}
    for node in graph.nodes:
        assert all(position[i] < position[node] for i in node.inputs)
    assert [n.serial for n in graph.nodes] == sorted(n.serial for n in graph.nodes)


def test_hook_sees_nodes_in_plan_order():
    graph, inputs, targets, probs, loss = seed_graph()
    X, y = spiral()
    seen = []
    graph.run({inputs: X, targets: y}, hook=lambda node, value: seen.append(node))
    assert seen == graph.nodes


def test_partial_run_computes_only_what_the_fetch_needs():
    graph, inputs, targets, probs, loss = seed_graph()
    X, _ = spiral()
    values = graph.run({"X": X}, fetch="dense1/matmul")  # no labels needed
    assert sorted(n.name for n in values) == ["X", "dense1/matmul", "dense1/weights"]
    assert values["dense1/matmul"].shape == (300, 3)
    with pytest.raises(KeyError, match="dense2/matmul was not computed in this run"):
        values[graph.node("dense2/matmul")]


def test_compiled_plan_is_reused(monkeypatch):
    graph, inputs, targets, probs, loss = seed_graph()
    X, y = spiral()
    compiled = []
    real = plan_module.compile_program
    monkeypatch.setattr(plan_module, "compile_program", lambda *a, **k: compiled.append(1) or real(*a, **k))
    first = graph.run({inputs: X, targets: y})
    once = len(compiled)  # after a first run that checks the shape rules
    second = graph.run({inputs: X, targets: y})
    graph.run({inputs: X, targets: y})
    assert once == 1 and len(compiled) == once
    assert first[loss] == second[loss]
    graph.run({inputs: X[:10], targets: y[:10]})  # a new batch size: checked and compiled once more
    assert len(compiled) == 2 * once


def test_keep_fetched_returns_only_the_fetch():
    graph, inputs, targets, probs, loss = seed_graph()
    X, y = spiral()
    values = graph.run({inputs: X, targets: y}, fetch=[loss], keep="fetched")
    assert list(values) == [loss]
    assert values[loss] == graph.run({inputs: X, targets: y})[loss]


def test_later_runs_do_not_overwrite_earlier_values():
    graph, inputs, targets, probs, loss = seed_graph()
    X, y = spiral()
    first = graph.run({inputs: X, targets: y})
    kept = first[probs].copy()
    graph.run({inputs: X * 3, targets: y})
    np.testing.assert_array_equal(first[probs], kept)


# ------------------------------------------------------------ names and text

def test_names_are_deterministic_and_readable():
    graph, *_ = seed_graph()
    names = [n.name for n in graph.nodes]
    assert names[:6] == ["X", "y", "dense1/weights", "dense1/biases", "dense2/weights", "dense2/biases"]
    assert {"dense1/matmul", "dense1/add_bias", "relu1/maximum", "softmax1/exp", "softmax1/normalize",
            "cce1/clip", "cce1/pick", "cce1/log", "cce1/neg", "cce1/mean"} <= set(names)
    gn.reset_names()
    again, *_ = seed_graph()
    assert [n.name for n in again.nodes] == names
    assert str(again) == str(graph)


def test_layer_names_follow_first_use_and_explicit_names():
    a, b = gn.Dense(2, 2), gn.Dense(2, 2, name="hidden")
    x = gn.Input("x")
    b(a(x))
    c = gn.Dense(2, 2)
    c(x)
    assert (a.name, b.name, c.name) == ("dense1", "hidden", "dense2")
    assert a.weights.name == "dense1/weights"


def test_print_lists_one_line_per_node(book_numpy):
    graph, *_ = seed_graph()
    lines = str(graph).splitlines()
    assert len(lines) == len(graph.nodes)
    assert "dense1/matmul: (None, 3) float32 = matmul(X, dense1/weights)" in lines
    assert "softmax1/max: (None, 1) float32 = max(dense2/add_bias, axis=1, keepdims=True)" in lines


# ------------------------------------------------------------ mistakes

def test_dense_on_the_wrong_number_of_features_fails_at_build():
    X = gn.Input("X", shape=(None, 4))
    with pytest.raises(gn.GraphError, match=r"dense1: Dense\(2, 3\) expects inputs of shape \(N, 2\), "
                                            r"got X of shape \(None, 4\)"):
        gn.Dense(2, 3)(X)


def test_dense_fed_the_wrong_number_of_features_fails_before_running():
    graph, inputs, targets, probs, loss = seed_graph()
    X, y = spiral()
    calls = []
    with pytest.raises(gn.GraphError, match=r"dense1/matmul \(in layer dense1\): cannot multiply "
                                            r"\(300, 4\) by \(2, 3\): inner dimensions 4 and 2 differ"):
        graph.run({inputs: np.hstack([X, X]), targets: y}, hook=lambda n, v: calls.append(n))
    assert calls == []  # nothing ran


def test_matmul_of_mismatched_shapes():
    with pytest.raises(gn.GraphError, match=r"matmul: cannot multiply \(None, 3\) by \(2, 2\).*"
                                            r"\[inputs: a \(None, 3\), w \(2, 2\)\]"):
        gn.matmul(gn.Input("a", shape=(None, 3)), gn.Parameter(np.ones((2, 2)), name="w"))


def test_missing_and_unknown_feeds():
    graph, inputs, targets, probs, loss = seed_graph()
    X, y = spiral()
    with pytest.raises(gn.GraphError, match=r"no feed for input y \(needed by softmax1/normalize, cce1/mean\)"):
        graph.run({inputs: X})
    with pytest.raises(gn.GraphError, match=r"feed for 'Y': not an input of this graph \(its inputs are X, y\)"):
        graph.run({inputs: X, "Y": y})


def test_feed_of_the_wrong_rank_or_feature_size():
    X = gn.Input("X", shape=(None, 2))
    out = gn.Dense(2, 3)(X)
    graph = gn.Graph([out])
    with pytest.raises(gn.GraphError, match=r"feed for X: expected shape \(None, 2\), got \(300,\)"):
        graph.run({X: np.zeros(300)})
    with pytest.raises(gn.GraphError, match=r"feed for X: expected shape \(None, 2\), got \(300, 5\)"):
        graph.run({X: np.zeros((300, 5))})


def test_labels_out_of_range():
    graph, inputs, targets, probs, loss = seed_graph()
    X, y = spiral()
    with pytest.raises(gn.GraphError, match=r"cce1/pick \(in layer cce1\): pick failed: labels must lie in "
                                            r"\[0, 3\), got values from 0 to 3"):
        graph.run({inputs: X, targets: y + (y == 2)})
    with pytest.raises(gn.GraphError, match="got values from -1 to 2"):
        graph.run({inputs: X, targets: y.astype(int) - (y == 0)})
    with pytest.raises(gn.GraphError, match=r"cce1/pick.*100 labels for 300 samples"):
        graph.run({inputs: X, targets: y[:100]})
    with pytest.raises(gn.GraphError, match=r"cce1/pick.*class labels must be integers, got float64"):
        graph.run({inputs: X, targets: y.astype(float)})


def test_fetching_an_unknown_name_suggests_near_ones():
    graph, inputs, targets, probs, loss = seed_graph()
    with pytest.raises(gn.GraphError, match=r"fetch: no node named 'dense1/matmull' in this graph; did you mean "
                                            r"dense1/matmul"):
        graph.run({inputs: np.zeros((1, 2))}, fetch="dense1/matmull")
    values = graph.run({inputs: np.zeros((1, 2)), targets: np.array([0])})
    with pytest.raises(KeyError, match="did you mean softmax1/exp"):
        values["softmax1/expp"]


def test_graph_needs_nodes():
    with pytest.raises(gn.GraphError, match="Graph needs one or more nodes"):
        gn.Graph([])


# ------------------------------------------------------------ dtypes

def test_float32_graph_stays_float32_without_nnfs():
    graph, inputs, targets, probs, loss = seed_graph()
    for p in graph.params:
        p.value = p.value.astype(np.float32)
    X, y = spiral()
    grads = gn.grad(loss, graph.params)
    values = gn.Graph([loss, *grads]).run({inputs: X.astype(np.float32), targets: y})
    for node, value in values.items():
        if node.kind == "op":
            assert np.asarray(value).dtype == np.float32, node.name
