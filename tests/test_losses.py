"""Losses, regularization and the new layers: the book's values, finite-difference gradients."""

import numpy as np
import pytest

import graphnn as gn
from benchmarks import book_numpy as bk

RNG = np.random.default_rng(7)


def _probs(n=6, c=3):
    x = RNG.standard_normal((n, c))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------ forward values match the book

def test_categorical_cross_entropy_matches_the_book_sparse_and_one_hot():
    p, y = _probs().astype(np.float32), np.array([0, 1, 2, 1, 0, 2])
    P, Y = gn.Input("p"), gn.Input("y")
    loss = gn.CategoricalCrossEntropy()(P, Y)
    book = bk.Loss_CategoricalCrossentropy().calculate(p, y)
    assert gn.Graph([loss]).run({P: p, Y: y})[loss] == book
    one_hot = np.eye(3, dtype=np.float32)[y]
    Y1 = gn.Input("y1", shape=(None, 3))
    loss1 = gn.CategoricalCrossEntropy()(P, Y1)
    book1 = bk.Loss_CategoricalCrossentropy().calculate(p, one_hot)
    assert gn.Graph([loss1]).run({P: p, Y1: one_hot})[loss1] == book1


@pytest.mark.parametrize("ours, book", [
    (gn.BinaryCrossEntropy, bk.Loss_BinaryCrossentropy),
    (gn.MeanSquaredError, bk.Loss_MeanSquaredError),
    (gn.MeanAbsoluteError, bk.Loss_MeanAbsoluteError),
])
def test_elementwise_losses_match_the_book(ours, book):
    out = RNG.uniform(0.01, 0.99, (8, 2)).astype(np.float32)
    target = (RNG.uniform(size=(8, 2)) > 0.5).astype(np.float32)
    P, T = gn.Input("o"), gn.Input("t")
    loss = ours()(P, T)
    values = gn.Graph([loss, loss.inputs[0]]).run({P: out, T: target})
    ref = book()
    assert values[loss] == ref.calculate(out, target)
    assert np.array_equal(values[loss.inputs[0]], ref.forward(out, target))  # per-sample losses


def test_binary_cross_entropy_clips_like_the_book():
    out = np.array([[0.0], [1.0], [0.5]], np.float32)
    target = np.array([[1.0], [0.0], [1.0]], np.float32)
    P, T = gn.Input("o"), gn.Input("t")
    loss = gn.BinaryCrossEntropy()(P, T)
    value = gn.Graph([loss]).run({P: out, T: target})[loss]
    assert np.isfinite(value) and value == bk.Loss_BinaryCrossentropy().calculate(out, target)


def test_targets_of_another_shape_are_a_clear_error():
    P, T = gn.Input("o", shape=(None, 1)), gn.Input("t", shape=(None,))
    with pytest.raises(gn.GraphError, match=r"bce1: BinaryCrossEntropy needs targets of the predictions' "
                                            r"shape \(None, 1\); got t of shape \(None,\) \(reshape"):
        gn.BinaryCrossEntropy()(P, T)


# ------------------------------------------------------------ gradients by finite differences

def _check(loss, xs, feeds, tol=1e-6):
    errors = gn.check_grad(loss, xs, feeds)
    assert max(errors) < tol, errors


@pytest.mark.parametrize("loss_cls", [gn.BinaryCrossEntropy, gn.MeanSquaredError, gn.MeanAbsoluteError])
def test_elementwise_loss_gradients(loss_cls):
    out = RNG.uniform(0.05, 0.95, (5, 2))
    target = RNG.uniform(size=(5, 2))
    P, T = gn.Input("o"), gn.Input("t")
    _check(loss_cls()(P, T), [P], {P: out, T: target})


@pytest.mark.parametrize("rewrite", [True, "strict", False])
@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_cce_gradient(rewrite, one_hot):
    x = RNG.standard_normal((6, 3))
    y = np.array([0, 1, 2, 2, 1, 0])
    X = gn.Input("x")
    Y = gn.Input("y", shape=(None, 3)) if one_hot else gn.Input("y")
    loss = gn.CategoricalCrossEntropy()(gn.Softmax()(X), Y)
    grad = gn.grad(loss, X, rewrite=rewrite)
    labels = np.eye(3)[y] if one_hot else y
    analytic = gn.Graph([grad]).run({X: x, Y: labels})[grad]
    eps, numeric = 1e-6, np.zeros_like(x)
    f = gn.Graph([loss])
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (f.run({X: up, Y: labels})[loss] - f.run({X: down, Y: labels})[loss]) / (2 * eps)
    assert np.allclose(analytic, numeric, atol=1e-8)


def test_sigmoid_layer_and_its_gradient():
    x = RNG.standard_normal((4, 3))
    X = gn.Input("x")
    out = gn.Sigmoid()(X)
    assert out.name == "sigmoid1/div"
    values = gn.Graph([out]).run({X: x.astype(np.float32)})
    layer = bk.Activation_Sigmoid()
    layer.forward(x.astype(np.float32))
    assert np.array_equal(values[out], layer.output)
    _check(out, [X], {X: x})


def test_linear_is_the_identity_and_builds_nothing():
    X = gn.Input("x")
    assert gn.Linear()(X) is X
    assert np.array_equal(gn.Linear().predictions(np.ones(3)), np.ones(3))


