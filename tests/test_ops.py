"""Every primitive's forward against direct numpy, with broadcasting and axis cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.core import ops
from graphnn.core.primitive import PRIMITIVES

RNG = np.random.default_rng(0)


def run(node, feeds):
    return gn.Graph([node]).run(feeds)[node]


def arr(shape, low=-2.0, high=2.0, dtype=np.float32):
    return RNG.uniform(low, high, shape).astype(dtype)


shapes_2d = st.tuples(st.integers(1, 5), st.integers(1, 5))


BINARY = {
    "add": (gn.add, np.add),
    "sub": (gn.sub, np.subtract),
    "mul": (gn.mul, np.multiply),
    "div": (gn.div, np.divide),
    "maximum": (gn.maximum, np.maximum),
}


@pytest.mark.parametrize("op", sorted(BINARY))
@settings(max_examples=25, deadline=None)
@given(shape=shapes_2d, a_ones=st.sampled_from([(), (0,), (1,), (0, 1)]),
       b_ones=st.sampled_from([(), (0,), (1,)]), b_rank=st.sampled_from([0, 1, 2]))
def test_binary_forward_broadcasts_like_numpy(op, shape, a_ones, b_ones, b_rank):
    build, reference = BINARY[op]
    a_shape = tuple(1 if i in a_ones else d for i, d in enumerate(shape))
    b_shape = tuple(1 if i in b_ones else d for i, d in enumerate(shape))[2 - b_rank:]
    a, b = arr(a_shape), arr(b_shape, 0.5, 2.0)
    A, B = gn.Input("a", shape=a_shape), gn.Input("b", shape=b_shape)
    out = build(A, B)
    value = run(out, {A: a, B: b})
    np.testing.assert_array_equal(value, reference(a, b))
    assert value.dtype == np.float32
    assert out.shape == np.broadcast_shapes(a_shape, b_shape)


UNARY = {
    "neg": (gn.neg, np.negative),
    "exp": (gn.exp, np.exp),
    "log": (gn.log, np.log),
}


@pytest.mark.parametrize("op", sorted(UNARY))
@settings(max_examples=10, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple))
def test_unary_forward(op, shape):
    build, reference = UNARY[op]
    x = arr(shape, 0.1, 3.0)
    X = gn.Input("x")
    np.testing.assert_array_equal(run(build(X), {X: x}), reference(x))


REDUCTIONS = {"max": (gn.max, np.max), "sum": (gn.sum, np.sum), "mean": (gn.mean, np.mean)}


@pytest.mark.parametrize("op", sorted(REDUCTIONS))
@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       axis_pick=st.integers(-4, 3), keepdims=st.booleans())
def test_reductions_over_axes(op, shape, axis_pick, keepdims):
    build, reference = REDUCTIONS[op]
    axis = None if axis_pick < -len(shape) or axis_pick >= len(shape) else axis_pick
    x = arr(shape)
    X = gn.Input("x", shape=shape)
    out = build(X, axis=axis, keepdims=keepdims)
    expected = reference(x, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(run(out, {X: x}), expected)
    assert out.shape == np.shape(expected)


def test_reduction_axis_out_of_range_fails_at_build():
    X = gn.Input("x", shape=(None, 3))
    with pytest.raises(gn.GraphError, match=r"max: axis 2 is out of range for shape \(None, 3\)"):
        gn.max(X, axis=2)


def test_matmul_transpose_and_add_bias():
    a, w, b = arr((4, 3)), arr((3, 2)), arr((1, 2))
    A, W, B = gn.Input("a"), gn.Parameter(w, name="w"), gn.Parameter(b, name="b")
    out = gn.add_bias(gn.matmul(A, W), B)
    np.testing.assert_array_equal(run(out, {A: a}), np.dot(a, w) + b)
    np.testing.assert_array_equal(run(gn.transpose(A), {A: a}), a.T)


def test_normalize_divides_by_the_sum_over_axis():
    x = arr((3, 4), 0.1, 1.0)
    X = gn.Input("x")
    np.testing.assert_array_equal(run(gn.normalize(X, axis=1), {X: x}),
                                  x / np.sum(x, axis=1, keepdims=True))
    np.testing.assert_array_equal(run(gn.normalize(X, axis=0), {X: x}),
                                  x / np.sum(x, axis=0, keepdims=True))


def test_clip_and_its_bounds_keep_float32():
    x = arr((5, 3), -1, 2)
    X = gn.Input("x")
    value = run(gn.clip(X, 1e-7, 1 - 1e-7), {X: x})
    np.testing.assert_array_equal(value, np.clip(x, 1e-7, 1 - 1e-7))
    assert value.dtype == np.float32


def test_clip_rejects_reversed_bounds():
    with pytest.raises(gn.GraphError, match="lo < hi"):
        gn.clip(gn.Input("x"), 1.0, 0.0)


def test_pick_sparse_and_one_hot_labels():
    x = arr((4, 3))
    labels = np.array([2, 0, 1, 2])
    X, Y = gn.Input("x"), gn.Input("y")
    np.testing.assert_array_equal(run(gn.pick(X, Y), {X: x, Y: labels}), x[np.arange(4), labels])
    one_hot = np.eye(3, dtype=np.float32)[labels]
    np.testing.assert_allclose(run(gn.pick(X, Y), {X: x, Y: one_hot}), x[np.arange(4), labels])


def test_backward_helper_primitives():
    g, x = arr((4,)), arr((4, 3))
    labels = np.array([1, 0, 2, 2])
    G, X, Y = gn.Input("g"), gn.Input("x"), gn.Input("y")
    scattered = run(ops.unpick(G, Y, X), {G: g, X: x, Y: labels})
    expected = np.zeros_like(x)
    expected[np.arange(4), labels] = g
    np.testing.assert_array_equal(scattered, expected)
    np.testing.assert_array_equal(run(ops.gate(X, X, 0.0), {X: x}), np.where(x > 0, x, 0))
    np.testing.assert_array_equal(run(ops.gate(X, X, 0.0, strict=False), {X: x}), np.where(x >= 0, x, 0))
    np.testing.assert_array_equal(run(ops.equal(X, X), {X: x}), np.ones_like(x))
    np.testing.assert_array_equal(run(ops.count(X, axis=0), {X: x}), np.float32(4))
    np.testing.assert_array_equal(run(ops.sum_like(X, gn.Constant(np.ones((1, 3)))), {X: x}),
                                  x.sum(axis=0, keepdims=True))
    np.testing.assert_array_equal(run(ops.broadcast_like(gn.sum(X, axis=1), X, axis=1), {X: x}),
                                  np.broadcast_to(x.sum(axis=1)[:, None], x.shape))
    np.testing.assert_array_equal(run(gn.stop_gradient(X), {X: x}), x)


def test_python_scalars_do_not_upcast_float32():
    x = arr((2, 2))
    X = gn.Input("x", dtype="float32")
    out = (X * 0.5 + 1.0) / 3.0 - gn.maximum(0.0, X)
    assert out.dtype == np.float32
    assert run(out, {X: x}).dtype == np.float32


def test_every_primitive_has_a_doc_and_a_rule_per_input():
    for name, prim in PRIMITIVES.items():
        if prim.check_shapes:
            continue  # defined by a test, not built in
        assert prim.doc, name
        assert prim.grads, name
