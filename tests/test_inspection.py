"""Statistics, health findings, summaries, traces and the numerics check."""

import numpy as np
import pytest

import graphnn as gn
from graphnn.cli import seed_network
from graphnn.seeing import health as ins
from graphnn.seeing import stats as st


@pytest.fixture
def seed(book_numpy):
    """The seed notebook's network, with the book's weights: (graph, feeds, probs, loss)."""
    return seed_network()


def checks(findings) -> set:
    return {(f.node, f.check) for f in findings}


# ---------------------------------------------------------------- statistics


def test_stats_of_a_known_array():
    s = gn.stats(np.array([[0.0, 1.0, -3.0], [4.0, np.nan, np.inf]], dtype=np.float32))
    assert (s.shape, s.dtype, s.size) == ((2, 3), "float32", 6)
    assert (s.min, s.max, s.mean) == (-3.0, 4.0, 0.5)
    assert s.zeros == pytest.approx(1 / 6)
    assert (s.nans, s.infs, s.finite) == (1, 1, False)
    assert s.norm == pytest.approx(np.sqrt(26))
    assert s.std == pytest.approx(np.std([0, 1, -3, 4]))
    assert s.line() == "min -3 mean 0.5 max 4"
    assert "NaN 1, Inf 1" in s.text() and "zeros 16.7%" in s.text()


def test_stats_of_odd_values():
    assert gn.stats(3).shape == () and gn.stats(3).mean == 3.0
    assert gn.stats(np.array([1, 2], np.uint8)).max == 2.0
    empty = gn.stats(np.zeros((0, 3)))
    assert empty.size == 0 and np.isnan(empty.mean) and empty.zeros == 0.0
    assert np.isnan(gn.stats(np.array([np.nan])).min)


def test_number_formats():
    assert st.fmt(0.000123456) == "0.0001235"
    assert st.fmt(-0.0) == "0" and st.fmt(float("nan")) == "nan" and st.fmt(12345678.0) == "1.235e+07"
    assert st.percent(1 / 3) == "33.3%" and st.percent(0.0) == "0%" and st.percent(1e-5) == "<0.1%"
    assert st.preview(np.arange(3)) == "[0 1 2]"
    assert "..." in st.preview(np.arange(100))


# ---------------------------------------------------------------- diagnose


def test_healthy_seed_network_has_no_findings(seed):
    graph, feeds, probs, loss = seed
    grads = gn.gradients(loss)
    train = gn.Graph([probs, loss, *(grads[p] for p in graph.params)])
    assert gn.diagnose(train, train.run(feeds), grads) == []


def test_nan_finding_names_where_it_started():
    x = gn.Input("x", shape=(None,), dtype="float32")
    out = gn.mean(gn.neg(gn.log(x)))
    graph = gn.Graph([out])
    with np.errstate(invalid="ignore", divide="ignore"):
        values = graph.run({x: np.array([1.0, -1.0, 0.0], np.float32)})
    findings = gn.diagnose(graph, values)
    assert [(f.node, f.check, f.severity) for f in findings] == [
        ("log", "nonfinite", "error"), ("neg", "nonfinite", "error"), ("mean", "nonfinite", "error")]
    assert findings[0].message == "NaN/Inf: 1 NaN, 1 Inf of 3 (first from finite inputs)"
    assert "first" not in findings[1].message
    assert str(findings[0]).startswith("error: log: NaN/Inf")


def test_dead_relu_fraction():
    X = gn.Input("X")
    relu = gn.ReLU()(X)
    graph = gn.Graph([relu])
    x = np.array([[1.0, -1.0, 0.0, 2.0], [3.0, -2.0, -1.0, -5.0]])
    [finding] = gn.diagnose(graph, graph.run({X: x}))
    assert (finding.node, finding.check, finding.amount) == ("relu1/maximum", "dead_relu", 0.5)
    assert finding.message == "dead ReLU: 2 of 4 neurons (0 for the whole batch)"
    assert gn.diagnose(graph, graph.run({X: x}), thresholds=gn.Thresholds(dead_relu=0.5)) == []
    assert ins.dead_fraction(np.zeros(3)) == (1, 1)


