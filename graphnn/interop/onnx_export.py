"""graphnn -> ONNX: one standard ONNX op (or a few) per graphnn primitive.

See :mod:`graphnn.interop.onnx` for the public API and the exporter signature.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graphnn.core import nn_ops, ops
from graphnn.core.errors import GraphError
from graphnn.core.files import write_atomically
from graphnn.core.node import Node
from graphnn.core.primitive import Primitive
from graphnn.graph import Graph

DEFAULT_OPSET = 17
MIN_OPSET = 13


class Emit:
    """What an exporter sees of one node while the ONNX graph is written.

    ``output``: the ONNX name to write (the graphnn node's name); ``dtype``: the
    node's numpy dtype; ``opset``: the opset being written.
    """

    def __init__(self, writer: _Writer, node: Node):
        self.writer, self.node, self.output, self.opset = writer, node, node.name, writer.opset
        self.dtype = writer.dtype_of(node)

    def input(self, i: int, dtype=None) -> str:
        """The ONNX name of ``node.inputs[i]`` in ``dtype`` (default: the node's), cast if needed."""
        return self.writer.value(self.node.inputs[i], np.dtype(dtype or self.dtype), f"{self.output}_cast{i}")

    @property
    def inputs(self) -> list[str]:
        """Every input, each in the node's dtype."""
        return [self.input(i) for i in range(len(self.node.inputs))]

    def const(self, value, dtype=None, tag: str = "const") -> str:
        """A new ONNX Constant holding ``value`` (in ``dtype``, default the node's); its name."""
        array = np.asarray(value, dtype=dtype or self.dtype)
        return self.writer.constant(array, self.tmp(tag))

    def tmp(self, tag: str) -> str:
        """A fresh value name for an intermediate result: ``<node name>_<tag>``."""
        return self.writer.fresh(f"{self.output}_{tag}")

    def make(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> onnx.NodeProto:
        """One ONNX node writing ``output`` (default: this node's output), named after it."""
        output = output or self.output
        return helper.make_node(op_type, inputs, [output], name=output, **attrs)

    def axes(self, op_type: str, axis, keepdims: bool, output: str | None = None) -> onnx.NodeProto:
        """A Reduce* node over ``axis`` (None: all); axes are an input from opset 13
        (ReduceSum) or 18 (the others), an attribute before."""
        axes = None if axis is None else [int(a) for a in np.atleast_1d(axis)]
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        inputs, attrs = [self.input(0)], {"keepdims": int(bool(keepdims))}
        if axes is not None and as_input:
            inputs.append(self.const(axes, np.int64, "axes"))
        elif axes is not None:
            attrs["axes"] = axes
        return self.make(op_type, inputs, output, **attrs)


Exporter = Callable[[Node, Emit], list]


def _simple(op_type: str) -> Exporter:
    return lambda node, e: [e.make(op_type, e.inputs)]


def _maximum(node: Node, e: Emit) -> list:
    for i, x in enumerate(node.inputs):  # ReLU is maximum(0.0, x)
        other = node.inputs[1 - i]
        if x.kind == "constant" and np.ndim(x.value) == 0 and float(x.value) == 0.0 and other.shape == node.shape:
            return [e.make("Relu", [e.input(1 - i)])]
    return [e.make("Max", e.inputs)]


def _reduce(op_type: str) -> Exporter:
    return lambda node, e: [e.axes(op_type, node.attrs.get("axis"), node.attrs.get("keepdims", False))]


def _normalize(node: Node, e: Emit) -> list:
    total = e.tmp("sum")
    return [e.axes("ReduceSum", node.attrs["axis"], True, total), e.make("Div", [e.input(0), total])]


def _clip(node: Node, e: Emit) -> list:
    return [e.make("Clip", [e.input(0), e.const(node.attrs["lo"], tag="lo"), e.const(node.attrs["hi"], tag="hi")])]


def _reshape(node: Node, e: Emit) -> list:
    return [e.make("Reshape", [e.input(0), e.const(node.attrs["shape"], np.int64, "shape")])]


def _tag(op_type: str, **attrs) -> Exporter:
    return lambda node, e: [e.make(op_type, e.inputs, **attrs)]


# graphnn primitive -> exporter(node, emit) -> [NodeProto, ...]
EXPORTERS: dict[Primitive, Exporter] = {
    ops.MATMUL: _simple("MatMul"),
    ops.ADD: _simple("Add"),
    ops.ADD_BIAS: _simple("Add"),
    ops.SUB: _simple("Sub"),
    ops.MUL: _simple("Mul"),
    ops.DIV: _simple("Div"),
    ops.NEG: _simple("Neg"),
    ops.EXP: _simple("Exp"),
    ops.LOG: _simple("Log"),
    ops.MAXIMUM: _maximum,
    ops.MAX: _reduce("ReduceMax"),
    ops.SUM: _reduce("ReduceSum"),
    ops.MEAN: _reduce("ReduceMean"),
    ops.NORMALIZE: _normalize,
    ops.CLIP: _clip,
    ops.STOP_GRADIENT: _simple("Identity"),
    ops.TRANSPOSE: _tag("Transpose", perm=[1, 0]),
    nn_ops.ABS: _simple("Abs"),
    ops.SQUARE: lambda node, e: [e.make("Mul", [e.input(0), e.input(0)])],
    ops.IDENTITY: _simple("Identity"),
    ops.TANH: _simple("Tanh"),
    ops.RESHAPE: _reshape,
}


def register_exporter(primitive: Primitive, exporter: Exporter) -> None:
    """Teach :func:`export` a primitive: ``exporter(node, emit) -> [onnx.NodeProto, ...]``."""
    EXPORTERS[primitive] = exporter


class _Writer:
    def __init__(self, outputs: list[Node], opset: int):
        self.opset, self.outputs = opset, outputs
        self.graph = Graph(outputs)
        floats = [p.value.dtype for p in self.graph.params if p.value.dtype.kind == "f"]
        self.default = floats[0] if floats else np.dtype(np.float32)  # for values of unknown dtype
        self.names = {n.name for n in self.graph.nodes}
        self.nodes: list = []
        self.initializers: list = []
        self.values: dict[tuple, str] = {}  # (graphnn node, dtype) -> ONNX name

    def dtype_of(self, node: Node) -> np.dtype:
        weak = node.kind == "constant" and not isinstance(node.value, np.ndarray)
        return self.default if node.dtype is None or weak else node.dtype

    def fresh(self, name: str) -> str:
        base, k = name, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def constant(self, array: np.ndarray, name: str) -> str:
        """A Constant node: loaded back as a gn.Constant (initializers are parameters)."""
        value = numpy_helper.from_array(np.ascontiguousarray(array), name)
        self.nodes.append(helper.make_node("Constant", [], [name], name=name, value=value))
        return name

    def value(self, node: Node, dtype: np.dtype, cast_name: str) -> str:
        """``node``'s ONNX name in ``dtype``: constants are written in it, other values cast."""
        key = (node, dtype)
        if key in self.values:
            return self.values[key]
        if node.kind == "constant":
            name = node.name if (node, None) not in self.values else self.fresh(f"{node.name}_{dtype}")
            self.values[(node, None)] = name
            self.values[key] = self.constant(np.asarray(node.value, dtype=dtype), name)
            return name
        own = self.values[(node, self.dtype_of(node))]
        name = self.values[key] = self.fresh(cast_name)
        self.nodes.append(helper.make_node("Cast", [own], [name], name=name,
                                           to=helper.np_dtype_to_tensor_dtype(dtype)))
        return name

    def write(self, name: str) -> onnx.ModelProto:
        inputs = []
        for node in self.graph.nodes:
            if node.kind == "input":
                inputs.append(_value_info(node, self.dtype_of(node)))
            elif node.kind == "parameter":
                self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(node.value), node.name))
            if node.kind != "constant":
                self.values[(node, self.dtype_of(node))] = node.name
            if node.kind == "op":
                self.nodes.extend(self._emit(node))
        for node in self.outputs:
            if node.kind != "op":
                raise GraphError(f"export: output {node.name} is a {node.kind}, not a computed value")
        graph = helper.make_graph(self.nodes, name, inputs, [_value_info(n, self.dtype_of(n)) for n in self.outputs],
                                  initializer=self.initializers)
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="graphnn")
        model.ir_version = helper.find_min_ir_version_for(opsets)
        onnx.checker.check_model(model)
        return model

    def _emit(self, node: Node) -> list:
        prim = node.prim
        rule = prim.onnx or EXPORTERS.get(prim)
        if rule is None:
            layer = "/".join(node.scope) or "(none)"
            raise GraphError(f"export: node {node.name} (op {node.op!r}, layer {layer}) has no ONNX mapping; "
                             f"give its primitive an 'onnx' exporter or call register_exporter")
        return list(rule(node, Emit(self, node)))


