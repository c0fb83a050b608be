"""ONNX -> graphnn: each supported ONNX op built from graphnn primitives.

See :mod:`graphnn.interop.onnx` for the public API.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graphnn.core import nn_ops, ops
from graphnn.core.building import scope_path, unique_name
from graphnn.core.errors import GraphError
from graphnn.core.node import Constant, Input, Node, Parameter
from graphnn.core.ops import identity, reshape, tanh
from graphnn.graph import Graph
from graphnn.runtime.values import Values


class OnnxGraph:
    """An ONNX model as graphnn nodes.

    ``graph``: a ``gn.Graph`` of the model's outputs; ``inputs``: ONNX input
    name -> ``gn.Input``; ``outputs``: ONNX output name -> node; ``params``:
    the float initializers the graph computes with, as ``gn.Parameter`` nodes
    (trainable, in file order); ``nodes``: every ONNX value name -> its node. Every ONNX tensor is
    the graphnn node of the same name, so ``run(feeds)["fc1/out"]`` reads it.
    """

    def __init__(self, model: onnx.ModelProto, inputs: dict, outputs: dict, params: list, nodes: dict):
        self.model, self.inputs, self.outputs, self.nodes = model, inputs, outputs, nodes
        self.graph = Graph(list(outputs.values()))
        self.params = [p for p in params if p in self.graph.index]  # not those read as attributes (Clip bounds)

    def run(self, feeds: Mapping, fetch=None, **options) -> Values:
        """``graph.run``: ``feeds`` maps input names (or nodes) to arrays."""
        return self.graph.run(feeds, fetch, **options)

    def __repr__(self) -> str:
        return (f"<OnnxGraph inputs={list(self.inputs)} outputs={list(self.outputs)} "
                f"params={len(self.params)} nodes={len(self.graph.nodes)}>")


class _Context:
    def __init__(self, onnx_node, values: dict, opset: int):
        self.node, self.values, self.opset = onnx_node, values, opset
        self.attrs = {a.name: helper.get_attribute_value(a) for a in onnx_node.attribute}

    def where(self) -> str:
        return f"ONNX node {self.node.name or self.node.output[0]!r} ({self.node.op_type})"

    def input(self, i: int) -> Node | None:
        names = self.node.input
        return self.values[names[i]] if i < len(names) and names[i] else None

    def constant(self, i: int, what: str):
        """The value of input ``i``, which must be an initializer or a Constant (None if absent)."""
        x = self.input(i)
        if x is None:
            return None
        if x.kind not in ("constant", "parameter"):
            raise GraphError(f"{self.where()}: its {what} must be a constant (an initializer or a Constant "
                             f"node); {x.name} is computed at run time, which graphnn does not support")
        return np.asarray(x.value)

    def axes(self):
        """Reduce* axes: attribute before opset 13 (ReduceSum) or 18, input after; None means all."""
        axes = self.attrs.get("axes")
        if axes is None and len(self.node.input) > 1:
            axes = self.constant(1, "axes")
        if axes is None or len(axes) == 0:
            if self.attrs.get("noop_with_empty_axes", 0):
                return "noop"
            return None
        return tuple(int(a) for a in np.atleast_1d(axes))


def _softmax_parts(x: Node, c: _Context):
    axis = c.attrs.get("axis", -1 if c.opset >= 13 else 1)
    if c.opset < 13 and x.shape is not None and axis % len(x.shape) != len(x.shape) - 1:
        raise GraphError(f"{c.where()}: before opset 13 Softmax flattens from axis {axis}; "
                         f"only the last axis is supported")
    shifted = ops.sub(x, ops.stop_gradient(ops.max_(x, axis=axis, keepdims=True)))
    return shifted, axis


def _softmax(x, c):
    shifted, axis = _softmax_parts(x, c)
    return ops.normalize(ops.exp(shifted), axis=axis)


def _log_softmax(x, c):
    shifted, axis = _softmax_parts(x, c)
    return ops.sub(shifted, ops.log(ops.sum_(ops.exp(shifted), axis=axis, keepdims=True)))


def _gemm(a, b, *rest):
    c, ctx = (rest[0], rest[1]) if len(rest) == 2 else (None, rest[0])
    a = ops.transpose(a) if ctx.attrs.get("transA", 0) else a
    b = ops.transpose(b) if ctx.attrs.get("transB", 0) else b
    y = ops.matmul(a, b)
    alpha, beta = ctx.attrs.get("alpha", 1.0), ctx.attrs.get("beta", 1.0)
    if alpha != 1.0:
        y = ops.mul(y, float(alpha))
    if c is None:
        return y
    c = c if beta == 1.0 else ops.mul(c, float(beta))
    return ops.add_bias(y, c) if _is_bias(y, c) else ops.add(y, c)


def _is_bias(x: Node, b: Node) -> bool:
    """A (1, M) or (M,) parameter added to an (N, M) value: the book's add_bias."""
    return (b.kind == "parameter" and x.shape is not None and len(x.shape) == 2 and b.shape is not None
            and (b.shape == (x.shape[1],) or b.shape == (1, x.shape[1])))


