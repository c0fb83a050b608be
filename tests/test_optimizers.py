"""Optimizers: the book's formulas bit for bit, state per parameter, clear errors."""

import numpy as np
import pytest

import graphnn as gn
from benchmarks import book_numpy as bk
from graphnn.nn import chunks


class _Layer:
    """Stands in for a book layer: weights, biases and their gradients."""

    def __init__(self, w, b):
        self.weights, self.biases = w.copy(), b.copy()


def _setup(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 3)).astype(dtype)
    b = rng.standard_normal((1, 3)).astype(dtype)
    grads = [(rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal((1, 3)).astype(dtype))
             for _ in range(5)]
    return w, b, grads


CASES = [
    (gn.SGD, bk.Optimizer_SGD, {}),
    (gn.SGD, bk.Optimizer_SGD, {"learning_rate": 0.5, "decay": 1e-2}),
    (gn.SGD, bk.Optimizer_SGD, {"learning_rate": 0.5, "decay": 1e-3, "momentum": 0.9}),
    (gn.Adagrad, bk.Optimizer_Adagrad, {"decay": 1e-4}),
    (gn.RMSprop, bk.Optimizer_RMSprop, {"learning_rate": 0.02, "decay": 1e-5, "rho": 0.999}),
    (gn.Adam, bk.Optimizer_Adam, {}),
    (gn.Adam, bk.Optimizer_Adam, {"learning_rate": 0.05, "decay": 5e-7}),
]


