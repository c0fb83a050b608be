"""ONNX interchange: export graphnn inference graphs, load ONNX models as graphnn graphs.

Needs the ``onnx`` extra: ``pip install graphnn[onnx]`` (onnx and onnxruntime).

Export
------
``export(model_or_graph, path=None, *, opset=17, name="graphnn", outputs=None)``
writes the inference graph (a ``gn.Model``'s ``inference_output``: no dropout,
no loss) as an ONNX model, checked with ``onnx.checker``, and returns the
``ModelProto``. Parameters become initializers; inputs become graph inputs
with the batch dimension symbolic (``"N"``); every ONNX value and node is
named after its graphnn node (``dense1/matmul``), so intermediate tensors read
the same in both worlds. Each primitive maps to standard ONNX ops:

    matmul -> MatMul            add, add_bias -> Add     sub, mul, div, neg, exp, log, abs, tanh
    maximum(0.0, x) -> Relu     maximum -> Max           max/sum/mean -> ReduceMax/ReduceSum/ReduceMean
    normalize -> ReduceSum, Div clip -> Clip             stop_gradient, identity -> Identity
    transpose -> Transpose      square -> Mul(x, x)      reshape -> Reshape
    constants -> Constant nodes (initializers are parameters only)

(Reduce axes are an input from opset 13 for ReduceSum and from 18 for the
others, an attribute before.) A node whose primitive has no mapping is a
``gn.GraphError`` naming the node, its op and its layer.

A primitive carries its own mapping as an ``onnx`` attribute, looked up
before the table (``EXPORTERS``, keyed by the primitive object; or call
``register_exporter(primitive, exporter)``)::

    exporter(node: gn.Node, emit: Emit) -> list[onnx.NodeProto]

``emit.input(i, dtype=None)`` is the ONNX name of ``node.inputs[i]`` (cast to
the node's dtype unless ``dtype`` is given), ``emit.inputs`` all of them,
``emit.output`` the name to write (``node.name``), ``emit.dtype`` the node's
numpy dtype, ``emit.opset`` the opset, ``emit.const(value, dtype=None)`` a new
Constant's name, ``emit.tmp(tag)`` a fresh name for an intermediate value
and ``emit.make(op_type, inputs, output=None, **attrs)`` one ``NodeProto``::

    class Softplus(Primitive):
        def onnx(self, node, emit):
            return [emit.make("Softplus", emit.inputs)]

Load
----
``load(path_or_bytes_or_ModelProto) -> OnnxGraph`` checks the model and builds
each ONNX op from graphnn primitives (``IMPORTERS``): Gemm, MatMul (2-D), Add,
Sub, Mul, Div, Neg, Exp, Log, Abs, Relu, LeakyRelu, Sigmoid, Tanh, Softmax,
LogSoftmax, Reshape, Flatten, Identity, Dropout (inference), Constant, Clip,
Max, Min, ReduceSum, ReduceMean, ReduceMax, Transpose (2-D). ``.graph`` is a
``gn.Graph``, ``.inputs`` input name -> ``gn.Input``, ``.outputs`` output
name -> node, ``.params`` the float initializers as ``gn.Parameter`` nodes
(so ``gn.grad`` and ``gn.SGD``/``gn.Adam`` fine-tune them), non-float
initializers are constants. Each ONNX tensor is the graphnn node of the same
name: ``onnx_graph.run({"X": X})["dense1/matmul"]``. Unsupported op types are
one ``GraphError`` listing all of them; values the model computes at run time
where graphnn needs constants (a Reshape's shape, Clip bounds, Reduce axes)
and unreadable or invalid files are ``GraphError`` too.

>>> from graphnn.interop import onnx as gx
>>> gx.export(model, "spiral.onnx")
>>> imported = gx.load("spiral.onnx")
>>> imported.run({"X": X})["inference/dense1/matmul"].shape
(300, 64)

The primitives ONNX models need beyond the book's (identity, tanh, reshape)
are in graphnn's primitive table, :mod:`graphnn.core.ops`.
"""

from graphnn.interop.onnx_export import DEFAULT_OPSET, EXPORTERS, Emit, export, register_exporter
from graphnn.interop.onnx_import import IMPORTERS, OnnxGraph, load

__all__ = ["DEFAULT_OPSET", "EXPORTERS", "IMPORTERS", "Emit", "OnnxGraph", "export", "load", "register_exporter"]
