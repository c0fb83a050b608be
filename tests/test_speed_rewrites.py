"""Speed, round two: every optimisation keeps the numbers.

Graph rewrites (graphnn.runtime.rewrites) against optimize=False and against
the rewrites switched off, on random graphs (hypothesis) and on the chapter
networks; Model.train called epoch by epoch; the accuracy's count.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.core import ops
from graphnn.runtime import rewrites

ROOT = Path(__file__).resolve().parent.parent


def same_bits(a, b) -> bool:
    """Equal bit for bit, except that any NaN equals any NaN (the sign rules may flip a NaN's sign)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    nan = np.isnan(a)
    if not np.array_equal(nan, np.isnan(b)):
        return False
    bits = {4: np.uint32, 8: np.uint64, 2: np.uint16}[a.dtype.itemsize]
    return np.array_equal(a[~nan].view(bits), b[~nan].view(bits))


@pytest.fixture(autouse=True)
def rules():
    """Every test here runs with the sign rules on too (off by default: they may flip a NaN's sign)."""
    saved = rewrites.RULES, rewrites.SIGNS
    rewrites.SIGNS = True
    yield
    rewrites.RULES, rewrites.SIGNS = saved


# ---------------------------------------------------------------- random graphs

STEPS = ("neg", "neg_mul", "mul_neg", "mul_ones", "ones_mul", "div_ones", "mul_const", "const_mul",
         "exp", "tanh", "mean_unit", "sum_unit", "mul_self", "add_const", "neg_neg")


def build(x, program, columns, dtype, consts):
    h = x
    for step, c in zip(program, consts):
        const = gn.Constant(np.full((1, columns), c, dtype))
        ones = gn.Constant(np.ones((1, columns) if columns > 1 else (1, 1), dtype))
        if step == "neg":
            h = -h
        elif step == "neg_neg":
            h = -(-h)  # noqa: B002 (a double negation is what the rule removes)
        elif step == "neg_mul":
            h = -((-h) * gn.tanh(h))
        elif step == "mul_neg":
            h = -(gn.exp(-h) * (-h))
        elif step == "mul_ones":
            h = h * ones
        elif step == "ones_mul":
            h = ones * h
        elif step == "div_ones":
            h = h / ones
        elif step == "mul_const":
            h = -(h * const)
        elif step == "const_mul":
            h = -(const * h)
        elif step == "exp":
            h = gn.exp(gn.tanh(h))
        elif step == "tanh":
            h = gn.tanh(h)
        elif step == "mean_unit" and columns == 1:
            h = ops.mean(h, axis=-1, keepdims=True)
        elif step == "sum_unit" and columns == 1:
            h = gn.sum(h, axis=1, keepdims=True)
        elif step == "mul_self":
            h = h * h
        elif step == "add_const":
            h = h + const
    return h


@settings(max_examples=60, deadline=None)
@given(program=st.lists(st.sampled_from(STEPS), min_size=1, max_size=8),
       consts=st.lists(st.sampled_from([0.5, -2.0, 1.0, 3.0, -0.25, np.inf, 0.0]), min_size=8, max_size=8),
       columns=st.sampled_from([1, 3]), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 2 ** 16), special=st.booleans())
def test_random_graphs_keep_every_bit(program, consts, columns, dtype, seed, special):
    x = gn.Input("x", shape=(None, columns), dtype=dtype)
    h = build(x, program, columns, dtype, consts)
    loss = gn.sum(gn.mean(h, axis=-1))
    dx = gn.grad(loss, x)
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((7, columns)) * 3).astype(dtype)
    if special:
        X.flat[: min(3, X.size)] = [0.0, -0.0, np.inf][: min(3, X.size)]
    for fetch in ([loss, dx], [h, loss, dx], [dx]):
        graph = gn.Graph(fetch)
        with np.errstate(all="ignore"):
            plain = graph.run({x: X}, keep="fetched", optimize=False)
            rewritten = graph.run({x: X}, keep="fetched")
            rewritten_again = graph.run({x: X}, keep="fetched")  # buffers reused
            full = graph.run({x: X})
        for node in fetch:
            assert same_bits(rewritten[node], plain[node]), (program, node)
            assert same_bits(rewritten_again[node], plain[node])
            assert same_bits(full[node], plain[node])


def test_the_rules_fire_and_can_be_switched_off(rules):
    x = gn.Input("x", shape=(None, 1), dtype="float32")
    y = gn.Input("y", shape=(None, 1), dtype="float32")
    ones = gn.Constant(np.ones((1, 1), np.float32))
    h = -((-(x * ones)) * y)                 # x * 1, then -((-a) * b)
    loss = gn.mean(gn.mean(gn.square(h), axis=-1))    # a mean over a length-1 axis
    graph = gn.Graph([loss])
    feeds = {x: np.arange(1, 5, dtype=np.float32).reshape(4, 1), y: np.full((4, 1), 0.5, np.float32)}
    with_rules = graph.plan(feeds, keep="fetched").explain()
    rewrites.RULES = False
    graph2 = gn.Graph([loss])
    without = graph2.plan(feeds, keep="fetched").explain()
    assert with_rules.count("= f") < without.count("= f")
    assert same_bits(graph.run(feeds)[loss], graph2.run(feeds)[loss])


# ---------------------------------------------------------------- chapter networks