def _value_info(node: Node, dtype: np.dtype) -> onnx.ValueInfoProto:
    if node.shape is None:
        raise GraphError(f"export: the shape of {node.kind} {node.name} is unknown; ONNX needs every input's "
                         f"and output's rank: build inputs with a shape, e.g. gn.Input('X', shape=(None, 2))")
    shape = None if node.shape is None else [("N" if d is None and i == 0 else d) for i, d in enumerate(node.shape)]
    return helper.make_tensor_value_info(node.name, helper.np_dtype_to_tensor_dtype(dtype), shape)


def _outputs(source, outputs) -> list[Node]:
    if hasattr(source, "inference_output"):  # a gn.Model
        if not getattr(source, "finalized", False):
            raise GraphError("export: the model is not finalized; call model.finalize() first")
        chosen = [source.inference_output] if outputs is None else outputs
        graph = source.inference_graph
    elif isinstance(source, Graph):
        chosen, graph = (source.outputs if outputs is None else outputs), source
    elif isinstance(source, Node):
        return [source] if outputs is None else list(outputs)
    else:
        raise GraphError(f"export: expected a gn.Graph, a gn.Model or a node, got {type(source).__name__}")
    chosen = [chosen] if isinstance(chosen, (Node, str)) else list(chosen)
    try:
        return [graph.node(o) for o in chosen]
    except KeyError as e:
        raise GraphError(f"export: {e.args[0]}") from None


def export(source, path=None, *, opset: int = DEFAULT_OPSET, name: str = "graphnn",
           outputs: Iterable | None = None) -> onnx.ModelProto:
    """Write the inference graph of ``source`` as an ONNX model; return the ``ModelProto``.

    ``source``: a finalized ``gn.Model`` (its ``inference_output``, no dropout
    or loss), a ``gn.Graph`` (its outputs, or ``outputs=`` nodes or names) or a
    node. ``path``: a file to write (atomically), or None to only return the
    model. ``opset``: the ONNX opset, from 13 to what the installed onnx knows.
    """
    latest = onnx.defs.onnx_opset_version()
    if not (isinstance(opset, int) and MIN_OPSET <= opset <= latest):
        raise GraphError(f"export: opset must be an integer from {MIN_OPSET} to {latest}, got {opset!r}")
    writer = _Writer(_outputs(source, outputs), opset)
    try:
        model = writer.write(name)
    except onnx.checker.ValidationError as e:
        raise GraphError(f"export: the ONNX model written does not validate: {e}") from None
    if path is not None:
        write_atomically(os.fspath(path), model.SerializeToString())
    return model
