"""A primitive defined in one place, with the public API, works everywhere a built-in one does."""

import numpy as np
import pytest

import graphnn as gn


def _softplus_dx(g, node):
    return g / (1.0 + gn.exp(gn.neg(node.inputs[0])))  # d log(1 + e**x) = sigmoid(x)


softplus = gn.define_primitive("softplus", lambda x: np.logaddexp(0, x).astype(x.dtype, copy=False),
                               gn.same_shape, (_softplus_dx,), doc="log(1 + e ** x), elementwise")


@gn.register_layer
class Softplus(gn.Layer):
    type_name = "softplus"

    def forward(self, x):
        return softplus(x)


def spiral(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 0] > 1)
    return X, y


def test_forward_equals_numpy_and_keeps_the_dtype():
    x = np.linspace(-30, 30, 13, dtype=np.float32)
    X = gn.Input("x")
    y = softplus(X)
    for optimize in (True, False):
        out = gn.Graph([y]).run({X: x}, optimize=optimize)[y]
        np.testing.assert_array_equal(out, np.logaddexp(0, x))
        assert out.dtype == np.float32


def test_gradient_matches_finite_differences_in_float64_and_differentiates_again():
    X = gn.Input("x", shape=(4, 3))
    x = np.random.default_rng(1).uniform(-3, 3, (4, 3))
    assert max(gn.check_grad(gn.sum(softplus(X)), [X], {X: x})) < 1e-7
    (g,) = gn.grad(gn.sum(softplus(X)), [X])
    assert max(gn.check_grad(gn.sum(g * g), [X], {X: x})) < 1e-6  # second order, through the rule


def _model():
    model = gn.Model()
    model.add(gn.Dense(2, 8))
    model.add(Softplus())
    model.add(gn.Dense(8, 3))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.SGD(learning_rate=0.5, momentum=0.5),
              accuracy=gn.CategoricalAccuracy())
    model.finalize()
    return model


def test_an_optimized_training_step_equals_the_unoptimized_one_bit_for_bit():
    X, y = spiral()
    np.random.seed(0)
    fast = _model()
    np.random.seed(0)
    slow = _model()
    slow.graph.optimize = False
    for _ in range(5):
        for model in (fast, slow):
            model._step(X, y)
    for a, b in zip(fast.params, slow.params):
        np.testing.assert_array_equal(a.value, b.value)
    assert fast.graph.plan({fast.input: X, fast.target: y}, keep="fetched").pooled


def test_it_prints_and_renders_with_its_name():
    X = gn.Input("x", shape=(None, 2))
    graph = gn.Graph([softplus(X, name="smooth")])
    assert "smooth: (None, 2) ? = softplus(x)" in str(graph)
    assert "softplus" in graph.to_dot().source


def test_a_model_using_it_saves_and_loads(tmp_path):
    X, y = spiral()
    model = _model()
    model.train(X, y, epochs=3, verbose=False)
    model.save(tmp_path / "softplus.npz")
    loaded = gn.Model.load(tmp_path / "softplus.npz")
    assert isinstance(loaded.layers[1], Softplus)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_wrong_definition_is_a_clear_error():
    with pytest.raises(gn.GraphError, match="a primitive named 'softplus' already exists"):
        gn.define_primitive("softplus", np.exp, gn.same_shape, (None,))
    with pytest.raises(gn.GraphError, match="the name must be an identifier"):
        gn.define_primitive("soft plus", np.exp, gn.same_shape)
    with pytest.raises(gn.GraphError, match="shape_rule must be callable"):
        gn.define_primitive("nothing", np.exp, None)
    with pytest.raises(gn.GraphError, match="softplus: takes 1 inputs, got 2"):
        softplus(gn.Input("a"), gn.Input("b"))
    with pytest.raises(gn.GraphError, match=r"softplus: unknown attribute beta \(it takes none\)"):
        softplus(gn.Input("a"), beta=2)
    scaled = gn.define_primitive("scaled", lambda x, k: x * k, lambda x, k: (x.shape, x.dtype), (None,), attrs=("k",))
    with pytest.raises(gn.GraphError, match=r"the shape rule of scaled failed: .*missing 1 required positional "
                                            r"argument: 'k'"):
        scaled(gn.Input("b"))
    broken = gn.define_primitive("broken_rule", np.exp, lambda x: x.shape, (None,))  # returns no dtype
    with pytest.raises(gn.GraphError, match="the shape rule of broken_rule failed"):
        broken(gn.Input("c", shape=(2, 3)))
