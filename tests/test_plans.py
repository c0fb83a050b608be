"""Plans: bounded caches, one plan for every batch size after the first, no aliasing, bit-exact modes."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.runtime import plan as plan_module


def classifier(n_in=4, hidden=32, classes=3):
    np.random.seed(0)
    model = gn.Model()
    model.add(gn.Dense(n_in, hidden))
    model.add(gn.ReLU())
    model.add(gn.Dense(hidden, classes))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.SGD(learning_rate=0.1, momentum=0.5))
    model.finalize()
    return model


@pytest.fixture
def compiles(monkeypatch):
    counted = []
    real = plan_module.compile_program
    monkeypatch.setattr(plan_module, "compile_program", lambda *a, **k: counted.append(1) or real(*a, **k))
    return counted


def test_many_batch_sizes_share_one_plan_and_memory_stays_flat(compiles):
    model = classifier()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1100, 4)).astype(np.float32)
    expected = {n: model.predict(X[:n]) for n in (7, 300)}
    tracemalloc.start()
    try:
        for n in range(1, 1001):  # 1,000 predict calls, each a different size
            model.predict(X[:n])
            if n == 50:
                settled, _ = tracemalloc.get_traced_memory()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(compiles) == 2  # the first size's plan, then one plan for every other size
    assert after - settled < 2 * 2**20, (settled, after)
    for n, value in expected.items():  # the shared plan computes what each size's own plan computes
        assert np.array_equal(model.predict(X[:n]), value)


def test_training_steps_of_varying_batch_size_keep_memory_flat(compiles):
    model = classifier()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((600, 4)).astype(np.float32)
    y = rng.integers(0, 3, 600)
    tracemalloc.start()
    try:
        for step in range(1000):
            n = 100 + (step * 37) % 500
            model._step(X[:n], y[:n])
            if step == 50:
                settled, _ = tracemalloc.get_traced_memory()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - settled < 2 * 2**20, (settled, after)
    assert len(compiles) <= 4  # training and its regularization/accuracy need no plan per size


def test_a_bad_feed_for_a_shared_plan_is_still_refused_before_running():
    model = classifier()
    X = np.ones((5, 4), np.float32)
    model.predict(X)
    model.predict(X[:3])  # now one plan serves every batch size
    with pytest.raises(gn.GraphError, match=r"dense1: Dense\(4, 32\) expects|X must have shape \(N, 4\)"):
        model.predict(np.ones((2, 5), np.float32))
    labels = gn.Input("labels")
    x = gn.Input("x", shape=(None, 3), dtype="float32")
    graph = gn.Graph([gn.pick(x, labels)])
    for n in (4, 5):
        graph.run({x: np.ones((n, 3), np.float32), labels: np.zeros(n, np.int64)})
    with pytest.raises(gn.GraphError, match=r"pick.*6 labels for 7 samples"):
        graph.run({x: np.ones((7, 3), np.float32), labels: np.zeros(6, np.int64)})


def test_plans_are_bounded_and_least_recently_used_first():
    x = gn.Input("x", dtype="float32")
    graph = gn.Graph([gn.exp(x)])
    for k in range(1, 40):  # shapes that differ beyond the batch dimension: a plan each
        graph.run({x: np.ones((2, k), np.float32)})
    assert len(graph._plans) <= 16 and len(graph._open_plans) <= 16


def test_returned_values_never_alias_feeds_parameters_or_constants():
    X = gn.Input("X", shape=(None, 2))
    W = gn.Parameter(np.arange(6.0).reshape(2, 3), name="W")
    C = gn.Constant(np.array([1.0, 2.0, 3.0]), name="C")
    out = gn.sum(gn.matmul(X, W) + C)
    (gw,) = gn.grad(out, [W])
    graph = gn.Graph([out, gw, gn.stop_gradient(C, name="held_c")])
    x = np.ones((4, 2))
    for keep in ("all", "fetched"):
        values = graph.run({X: x}, fetch=[out, gw, "held_c", "X", "W", "C"] if keep == "fetched" else None,
                           keep=keep)
        values["X"][0, 0] = 99.0
        values["W"][0, 0] = 99.0
        values["held_c"][0] = 99.0
        values["C"][1] = 99.0
        assert x[0, 0] == 1.0 and W.value[0, 0] == 0.0 and C.value[0] == 1.0 and C.value[1] == 2.0
    held = graph.run({X: x})
    transposed = held[next(n for n in graph.nodes if n.op == "transpose")]
    before = transposed.copy()
    W.value += 1.0  # what an optimizer step does
    assert np.array_equal(transposed, before)  # a value already returned does not change


def test_constants_cannot_change_behind_a_graphs_back():
    c = np.array([1.0, 2.0])
    C = gn.Constant(c)
    c[0] = 50.0  # the caller's array: the constant made its own copy
    assert C.value[0] == 1.0 and not C.value.flags.writeable


# ------------------------------------------------------------ optimize=True equals optimize=False, bit for bit


def test_a_transpose_feeding_a_reduction_rounds_the_same_in_every_mode():
    # numpy sums a transposed (F-ordered) array in another order than a C-ordered one: reused
    # buffers and returned copies must keep the layout a plain run has
    x = gn.Input("x", dtype="float32")
    t = gn.exp(gn.transpose(x)) * 1.5
    s = gn.sum(t, axis=1, keepdims=True)
    graph = gn.Graph([s, t])
    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32) * 3
    plain = graph.run({x: a}, optimize=False)[s]
    assert not np.array_equal(plain, np.sum(np.ascontiguousarray(np.exp(a.T) * np.float32(1.5)), 1, keepdims=True))
    for keep in ("all", "fetched"):
        for _ in range(2):
            assert np.array_equal(graph.run({x: a}, keep=keep, fetch=[s])[s], plain)
            assert np.array_equal(graph.run({x: a}, keep=keep)[s], plain)


UNARY = [gn.exp, gn.neg, gn.tanh, gn.square, lambda v: gn.maximum(0.0, v), gn.transpose]
REDUCE = [lambda v: gn.sum(v, axis=0, keepdims=True), lambda v: gn.sum(v, axis=1, keepdims=True),
          lambda v: gn.max(v, axis=1, keepdims=True), lambda v: gn.mean(v, axis=0, keepdims=True)]


@settings(max_examples=30, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 3)), min_size=3, max_size=12),
       rows=st.integers(16, 40), seed=st.integers(0, 2**16))
def test_optimized_runs_equal_plain_runs_bit_for_bit(steps, rows, seed):
    x = gn.Input("x", dtype="float32")
    values = [x]
    for kind, a, b in steps:
        v = values[a % len(values)]
        if kind == 0:
            values.append(UNARY[b % len(UNARY)](v))
        elif kind == 1:
            values.append(REDUCE[b % len(REDUCE)](v))
        else:
            w = values[b % len(values)]
            if v.shape is not None and w.shape is not None and len(v.shape) == len(w.shape):
                values.append(v * w + v)
    out = gn.sum(values[-1])
    grads = gn.grad(out, [x], allow_unused=True)
    graph = gn.Graph([out, *grads, *values[1:]])
    feed = {x: np.random.default_rng(seed).standard_normal((rows, rows)).astype(np.float32)}
    try:
        plain = graph.run(feed, optimize=False)
    except gn.GraphError:
        return  # shapes that do not combine: nothing to compare
    for keep in ("all", "fetched"):
        for _ in range(2):  # the second run reuses buffers
            fast = graph.run(feed, keep=keep)
            for node in fast.fetched if keep == "fetched" else graph.nodes:
                assert np.array_equal(np.asarray(fast[node]), np.asarray(plain[node]), equal_nan=True), node.name