def test_saturation_and_clip_hits():
    logits = gn.Input("logits", shape=(None, 2), dtype="float32")
    labels = gn.Input("labels", shape=(None,), dtype="int64")
    loss = gn.CategoricalCrossEntropy()(gn.Softmax()(logits), labels)
    graph = gn.Graph([loss])
    feeds = {logits: np.array([[0, 0], [0, 0], [0, 0], [40, 0]], np.float32), labels: np.array([0, 1, 0, 1])}
    found = {f.check: f for f in gn.diagnose(graph, graph.run(feeds))}
    assert set(found) == {"saturated", "clip_hit"}
    assert found["saturated"].node == "softmax1/normalize" and found["saturated"].amount == 0.25
    assert found["clip_hit"].node == "cce1/clip" and found["clip_hit"].amount == 0.25
    assert found["clip_hit"].message == "clip hit: 25% (at lo 12.5%, at hi 12.5%)"
    assert gn.diagnose(graph, graph.run(feeds), thresholds=gn.Thresholds(saturation=0.3, clip_hit=0.3)) == []


def test_vanishing_and_exploding_gradients():
    w = gn.Parameter(np.array([1e-9, 0.0]), name="w")
    v = gn.Parameter(np.array([1e4, 0.0]), name="v")
    x = gn.Input("x", shape=(2,), dtype="float64")
    loss = gn.sum(gn.mul(x, w)) + gn.sum(gn.mul(x, v))
    grads = gn.gradients(loss)
    graph = gn.Graph([loss, grads[w], grads[v]])
    feeds = {x: np.array([1e-9, 0.0])}
    found = {(f.node, f.check) for f in gn.diagnose(graph, graph.run(feeds), grads)}
    assert ("w", "vanishing_grad") in found and ("v", "vanishing_grad") in found
    feeds = {x: np.array([1e5, 0.0])}
    found = {(f.node, f.check) for f in gn.diagnose(graph, graph.run(feeds), grads)}
    assert ("w", "exploding_grad") in found and ("v", "exploding_grad") in found
    arrays = {w: np.array([np.nan, 0.0])}  # gradients may also be given as arrays
    [bad] = gn.diagnose(graph, graph.run(feeds), arrays, gn.Thresholds(exploding_grad=1e12))
    assert (bad.node, bad.check, bad.severity) == ("w", "exploding_grad", "error")


