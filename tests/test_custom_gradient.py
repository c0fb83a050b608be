"""Custom gradients: gn.custom_gradient, where grad uses a declared rule, and the book's closed forms."""

import json

import numpy as np
import pytest

import graphnn as gn
from benchmarks import book_numpy as bk

RNG = np.random.default_rng(7)
X_VALUES = RNG.standard_normal((5, 3)) + np.sign(RNG.standard_normal((5, 3))) * 0.1  # away from 0


@gn.custom_gradient
def softsign(x):
    y = x / (1 + gn.abs(x))

    def grad(g):
        return g / gn.square(1 + gn.abs(x))
    return y, grad


@gn.custom_gradient
def scale_shift(x, b):
    """x (N, M) * 2 + b (1, M): two inputs, one gradient each; b's is summed down from (N, M)."""
    def grad(g):
        return g * 2.0, g
    return x * 2.0 + b, grad


def _custom_nodes(node):
    return [n for n in gn.Graph([node]).nodes if "custom_gradient" in n.name]


def test_grad_uses_the_declared_rule_and_custom_false_the_chain():
    X = gn.Input("X")
    y = softsign(X)
    assert y.name == "softsign/div" and [d.name for d in y.custom] == ["softsign"]
    declared = gn.grad(gn.sum(y), X)
    chain = gn.grad(gn.sum(y), X, custom=False)
    assert declared.name == "grad/softsign/custom_gradient/div" and declared.backward
    assert _custom_nodes(declared) and not _custom_nodes(chain)
    values = gn.Graph([declared, chain]).run({X: X_VALUES})
    assert np.array_equal(values[declared], 1 / np.square(1 + np.abs(X_VALUES)))
    assert np.allclose(values[declared], values[chain], rtol=1e-14)
    assert not np.array_equal(values[declared], values[chain])   # other rounding: the chain really ran


def test_custom_selects_declarations_by_name():
    X = gn.Input("X")
    loss = gn.sum(softsign(X))
    assert _custom_nodes(gn.grad(loss, X, custom="softsign"))
    assert _custom_nodes(gn.grad(loss, X, custom={"softsign", "other"}))
    assert not _custom_nodes(gn.grad(loss, X, custom={"other"}))
    with pytest.raises(gn.GraphError, match="custom must be True, False, a name or a set of names"):
        gn.grad(loss, X, custom=3)


def test_declared_chain_and_finite_differences_agree_in_float64():
    X = gn.Input("X")
    y = softsign(X)
    assert max(gn.compare_custom(y, [X], {X: X_VALUES})) < 1e-14
    assert max(gn.check_grad(y, [X], {X: X_VALUES})) < 1e-8
    assert max(gn.check_grad(y, [X], {X: X_VALUES}, custom=False)) < 1e-8


def test_a_wrong_rule_is_caught_by_check_grad_and_compare_custom():
    @gn.custom_gradient
    def wrong(x):
        return x / (1 + gn.abs(x)), lambda g: -g / gn.square(1 + gn.abs(x))   # the sign flipped
    X = gn.Input("X")
    y = wrong(X)
    assert max(gn.compare_custom(y, [X], {X: X_VALUES})) > 0.5
    assert max(gn.check_grad(y, [X], {X: X_VALUES})) > 0.5
    assert max(gn.check_grad(y, [X], {X: X_VALUES}, custom=False)) < 1e-8


def test_second_order_through_the_declared_rule():
    X = gn.Input("X")
    g = gn.grad(gn.sum(softsign(X)), X)
    assert _custom_nodes(g)
    assert max(gn.check_grad(g, [X], {X: X_VALUES})) < 1e-7
    h = gn.grad(gn.sum(g), X)
    expected = -2 * np.sign(X_VALUES) / (1 + np.abs(X_VALUES)) ** 3
    assert np.allclose(gn.Graph([h]).run({X: X_VALUES})[h], expected, rtol=1e-12)


def test_several_inputs_and_a_broadcast_input():
    X, B = gn.Input("X", shape=(None, 3)), gn.Parameter(np.zeros((1, 3)), "b")
    y = scale_shift(X, B)
    gx, gb = gn.grad(gn.sum(y * y), [X, B])
    assert gb.op == "sum_like" and "custom_gradient" in gb.name
    assert max(gn.check_grad(y, [X, B], {X: X_VALUES})) < 1e-8
    assert max(gn.compare_custom(y, [X, B], {X: X_VALUES})) < 1e-14


def test_rule_mistakes_are_errors():
    @gn.custom_gradient
    def two_for_one(x):
        return x * 2.0, lambda g: (g, g)

    @gn.custom_gradient
    def bad_shape(x):
        return gn.sum(x, axis=1), lambda g: g

    @gn.custom_gradient
    def no_rule(x):
        return x * 2.0
    X = gn.Input("X", shape=(None, 3))
    with pytest.raises(gn.GraphError, match="custom gradient two_for_one: the rule gave 2 gradients for 1 inputs"):
        gn.grad(gn.sum(two_for_one(X)), X)
    with pytest.raises(gn.GraphError, match=r"custom gradient bad_shape: the rule gave shape \(None,\) for input X"):
        gn.grad(gn.sum(bad_shape(X)), X)
    with pytest.raises(gn.GraphError, match="must return \\(output, rule\\)"):
        no_rule(X)


