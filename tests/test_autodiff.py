"""Gradients: every rule against finite differences (float64), composites, closed forms."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.core import nn_ops, ops
from graphnn.core.primitive import PRIMITIVES

TOL = 1e-6


def rand(rng, shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, shape)


def away_from(rng, shape, points, gap=0.05, low=-2.0, high=2.0):
    """Random values at least ``gap`` from each kink in ``points``."""
    x = rand(rng, shape, low, high)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = p + np.where(x[near] >= p, gap, -gap) * 2
    return x


def check(out, feeds, wrt):
    errors = gn.check_grad(out, wrt, feeds)
    assert max(errors) < TOL, errors


broadcast_pairs = st.sampled_from([((3, 4), (3, 4)), ((3, 4), (1, 4)), ((3, 4), (4,)),
                                   ((3, 1), (1, 4)), ((3, 4), ()), ((2, 3, 4), (3, 1))])


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
@settings(max_examples=12, deadline=None)
@given(shapes=broadcast_pairs, swap=st.booleans(), seed=st.integers(0, 2**16))
def test_binary_rules_with_broadcasting(op, shapes, swap, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes[::-1] if swap else shapes
    a = away_from(rng, sa, [0.0])
    b = away_from(rng, sb, [0.0], gap=0.3) if op == "div" else rand(rng, sb)
    if op == "maximum":  # no derivative on the kink a == b
        assume(np.min(np.abs(np.subtract(a, b))) > 1e-3)
    A, B = gn.Input("a", shape=np.shape(a)), gn.Input("b", shape=np.shape(b))
    out = getattr(gn, op)(A, B)
    check(out, {A: a, B: b}, [A, B])


@pytest.mark.parametrize("op", ["neg", "exp", "log", "tanh", "square"])
@settings(max_examples=8, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), seed=st.integers(0, 2**16))
def test_unary_rules(op, shape, seed):
    x = np.random.default_rng(seed).uniform(0.2, 2.0, shape)
    X = gn.Input("x", shape=shape)
    check(getattr(gn, op)(X), {X: x}, [X])


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       axis_pick=st.integers(-4, 3), keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_reduction_rules_over_axes(op, shape, axis_pick, keepdims, seed):
    axis = None if axis_pick < -len(shape) or axis_pick >= len(shape) else axis_pick
    x = np.random.default_rng(seed).permutation(np.arange(np.prod(shape), dtype=float)).reshape(shape) / 7
    X = gn.Input("x", shape=shape)
    check(getattr(gn, op)(X, axis=axis, keepdims=keepdims), {X: x}, [X])


@settings(max_examples=10, deadline=None)
@given(rows=st.integers(1, 5), k=st.integers(1, 4), cols=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_matmul_add_bias_transpose_rules(rows, k, cols, seed):
    rng = np.random.default_rng(seed)
    X, W = gn.Input("x", shape=(None, k)), gn.Parameter(rand(rng, (k, cols)), name="w")
    B = gn.Parameter(rand(rng, (1, cols)), name="b")
    out = gn.transpose(gn.add_bias(gn.matmul(X, W), B))
    check(out, {X: rand(rng, (rows, k))}, [X, W, B])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_normalize_rule(axis):
    rng = np.random.default_rng(1)
    X = gn.Input("x", shape=(3, 4))
    check(gn.normalize(X, axis=axis), {X: rng.uniform(0.1, 1.0, (3, 4))}, [X])


def test_clip_rule_is_zero_outside_and_on_the_bounds():
    rng = np.random.default_rng(2)
    x = away_from(rng, (4, 5), [-0.5, 0.5])
    X = gn.Input("x", shape=(4, 5))
    check(gn.clip(X, -0.5, 0.5), {X: x}, [X])
    bounds = np.array([[-1.0, -0.5, 0.0, 0.5, 1.0]])
    Xb = gn.Input("xb", shape=(1, 5))
    (g,) = gn.grad(gn.sum(gn.clip(Xb, -0.5, 0.5)), [Xb])
    np.testing.assert_array_equal(gn.Graph([g]).run({Xb: bounds})[g], [[0, 0, 1, 0, 0]])


def test_max_ties_share_the_gradient_equally():
    X = gn.Input("x", shape=(2, 3))
    (g,) = gn.grad(gn.sum(gn.max(X, axis=1)), [X])
    value = gn.Graph([g]).run({X: np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 5.0]])})[g]
    np.testing.assert_allclose(value, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_relu_gradient_is_zero_where_input_is_not_positive():
    X = gn.Input("x", shape=(1, 4))
    (g,) = gn.grad(gn.sum(gn.ReLU()(X)), [X])
    np.testing.assert_array_equal(gn.Graph([g]).run({X: np.array([[-1.0, 0.0, 1e-9, 2.0]])})[g],
                                  [[0, 0, 1, 1]])


def test_pick_rule_scatters_to_the_picked_entries():
    rng = np.random.default_rng(3)
    X, Y = gn.Input("x", shape=(5, 3)), gn.Input("y")
    labels = np.array([0, 2, 1, 1, 0])
    check(gn.pick(X, Y), {X: rand(rng, (5, 3)), Y: labels}, [X])
    check(gn.pick(X, Y), {X: rand(rng, (5, 3)), Y: np.eye(3)[labels]}, [X])


def test_backward_helper_primitives_differentiate_again():
    rng = np.random.default_rng(4)
    G, X = gn.Input("g", shape=(3, 1)), gn.Input("x", shape=(3, 4))
    labels = gn.Constant(np.array([1, 0, 3]))
    feeds = {G: rand(rng, (3, 1)), X: rand(rng, (3, 4))}
    check(ops.broadcast_like(G, X), feeds, [G])
    check(ops.sum_like(X, G), feeds, [X])
    check(ops.gate(X, X, 0.1), feeds, [X])
    Gp = gn.Input("gp", shape=(3,))
    check(ops.unpick(Gp, labels, X), {Gp: rand(rng, (3,)), X: feeds[X]}, [Gp])
    check(ops.match_shape(X, G * X), feeds, [X])


def test_identity_reshape_and_reshape_like():
    rng = np.random.default_rng(5)
    X = gn.Input("x", shape=(None, 6))
    out = gn.tanh(ops.reshape(ops.identity(X), (-1, 3)))  # (2N, 3); its gradient uses reshape_like
    check(out, {X: rand(rng, (4, 6))}, [X])
    (g,) = gn.grad(gn.sum(gn.mul(out, out)), [X])
    check(g, {X: rand(rng, (4, 6))}, [X])  # differentiates again, through reshape_like


@pytest.mark.parametrize("build", [gn.stop_gradient, ops.ones_like, ops.zeros_like,
                                   lambda x: ops.count(x, axis=1), lambda x: ops.equal(x, x)])
def test_zero_gradient_primitives(build):
    X = gn.Input("x", shape=(2, 3))
    (g,) = gn.grad(gn.sum(gn.mul(build(X), 1.0)), [X])
    np.testing.assert_array_equal(gn.Graph([g]).run({X: np.ones((2, 3))})[g], np.zeros((2, 3)))


def test_every_primitive_is_covered_by_these_tests():
    source = open(__file__).read()
    missing = [n for n, p in PRIMITIVES.items() if n not in source and not p.check_shapes]  # built-ins
    assert not missing, f"no gradient test mentions {missing}"


# ------------------------------------------------------------ composites

def seed_network(n_hidden=4):
    X, Y = gn.Input("X", shape=(None, 2)), gn.Input("y")
    dense1, dense2 = gn.Dense(2, n_hidden), gn.Dense(n_hidden, 3)
    rng = np.random.default_rng(5)
    for layer in (dense1, dense2):  # larger weights than the book's, so ReLU and softmax matter
        layer.weights.value[...] = rng.standard_normal(layer.weights.shape)
        layer.biases.value[...] = 0.1 * rng.standard_normal(layer.biases.shape)
    probs = gn.Softmax()(dense2(gn.ReLU()(dense1(X))))
    loss = gn.CategoricalCrossEntropy()(probs, Y)
    return X, Y, probs, loss


def test_layers_and_the_whole_seed_network():
    rng = np.random.default_rng(6)
    X, Y, probs, loss = seed_network()
    feeds = {X: rand(rng, (6, 2)), Y: rng.integers(0, 3, 6)}
    graph = gn.Graph([loss])
    check(loss, feeds, graph.params + [X])
    check(probs, feeds, graph.params)  # Softmax alone, random upstream direction


def test_fan_out_and_diamond_accumulate():
    X = gn.Input("x", shape=(3,))
    twice = X + X                      # one node used twice by one op
    diamond = gn.exp(X) * gn.log(X)    # two paths from X that meet again
    for out in (twice, diamond, twice * diamond):
        check(out, {X: np.array([0.5, 1.0, 2.0])}, [X])
    (g,) = gn.grad(gn.sum(twice), [X])
    np.testing.assert_array_equal(gn.Graph([g]).run({X: np.ones(3)})[g], [2, 2, 2])


def second_derivative(build, x0):
    X = gn.Input("x", shape=())
    (d1,) = gn.grad(build(X), [X])
    (d2,) = gn.grad(d1, [X])
    return float(gn.Graph([d2]).run({X: np.array(x0)})[d2])


def test_second_derivatives():
    assert second_derivative(lambda x: gn.exp(x) * x, 0.7) == pytest.approx(np.exp(0.7) * 2.7)
    assert second_derivative(gn.log, 0.5) == pytest.approx(-4.0)
    assert second_derivative(lambda x: x * x * x, 1.5) == pytest.approx(9.0)
    assert second_derivative(lambda x: 1.0 / x, 2.0) == pytest.approx(0.25)


def test_grad_does_not_change_the_forward_graph_and_repeats():
    X, Y, probs, loss = seed_network()
    graph = gn.Graph([loss])
    before = str(graph)
    params = graph.params
    first = gn.grad(loss, params)
    second = gn.grad(loss, params)
    assert str(gn.Graph([loss])) == before
    feeds = {X: np.random.default_rng(7).standard_normal((5, 2)), Y: np.array([0, 1, 2, 0, 1])}
    values = gn.Graph(first + second).run(feeds)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(values[a], values[b])


def test_only_the_requested_gradients_are_built():
    X, Y, probs, loss = seed_network()
    weights2 = gn.Graph([loss]).params[2]
    (g,) = gn.grad(loss, [weights2])
    ops_used = [n for n in gn.Graph([g]).nodes if n.backward]
    assert not any("dense1" in n.name for n in ops_used)  # nothing flows past dense2


def test_closed_forms_of_the_book_on_the_seed_network(book_numpy):
    from nnfs.datasets import spiral_data

    x, y = spiral_data(samples=100, classes=3)
    X, Y = gn.Input("X"), gn.Input("y")
    dense1, relu, dense2 = gn.Dense(2, 3), gn.ReLU(), gn.Dense(3, 3)
    hidden = dense1(X)
    activated = relu(hidden)
    logits = dense2(activated)
    probs = gn.Softmax()(logits)
    loss = gn.CategoricalCrossEntropy()(probs, Y)
    wanted = [logits, activated, hidden, X, dense1.weights, dense1.biases, dense2.weights, dense2.biases]
    grads = gn.grad(loss, wanted)
    v = gn.Graph([probs, *grads]).run({X: x, Y: y})
    d_logits, d_act, d_hidden, d_x, dW1, db1, dW2, db2 = (v[g] for g in grads)
    one_hot = np.eye(3, dtype=np.float32)[y]
    np.testing.assert_allclose(d_logits, (v[probs] - one_hot) / len(x), atol=1e-8, rtol=1e-4)
    np.testing.assert_allclose(dW2, np.dot(v[activated].T, d_logits), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(db2, np.sum(d_logits, axis=0, keepdims=True), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(d_act, np.dot(d_logits, dense2.weights.value.T), rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(d_hidden, np.where(v[hidden] <= 0, 0, d_act))
    np.testing.assert_allclose(dW1, np.dot(x.T, d_hidden), rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(db1, np.sum(d_hidden, axis=0, keepdims=True), rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(d_x, np.dot(d_hidden, dense1.weights.value.T), rtol=1e-5, atol=1e-14)
    assert all(v[g].dtype == np.float32 for g in grads)


# ------------------------------------------------------------ bad input

def test_non_scalar_output_needs_an_upstream_gradient():
    X = gn.Input("x", shape=(None, 3))
    with pytest.raises(gn.GraphError, match=r"exp has shape \(None, 3\), not a scalar"):
        gn.grad(gn.exp(X), [X])
    g = gn.Input("g", shape=(None, 3))
    (dx,) = gn.grad(gn.exp(X), [X], upstream=g)
    value = gn.Graph([dx]).run({X: np.zeros((2, 3)), g: np.full((2, 3), 2.0)})[dx]
    np.testing.assert_array_equal(value, np.full((2, 3), 2.0))


def test_gradient_with_respect_to_an_unrelated_node():
    X, Z = gn.Input("x", shape=(3,)), gn.Parameter(np.ones(3), name="z")
    out = gn.sum(gn.exp(X))
    with pytest.raises(gn.GraphError, match="sum does not depend on z; pass allow_unused=True"):
        gn.grad(out, [Z])
    (g,) = gn.grad(out, [Z], allow_unused=True)
    np.testing.assert_array_equal(gn.Graph([g]).run()[g], np.zeros(3))


def test_gradient_through_integer_labels_is_refused():
    X, Y, probs, loss = seed_network()
    with pytest.raises(gn.GraphError, match="cannot differentiate with respect to labels: it holds integers"):
        gn.grad(loss, [gn.Input("labels", dtype="int64")])
    with pytest.raises(gn.GraphError, match=r"pick has no gradient with respect to its input 1 \(y\)"):
        gn.grad(loss, [Y])


def test_a_primitive_without_a_rule_is_named():
    X = gn.Input("x", shape=(3,))
    no_rule = gn.define_primitive("exp_no_rule", np.exp, gn.same_shape, (None,))
    out = gn.sum(no_rule(X))
    with pytest.raises(gn.GraphError, match=r"grad: exp_no_rule: exp_no_rule has no gradient with respect to "
                                            r"its input 0"):
        gn.grad(out, [X])


# ------------------------------------------------------------ training primitives

def test_abs_square_and_sign_rules():
    rng = np.random.default_rng(11)
    X = gn.Input("x", shape=(3, 4))
    x = away_from(rng, (3, 4), [0.0])
    check(gn.abs(X), {X: x}, [X])
    check(gn.abs(X, at_zero=1.0), {X: x}, [X])
    check(gn.square(X), {X: x}, [X])
    (g,) = gn.grad(gn.sum(gn.mul(gn.sign(X, at_zero=1.0), 1.0)), [X])   # sign is piecewise constant
    np.testing.assert_array_equal(gn.Graph([g]).run({X: x})[g], np.zeros((3, 4)))


def test_dropout_mask_has_no_gradient_and_its_product_uses_the_runs_mask():
    X = gn.Input("x", shape=(4, 5))
    mask = nn_ops.dropout_mask(X, 0.5)
    (g,) = gn.grad(gn.sum(gn.mul(mask, 1.0)), [X])
    np.testing.assert_array_equal(gn.Graph([g]).run({X: np.ones((4, 5))})[g], np.zeros((4, 5)))
    (gx,) = gn.grad(gn.sum(gn.mul(X, mask)), [X])
    values = gn.Graph([gx, mask]).run({X: np.ones((4, 5))})
    np.testing.assert_array_equal(values[gx], values[mask])


@pytest.mark.parametrize("mask_clipped", [False, True])
def test_softmax_cce_grad_and_scale_rules(mask_clipped):
    """The joint gradient differentiates again: softmax_cce_scale is its derivative along probs."""
    rng = np.random.default_rng(12)
    P, Y = gn.Input("p", shape=(4, 3)), gn.Input("y")
    joint = nn_ops.softmax_cce_grad(P, Y, mask_clipped=mask_clipped)
    feeds = {P: rng.uniform(0.1, 0.8, (4, 3)), Y: np.array([0, 2, 1, 1])}
    check(joint, feeds, [P])
    (g,) = gn.grad(gn.sum(gn.mul(nn_ops.softmax_cce_scale(P, Y, mask_clipped=mask_clipped), 1.0)), [P])
    np.testing.assert_array_equal(gn.Graph([g]).run({P: feeds[P]})[g], np.zeros((4, 3)))
