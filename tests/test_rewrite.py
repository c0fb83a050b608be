"""The joint Softmax + cross-entropy gradient: when it applies, what it computes, clipped rows."""

import numpy as np
import pytest

import graphnn as gn
from graphnn.core import nn_ops

LO, HI = 1e-7, 1 - 1e-7


def _net(one_hot=False):
    X = gn.Input("X")
    Y = gn.Input("y", shape=(None, 3)) if one_hot else gn.Input("y")
    probs = gn.Softmax()(X)
    return X, Y, probs, gn.CategoricalCrossEntropy()(probs, Y)


def _grad(loss, X, feeds, rewrite):
    g = gn.grad(loss, X, rewrite=rewrite)
    return gn.Graph([g]).run(feeds)[g], g


def _ops(node):
    return {n.op for n in gn.Graph([node]).nodes}


# Rows 0-2 ordinary; row 3 picks a probability ~1 (beyond the upper bound);
# row 4 picks one ~4e-18 (beyond the lower bound).
LOGITS = np.array([[1.0, 2.0, 0.5], [0.3, -0.2, 0.1], [2.0, 1.0, -1.0],
                   [40.0, 0.0, 0.0], [-40.0, 0.0, 0.0]])
LABELS = np.array([2, 0, 1, 0, 0])
CLIPPED = np.array([False, False, False, True, True])


@pytest.mark.parametrize("one_hot", [False, True])
def test_the_rewrite_replaces_the_chain_with_one_node(one_hot):
    X, _Y, probs, loss = _net(one_hot)
    rewritten = gn.grad(loss, X)
    plain = gn.grad(loss, X, rewrite=False)
    assert rewritten.op == "softmax_cce_grad" and rewritten.inputs[0] is probs
    assert "softmax_cce_grad" not in _ops(plain)
    assert len(gn.Graph([rewritten]).nodes) < len(gn.Graph([plain]).nodes) - 10


@pytest.mark.parametrize("one_hot", [False, True])
def test_rewritten_and_plain_gradients_agree_where_nothing_is_clipped(one_hot):
    X, Y, probs, loss = _net(one_hot)
    x, y = LOGITS[:3], LABELS[:3]
    feeds = {X: x, Y: np.eye(3)[y] if one_hot else y}
    book, _ = _grad(loss, X, feeds, True)
    strict, _ = _grad(loss, X, feeds, "strict")
    plain, _ = _grad(loss, X, feeds, False)
    assert np.array_equal(book, strict)
    assert np.allclose(book, plain, rtol=1e-12, atol=1e-15)
    p = gn.Graph([probs]).run({X: x})[probs]
    assert np.array_equal(book, (p - np.eye(3)[y]) / 3)


@pytest.mark.parametrize("one_hot", [False, True])
def test_clipped_rows_strict_matches_the_plain_chain_and_book_does_not_clip(one_hot):
    X, Y, probs, loss = _net(one_hot)
    feeds = {X: LOGITS, Y: np.eye(3)[LABELS] if one_hot else LABELS}
    book, _ = _grad(loss, X, feeds, True)
    strict, _ = _grad(loss, X, feeds, "strict")
    plain, _ = _grad(loss, X, feeds, False)
    # the plain chain: the clip passes nothing on clipped rows
    assert np.all(plain[CLIPPED] == 0) and np.all(plain[~CLIPPED] != 0)
    # strict means exactly the same, clipped rows included
    assert np.all(strict[CLIPPED] == 0)
    assert np.allclose(strict, plain, rtol=1e-12, atol=1e-15)
    # book: (p - one_hot) / N on every row, as the book's chapter 9 code
    p = gn.Graph([probs]).run({X: LOGITS})[probs]
    expected = p.copy()
    expected[range(5), LABELS] -= 1
    assert np.array_equal(book, expected / 5)
    assert np.any(book[3] != 0) and np.any(book[4] != 0) and np.array_equal(book[~CLIPPED], strict[~CLIPPED])


