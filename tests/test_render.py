"""Diagrams: golden DOT files of the seed network, labels, marks, formats and errors.

Golden files live in tests/golden/; after an intended change to the drawing,
rewrite them with ``GRAPHNN_UPDATE_GOLDEN=1 python -m pytest tests/test_render.py``
and review the diff.
"""

import json
import os
import pathlib
import re
import types
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphnn as gn
from graphnn.cli import seed_network
from graphnn.seeing import graphviz_backend as backend
from graphnn.seeing import render as rd
from graphnn.seeing.stats import fmt

GOLDEN = pathlib.Path(__file__).parent / "golden"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def seed(book_numpy):
    """The seed notebook's network, with the book's weights: (graph, feeds, probs, loss)."""
    return seed_network()


@pytest.fixture
def no_dot(monkeypatch):
    """As if the Graphviz 'dot' program were not installed (graphviz-pure still is)."""
    monkeypatch.setattr(backend, "system_dot", lambda: None)


@pytest.fixture
def fake_dot(monkeypatch, tmp_path):
    """A stand-in system 'dot' that writes a tiny PDF and records its arguments in dot.args."""
    program = tmp_path / "bin" / "dot"
    program.parent.mkdir()
    program.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/dot.args"\ncat > /dev/null\nprintf "%%PDF-1.4 fake"\n')
    program.chmod(0o755)
    monkeypatch.setattr(backend, "system_dot", lambda: str(program))
    return program


def normalized(source: str) -> str:
    """DOT text without indentation, which graphviz package versions may change."""
    return "\n".join(line.strip() for line in source.strip().splitlines()) + "\n"