def test_gradients_covers_what_the_loss_depends_on(seed):
    graph, feeds, _probs, loss = seed
    grads = gn.gradients(loss)
    names = [n.name for n in grads]
    assert names[:4] == ["dense1/weights", "dense1/biases", "dense2/weights", "dense2/biases"]
    assert "softmax1/stop_gradient" not in names and "softmax1/max" not in names  # no gradient flows
    assert "y" not in names and "X" not in names and "relu1/const" not in names
    assert all(g.backward for g in grads.values())
    plain = gn.grad(loss, graph.params, rewrite=False)  # the same chain, primitive by primitive
    values = gn.Graph([*grads.values(), *plain]).run(feeds)
    for p, g in zip(graph.params, plain):
        np.testing.assert_allclose(values[grads[p]], values[g], rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------- summary


def test_summary_of_the_seed_network(seed):
    graph, feeds, _probs, loss = seed
    s = graph.summary()
    assert [(r.layer, r.ops, r.output_shape, r.params) for r in s.rows] == [
        ("X (input)", 0, "(?)", 0), ("y (input)", 0, "(?)", 0), ("dense1", 2, "(None, 3)", 9),
        ("relu1", 1, "(None, 3)", 0), ("dense2", 2, "(None, 3)", 12), ("softmax1", 5, "(None, 3)", 0),
        ("cce1", 5, "()", 0)]
    assert (s.total_params, s.ops, s.backward_ops) == (21, 15, 0)
    text = str(s)
    assert text.splitlines()[0].split() == ["Layer", "Ops", "Output", "shape", "Params"]
    assert "Total params: 21" in text and "Outputs: softmax1/normalize, cce1/mean" in text
    assert repr(s) == text
    with_values = gn.summary(graph, graph.run(feeds))
    assert with_values.rows[0].output_shape == "(300, 2)" and with_values.rows[2].output_shape == "(300, 3)"
    train = gn.Graph([loss, *gn.grad(loss, graph.params)])
    assert train.summary().backward_ops > 0 and "(and 4 gradients)" in str(train.summary())


def test_summary_depth_follows_nesting():
    X = gn.Input("X")
    with gn.scope("model"):
        out = gn.Dense(4, 3)(gn.ReLU()(gn.Dense(2, 4)(X)))
    graph = gn.Graph([out])
    assert [(r.layer, r.params) for r in graph.summary().rows] == [("X (input)", 0), ("model", 27)]
    assert [(r.layer, r.params) for r in graph.summary(depth=2).rows] == [
        ("X (input)", 0), ("model/dense1", 12), ("model/relu1", 0), ("model/dense2", 15)]


# ---------------------------------------------------------------- hooks


def test_trace_records_every_node_in_execution_order(seed):
    graph, feeds, _probs, _loss = seed
    trace = gn.Trace()
    values = graph.run(feeds, hook=trace)
    assert [e.node for e in trace.entries] == graph.nodes
    assert [e.step for e in trace.entries] == list(range(len(graph.nodes)))
    entry = trace["dense1/matmul"]
    np.testing.assert_array_equal(entry.value, values["dense1/matmul"])
    assert entry.stats.max == pytest.approx(float(values["dense1/matmul"].max()))
    assert len(str(trace).splitlines()) == len(trace) == len(graph.nodes)
    with pytest.raises(KeyError, match="not computed"):
        trace["nope"]


def test_trace_keeps_copies(seed):
    graph, feeds, _, _ = seed
    trace = gn.Trace()
    graph.run(feeds, hook=trace)
    before = trace["dense1/weights"].value.copy()
    graph.params[0].value += 1.0  # as an optimizer step would
    np.testing.assert_array_equal(trace["dense1/weights"].value, before)
    light = gn.Trace(keep_values=False)  # statistics only
    graph.run(feeds, hook=light)
    assert light["dense1/matmul"].value is None and light["dense1/matmul"].stats.size == 900


def test_numerics_check_stops_at_the_first_bad_node():
    x = gn.Input("x", shape=(None,), dtype="float32")
    out = gn.mean(gn.neg(gn.log(x)))
    graph = gn.Graph([out])
    trace = gn.Trace()
    with np.errstate(invalid="ignore"), pytest.raises(gn.NumericsError) as caught:
        graph.run({x: np.array([1.0, -1.0, 4.0], np.float32)}, hook=trace, check_numerics=True)
    error = caught.value
    assert error.node.name == "log"
    assert str(error).startswith(
        "log: log produced 1 NaN and 0 Inf of 3 values [inputs: x (3,) min -1 mean 1.333 max 4")
    assert error.input_stats["x"].min == -1.0
    assert [e.node.name for e in trace.entries] == ["x", "log"]  # stopped there
    assert isinstance(error, gn.GraphError)


def test_numerics_check_names_a_bad_input_and_passes_good_runs(seed):
    graph, feeds, _probs, loss = seed
    plain = graph.run(feeds)
    checked = graph.run(feeds, check_numerics=True)
    assert float(checked[loss]) == float(plain[loss])
    bad = dict(feeds)
    bad[next(k for k in feeds if k.name == "X")] = np.full((3, 2), np.nan, np.float32)
    with pytest.raises(gn.NumericsError, match=r"^X: input holds 6 NaN"):
        graph.run({k: v[:3] for k, v in bad.items()}, check_numerics=True)
