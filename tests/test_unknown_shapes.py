"""Gradients are right whatever is known of the shapes when the graph is built.

Random graphs of primitives on inputs whose static shapes are declared, partly
unknown or unknown; broadcasting is undone at run time where it cannot be
decided before. Each gradient is compared with central finite differences in
float64 (``gn.check_grad``).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn

KNOWLEDGE = {
    "declared": lambda shape: shape,
    "partly": lambda shape: tuple(None if i == 0 else d for i, d in enumerate(shape)),
    "unknown": lambda shape: None,
}
# the second operand's shape, from x's (n, k): what it broadcasts as
OTHER = {"same": lambda n, k: (n, k), "row": lambda n, k: (1, k), "vector": lambda n, k: (k,),
         "column": lambda n, k: (n, 1), "scalar": lambda n, k: (), "cell": lambda n, k: (1, 1),
         "matrix": lambda n, k: (k, 2)}
BINARY = {"add": gn.add, "sub": gn.sub, "mul": gn.mul, "div": gn.div, "maximum": gn.maximum}
UNARY = {"none": lambda v: v, "exp": gn.exp, "tanh": gn.tanh, "square": gn.square, "neg": gn.neg,
         "log": lambda v: gn.log(gn.square(v) + 1.0), "abs": gn.abs, "clip": lambda v: gn.clip(v, -0.8, 0.8),
         "transpose": gn.transpose}
REDUCE = {"none": lambda v: v, "sum0": lambda v: gn.sum(v, axis=0, keepdims=True),
          "mean1": lambda v: gn.mean(v, axis=-1, keepdims=True), "max1": lambda v: gn.max(v, axis=1),
          "softmax": lambda v: gn.Softmax()(v), "total": lambda v: gn.mean(v)}


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 4), k=st.integers(2, 4), other=st.sampled_from(sorted(OTHER)),
       know_x=st.sampled_from(sorted(KNOWLEDGE)), know_w=st.sampled_from(sorted(KNOWLEDGE)),
       binary=st.sampled_from(sorted(BINARY)), unary=st.sampled_from(sorted(UNARY)),
       reduce=st.sampled_from(sorted(REDUCE)), seed=st.integers(0, 2**16))
def test_gradients_with_any_static_shape_knowledge(n, k, other, know_x, know_w, binary, unary, reduce, seed):
    rng = np.random.default_rng(seed)
    x_shape, w_shape = (n, k), OTHER[other](n, k)
    x = rng.uniform(0.3, 1.5, x_shape) * rng.choice([-1, 1], x_shape)
    w = rng.uniform(0.3, 1.5, w_shape) * rng.choice([-1, 1], w_shape)
    X = gn.Input("x", shape=KNOWLEDGE[know_x](x_shape))
    W = gn.Input("w", shape=KNOWLEDGE[know_w](w_shape))
    if other == "matrix":
        h = gn.matmul(X, W)
    else:
        h = BINARY[binary](X, W)
    value = gn.Graph([h]).run({X: x, W: w})[h]
    if binary == "maximum" and other != "matrix":
        both = np.broadcast_arrays(x, w)
        if np.min(np.abs(both[0] - both[1])) < 1e-3:
            return  # a tie: no derivative there
    if unary == "transpose" and value.ndim != 2:
        unary = "none"
    if unary in ("abs", "clip"):
        middle = UNARY["none"](value)
        if np.min(np.abs(np.abs(middle) - (0.8 if unary == "clip" else 0.0))) < 1e-3:
            return  # on a kink
    h = UNARY[unary](h)
    if reduce in ("sum0", "mean1", "max1", "softmax") and gn.Graph([h]).run({X: x, W: w})[h].ndim != 2:
        reduce = "total"
    y = REDUCE[reduce](h)
    errors = gn.check_grad(y, [X, W], {X: x, W: w})
    assert max(errors) < 1e-5, (errors, other, know_x, know_w, binary, unary, reduce)


@pytest.mark.parametrize("knowledge", sorted(KNOWLEDGE))
def test_a_broadcast_input_of_unknown_shape_gets_a_gradient_of_its_own_shape(knowledge):
    # the case: d sum(x * w) / dw for w (1, 3), with x's shape unknown when built
    X = gn.Input("x", shape=KNOWLEDGE[knowledge]((4, 3)))
    W = gn.Input("w", shape=KNOWLEDGE[knowledge]((1, 3)))
    (gw,) = gn.grad(gn.sum(X * W), [W])
    x = np.arange(12.0).reshape(4, 3)
    value = gn.Graph([gw]).run({X: x, W: np.ones((1, 3))})[gw]
    np.testing.assert_array_equal(value, x.sum(axis=0, keepdims=True))


def test_an_upstream_of_the_wrong_shape_is_refused():
    declared = gn.Input("x", shape=(4, 3))
    with pytest.raises(gn.GraphError, match=r"upstream= has shape \(1, 3\) but exp has shape \(4, 3\)"):
        gn.grad(gn.exp(declared), [declared], upstream=gn.Constant(np.ones((1, 3))))
    X = gn.Input("x2", shape=(None, 3))
    (g,) = gn.grad(gn.exp(X), [X], upstream=gn.Input("u"))  # not known until run time: checked then
    graph = gn.Graph([g])
    with pytest.raises(gn.GraphError, match=r"upstream gradient of shape \(1, 3\) for an output of shape \(4, 3\)"):
        graph.run({X: np.ones((4, 3)), "u": np.ones((1, 3))})
    np.testing.assert_allclose(graph.run({X: np.zeros((4, 3)), "u": np.full((4, 3), 2.0)})[g], np.full((4, 3), 2.0))