def check_golden(name: str, source: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GRAPHNN_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(source)
    assert path.exists(), f"no golden file {path}; create it with GRAPHNN_UPDATE_GOLDEN=1"
    assert normalized(source) == normalized(path.read_text()), f"{name} differs from its golden file"


def boxes(graph, **options) -> dict:
    """The drawn nodes by name, as the JSON description gives them."""
    return {n["name"]: n for n in rd.to_json(graph, **options)["nodes"]}


def named_edges(graph, **options) -> list[dict]:
    """The JSON description's edges, with node names in place of the generated ids."""
    data = rd.to_json(graph, **options)
    names = {n["id"]: n["name"] for n in data["nodes"]}
    return [dict(e, **{"from": names[e["from"]], "to": names[e["to"]]}) for e in data["edges"]]


def node_line(graph, name, **options) -> str:
    """The DOT statement that draws the node called ``name``."""
    box_id = boxes(graph, **options)[name]["id"]
    return re.search(rf"^\s*{box_id} \[.*$", graph.to_dot(**options).source, re.M).group(0)


def relu_net(weights, x):
    """X -> dense (given weights) -> relu; returns graph, feeds."""
    X = gn.Input("X")
    dense = gn.Dense(*np.shape(weights))
    dense.weights.value[...] = weights
    out = gn.ReLU()(dense(X))
    return gn.Graph([out]), {X: np.asarray(x, dtype=dense.weights.value.dtype)}


# ---------------------------------------------------------------- golden files


def test_golden_forward(seed):
    graph, _, _, _ = seed
    check_golden("seed_forward.gv", graph.to_dot().source)


def test_golden_backward(seed):
    graph, _, probs, loss = seed
    grads = gn.grad(loss, graph.params)
    check_golden("seed_backward.gv", gn.Graph([probs, loss, *grads]).to_dot().source)


def test_golden_collapsed(seed):
    graph, _, _, _ = seed
    check_golden("seed_collapsed.gv", graph.to_dot(depth=1).source)


def test_golden_values(seed):
    graph, feeds, _, _ = seed
    check_golden("seed_values.gv", graph.to_dot(values=graph.run(feeds)).source)


def test_same_graph_same_dot_text(book_numpy):
    sources = []
    for _ in range(2):
        gn.reset_names()
        graph, feeds, probs, loss = seed_network()
        grads = gn.gradients(loss)
        train = gn.Graph([probs, loss, *(grads[p] for p in graph.params)])
        values = train.run(feeds)
        sources.append(train.to_dot(values=values, grads=grads, legend=True, order=True).source)
    assert sources[0] == sources[1]
    assert "0x" not in sources[0]  # no id()-like addresses


# ---------------------------------------------------------------- labels (pure functions)


def test_tensor_and_attrs_text():
    assert rd.tensor_text((None, 3), "float32") == "(None, 3) float32"
    assert rd.tensor_text((5,), None) == "(5,)"
    assert rd.tensor_text(None, "?") == ""
    assert rd.attrs_text({"axis": 1, "keepdims": True}) == "axis=1, keepdims=True"
    assert rd.attrs_text({"axis": None, "keepdims": False}) == ""
    assert rd.attrs_text({"lo": 1e-7, "hi": 1 - 1e-7}) == "lo=1e-07, hi=0.9999999"


def test_node_lines():
    X = gn.Input("X", shape=(None, 2), dtype="float32")
    dense = gn.Dense(2, 3)
    out = dense(X)
    m = gn.max(out, axis=1, keepdims=True)
    assert rd.op_lines(out) == ["add_bias"]
    assert rd.op_lines(m) == ["max", "axis=1, keepdims=True"]
    assert rd.leaf_lines(dense.weights) == ["weights", "(2, 3) float64", "6 params"]
    assert rd.leaf_lines(X) == ["X", "(None, 2) float32"]
    assert rd.leaf_lines(gn.Constant(0.5)) == ["0.5"]
    assert rd.leaf_lines(gn.Constant(np.zeros((2, 2)))) == ["const (2, 2) float64"]


def test_value_and_layer_lines():
    s = gn.stats(np.array([[0.0, 1.0], [2.0, 5.0]], dtype=np.float32))
    g = gn.stats(np.array([3.0, 4.0]))
    assert rd.value_lines(s) == ["(2, 2) float32", "min 0 mean 2 max 5", "zeros 25%"]
    assert rd.value_lines(s, g)[2] == "zeros 25%, grad norm 5"
    dense = gn.Dense(2, 3)
    members = [n for n in gn.Graph([dense(gn.Input("X"))]).nodes if n.kind != "input"]
    assert rd.layer_lines("dense1", members, "(None, 2)", "(None, 3)") == [
        "dense1", "2 ops: matmul, add_bias", "in (None, 2) -> out (None, 3)", "9 params"]


def test_finding_lines():
    dead = gn.Finding("relu1/maximum", "dead_relu", "warning", 1 / 3, "dead ReLU: 1 of 3 neurons (0 for ...)")
    small = [gn.Finding(f"block1/{n}", "vanishing_grad", "warning", 1e-9, "vanishing gradient: norm 1e-09 (below)")
             for n in ("weights", "biases", "matmul")]
    assert rd.finding_lines([dead]) == ["! dead ReLU: 1 of 3 neurons"]
    assert rd.layer_finding_lines([dead, *small]) == [
        "! maximum: dead ReLU: 1 of 3 neurons", "! weights: vanishing gradient: norm 1e-09 (and 2 more)"]


def test_dot_text_escapes_and_splits():
    assert rd.dot_text(["a", "b\nc"]) == "a\\nb\\nc"
    assert rd.dot_text(["back\\slash"]) == "back\\\\slash"
    assert rd.dot_text(["back\\slash"], tooltip=True) == "back\\\\\\\\slash"  # Graphviz unescapes tooltips twice
    assert rd.dot_text(['say "<b>" & \x07']) == 'say \\"<b>\\" &amp; \\\\x07'
    assert rd.dot_text(["<b>"]) == "<b>" and isinstance(rd.dot_text(["<b>"]), rd.graphviz.nohtml("").__class__)


def test_styles_come_from_one_mapping():
    kinds = ["input", "parameter", "constant", "op", "backward", "layer"]
    looks = {(rd.STYLES[k].get("shape"), rd.STYLES[k].get("fillcolor"), rd.STYLES[k].get("style"))
             for k in kinds}
    assert len(looks) == len(kinds)  # every kind looks different
    assert rd.style_for("parameter", ["not_ran"])["style"] == "filled,rounded,dashed"
    assert rd.style_for("op", ["error"])["fillcolor"] == rd.STYLES["error"]["fillcolor"]
    assert set(rd.LEGEND) <= set(rd.STYLES)


# ---------------------------------------------------------------- what the diagram shows


def test_kinds_are_drawn_distinctly(seed):
    graph, _, probs, loss = seed
    train = gn.Graph([probs, loss, *gn.grad(loss, graph.params)])
    assert re.search(r'^\s*n0 \[label=X .*id=n0 .*shape=ellipse', node_line(train, "X"))
    assert re.search(r'label="weights\\n\(2, 3\) float32\\n6 params".*rounded', node_line(train, "dense1/weights"))
    assert 'fillcolor="#ecdcf7"' in node_line(train, "grad/dense1/matmul")
    assert "peripheries=2" in node_line(train, "cce1/mean")  # an output
    assert "peripheries=2" in node_line(train, "softmax1/normalize")
    assert "peripheries" not in node_line(train, "dense1/matmul")


def test_constants_are_written_into_the_ops_that_use_them(seed):
    graph, _, probs, loss = seed
    grads = gn.gradients(loss)
    train = gn.Graph([probs, loss, *(grads[p] for p in graph.params)])
    drawn = boxes(train, grads=grads)
    assert not any(b["kind"] == "constant" for b in drawn.values())
    assert drawn["relu1/maximum"]["label"][0] == "maximum(0, ·)"
    # a gradient op names the forward values it uses instead of a long arrow from them
    assert drawn["grad/relu1/gate"]["label"][0] == "gate(·, dense1/add_bias, 0)"
    assert drawn["grad/dense1/transpose"]["label"][0] == "transpose(X)"
    assert drawn["grad/dense2/transpose"]["label"][0] == "transpose(weights)"  # in its own layer: short
    source = train.to_dot(grads=grads).source
    assert f'{drawn["X"]["id"]} -> {drawn["grad/dense1/transpose"]["id"]}' not in source
    assert {"from": "X", "to": "grad/dense1/transpose"}.items() <= next(
        e for e in named_edges(train) if e["to"] == "grad/dense1/transpose").items()  # still in the JSON
    layers = train.to_dot(depth=1).source  # into a collapsed gradient layer: a light dashed arrow
    assert re.search(r'L\d+ -> L\d+ \[color="#c8b8d8" constraint=false fontcolor="#444444" style=dashed\]', layers)
    constant_out = gn.Graph([gn.Constant(2.0)])
    assert [b["kind"] for b in boxes(constant_out).values()] == ["constant"]  # drawn when it is an output


def test_edges_carry_shape_dtype_and_argument_position(seed):
    graph, feeds, _, _ = seed
    ids = {name: b["id"] for name, b in boxes(graph).items()}
    source = graph.to_dot().source
    assert f'{ids["dense1/weights"]} -> {ids["dense1/matmul"]} [label="(2, 3) float32"' in source
    assert re.search(rf'{ids["X"]} -> {ids["dense1/matmul"]} \[.*headlabel=0', source)
    assert re.search(rf'{ids["dense1/weights"]} -> {ids["dense1/matmul"]} \[.*headlabel=1', source)
    assert re.search(rf'{ids["softmax1/stop_gradient"]} -> {ids["softmax1/sub"]} \[.*headlabel=1', source)
    assert not re.search(rf'-> {ids["relu1/maximum"]} \[.*headlabel', source)  # maximum commutes
    with_values = graph.to_dot(values=graph.run(feeds)).source  # the box above already shows the shape
    assert f'{ids["dense1/weights"]} -> {ids["dense1/matmul"]} [color' in with_values


def test_sub_div_order_and_repeated_arguments():
    a, b = gn.Input("a", shape=(2,), dtype="float32"), gn.Input("b", shape=(2,), dtype="float32")
    graph = gn.Graph([gn.div(b, a), a - b, a + a])
    edges = named_edges(graph)
    into = {(e["from"], e["to"]): e["position"] for e in edges}
    assert into[("b", "div")] == 0 and into[("a", "div")] == 1
    assert into[("a", "sub")] == 0 and into[("b", "sub")] == 1
    assert [e["position"] for e in edges if e["to"] == "add"] == [None, None]  # a + a: two edges
    assert all(e["label"] == "(2,) float32" for e in edges)


def test_layers_are_clusters_nested_like_scopes():
    X = gn.Input("X")
    with gn.scope("model"):
        with gn.scope("block"):
            h = gn.ReLU()(gn.Dense(2, 4)(X))
        out = gn.Dense(4, 3)(h)
    source = gn.Graph([out]).to_dot().source
    assert re.findall(r"subgraph (cluster_\d+) {\s*\n.* label=(\w+) ", source) == [
        ("cluster_0", "model"), ("cluster_1", "block"), ("cluster_2", "dense1"), ("cluster_3", "relu1"),
        ("cluster_4", "dense2")]
    # a cluster is closed after the ones it holds: block's layers come before dense2
    assert source.index("}", source.index("label=relu1")) < source.index("label=dense2")
    nested = boxes(gn.Graph([out]))
    assert nested["dense1/weights"]["cluster"] == ["model", "block", "dense1"]  # with its layer


def test_depth_gives_one_box_per_layer_with_parameter_counts(seed):
    graph, _, _, _ = seed
    drawn = boxes(graph, depth=1)
    layers = {k: v["params"] for k, v in drawn.items() if v["kind"] == "layer"}
    assert layers == {"dense1": 9, "relu1": 0, "dense2": 12, "softmax1": 0, "cce1": 0}
    assert set(drawn) == set(layers) | {"X", "y"}
    assert drawn["dense1"]["out"] == "(None, 3)" and drawn["dense2"]["in"] == "(None, 3)"
    assert graph.to_dot(depth=1).source.count("shape=box3d") == 5


def test_depth_collapses_nested_layers_level_by_level():
    X = gn.Input("X")
    with gn.scope("model"):
        h = gn.ReLU()(gn.Dense(2, 4)(X))
        out = gn.Dense(4, 3)(h)
    graph = gn.Graph([out])
    one = {k: v for k, v in boxes(graph, depth=1).items() if v["kind"] == "layer"}
    assert {k: v["params"] for k, v in one.items()} == {"model": 12 + 15}
    two = {k: v for k, v in boxes(graph, depth=2).items() if v["kind"] == "layer"}
    assert {k: v["params"] for k, v in two.items()} == {"model/dense1": 12, "model/relu1": 0,
                                                        "model/dense2": 15}
    assert all(v["cluster"] == ["model"] for v in two.values())


def test_depth_collapses_gradient_layers_too(seed):
    graph, _, probs, loss = seed
    train = gn.Graph([probs, loss, *gn.grad(loss, graph.params)])
    layers = [k for k, v in boxes(train, depth=1).items() if v["kind"] == "layer"]
    assert "grad/dense1" in layers and "dense1" in layers
    assert not any(k.count("/") > 1 for k in layers)


def test_values_show_statistics_for_known_inputs():
    X = gn.Input("X")
    graph = gn.Graph([gn.ReLU()(X)])
    feeds = {X: np.array([[1, -2], [0, 4]], np.float32)}
    drawn = boxes(graph, values=graph.run(feeds))
    relu = drawn["relu1/maximum"]
    assert relu["label"][1:] == ["(2, 2) float32", "min 0 mean 1.25 max 4", "zeros 50%"]
    assert relu["stats"]["zeros"] == 0.5 and relu["stats"]["max"] == 4.0
    assert drawn["X"]["label"] == ["X", "(2, 2) float32", "min -2 mean 0.75 max 4", "zeros 25%"]
    tooltip = "\n".join(rd.build_view(graph, rd.parse_options({"values": graph.run(feeds)})).boxes[-1].tooltip)
    assert "std 1.639" in tooltip and "[[1. 0.]\n [0. 4.]]" in tooltip, tooltip


def test_gradient_norms_on_forward_nodes(seed):
    graph, feeds, probs, loss = seed
    grads = gn.gradients(loss)
    train = gn.Graph([probs, loss, *(grads[p] for p in graph.params)])
    values = train.run(feeds)
    drawn = boxes(train, values=values, grads=grads)
    expected = np.linalg.norm(values[grads[graph.params[0]]].astype(np.float64))
    assert drawn["dense1/weights"]["grad_norm"] == pytest.approx(expected)
    assert f"grad norm {fmt(expected)}" in drawn["dense1/weights"]["label"][-1]
    assert "grad norm" in drawn["softmax1/exp"]["label"][-1]
    assert "grad of weights" in drawn[grads[graph.params[0]].name]["label"]


def test_nan_marks_exactly_the_bad_nodes():
    x = gn.Input("x", shape=(None,), dtype="float32")
    out = gn.mean(gn.neg(gn.log(gn.exp(x) - 2.0)))
    graph = gn.Graph([out])
    with np.errstate(invalid="ignore"):
        values = graph.run({x: np.array([0.0, 2.0], np.float32)})
    drawn = boxes(graph, values=values)
    marked = {k for k, v in drawn.items() if "error" in v["marks"]}
    assert marked == {"log", "neg", "mean"}
    assert "! NaN/Inf: 1 NaN, 0 Inf of 2" in drawn["log"]["label"]
    assert 'fillcolor="#ff8a80"' in node_line(graph, "log", values=values)


def test_dead_relu_and_saturation_marks():
    # neuron 1 always gets a negative input: dead; neurons 0 and 2 live
    graph, feeds = relu_net([[1.0, -1.0, 0.5], [1.0, -1.0, 0.5]], [[1, 2], [3, 1]])
    drawn = boxes(graph, values=graph.run(feeds))
    assert drawn["relu1/maximum"]["marks"] == ["output", "warning"]
    assert "! dead ReLU: 1 of 3 neurons" in drawn["relu1/maximum"]["label"]
    assert "warning" not in drawn["dense1/add_bias"]["marks"]
    logits = gn.Input("logits", shape=(None, 3), dtype="float32")
    labels = gn.Input("labels", shape=(None,), dtype="int64")
    loss = gn.CategoricalCrossEntropy()(gn.Softmax()(logits), labels)
    graph = gn.Graph([loss])
    feeds = {logits: np.array([[0, 0, 0], [50, 0, 0]], np.float32), labels: np.array([0, 1])}
    drawn = boxes(graph, values=graph.run(feeds))
    warned = {k for k, v in drawn.items() if "warning" in v["marks"]}
    assert warned == {"softmax1/normalize", "cce1/clip"}
    assert "! saturated: 50%" in drawn["softmax1/normalize"]["label"]
    assert "! clip hit: 50%" in drawn["cce1/clip"]["label"]
    quiet = boxes(graph, values=graph.run(feeds), health=False)
    assert not any("warning" in v["marks"] for v in quiet.values())


def test_collapsed_layer_carries_its_members_marks():
    graph, feeds = relu_net([[1.0, -1.0, 0.5], [1.0, -1.0, 0.5]], [[1, 2], [3, 1]])
    drawn = boxes(graph, values=graph.run(feeds), depth=1)
    assert "warning" in drawn["relu1"]["marks"]
    assert "! maximum: dead ReLU: 1 of 3 neurons" in drawn["relu1"]["label"]


def test_order_numbers_ops_in_execution_order(seed):
    graph, _, _, _ = seed
    drawn = boxes(graph, order=True)
    steps = [drawn[n.name]["step"] for n in graph.nodes if n.kind == "op"]
    assert steps == list(range(1, len(steps) + 1))
    assert drawn["dense1/matmul"]["label"][0] == "#1 matmul"
    assert "step" not in drawn["X"]


def test_partial_run_greys_out_what_did_not_run(seed):
    graph, feeds, _, _ = seed
    for keep in ("all", "fetched"):
        values = graph.run(feeds, fetch="relu1/maximum", keep=keep)
        drawn = boxes(graph, values=values, order=True)
        assert "ran" in drawn["relu1/maximum"]["marks"] and "ran" in drawn["dense1/weights"]["marks"]
        assert "not_ran" in drawn["softmax1/exp"]["marks"] and "not_ran" in drawn["y"]["marks"]
        assert drawn["relu1/maximum"]["step"] == 3 and "step" not in drawn["softmax1/exp"]
    edges = named_edges(graph, values=values)
    assert {(e["from"], e["ran"]) for e in edges if e["to"] == "dense2/matmul"} == {
        ("relu1/maximum", False), ("dense2/weights", False)}
    full = boxes(graph, values=graph.run(feeds))
    assert not any("ran" in v["marks"] or "not_ran" in v["marks"] for v in full.values())


def test_legend(seed):
    graph, _, _, _ = seed
    source = graph.to_dot(legend=True).source
    assert "cluster_legend" in source
    for key in rd.LEGEND:
        assert f"legend.{key}" in source
    assert "cluster_legend" not in graph.to_dot().source
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    for meaning in rd.LEGEND.values():
        assert meaning.split("\n")[0] in readme, meaning


def test_only_the_public_graph_api_is_needed(seed):
    graph, feeds, _, _ = seed
    public = types.SimpleNamespace(nodes=graph.nodes, outputs=graph.outputs)
    values = graph.run(feeds)
    assert rd.to_dot(public, values=values).source == graph.to_dot(values=values).source


def test_forward_only_option(seed):
    graph, _, probs, loss = seed
    train = gn.Graph([probs, loss, *gn.grad(loss, graph.params)])
    assert train.to_dot(backward=False).source == graph.to_dot().source


# ---------------------------------------------------------------- files


def test_dot_gv_and_json_files(seed, tmp_path):
    graph, feeds, _, _ = seed
    for suffix in (".dot", ".gv"):
        path = graph.render(tmp_path / f"net{suffix}")
        assert pathlib.Path(path).read_text() == graph.to_dot().source
    data = json.loads(pathlib.Path(graph.render(tmp_path / "net.json")).read_text())
    drawn = [n for n in graph.nodes if n.kind != "constant"]
    assert [n["name"] for n in data["nodes"]] == [n.name for n in drawn]
    assert [n["id"] for n in data["nodes"]] == [f"n{k}" for k in range(len(drawn))]
    assert len(data["edges"]) == sum(i.kind != "constant" for n in graph.nodes for i in n.inputs)
    assert {"from": "X", "to": "dense1/matmul", "label": "", "position": 0, "ran": True} in named_edges(graph)
    graph.render(tmp_path / "v.json", values=graph.run(feeds))
    v = json.loads((tmp_path / "v.json").read_text())
    assert next(n["stats"]["mean"] for n in v["nodes"] if n["name"] == "cce1/mean") == pytest.approx(1.0986104)


def check_svg(path, graph) -> None:
    """The SVG parses; its node groups are the boxes, by generated id; its clusters are the layers."""
    root = ET.parse(path).getroot()  # valid XML
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") in ("node", "cluster")]
    nodes = {g.get("id"): g.find(f"{SVG}title").text for g in groups if g.get("class") == "node"}
    assert all(k == v for k, v in nodes.items())  # the element id is the box id
    assert set(nodes) == {b["id"] for b in boxes(graph).values()}
    labels = {g.find(f"{SVG}text").text for g in groups if g.get("class") == "cluster"}
    assert labels == {"dense1", "relu1", "dense2", "softmax1", "cce1"}


def test_golden_svg_is_the_same_bytes_everywhere(seed, tmp_path):
    graph, _, _, _ = seed
    path = graph.render(tmp_path / "net.svg")
    check_svg(path, graph)
    check_golden("seed_forward.svg", pathlib.Path(path).read_text())


def test_svg_and_png_without_system_graphviz(seed, tmp_path, no_dot):
    graph, feeds, _, _ = seed
    path = graph.render(tmp_path / "net.svg", values=graph.run(feeds), legend=True)
    text = pathlib.Path(path).read_text()
    assert "graphviz-pure" in text
    assert "min 0.3333 mean 0.3333 max 0.3334" in text
    png = pathlib.Path(graph.render(tmp_path / "net.png", dpi=50))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.read_bytes() == pathlib.Path(graph.render(tmp_path / "again.png", dpi=50)).read_bytes()


def test_pdf_uses_the_system_dot(seed, tmp_path, fake_dot):
    graph, _, _, _ = seed
    pdf = pathlib.Path(graph.render(tmp_path / "net.pdf"))
    assert pdf.read_bytes() == b"%PDF-1.4 fake"
    assert (fake_dot.parent / "dot.args").read_text().split() == ["-Tpdf"]
    graph.render(tmp_path / "net.svg")  # SVG still from graphviz-pure
    assert "-Tsvg" not in (fake_dot.parent / "dot.args").read_text()


def test_pdf_without_graphviz_says_how_to_install_it(seed, tmp_path, no_dot):
    graph, _, _, _ = seed
    target = tmp_path / "net.pdf"
    target.write_bytes(b"old")
    with pytest.raises(gn.GraphError, match=r"\.pdf needs the Graphviz 'dot' program.*apt-get install graphviz"):
        graph.render(target)
    assert target.read_bytes() == b"old"  # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_without_any_graphviz_svg_says_how_to_install_it(seed, tmp_path, no_dot, monkeypatch):
    monkeypatch.setattr(backend, "pure_program", lambda: None)
    graph, _, _, _ = seed
    with pytest.raises(gn.GraphError, match=r"\.svg needs graphviz-pure or Graphviz.*pip install graphviz-pure"):
        graph.render(tmp_path / "net.svg")
    assert graph.render(tmp_path / "net.dot") and graph.render(tmp_path / "net.json")


def test_bad_suffix_and_options(seed, tmp_path):
    graph, _, _, _ = seed
    with pytest.raises(gn.GraphError, match=r"cannot render to net.bmp.*\.svg"):
        graph.render(tmp_path / "net.bmp")
    with pytest.raises(gn.GraphError, match=r"unknown render option 'valuse'; did you mean values\?"):
        graph.render(tmp_path / "net.svg", valuse={})
    with pytest.raises(gn.GraphError, match="depth must be a whole number >= 1"):
        graph.to_dot(depth=0)
    with pytest.raises(gn.GraphError, match="rankdir must be one of"):
        graph.to_dot(rankdir="up")
    with pytest.raises(gn.GraphError, match="values must be a mapping"):
        graph.to_dot(values=[1, 2])
    assert list(tmp_path.iterdir()) == []


def test_write_atomically_replaces_whole_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    rd.write_atomically(target, b"new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # permissions as open() gives them, not a private temporary file's
    rd.write_atomically(tmp_path / "new.txt", b"x")
    assert (tmp_path / "new.txt").stat().st_mode == plain.stat().st_mode


# ---------------------------------------------------------------- notebooks


def test_graph_and_values_show_as_svg_in_notebooks(seed, no_dot):
    graph, feeds, _, _ = seed
    svg = graph._repr_svg_()
    assert "<svg" in svg and "dense1/matmul" in svg
    values = graph.run(feeds)
    assert "min 0.3333 mean 0.3333 max 0.3334" in values._repr_svg_()
    assert gn.Values({})._repr_svg_() is None