@pytest.mark.parametrize("ours, book, kwargs", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunk", [None, 40], ids=["one chunk", "chunks of 40 bytes"])
def test_first_steps_equal_the_books_formulas_bit_for_bit(ours, book, kwargs, dtype, chunk, monkeypatch):
    if chunk:  # the parameters split over several chunks, each computed twice
        monkeypatch.setattr(chunks, "CHUNK_BYTES", chunk)
    w, b, grads = _setup(dtype)
    W, B = gn.Parameter(w.copy(), "w"), gn.Parameter(b.copy(), "b")
    layer = _Layer(w, b)
    mine, ref = ours(**kwargs), book(**kwargs)
    for dw, db in grads:
        mine.step([W, B], [dw, db])
        layer.dweights, layer.dbiases = dw, db
        ref.pre_update_params()
        ref.update_params(layer)
        ref.post_update_params()
        assert np.array_equal(W.value, layer.weights) and np.array_equal(B.value, layer.biases)
        assert W.value.dtype == dtype
        assert mine.current_learning_rate == ref.current_learning_rate
        assert mine.iterations == ref.iterations


def test_adam_first_step_by_hand():
    w = np.array([[1.0, -2.0]], np.float32)
    g = np.array([[0.5, -0.25]], np.float32)
    W = gn.Parameter(w.copy())
    gn.Adam(learning_rate=0.1).step([W], [g])
    m = (1 - 0.9) * g
    c = (1 - 0.999) * g ** 2
    expected = w + -0.1 * (m / (1 - 0.9)) / (np.sqrt(c / (1 - 0.999)) + 1e-7)
    assert np.array_equal(W.value, expected)


def test_learning_rate_decay_follows_the_book():
    opt = gn.SGD(learning_rate=1.0, decay=0.1)
    W = gn.Parameter(np.zeros((2, 2)))
    rates = []
    for _ in range(3):
        opt.step([W], [np.ones((2, 2))])
        rates.append(opt.current_learning_rate)
    assert rates == [1.0, 1.0 * (1.0 / (1.0 + 0.1 * 1)), 1.0 * (1.0 / (1.0 + 0.1 * 2))]
    assert opt.iterations == 3


def test_updates_are_in_place_and_leave_gradients_alone():
    W = gn.Parameter(np.ones((3, 2), np.float32))
    array = W.value
    g = np.full((3, 2), 0.5, np.float32)
    gn.Adam().step([W], [g])
    assert W.value is array
    assert np.all(g == 0.5)


def test_float64_gradient_for_float32_parameter_follows_numpys_promotion():
    w, b, grads = _setup(np.float32)
    W = gn.Parameter(w.copy())
    layer = _Layer(w, b)
    ref = bk.Optimizer_Adam(learning_rate=0.01)
    mine = gn.Adam(learning_rate=0.01)
    for dw, _ in grads:
        dw64 = dw.astype(np.float64) / 3
        mine.step([W], [dw64])
        layer.dweights, layer.dbiases = dw64, np.zeros((1, 3), np.float32)
        ref.pre_update_params()
        ref.update_params(layer)
        ref.post_update_params()
        assert np.array_equal(W.value, layer.weights) and W.value.dtype == np.float32


@pytest.mark.parametrize("make, message", [
    (lambda: gn.Adam(learning_rate=-0.01), "Adam: learning_rate must be a finite number >= 0, got -0.01"),
    (lambda: gn.SGD(learning_rate=float("nan")), "SGD: learning_rate must be a finite number >= 0"),
    (lambda: gn.SGD(decay=-1), "SGD: decay must be a finite number >= 0, got -1"),
    (lambda: gn.SGD(momentum=1.0), "SGD: momentum must be a finite number >= 0 and < 1, got 1.0"),
    (lambda: gn.RMSprop(rho=1.5), "RMSprop: rho must be a finite number >= 0 and < 1"),
    (lambda: gn.Adam(beta_1=-0.1), "Adam: beta_1 must be a finite number >= 0 and < 1"),
    (lambda: gn.Adam(epsilon=0), "Adam: epsilon must be a finite number > 0, got 0"),
    (lambda: gn.Adagrad(learning_rate="fast"), "Adagrad: learning_rate must be a number, got 'fast'"),
])
def test_bad_hyperparameters_are_clear_errors(make, message):
    with pytest.raises(gn.GraphError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_a_bad_step_changes_nothing():
    W, B = gn.Parameter(np.ones((2, 2))), gn.Parameter(np.ones((1, 2)))
    opt = gn.SGD()
    with pytest.raises(gn.GraphError, match=r"gradient of shape \(2, 3\) for .* of shape \(2, 2\)"):
        opt.step([B, W], [np.ones((1, 2)), np.ones((2, 3))])
    with pytest.raises(gn.GraphError, match="2 parameters but 1 gradients"):
        opt.step([W, B], [np.ones((2, 2))])
    with pytest.raises(gn.GraphError, match="is not a parameter node"):
        opt.step([gn.Input("x")], [np.ones((2, 2))])
    assert np.all(W.value == 1) and np.all(B.value == 1)
    assert opt.iterations == 0 and not opt.state


def test_state_is_kept_per_parameter():
    W1, W2 = gn.Parameter(np.ones((2, 2))), gn.Parameter(np.ones((3,)))
    opt = gn.Adam()
    opt.step([W1, W2], [np.ones((2, 2)), np.ones(3)])
    assert set(opt.state) == {W1, W2}
    assert opt.state[W1]["momentums"].shape == (2, 2) and opt.state[W2]["cache"].shape == (3,)


@pytest.mark.parametrize("epsilon, checked", [(1e-7, 0), (1e-300, 2)], ids=["proven", "checked first"])
def test_chunks_are_computed_in_scratch_only_when_an_overflow_is_possible(epsilon, checked, monkeypatch):
    w, b, grads = _setup(np.float32)
    results, compute = [], chunks._Group.compute
    for chunk in (None, 40):  # one chunk, then the two parameters over several chunks of 10 values
        if chunk:
            monkeypatch.setattr(chunks, "CHUNK_BYTES", chunk)
        W, B = gn.Parameter(w.copy()), gn.Parameter(b.copy())
        opt, calls = gn.Adam(epsilon=epsilon), []
        monkeypatch.setattr(chunks._Group, "compute", lambda *a, c=calls, **k: c.append(1) or compute(*a, **k))
        for dw, db in grads:
            opt.step([W, B], [dw, db])
        results.append((W.value, B.value, opt.state[W]["cache"], len(calls)))
    (w1, b1, c1, once), (w2, b2, c2, chunked) = results
    assert np.array_equal(w1, w2) and np.array_equal(b1, b2) and np.array_equal(c1, c2)
    # 15 values: 2 chunks of 10, updated in place after a bound, or after computing them in scratch
    assert once == len(grads) and chunked == checked * len(grads)


@pytest.mark.parametrize("slots, message", [
    ({"momentums": np.full((2, 2), np.nan), "cache": np.ones((2, 2))}, "momentums must be finite"),
    ({"momentums": np.ones((2, 2)), "cache": -np.ones((2, 2))}, "cache must be finite, .* not negative"),
    ({"momentums": np.ones((2, 3)), "cache": np.ones((2, 3))}, r"momentums must be finite, of shape \(2, 2\)"),
])
def test_load_state_refuses_state_a_step_could_not_have_made(slots, message):
    W, opt = gn.Parameter(np.ones((2, 2)), "W"), gn.Adam()
    with pytest.raises(gn.GraphError, match=f"Adam.load_state: W's {message}"):
        opt.load_state(W, slots)
    assert not opt.state


def test_a_loaded_state_is_measured_again_before_a_step_in_place(monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 40)  # several chunks: updated in place after a bound
    w, b, grads = _setup(np.float32)
    W, B = gn.Parameter(w.copy(), "w"), gn.Parameter(b.copy(), "b")
    opt = gn.Adam()
    opt.step([W, B], list(grads[0]))  # the bound of the state it wrote is kept for the next step
    opt.load_state(W, {"momentums": np.full((4, 3), 1e37, np.float32), "cache": np.zeros((4, 3), np.float32)})
    before, tiny = W.value.copy(), np.full((4, 3), 1e-30, np.float32)  # so sqrt(cache) + epsilon ~ 1e-7
    with pytest.raises(gn.GraphError, match=r"updating w overflowed .*; nothing was updated"):
        opt.step([W, B], [tiny, grads[1][1]])
    assert np.array_equal(W.value, before) and opt.iterations == 1


@pytest.mark.parametrize("alias", ["a view", "the array itself"])
def test_a_gradient_that_is_a_parameter_reads_its_values_from_before_the_step(alias, monkeypatch):
    w, b, grads = _setup(np.float32)
    results = []
    for chunk in (None, 40):  # one chunk computed in scratch, then several updated in place
        if chunk:
            monkeypatch.setattr(chunks, "CHUNK_BYTES", chunk)
        W, B = gn.Parameter(w.copy()), gn.Parameter(b.copy())
        grad_b = W.value[1:2] if alias == "a view" else B.value  # updated before B's own chunk
        gn.Adam(learning_rate=0.1).step([W, B], [grads[0][0], grad_b])
        results.append((W.value.copy(), B.value.copy()))
    assert all(np.array_equal(x, y) for x, y in zip(*results))
