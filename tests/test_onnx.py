"""ONNX interchange: export to onnxruntime, import from onnx.helper (and torch when installed).

Every comparison runs the real onnx checker and onnxruntime. Intermediate
tensors are compared by name: each ONNX value is added as an extra graph output
for onnxruntime and read from ``graph.run(...)`` by the same name.
"""

import importlib.util
import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from nnfs.datasets import sine_data, spiral_data
from onnx import TensorProto, helper, numpy_helper

import graphnn as gn
from graphnn.core import ops
from graphnn.core.node import ancestors
from graphnn.core.ops import identity, reshape, tanh
from graphnn.interop import onnx as gx

F32 = 1e-5  # float32 tolerance (absolute; the values compared are O(1))


def ort_values(model: onnx.ModelProto, feeds: dict, names=None) -> dict:
    """Run ``model`` in onnxruntime with ``names`` (default: every node output) as extra outputs."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    outputs = {o.name for o in model.graph.output}
    names = [o for n in model.graph.node for o in n.output if o] if names is None else names
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    for name in names:
        if name not in outputs:
            model.graph.output.append(helper.make_tensor_value_info(name, types.get(name, TensorProto.FLOAT), None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    fetch = [o.name for o in model.graph.output]
    return dict(zip(fetch, session.run(fetch, feeds)))


def compare_all(imported: gx.OnnxGraph, model: onnx.ModelProto, feeds: dict, tol=F32) -> float:
    """Every ONNX value, graphnn (by name) against onnxruntime; the largest difference."""
    expected = ort_values(model, feeds)
    in_graph = [name for name in expected if name in imported.graph.by_name]
    values = imported.run(feeds, fetch=in_graph)
    got = {name: values[name] if name in in_graph else imported.nodes[name].value for name in expected}  # constants
    worst = 0.0
    for name, want in expected.items():
        assert got[name].shape == want.shape, name
        assert got[name].dtype == want.dtype, name
        worst = max(worst, float(np.max(np.abs(got[name] - want), initial=0.0)))
        np.testing.assert_allclose(got[name], want, rtol=tol, atol=tol, err_msg=name)
    return worst


# ---------------------------------------------------------------- the book's networks

def _train(model, X, y, epochs=30):
    model.finalize()
    model.train(X, y, epochs=epochs, verbose=False)
    return model


def spiral_model(dropout=False):
    model = gn.Model()
    l2 = 5e-4 if dropout else 0.0
    model.add(gn.Dense(2, 64, weight_regularizer_l2=l2, bias_regularizer_l2=l2))
    model.add(gn.ReLU())
    if dropout:
        model.add(gn.Dropout(0.1))
    model.add(gn.Dense(64, 3))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05, decay=5e-7))
    X, y = spiral_data(samples=100, classes=3)
    return _train(model, X, y), X


def binary_model():
    model = gn.Model()
    model.add(gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4))
    model.add(gn.ReLU())
    model.add(gn.Dense(64, 1))
    model.add(gn.Sigmoid())
    model.set(loss=gn.BinaryCrossEntropy(), optimizer=gn.Adam(decay=5e-7))
    X, y = spiral_data(samples=100, classes=2)
    return _train(model, X, y.reshape(-1, 1)), X


def regression_model():
    model = gn.Model()
    model.add(gn.Dense(1, 64))
    model.add(gn.ReLU())
    model.add(gn.Dense(64, 64))
    model.add(gn.ReLU())
    model.add(gn.Dense(64, 1))
    model.add(gn.Linear())
    model.set(loss=gn.MeanSquaredError(), optimizer=gn.Adam(learning_rate=0.005, decay=1e-3))
    X, y = sine_data()
    X, y = X.astype(np.float32), y.astype(np.float32)
    return _train(model, X, y), X


BOOK = {"spiral": spiral_model, "dropout": lambda: spiral_model(dropout=True),
        "binary": binary_model, "regression": regression_model}


@pytest.mark.parametrize("network", list(BOOK))
def test_book_network_round_trip(network, book_numpy, tmp_path):
    model, X = BOOK[network]()
    path = tmp_path / "model.onnx"
    proto = gx.export(model, path)
    onnx.checker.check_model(str(path))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert proto.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # float32 stays float32
    assert {t.name for t in proto.graph.initializer} >= {p.name for p in model.params}
    assert not any("dropout" in n.name for n in proto.graph.node)  # inference: no dropout
    ours = model.inference_graph.run({model.input: X}, fetch=[model.inference_output])[model.inference_output]
    theirs = ort.InferenceSession(str(path)).run(None, {"X": X})[0]
    assert theirs.dtype == np.float32 and theirs.shape == ours.shape
    np.testing.assert_allclose(theirs, ours, rtol=F32, atol=F32)
    # intermediates agree by name, and the import reproduces every one of them
    imported = gx.load(path)
    assert [p.name for p in imported.params] == [p.name for p in model.params]
    compare_all(imported, proto, {"X": X})
    exported = ancestors([model.inference_output])
    assert {n.name for n in exported if n.kind == "op"} <= set(imported.graph.by_name)


def test_relu_is_relu_and_sigmoid_composes(book_numpy):
    model, _ = binary_model()
    types = [n.op_type for n in gx.export(model).graph.node if n.op_type != "Constant"]
    assert types == ["MatMul", "Add", "Relu", "MatMul", "Add", "Neg", "Exp", "Add", "Div"]


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_export_opsets(opset):
    X = gn.Input("X", (None, 4), "float32")
    w = gn.Parameter(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), "w")
    h = gn.matmul(X, w)
    outs = [gn.max(h, axis=1, keepdims=True), gn.sum(h, axis=0), gn.mean(h), gn.normalize(gn.exp(h), axis=1),
            gn.clip(h, -0.5, 0.5), gn.transpose(h), gn.abs(h), gn.square(h), gn.maximum(h, 0.25),
            gn.stop_gradient(h) / 3.0, tanh(reshape(h, (0, 3, 1))), gn.sum(h, axis=(0, 1), keepdims=True)]
    proto = gx.export(gn.Graph(outs), opset=opset)
    assert proto.opset_import[0].version == opset
    reduce_max = next(n for n in proto.graph.node if n.op_type == "ReduceMax")
    assert (len(reduce_max.input) == 2) == (opset >= 18)  # axes: an input from opset 18, else an attribute
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    ours = gn.Graph(outs).run({X: x})
    theirs = ort.InferenceSession(proto.SerializeToString()).run(None, {"X": x})
    for node, want in zip(outs, theirs):
        np.testing.assert_allclose(ours[node], want, rtol=F32, atol=F32, err_msg=node.name)
        assert ours[node].dtype == want.dtype == np.float32


def test_export_float64_and_mixed_dtypes_cast():
    X = gn.Input("X", (None, 2), "float32")
    w = gn.Parameter(np.arange(6.0).reshape(2, 3), "w")  # float64: numpy promotes, ONNX needs a Cast
    out = gn.exp(gn.matmul(X, w) * 0.1)
    proto = gx.export(gn.Graph([out]))
    assert "Cast" in [n.op_type for n in proto.graph.node]
    x = np.ones((3, 2), np.float32)
    theirs = ort.InferenceSession(proto.SerializeToString()).run(None, {"X": x})[0]
    np.testing.assert_allclose(theirs, gn.Graph([out]).run({X: x})[out], rtol=1e-12)
    assert theirs.dtype == np.float64


def test_export_choose_outputs_by_name(book_numpy):
    model, X = spiral_model()
    proto = gx.export(model.inference_graph, outputs=["dense1/matmul"])
    assert [o.name for o in proto.graph.output] == ["dense1/matmul"]
    assert [n.op_type for n in proto.graph.node] == ["MatMul"]
    with pytest.raises(gn.GraphError, match="no node named"):
        gx.export(model.inference_graph, outputs=["dense9/matmul"])
    with pytest.raises(gn.GraphError, match="opset"):
        gx.export(model, opset=7)


def test_export_unmapped_primitive_names_node_op_and_layer():
    X = gn.Input("X", (None, 2), "float32")
    out = gn.Dropout(0.5)(gn.Dense(2, 3)(X))  # a training graph: dropout_mask has no ONNX form
    with pytest.raises(gn.GraphError, match=r"dropout1/dropout_mask \(op 'dropout_mask', layer dropout1\)"):
        gx.export(gn.Graph([out]))


def test_user_primitive_carries_its_mapping():
    def softplus_onnx(node, emit):
        return [emit.make("Softplus", emit.inputs)]

    softplus = gn.define_primitive("onnx_softplus", lambda x: np.log1p(np.exp(x)), gn.same_shape, (None,),
                                   onnx=softplus_onnx)
    X = gn.Input("X", (None, 3), "float32")
    proto = gx.export(gn.Graph([softplus(X)]))
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(4, 3)
    theirs = ort.InferenceSession(proto.SerializeToString()).run(None, {"X": x})[0]
    np.testing.assert_allclose(theirs, np.log1p(np.exp(x)), rtol=F32)
    gx.register_exporter(ops.PICK, lambda node, emit: [emit.make("Identity", [emit.input(0)])])
    try:
        assert gx.export(gn.pick(X, gn.Input("y", (None,), "int64"))).graph.node[0].op_type == "Identity"
    finally:
        del gx.EXPORTERS[ops.PICK]


# ---------------------------------------------------------------- importing each op

RNG = np.random.default_rng(0)
N = 5


def _f(*shape, positive=False):
    a = RNG.standard_normal(shape).astype(np.float32)
    return np.abs(a) + 0.1 if positive else a


def _model(nodes, inputs: dict, inits: dict, opset=17, outputs=("y",), infer=True):
    """A model from nodes; inputs name -> (array fed, declared shape); inits name -> array.

    Output shapes come from ONNX shape inference (the checker wants them)."""
    graph = helper.make_graph(
        nodes, "case",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), shape)
         for k, (v, shape) in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if infer:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    return model, {k: v for k, (v, _) in inputs.items()}


X5 = {"X": (_f(N, 3), ["N", 3])}
n = helper.make_node
CASES = {
    "Gemm": ([n("Gemm", ["X", "W", "C"], ["y"], alpha=0.5, beta=2.0, transB=1)], X5, {"W": _f(4, 3), "C": _f(4)}),
    "Gemm-transA": ([n("Gemm", ["X", "W"], ["y"], transA=1)], {"X": (_f(3, N), [3, "N"])}, {"W": _f(3, 2)}),
    "MatMul": ([n("MatMul", ["X", "W"], ["h"]), n("Relu", ["h"], ["y"])], X5, {"W": _f(3, 4)}),
    "Add": ([n("Add", ["X", "B"], ["y"])], X5, {"B": _f(1, 3)}),
    "Add-inputs": ([n("Add", ["X", "Z"], ["y"])], {**X5, "Z": (_f(N, 3), ["N", 3])}, {}),
    "Sub": ([n("Sub", ["B", "X"], ["y"])], X5, {"B": _f(3)}),
    "Mul": ([n("Mul", ["X", "B"], ["y"])], X5, {"B": _f(N, 3)}),
    "Div": ([n("Div", ["X", "B"], ["y"])], X5, {"B": _f(1, 3, positive=True)}),
    "Neg": ([n("Neg", ["X"], ["y"])], X5, {}),
    "Exp": ([n("Exp", ["X"], ["y"])], X5, {}),
    "Log": ([n("Log", ["X"], ["y"])], {"X": (_f(N, 3, positive=True), ["N", 3])}, {}),
    "Abs": ([n("Abs", ["X"], ["y"])], X5, {}),
    "Relu": ([n("Relu", ["X"], ["y"])], X5, {}),
    "LeakyRelu": ([n("LeakyRelu", ["X"], ["y"], alpha=0.1)], X5, {}),
    "Sigmoid": ([n("Sigmoid", ["X"], ["y"])], X5, {}),
    "Tanh": ([n("Tanh", ["X"], ["y"])], X5, {}),
    "Softmax": ([n("Softmax", ["X"], ["y"])], X5, {}),
    "Softmax-axis0": ([n("Softmax", ["X"], ["y"], axis=0)], X5, {}),
    "LogSoftmax": ([n("LogSoftmax", ["X"], ["y"], axis=1)], X5, {}),
    "Reshape-Flatten": ([n("Reshape", ["X", "s"], ["r"]), n("Flatten", ["r"], ["y"])],
                        {"X": (_f(N, 6), ["N", 6])}, {"s": np.array([0, 2, -1], np.int64)}),
    "Identity-Dropout": ([n("Identity", ["X"], ["i"]), n("Dropout", ["i"], ["y"])], X5, {}),
    "Constant": ([n("Constant", [], ["c"], value=numpy_helper.from_array(_f(1, 3))),
                  n("Constant", [], ["k"], value_float=2.0), n("Add", ["X", "c"], ["a"]),
                  n("Mul", ["a", "k"], ["y"])], X5, {}),
    "Clip": ([n("Clip", ["X", "lo", "hi"], ["y"])], X5,
             {"lo": np.array(-0.5, np.float32), "hi": np.array(0.5, np.float32)}),
    "Clip-min-only": ([n("Clip", ["X", "lo"], ["y"])], X5, {"lo": np.array(0.1, np.float32)}),
    "Max": ([n("Max", ["X", "Z", "B"], ["y"])], {**X5, "Z": (_f(N, 3), ["N", 3])}, {"B": _f(3)}),
    "Min": ([n("Min", ["X", "B"], ["y"])], X5, {"B": _f(1, 3)}),
    "ReduceSum": ([n("ReduceSum", ["X", "ax"], ["y"], keepdims=0)], X5, {"ax": np.array([1], np.int64)}),
    "ReduceSum-all": ([n("ReduceSum", ["X"], ["y"])], X5, {}),
    "ReduceMean": ([n("ReduceMean", ["X"], ["y"], axes=[0])], X5, {}),
    "ReduceMax": ([n("ReduceMax", ["X"], ["y"], axes=[-1], keepdims=1)], X5, {}),
    "Transpose": ([n("Transpose", ["X"], ["y"], perm=[1, 0])], X5, {}),
}
OPSETS = {"Softmax-axis0": 13}


@pytest.mark.parametrize("case", list(CASES))
def test_import_op_matches_onnxruntime(case):
    model, feeds = _model(*CASES[case], opset=OPSETS.get(case, 17))
    imported = gx.load(model)
    compare_all(imported, model, feeds)
    floats = {k for k, v in CASES[case][2].items() if v.dtype.kind == "f"} - {"lo", "hi"}  # Clip bounds: attributes
    assert {p.name for p in imported.params} == floats


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_import_opset_forms(opset):
    # Clip bounds are attributes before opset 11, Reduce axes attributes before 13 (ReduceSum) or 18.
    axes_input = {"axes": np.array([1], np.int64)}
    rsum = n("ReduceSum", ["X", "axes"] if opset >= 13 else ["X"], ["s"], **({} if opset >= 13 else {"axes": [1]}))
    rmax = n("ReduceMax", ["X", "axes"] if opset >= 18 else ["X"], ["m"], **({} if opset >= 18 else {"axes": [1]}))
    nodes = [rsum, rmax, n("Add", ["s", "m"], ["t"]), n("Softmax", ["X"], ["p"], axis=1), n("Add", ["p", "t"], ["y"])]
    model, feeds = _model(nodes, X5, axes_input if opset >= 13 else {}, opset=opset)
    compare_all(gx.load(model), model, feeds)


# ---------------------------------------------------------------- gradients and fine-tuning

def _mlp(dtype=np.float32):
    """Gemm -> Tanh -> Reshape/Flatten -> Gemm -> LeakyRelu -> Min/Clip -> Gemm -> LogSoftmax."""
    rng = np.random.default_rng(3)
    inits = {"W1": rng.standard_normal((8, 2)), "b1": rng.standard_normal(8) * 0.1,
             "W2": rng.standard_normal((8, 8)) * 0.5, "b2": np.zeros(8), "W3": rng.standard_normal((8, 3)),
             "shape": np.array([0, 2, 4], np.int64), "cap": np.array(1.5)}
    inits = {k: v if v.dtype == np.int64 else v.astype(dtype) for k, v in inits.items()}
    nodes = [n("Gemm", ["X", "W1", "b1"], ["h1"], transB=1), n("Tanh", ["h1"], ["t1"]),
             n("Reshape", ["t1", "shape"], ["r"]), n("Flatten", ["r"], ["f"]),
             n("Gemm", ["f", "W2", "b2"], ["h2"], alpha=0.8), n("LeakyRelu", ["h2"], ["a2"], alpha=0.2),
             n("Min", ["a2", "cap"], ["m2"]), n("Clip", ["m2", "", "cap"], ["c2"]), n("Identity", ["c2"], ["i2"]),
             n("MatMul", ["i2", "W3"], ["logits"]), n("LogSoftmax", ["logits"], ["y"], axis=1)]
    x = rng.standard_normal((6, 2)).astype(dtype)
    return _model(nodes, {"X": (x, ["N", 2])}, inits)[0], x


def test_gradient_through_imported_model():
    model, x = _mlp()
    imported = gx.load(model)
    compare_all(imported, model, {"X": x})
    labels = gn.Input("labels", (None,), "int64")
    loss = gn.mean(gn.neg(gn.pick(imported.outputs["y"], labels)))
    feeds = {"X": x.astype(np.float64), labels: np.array([0, 1, 2, 0, 1, 2])}
    errors = gn.check_grad(loss, imported.params, feeds)
    assert max(errors) < 1e-6, errors
    assert [p.name for p in imported.params] == ["W1", "b1", "W2", "b2", "W3", "cap"]


def test_new_primitives_gradients_float64():
    X = gn.Input("X", (None, 6), "float64")
    w = gn.Parameter(np.random.default_rng(0).standard_normal((3, 3)))
    r = reshape(tanh(X), (-1, 3))  # (2N, 3)
    y = gn.sum(gn.square(gn.matmul(identity(r), w)))
    x = np.random.default_rng(1).standard_normal((4, 6))
    assert max(gn.check_grad(y, [X, w], {X: x})) < 1e-7
    g = gn.grad(y, X)  # second order through tanh's and reshape_like's rules
    assert max(gn.check_grad(gn.sum(g * g), [X, w], {X: x})) < 1e-6


def test_fine_tuning_imported_model_reduces_loss():
    model, _ = _mlp()
    imported = gx.load(model)
    X, y = spiral_data(samples=30, classes=3)
    X = X.astype(np.float32)
    labels = gn.Input("labels", (None,), "uint8")
    loss = gn.mean(gn.neg(gn.pick(imported.outputs["y"], labels)))
    params = [p for p in imported.params if p.name != "cap"]
    grads = gn.grad(loss, params)
    step, optimizer = gn.Graph([loss, *grads]), gn.Adam(learning_rate=0.02)
    losses = []
    for _ in range(20):
        values = step.run({"X": X, labels: y})
        losses.append(float(values[loss]))
        optimizer.step(params, [values[g] for g in grads])
    assert losses[-1] < 0.9 * losses[0]
    assert imported.params[0].value.dtype == np.float32
    # the tuned parameters export again, and onnxruntime agrees
    proto = gx.export(imported.graph)
    theirs = ort.InferenceSession(proto.SerializeToString()).run(None, {"X": X})[0]
    np.testing.assert_allclose(theirs, imported.run({"X": X})["y"], rtol=F32, atol=F32)


# ---------------------------------------------------------------- refusals

def test_unsupported_ops_listed_in_one_error():
    nodes = [n("Conv", ["X", "W"], ["c"]), n("Sin", ["c"], ["s"]), n("Cos", ["s"], ["y"])]
    model, _ = _model(nodes, {"X": (_f(1, 1, 4, 4), [1, 1, 4, 4])}, {"W": _f(1, 1, 3, 3)})
    with pytest.raises(gn.GraphError, match=r"unsupported ONNX op types: Conv, Cos, Sin; supported: .*Gemm"):
        gx.load(model)


def test_run_time_shape_is_refused():
    nodes = [n("Reshape", ["X", "s"], ["y"])]
    model, _ = _model(nodes, {**X5, "s": (np.array([0, 3], np.int64), [2])}, {})
    with pytest.raises(gn.GraphError, match="shape must be a constant.*computed at run time"):
        gx.load(model)


def test_training_dropout_is_refused():
    mask = [n("Dropout", ["X"], ["y", "mask"])]
    with pytest.raises(gn.GraphError, match="mask output is not supported"):
        gx.load(_model(mask, X5, {})[0])
    training = [n("Dropout", ["X", "r", "t"], ["y"])]
    with pytest.raises(gn.GraphError, match="training_mode=True"):
        gx.load(_model(training, X5, {"r": np.array(0.5, np.float32), "t": np.array(True)})[0])


def test_corrupt_and_invalid_files_are_graph_errors(tmp_path):
    model, _ = _model(*CASES["MatMul"])
    data = model.SerializeToString()
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07\xff\xff not a protobuf \x00" * 4)
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    for path in ("junk.onnx", "cut.onnx", "missing.onnx"):
        with pytest.raises(gn.GraphError, match="cannot read|not a valid"):
            gx.load(tmp_path / path)
    bad, _ = _model([n("MatMul", ["X"], ["y"])], X5, {}, infer=False)  # wrong number of inputs
    with pytest.raises(gn.GraphError, match="not a valid ONNX model"):
        gx.load(bad.SerializeToString())


# ---------------------------------------------------------------- PyTorch, when installed

if importlib.util.find_spec("torch") is not None:
    def test_torch_exported_mlp():
        import torch

        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.Tanh(),
                                  torch.nn.Dropout(0.2), torch.nn.Linear(8, 3), torch.nn.Softmax(dim=1)).eval()
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.randn(4, 2),), buffer, input_names=["X"], output_names=["probs"],
                              dynamic_axes={"X": {0: "N"}, "probs": {0: "N"}}, dynamo=False)
        model = onnx.load_model_from_string(buffer.getvalue())
        imported = gx.load(model)
        X = spiral_data(samples=20, classes=3)[0].astype(np.float32)
        compare_all(imported, model, {"X": X})
        with torch.no_grad():
            expected = net(torch.from_numpy(X)).numpy()
        np.testing.assert_allclose(imported.run({"X": X})["probs"], expected, rtol=F32, atol=F32)


def test_example_round_trip_runs(tmp_path):
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "examples" / "onnx_roundtrip.py")], cwd=tmp_path, text=True,
                         capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert run.returncode == 0, run.stderr
    lines = dict(line.split(": ", 1) for line in run.stdout.splitlines())
    assert float(lines["onnxruntime vs graphnn"].split()[-1]) < F32
    assert float(lines["imported vs onnxruntime"].split()[-1]) < F32
    assert lines["dense1/matmul"] == "(300, 64)"
    assert lines["diagram"].endswith("imported.svg") and Path(lines["diagram"]).read_text().startswith("<?xml")
    assert "unrecognized" not in run.stderr  # Graphviz reads ':' in a node name as a port: names avoid it