@pytest.mark.parametrize("case", ["inner_used_again", "inner_asked_for", "captured_parameter"])
def test_invalid_declarations_fall_back_to_the_chain(case):
    X = gn.Input("X")
    w = gn.Parameter(np.array(1.5), "w")

    @gn.custom_gradient
    def scaled_softsign(x):
        inner = 1 + gn.abs(x) * w
        return x / inner, lambda g: g / gn.square(inner)   # dy/dx only: w gets no gradient from it
    y = scaled_softsign(X)
    inner = y.inputs[1]
    if case == "inner_used_again":
        loss, wanted = gn.sum(y) + gn.sum(inner), [X]
    elif case == "inner_asked_for":
        loss, wanted = gn.sum(y), [X, inner]
    else:
        loss, wanted = gn.sum(y), [X, w]
    grads = gn.grad(loss, wanted)
    assert not any(_custom_nodes(g) for g in grads)
    assert max(gn.check_grad(loss, [x for x in wanted if x is not inner], {X: X_VALUES})) < 1e-8
    assert _custom_nodes(gn.grad(gn.sum(y), X))   # the plain case uses the rule


def _training_graph():
    np.random.seed(3)
    X, Y = gn.Input("X"), gn.Input("y")
    dense1, dense2 = gn.Dense(2, 8), gn.Dense(8, 3)
    probs = gn.Softmax()(dense2(softsign(dense1(X))))
    loss = gn.CategoricalCrossEntropy()(probs, Y)
    params = gn.Graph([loss]).params
    grads = gn.grad(loss, params)
    feeds = {X: RNG.standard_normal((16, 2)).astype(np.float32), Y: RNG.integers(0, 3, 16)}
    return gn.Graph([loss, *grads]), grads, feeds


def test_optimized_runs_equal_unoptimized_runs_bit_for_bit():
    graph, grads, feeds = _training_graph()
    assert any("custom_gradient" in n.name for n in graph.nodes)
    plain = graph.run(feeds, optimize=False)
    for _ in range(2):
        fast = graph.run(feeds, keep="fetched")
        for g in grads:
            assert fast[g].dtype == plain[g].dtype
            assert np.array_equal(fast[g], plain[g]), g.name


def test_the_diagram_draws_the_rule_as_gradient_nodes_named_after_the_function(tmp_path):
    graph, _, _ = _training_graph()
    graph.render(tmp_path / "g.json")
    nodes = {b["name"]: b for b in json.loads((tmp_path / "g.json").read_text())["nodes"]}
    box = nodes["grad/softsign/custom_gradient/div"]
    assert box["backward"] is True and box["cluster"] == ["grad", "softsign", "custom_gradient"]
    source = graph.to_dot().source
    line = next(t for t in source.splitlines() if t.strip().startswith(f'{box["id"]} ['))
    assert "#ecdcf7" in line   # the backward (lilac) style
    assert 'label="custom gradient of softsign"' in source  # the rule's cluster says what it is


@gn.register_layer
class Softsign(gn.Layer):
    """A layer whose gradient is declared: saved and loaded like the built-in ones."""

    type_name = "softsign_test"

    def forward(self, x):
        return softsign(x)


def test_a_model_with_a_custom_gradient_layer_trains_saves_and_loads(tmp_path):
    np.random.seed(0)
    X = RNG.standard_normal((30, 2)).astype(np.float32)
    y = RNG.integers(0, 3, 30)
    model = gn.Model()
    for layer in (gn.Dense(2, 8), Softsign(), gn.Dense(8, 3), gn.Softmax()):
        model.add(layer)
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05))
    model.finalize()
    assert any("custom_gradient" in n.name for n in model.graph.nodes)
    model.train(X, y, epochs=5, verbose=False)
    model.save(tmp_path / "m.npz")
    loaded = gn.Model.load(tmp_path / "m.npz")
    assert isinstance(loaded.layers[1], Softsign)
    assert any("custom_gradient" in n.name for n in loaded.graph.nodes)
    assert np.array_equal(loaded.predict(X), model.predict(X))


# ------------------------------------------------------------ the book's closed forms, declared by the library

def _book_grads(kind, out, target):
    if kind == "sigmoid":
        layer = bk.Activation_Sigmoid()
        layer.forward(out)
        layer.backward(target)   # target stands for dvalues
        return layer.output, layer.dinputs
    loss = {"bce": bk.Loss_BinaryCrossentropy, "mse": bk.Loss_MeanSquaredError,
            "mae": bk.Loss_MeanAbsoluteError}[kind]()
    loss.backward(out, target)
    return loss.calculate(out, target), loss.dinputs


@pytest.mark.parametrize("kind", ["sigmoid", "bce", "mse", "mae"])
def test_the_library_declares_the_books_closed_forms_bit_for_bit(kind):
    out = RNG.uniform(0.05, 0.95, (6, 2)).astype(np.float32)
    target = (RNG.uniform(size=(6, 2)) > 0.5).astype(np.float32) if kind == "bce" \
        else RNG.uniform(size=(6, 2)).astype(np.float32)
    P, T = gn.Input("p", shape=(None, 2)), gn.Input("t", shape=(None, 2))
    if kind == "sigmoid":
        y = gn.Sigmoid()(P)
        g = gn.grad(y, P, upstream=T)
    else:
        y = {"bce": gn.BinaryCrossEntropy, "mse": gn.MeanSquaredError, "mae": gn.MeanAbsoluteError}[kind]()(P, T)
        g = gn.grad(y, P)
    plain = gn.grad(y, P, upstream=T if kind == "sigmoid" else None, rewrite=False)
    values = gn.Graph([y, g, plain]).run({P: out, T: target})
    book_y, book_g = _book_grads(kind, out, target)
    if kind == "mae":
        book_g = -book_g   # the book's MAE backward has the wrong sign; graphnn declares the derivative
    assert values[g].dtype == book_g.dtype == np.float32
    assert np.array_equal(values[y], book_y)
    assert np.array_equal(values[g], book_g)
    assert np.allclose(values[plain], values[g], rtol=1e-5, atol=1e-7)
    assert max(gn.check_grad(y, [P], {P: out, T: target})) < 1e-7