def test_dense_with_every_regularizer_passes_the_gradient_check():
    np.random.seed(2)  # weights drawn as the book draws them; none within eps of L1's kink at 0
    dense = gn.Dense(3, 2, weight_regularizer_l1=1e-2, weight_regularizer_l2=5e-3,
                     bias_regularizer_l1=2e-2, bias_regularizer_l2=5e-2)
    dense.biases.value[:] = [[0.3, -0.2]]
    X = gn.Input("x")
    out = dense(X)
    loss = gn.mean(gn.square(out)) + gn.regularization_loss([dense])
    _check(loss, [dense.weights, dense.biases], {X: RNG.standard_normal((5, 3))})


def test_regularization_loss_matches_the_book_and_is_its_own_node():
    np.random.seed(0)
    dense = gn.Dense(4, 3, weight_regularizer_l1=1e-3, weight_regularizer_l2=5e-4,
                     bias_regularizer_l1=2e-3, bias_regularizer_l2=5e-4)
    dense.biases.value[:] = [[0.5, -0.5, 0.0]]
    plain = gn.Dense(3, 3)
    reg = gn.regularization_loss([dense, plain])
    assert reg is dense.penalty() and plain.penalty() is None
    assert reg.name.startswith("dense1/")  # drawn inside the layer
    book = bk.Layer_Dense(4, 3, 1e-3, 5e-4, 2e-3, 5e-4)
    book.weights, book.biases = dense.weights.value, dense.biases.value
    assert gn.Graph([reg]).run({})[reg] == bk.Loss().regularization_loss(book)
    assert gn.regularization_loss([plain]) is None


def test_l1_gradient_at_zero_is_plus_one_as_the_book():
    W = gn.Parameter(np.array([[0.0, -2.0, 3.0]]), "w")
    g = gn.grad(gn.sum(gn.abs(W, at_zero=1.0)), W)
    assert gn.Graph([g]).run({})[g].tolist() == [[1.0, -1.0, 1.0]]
    g0 = gn.grad(gn.sum(gn.abs(W)), W)   # np.sign's convention: 0 at 0 (MAE, as the book's)
    assert gn.Graph([g0]).run({})[g0].tolist() == [[0.0, -1.0, 1.0]]


def test_regularized_gradients_match_the_books_backward_bit_for_bit():
    """data + L1 + L2, added in the book's order (float32, as after nnfs.init())."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 4)).astype(np.float32)
    w = (0.1 * rng.standard_normal((4, 3))).astype(np.float32)
    w[0, 0] = 0.0
    dense = gn.Dense(4, 3, weight_regularizer_l1=3e-3, weight_regularizer_l2=7e-4,
                     bias_regularizer_l1=1e-3, bias_regularizer_l2=9e-4)
    dense.weights.value = w.copy()
    dense.biases.value = np.array([[0.1, 0.0, -0.2]], np.float32)
    X, Y = gn.Input("x"), gn.Input("y")
    probs = gn.Softmax()(dense(X))
    loss = gn.CategoricalCrossEntropy()(probs, Y) + gn.regularization_loss([dense])
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    dw, db = gn.grad(loss, [dense.weights, dense.biases])
    values = gn.Graph([dw, db]).run({X: x, Y: y})

    book = bk.Layer_Dense(4, 3, 3e-3, 7e-4, 1e-3, 9e-4)
    book.weights, book.biases = w.copy(), dense.biases.value.copy()
    book.forward(x)
    head = bk.Activation_Softmax_Loss_CategoricalCrossentropy()
    head.forward(book.output, y)
    head.backward(head.output, y)
    book.backward(head.dinputs)
    assert np.array_equal(values[dw], book.dweights)
    assert np.array_equal(values[db], book.dbiases)


# ------------------------------------------------------------ dropout

def test_dropout_masks_like_the_book_and_passes_gradients_through_the_same_mask():
    x = np.ones((1000, 8), np.float32)
    X = gn.Input("x")
    out = gn.Dropout(0.25)(X)
    mask = out.inputs[1]
    grad = gn.grad(gn.sum(gn.mul(out, 3.0)), X)
    np.random.seed(1)
    values = gn.Graph([out, grad]).run({X: x})
    np.random.seed(1)
    book = bk.Layer_Dropout(0.25)
    book.forward(x)
    assert np.array_equal(values[out], book.output.astype(np.float32))
    assert values[out].dtype == np.float32
    assert abs((values[out] == 0).mean() - 0.25) < 0.01
    assert np.array_equal(values[grad], 3.0 * values[mask])


def test_dropout_gradient_by_finite_differences_with_a_fixed_seed():
    x = RNG.standard_normal((4, 5))
    X = gn.Input("x")
    loss = gn.sum(gn.square(gn.Dropout(0.5)(X)))
    grad = gn.grad(loss, X)
    np.random.seed(5)
    analytic = gn.Graph([grad]).run({X: x})[grad]
    f, eps, numeric = gn.Graph([loss]), 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        np.random.seed(5)
        hi = f.run({X: up})[loss]
        np.random.seed(5)
        numeric[i] = (hi - f.run({X: down})[loss]) / (2 * eps)
    assert np.allclose(analytic, numeric, atol=1e-6)


def test_dropout_is_inactive_at_inference_and_checks_its_rate():
    X = gn.Input("x")
    layer = gn.Dropout(0.3)
    assert layer(X, training=False) is X and layer.name == "dropout1"
    for rate in (1.0, -0.1, "half"):
        with pytest.raises(gn.GraphError, match=r"rate \(the fraction of values dropped\) must be a (finite )?number"):
            gn.Dropout(rate)


def test_dense_regularizers_are_checked():
    with pytest.raises(gn.GraphError, match=r"Dense\(2, 3\): weight_regularizer_l2 must be a finite number >= 0, "
                                            r"got -0.1"):
        gn.Dense(2, 3, weight_regularizer_l2=-0.1)