def chapter_network(chapter):
    rng = np.random.default_rng(3)
    if chapter == "ch17":
        X = np.sin(np.linspace(0, 6, 300, dtype=np.float32)).reshape(-1, 1)
        y = np.cos(X)
        inputs, targets = gn.Input("X"), gn.Input("y", shape=(None, 1))
        d1, d2, d3 = gn.Dense(1, 64, weight_scale=0.1), gn.Dense(64, 64, weight_scale=0.1), \
            gn.Dense(64, 1, weight_scale=0.1)
        out = gn.Linear()(d3(gn.ReLU()(d2(gn.ReLU()(d1(inputs))))))
        loss = gn.MeanSquaredError()(out, targets)
        layers = [d1, d2, d3]
    elif chapter == "ch16":
        X = rng.standard_normal((200, 2)).astype(np.float32)
        y = (X[:, :1] > 0).astype(np.uint8)
        inputs, targets = gn.Input("X"), gn.Input("y", shape=(None, 1))
        d1, d2 = gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4), gn.Dense(64, 1)
        out = gn.Sigmoid()(d2(gn.ReLU()(d1(inputs))))
        loss = gn.BinaryCrossEntropy()(out, targets) + gn.regularization_loss([d1, d2])
        layers = [d1, d2]
    else:  # chapter 10 / 14
        X = rng.standard_normal((300, 2)).astype(np.float32)
        y = rng.integers(0, 3, 300)
        inputs, targets = gn.Input("X"), gn.Input("y")
        d1, d2 = gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4), gn.Dense(64, 3)
        out = gn.Softmax()(d2(gn.ReLU()(d1(inputs))))
        loss = gn.CategoricalCrossEntropy()(out, targets) + gn.regularization_loss([d1, d2])
        layers = [d1, d2]
    params = gn.Graph([loss]).params
    return inputs, targets, X, y, loss, out, params, layers


def train(chapter, steps, optimize=True, rules_on=True):
    saved = rewrites.RULES
    rewrites.RULES = rules_on
    try:
        np.random.seed(0)
        inputs, targets, X, y, loss, out, params, layers = chapter_network(chapter)
        grads = gn.grad(loss, params)
        step = gn.Graph([loss, out, *grads])
        opt = gn.Adam(learning_rate=0.01, decay=1e-3)
        losses = []
        for _ in range(steps):
            values = step.run({inputs: X, targets: y}, keep="fetched", optimize=optimize)
            losses.append(values[loss])
            opt.step(params, [values[g] for g in grads])
        return [p.value.copy() for p in params], losses
    finally:
        rewrites.RULES = saved


@pytest.mark.parametrize("chapter", ["ch10", "ch16", "ch17"])
def test_chapter_networks_train_to_the_same_bits(chapter):
    reference = train(chapter, 25, optimize=False)
    for variant in (train(chapter, 25), train(chapter, 25, rules_on=False)):
        for a, b in zip(variant[0], reference[0]):
            assert same_bits(a, b)
        for a, b in zip(variant[1], reference[1]):
            assert same_bits(a, b)


@pytest.mark.parametrize("example", ["ch16_binary.py", "ch17_regression.py"])
def test_chapter_examples_print_the_same_lines_with_and_without_rewrites(example, tmp_path):
    runner = tmp_path / "run.py"
    runner.write_text(
        "import runpy, sys\nfrom graphnn.runtime import rewrites\n"
        "rewrites.RULES = rewrites.SIGNS = sys.argv[1] == 'on'\n"
        f"runpy.run_path({str(ROOT / 'examples' / example)!r}, run_name='__main__')\n")
    env = {**os.environ, "GRAPHNN_EPOCHS": "301"}
    outputs = [subprocess.run([sys.executable, str(runner), mode], capture_output=True, text=True, env=env,
                              cwd=ROOT, check=True).stdout for mode in ("on", "off")]
    assert outputs[0] == outputs[1] and outputs[0].count("epoch:") == 4


# ---------------------------------------------------------------- the Model

def test_model_train_in_a_loop_equals_one_call_and_still_catches_bad_labels():
    def make():
        np.random.seed(0)
        model = gn.Model()
        for layer in (gn.Dense(2, 16), gn.ReLU(), gn.Dense(16, 3), gn.Softmax()):
            model.add(layer)
        model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05),
                  accuracy=gn.CategoricalAccuracy())
        model.finalize()
        return model

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 2)).astype(np.float32), rng.integers(0, 3, 60)
    once, looped = make(), make()
    history = once.train(X, y, epochs=5, verbose=False)
    accuracies = [looped.train(X, y, epochs=1, verbose=False)["accuracy"][0] for _ in range(5)]
    assert accuracies == history["accuracy"]
    for p, q in zip(once.params, looped.params):
        assert same_bits(p.value, q.value)
    before = [p.value.copy() for p in looped.params]
    y[0] = 7  # changed in place after the check was cached
    with pytest.raises(gn.GraphError):
        looped.train(X, y, epochs=1, verbose=False)
    for p, b in zip(looped.params, before):
        assert same_bits(p.value, b)


@given(st.lists(st.booleans(), min_size=1, max_size=50))
def test_accuracy_count_equals_the_mean(flags):
    acc = gn.BinaryAccuracy()
    predictions = np.array(flags, dtype=int).reshape(-1, 1)
    y = np.ones_like(predictions)
    value = acc.calculate(predictions, y)
    assert type(value) is np.float64 and value == np.mean(predictions == y)
    assert acc.calculate_accumulated() == np.mean(predictions == y)
