"""The optimizing executor: same results bit for bit, less work, buffers reused safely."""

import threading

import numpy as np
import pytest
from nnfs.datasets import spiral_data

import graphnn as gn
from graphnn.core import ops


def float32_training_graph(rewrite=True, regularized=False):
    """Chapter 10's network in float32, with its gradients; returns (graph, feeds, loss, grads)."""
    np.random.seed(0)
    X, y = spiral_data(samples=100, classes=3)
    inputs, labels = gn.Input("X", shape=(None, 2), dtype="float32"), gn.Input("y")
    options = {"weight_regularizer_l2": 5e-4, "bias_regularizer_l1": 1e-4} if regularized else {}
    dense1, dense2 = gn.Dense(2, 64, **options), gn.Dense(64, 3)
    for dense in (dense1, dense2):
        dense.weights.value = dense.weights.value.astype(np.float32)
        dense.biases.value = dense.biases.value.astype(np.float32)
    hidden = gn.ReLU()(dense1(inputs))
    if regularized:
        hidden = gn.Dropout(0.1)(hidden)
    loss = gn.CategoricalCrossEntropy()(gn.Softmax()(dense2(hidden)), labels)
    if regularized:
        loss = loss + gn.regularization_loss([dense1, dense2])
    params = [dense1.weights, dense1.biases, dense2.weights, dense2.biases]
    grads = gn.grad(loss, params, rewrite=rewrite)
    return gn.Graph([loss, *grads]), {inputs: X.astype(np.float32), labels: y}, loss, grads


def assert_same(a, b):
    assert np.shape(a) == np.shape(b)
    assert np.asarray(a).dtype == np.asarray(b).dtype
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rewrite", [True, False])
@pytest.mark.parametrize("keep", ["fetched", "all"])
def test_optimized_runs_equal_plain_runs_bit_for_bit(rewrite, keep):
    graph, feeds, _, _ = float32_training_graph(rewrite)
    plain = graph.run(feeds, keep=keep, optimize=False)
    for _ in range(3):  # the check run, then runs in buffers
        values = graph.run(feeds, keep=keep)
        assert list(values) == list(plain)
        for node in plain:
            assert_same(values[node], plain[node])


def test_a_float32_training_graph_computes_in_float32():
    graph, feeds, _, _ = float32_training_graph(rewrite=False, regularized=True)
    for optimize in (True, False):
        np.random.seed(1)
        values = graph.run(feeds, optimize=optimize)
        for node, value in values.items():
            dtype = np.asarray(value).dtype
            if node.kind != "constant" and node.name != "y":  # Python numbers stay weak
                assert dtype == np.float32, f"{node.name} is {dtype}"


def test_values_a_caller_holds_are_never_overwritten_by_later_runs():
    graph, feeds, _, _ = float32_training_graph()
    inputs = next(n for n in feeds if n.name == "X")
    X = feeds[inputs]
    for keep in ("fetched", "all"):
        first = graph.run(feeds, keep=keep)
        saved = {n: np.copy(v) for n, v in first.items()}
        for scale in (2.0, 3.0):
            graph.run({**feeds, inputs: X * scale}, keep=keep)
        for node, value in first.items():
            assert_same(value, saved[node])


def test_a_fetched_view_of_an_intermediate_is_not_overwritten():
    x = gn.Input("x", dtype="float32")
    hidden = gn.exp(x) * 2.0
    view = gn.transpose(hidden)  # shares memory with hidden
    out = gn.sum(view * 3.0)
    graph = gn.Graph([view, out])
    a = np.ones((20, 30), np.float32)
    runs = [graph.run({x: a * k}, keep="fetched") for k in (1, 2, 3, 4)]
    for k, values in zip((1, 2, 3, 4), runs):
        np.testing.assert_array_equal(values[view], (np.exp(a * k) * 2.0).T)


def test_buffers_are_allocated_once_and_shared():
    graph, feeds, _, _ = float32_training_graph()
    graph.run(feeds, keep="fetched")
    graph.run(feeds, keep="fetched")
    plan = graph.plan(feeds, keep="fetched")
    assert plan.pooled
    program = plan.program
    buffers = [id(b) for b in program.buffers]
    graph.run(feeds, keep="fetched")
    assert graph.plan(feeds, keep="fetched") is plan and [id(b) for b in program.buffers] == buffers
    assert 0 < len(program.buffers) < program.source.count("out=b")  # values share buffers
    assert f"{len(program.buffers)} buffers of" in plan.explain()


def test_gradient_sums_accumulate_in_place():
    x = gn.Input("x", shape=(20, 30), dtype="float32")
    y = gn.sum(gn.exp(x) * gn.exp(x * 2.0) + x * x)  # x is used four times
    dx = gn.grad(y, x)
    graph = gn.Graph([dx])
    a = np.linspace(-1, 1, 600, dtype=np.float32).reshape(20, 30)
    plain = graph.run({x: a}, keep="fetched", optimize=False)[dx]
    for _ in range(2):
        assert_same(graph.run({x: a}, keep="fetched")[dx], plain)
    plan = graph.plan({x: a}, keep="fetched")
    adds = [line for line in plan.program.source.splitlines() if "grad" in line or "out=b" in line]
    assert adds and any(
        line.split("out=")[1].rstrip(")") in line.split("(")[1] for line in plan.program.source.splitlines()
        if "out=" in line)  # some node writes into the buffer of an input it consumes