def test_rows_exactly_on_a_bound_are_zeroed_like_the_clip_gradient():
    """The strict mask and the clip's gradient agree on values exactly at the bounds (float32)."""
    p = np.array([[np.float32(LO), 0.5, 0.5], [np.float32(HI), 1e-8, 1e-8], [0.2, 0.3, 0.5],
                  [0.999, 5e-4, 5e-4]], np.float32)
    y = np.array([0, 0, 2, 0])
    P, Y = gn.Input("p"), gn.Input("y")
    loss = gn.CategoricalCrossEntropy()(P, Y)
    chain = gn.grad(loss, P)  # probabilities are an input here: no softmax, no rewrite
    through_clip = gn.Graph([chain]).run({P: p, Y: y})[chain]
    zero_rows = ~through_clip.any(axis=1)
    joint = nn_ops.softmax_cce_grad(P, Y, LO, HI, mask_clipped=True)
    masked = gn.Graph([joint]).run({P: p, Y: y})[joint]
    assert zero_rows.tolist() == [True, True, False, False]
    assert (~masked.any(axis=1)).tolist() == zero_rows.tolist()


def test_an_upstream_gradient_scales_the_joint_gradient():
    X, Y, _probs, loss = _net()
    W = gn.Parameter(np.array([[0.5]]), "w")
    total = loss * 3.0 + gn.sum(W * W)
    feeds = {X: LOGITS[:3], Y: LABELS[:3]}
    rewritten = gn.grad(total, X)
    assert rewritten.op == "mul" and rewritten.inputs[0].op == "softmax_cce_grad"
    plain = gn.grad(total, X, rewrite=False)
    values = gn.Graph([rewritten, plain]).run(feeds)
    assert np.allclose(values[rewritten], values[plain], rtol=1e-12)


def test_no_rewrite_when_the_probabilities_are_used_again():
    X, Y, probs, loss = _net()
    total = loss + gn.sum(probs * probs)
    g = gn.grad(total, X)
    assert "softmax_cce_grad" not in _ops(g)
    feeds = {X: LOGITS[:3], Y: LABELS[:3]}
    assert np.allclose(gn.Graph([g]).run(feeds)[g],
                       _grad(total, X, feeds, False)[0], rtol=1e-12)


def test_no_rewrite_when_an_inner_node_is_asked_for():
    X, Y, probs, loss = _net()
    gx, gp = gn.grad(loss, [X, probs])
    assert "softmax_cce_grad" not in _ops(gx)
    feeds = {X: LOGITS[:3], Y: LABELS[:3]}
    values = gn.Graph([gx, gp]).run(feeds)
    assert np.allclose(values[gx], _grad(loss, X, feeds, True)[0], rtol=1e-12)


def test_second_derivatives_through_the_joint_gradient():
    X, Y, _probs, loss = _net()
    g = gn.grad(loss, X)
    errors = gn.check_grad(g, [X], {X: LOGITS[:3], Y: LABELS[:3]})
    assert max(errors) < 1e-6


def test_labels_that_are_not_one_hot_are_refused_by_the_rewrite_only():
    X, Y, _probs, loss = _net(one_hot=True)
    soft = np.full((3, 3), 1 / 3)
    g = gn.grad(loss, X)
    with pytest.raises(gn.GraphError, match="needs one-hot label rows .* rewrite=False"):
        gn.Graph([g]).run({X: LOGITS[:3], Y: soft})
    plain, _ = _grad(loss, X, {X: LOGITS[:3], Y: soft}, False)
    assert np.isfinite(plain).all()


def test_bad_rewrite_value():
    X, _Y, _probs, loss = _net()
    with pytest.raises(gn.GraphError, match="rewrite must be True, False, 'book' or 'strict'"):
        gn.grad(loss, X, rewrite="fast")


def test_the_rewritten_graph_prints_and_renders():
    X, _Y, _probs, loss = _net()
    g = gn.grad(loss, X)
    graph = gn.Graph([loss, g])
    assert "grad/cce1/softmax_cce_grad: (?) ? = softmax_cce_grad(softmax1/normalize, y" in str(graph) \
        or "softmax_cce_grad(softmax1/normalize, y" in str(graph)
    dot = graph.to_dot()
    assert "softmax_cce_grad" in dot.source