def _add(a, b, c):
    return ops.add_bias(a, b) if _is_bias(a, b) else ops.add(a, b)


def _minimum(a, b):
    return ops.neg(ops.maximum(ops.neg(a), ops.neg(b)))


def _fold(f):
    def variadic(*args):
        *xs, _ = args
        out = xs[0]
        for x in xs[1:]:
            out = f(out, x)
        return out if len(xs) > 1 else identity(out)
    return variadic


def _clip(x, *rest):
    c = rest[-1]
    lo = c.attrs.get("min", c.constant(1, "min"))
    hi = c.attrs.get("max", c.constant(2, "max"))
    lo = -np.inf if lo is None else float(lo)
    hi = np.inf if hi is None else float(hi)
    return ops.clip(x, lo, hi)


def _reshape(x, shape, c):
    if c.attrs.get("allowzero", 0):
        raise GraphError(f"{c.where()}: allowzero=1 is not supported")
    return reshape(x, tuple(int(d) for d in c.constant(1, "shape")))


def _flatten(x, c):
    axis = c.attrs.get("axis", 1)
    if axis == 1:
        return reshape(x, (0, -1))  # (N, ...) -> (N, rest): the batch is kept
    if axis == 0:
        return reshape(x, (1, -1))
    rank = None if x.shape is None else len(x.shape)
    tail = None if rank is None else x.shape[axis % rank:]
    if tail is None or None in tail:
        raise GraphError(f"{c.where()}: Flatten with axis={axis} needs the trailing sizes of {x.name} known")
    return reshape(x, (-1, int(np.prod(tail))))


def _reduce(op):
    def build(x, *rest):
        c = rest[-1]
        axes = c.axes()
        if axes == "noop":
            return identity(x)
        return op(x, axis=axes, keepdims=bool(c.attrs.get("keepdims", 1)))
    return build


def _transpose(x, c):
    perm = c.attrs.get("perm")
    if x.shape is None or len(x.shape) != 2:
        raise GraphError(f"{c.where()}: only 2-D Transpose is supported")
    return identity(x) if list(perm or [1, 0]) == [0, 1] else ops.transpose(x)


def _dropout(x, *rest):
    c = rest[-1]
    if len(c.node.output) > 1 and c.node.output[1]:
        raise GraphError(f"{c.where()}: the dropout mask output is not supported (inference only)")
    training = c.constant(2, "training_mode")
    if training is not None and bool(training):
        raise GraphError(f"{c.where()}: training_mode=True is not supported (inference only)")
    return identity(x)


def _leaky_relu(x, c):
    alpha = float(c.attrs.get("alpha", 0.01))
    if not 0.0 <= alpha <= 1.0:
        raise GraphError(f"{c.where()}: LeakyRelu alpha must be in [0, 1], got {alpha}")
    return ops.maximum(x, ops.mul(x, alpha))


def _unary(f):
    return lambda x, c: f(x)


def _binary(f):
    return lambda a, b, c: f(a, b)


# ONNX op type -> builder(*inputs (None where absent), context) -> graphnn node
IMPORTERS: dict[str, Callable] = {
    "Gemm": _gemm, "MatMul": _binary(ops.matmul),
    "Add": _add, "Sub": _binary(ops.sub), "Mul": _binary(ops.mul), "Div": _binary(ops.div),
    "Neg": _unary(ops.neg), "Exp": _unary(ops.exp), "Log": _unary(ops.log), "Abs": _unary(nn_ops.abs_),
    "Relu": _unary(lambda x: ops.maximum(0.0, x)), "LeakyRelu": _leaky_relu,
    "Sigmoid": _unary(lambda x: ops.div(1.0, ops.add(1.0, ops.exp(ops.neg(x))))),  # gn.Sigmoid's composite
    "Tanh": _unary(tanh), "Softmax": _softmax, "LogSoftmax": _log_softmax,
    "Reshape": _reshape, "Flatten": _flatten, "Identity": _unary(identity), "Dropout": _dropout,
    "Clip": _clip, "Max": _fold(ops.maximum), "Min": _fold(_minimum),
    "ReduceSum": _reduce(ops.sum_), "ReduceMean": _reduce(ops.mean), "ReduceMax": _reduce(ops.max_),
    "Transpose": _transpose, "Constant": lambda c: _constant(c),
}