def test_duplicates_merge_constants_fold_and_unneeded_nodes_drop():
    x = gn.Input("x", shape=(4, 5), dtype="float32")
    twice = gn.exp(x) + gn.exp(x)  # two identical exp nodes
    loss = gn.mean(twice * 3.0)
    dx = gn.grad(loss, x)  # seeded by ones_like(loss), scaled by 1 / count: shapes only
    graph = gn.Graph([dx])
    a = np.ones((4, 5), np.float32)
    source = graph.plan({x: a}, keep="fetched").program.source
    assert source.count("(") - 1 == 4, source  # exp, add's gradient sum, mul, mul: nothing else runs
    np.testing.assert_allclose(graph.run({x: a}, keep="fetched")[dx], np.full((4, 5), 2 * 3 * np.e / 20),
                               rtol=1e-6)
    plain = gn.Graph([dx], optimize=False)
    assert len(plain.plan({x: a}, keep="fetched").program.source.splitlines()) > len(source.splitlines())


def test_folded_values_are_computed_once_and_returned_as_copies():
    x = gn.Input("x", dtype="float32")
    ones = ops.ones_like(x)
    graph = gn.Graph([ones])
    feeds = {x: np.zeros((2, 3), np.float32)}
    plan = graph.plan(feeds)
    assert ".copy()" in plan.program.source and "f1(" not in plan.program.source  # folded
    first = graph.run(feeds)[ones]
    first[0, 0] = 5.0  # the caller's own array
    np.testing.assert_array_equal(graph.run(feeds)[ones], np.ones((2, 3), np.float32))


def test_a_user_primitive_whose_shape_rule_is_wrong_is_caught_before_a_buffer_hides_it():
    wrong_exp = gn.define_primitive("wrong_exp", np.exp, lambda a: (a.shape, np.dtype("float64")),
                                    (lambda g, n: g * n,))
    x = gn.Input("x", dtype="float32")
    graph = gn.Graph([gn.sum(wrong_exp(x) * 2.0)])
    a = np.ones((30, 30), np.float32)
    for optimize in (True, False):
        with pytest.raises(gn.GraphError, match=r"wrong_exp\S*: wrong_exp returned \(30, 30\) float32, but its "
                                                r"shape rule said \(30, 30\) float64"):
            graph.run({x: a}, keep="fetched", optimize=optimize)


def test_matmul_follows_np_dot_when_nnfs_replaces_it(book_numpy):
    graph, feeds, _, _ = float32_training_graph()
    plain = graph.run(feeds, keep="fetched", optimize=False)
    for _ in range(3):
        values = graph.run(feeds, keep="fetched")
        for node in plain:
            assert_same(values[node], plain[node])


def test_runs_from_several_threads_do_not_share_buffers():
    x = gn.Input("x", dtype="float32")
    y = gn.sum(gn.exp(x) * 2.0 + x, axis=1)
    graph = gn.Graph([y])
    arrays = [np.full((50, 40), k / 10, np.float32) for k in range(4)]
    expected = [np.sum(np.exp(a) * 2.0 + a, axis=1) for a in arrays]
    graph.run({x: arrays[0]}, keep="fetched")
    errors = []

    def work(k):
        for _ in range(200):
            if not np.array_equal(graph.run({x: arrays[k]}, keep="fetched")[y], expected[k]):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_errors_still_name_the_node():
    x, labels = gn.Input("x", dtype="float32"), gn.Input("labels")
    loss = gn.CategoricalCrossEntropy()(gn.Softmax()(x), labels)
    graph = gn.Graph([loss])
    with pytest.raises(gn.GraphError, match="labels must lie in"):
        graph.run({x: np.ones((3, 3), np.float32), labels: np.array([0, 1, 5])}, keep="fetched")


def test_a_plan_longer_than_a_chunk_runs_and_names_its_errors():
    from graphnn.runtime.compiler import CHUNK
    x, labels = gn.Input("x", shape=(None, 3), dtype="float32"), gn.Input("labels")
    h = early = gn.exp(x)
    cycle = (lambda v: v * 0.9, lambda v: v + 0.1, gn.exp, gn.log, gn.neg)
    for i in range(int(1.5 * CHUNK)):
        h = cycle[i % 5](h)
        if i % 700 == 0:  # values that cross one or more cuts
            h = h + early + x
    out = gn.pick(h, labels, name="late_pick")
    graph = gn.Graph([out])
    feeds = {x: np.full((3, 3), 0.3, np.float32), labels: np.array([0, 1, 2])}
    plain = graph.run(feeds, optimize=False)
    assert "def _plan1(" in graph.plan(feeds, optimize=False).explain()  # compiled in chunks
    for keep in ("all", "fetched"):
        for _ in range(2):  # the check run, then the chunked program
            values = graph.run(feeds, keep=keep)
            assert_same(values[out], plain[out])
            if keep == "all":
                assert all(np.array_equal(values[n], plain[n]) for n in plain)
    fetched = graph.run(feeds, fetch=[out, early, x], keep="fetched", optimize=False)
    for _ in range(2):  # kept values from several chunks, back in the order asked for
        values = graph.run(feeds, fetch=[out, early, x], keep="fetched")
        assert [values[n].tolist() for n in (out, early, x)] == [fetched[n].tolist() for n in (out, early, x)]
    trace = gn.Trace()
    assert_same(graph.run(feeds, hook=trace)[out], plain[out])
    bad = {x: feeds[x], labels: np.array([0, 1, 5])}
    for keep in ("all", "fetched"):  # plans already checked: the error comes from a chunk
        for optimize in (True, False):
            with pytest.raises(gn.GraphError, match=r"late_pick.*labels must lie in.*\(3, 3\).*labels \(3,\)"):
                graph.run(bad, keep=keep, optimize=optimize)