def _read(source) -> onnx.ModelProto:
    if isinstance(source, onnx.ModelProto):
        return source
    try:
        if isinstance(source, (bytes, bytearray)):
            return onnx.load_model_from_string(bytes(source))
        return onnx.load(os.fspath(source), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError, OSError, ...
        what = "bytes" if isinstance(source, (bytes, bytearray)) else repr(os.fspath(source))
        raise GraphError(f"load: cannot read an ONNX model from {what}: {type(e).__name__}: {e}") from None


def _check(model: onnx.ModelProto) -> int:
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise GraphError(f"load: not a valid ONNX model: {e}") from None
    graph = model.graph
    opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    if model.functions or any(n.domain not in ("", "ai.onnx") for n in graph.node):
        raise GraphError("load: model-local functions and custom op domains are not supported")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer):
        raise GraphError("load: initializers stored as external data are not supported")
    missing = sorted({n.op_type for n in graph.node} - IMPORTERS.keys())
    if missing:
        raise GraphError(f"load: unsupported ONNX op types: {', '.join(missing)}; "
                         f"supported: {', '.join(sorted(IMPORTERS))}")
    return opset.get("ai.onnx", 1)


def _dtype(type_proto, name: str):
    if not type_proto.HasField("tensor_type"):
        raise GraphError(f"load: input {name!r} is not a tensor (sequences, maps ... are not supported)")
    t = type_proto.tensor_type
    if not t.HasField("shape"):
        return None, helper.tensor_dtype_to_np_dtype(t.elem_type)
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return shape, helper.tensor_dtype_to_np_dtype(t.elem_type)


def _named(node: Node, name: str) -> Node:
    node.name = name  # the ONNX name, exactly (reserved beforehand with unique_name)
    return node


def load(source) -> OnnxGraph:
    """Turn an ONNX model (a path, its bytes or a ``ModelProto``) into graphnn nodes.

    The model is checked with ``onnx.checker`` first; anything unreadable,
    invalid or unsupported (op types, dynamic shapes or attributes computed at
    run time, custom domains, external data) is a ``gn.GraphError``.
    """
    model = _read(source)
    opset = _check(model)
    graph = model.graph
    values: dict[str, Node] = {}
    all_names = ([i.name for i in graph.input] + [t.name for t in graph.initializer]
                 + [o for n in graph.node for o in n.output if o])
    for name in dict.fromkeys(all_names):
        unique_name(name)  # helper nodes built below never take an ONNX name
    params = []
    for t in graph.initializer:
        array = np.array(numpy_helper.to_array(t))  # a writable copy: training updates it in place
        if array.dtype.kind == "f":
            values[t.name] = _named(Parameter(array), t.name)
            params.append(values[t.name])
        else:
            values[t.name] = _named(Constant(array), t.name)
    inputs = {}
    for i in graph.input:
        if i.name not in values:  # before IR 4 initializers were listed as inputs too
            shape, dtype = _dtype(i.type, i.name)
            values[i.name] = inputs[i.name] = _named(Input(i.name, shape, dtype), i.name)
    for n in graph.node:
        values.update(_build(n, values, opset))
    try:
        outputs = {o.name: values[o.name] for o in graph.output}
    except KeyError as e:
        raise GraphError(f"load: graph output {e.args[0]!r} is not computed by any node") from None
    return OnnxGraph(model, inputs, outputs, params, values)


def _build(n, values: dict, opset: int) -> dict:
    c = _Context(n, values, opset)
    try:
        args = [c.input(i) for i in range(len(n.input))]
    except KeyError as e:
        raise GraphError(f"load: {c.where()} reads {e.args[0]!r}, which no earlier node computes") from None
    out = n.output[0]
    parts = tuple(p for p in out.split("/")[:-1] if p)  # 'dense1/matmul' builds in scope dense1
    with scope_path(parts):
        node = IMPORTERS[n.op_type](*args, c)
        if node.name in values or node.kind in ("input", "parameter"):  # an existing value: copy it
            node = identity(node)
    return {out: _named(node, out)}


def _constant(c: _Context) -> Node:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in c.attrs:
            v = c.attrs[key]
            if key == "value":
                return Constant(numpy_helper.to_array(v))
            return Constant(np.asarray(v, np.float32 if "float" in key else np.int64))  # ONNX's types
    raise GraphError(f"{c.where()}: only value, value_float(s) and value_int(s) Constants are supported")
