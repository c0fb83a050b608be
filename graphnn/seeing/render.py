"""Diagrams of a graph, built only from the public Graph/Node API.

``to_dot(graph, **options)`` returns a ``graphviz.Digraph``; ``render(graph,
path, **options)`` writes it in the format named by the suffix (.svg, .png,
.pdf, .dot/.gv, or .json for a plain description of the nodes and edges).

Drawing happens in two steps: :func:`build_view` turns the graph and the
options into boxes, arrows and clusters (all policy lives there and in the
small label functions); :func:`view_to_dot` (in :mod:`graphnn.render_dot`)
and :func:`view_to_json` only write that view out. Boxes have generated ids
(``n0``, ``n1`` ... in view order, ``L0`` ... for collapsed layers; the SVG
element of a box has that id) and keep the node's full name in ``info["name"]``:
no name reaches Graphviz as anything but escaped text.

SVG and PNG come from the pip package graphviz-pure (the same bytes on every
machine, see :mod:`graphnn.graphviz_backend`); PDF needs the system ``dot``.

>>> values = graph.run(feeds)
>>> graph.render("net.svg", values=values, legend=True)   # statistics on every node
>>> graph.render("layers.png", depth=1)                     # one box per layer
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import graphviz

from graphnn.core.errors import GraphError
from graphnn.core.files import write_atomically
from graphnn.seeing.graphviz_backend import layout
from graphnn.seeing.options import Options, parse_options
from graphnn.seeing.render_dot import LEGEND, STYLES, add_legend, dot_text, style_for, view_to_dot  # noqa: F401
from graphnn.seeing.render_view import (  # noqa: F401 (the labels are part of this module's API)
    Arrow,
    Box,
    View,
    _plain,
    attrs_text,
    build_view,
    call_text,
    finding_lines,
    layer_finding_lines,
    layer_lines,
    leaf_lines,
    op_lines,
    tensor_text,
    value_lines,
)

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".json": "json"}
MAX_BOXES = 2000  # laying out more takes graphviz-pure ~3 s and grows ~quadratically (3,600: 13 s; 6,000: 46 s)


# ---------------------------------------------------------------- writing the view


def view_to_json(view: View) -> dict:
    """A plain description: nodes (their generated ``id``, ``name`` and data), edges between node ids,
    and the health findings."""
    return {
        "nodes": [dict(id=b.id, label=b.label, cluster=list(b.cluster), marks=b.marks, **b.info)
                  for b in view.boxes],
        "edges": [{"from": a.tail, "to": a.head, "label": a.label, "position": a.position,
                   "ran": "edge_not_ran" not in a.marks} for a in view.arrows],
        "findings": [_plain(asdict(f)) for f in view.findings],
    }


def to_dot(graph, **options) -> graphviz.Digraph:
    """The diagram of ``graph`` as a ``graphviz.Digraph``; see :class:`Options`.

    >>> graph.to_dot(depth=1).source.count("box3d")     # one box per layer
    4
    """
    return view_to_dot(build_view(graph, parse_options(options)))


def to_json(graph, **options) -> dict:
    """The diagram of ``graph`` as plain data (what ``.json`` files hold)."""
    return view_to_json(build_view(graph, parse_options(options)))


# ---------------------------------------------------------------- pictures and files


def picture_view(graph, opts: Options) -> View:
    """The view to lay out: above :data:`MAX_BOXES` boxes, one box per layer, with a warning."""
    view = build_view(graph, opts)
    if len(view.boxes) > MAX_BOXES and opts.depth is None:
        collapsed = build_view(graph, replace(opts, depth=1))
        warnings.warn(f"graphnn: {len(view.boxes):,} boxes are too many to lay out quickly (over {MAX_BOXES:,}); "
                      f"drew one box per layer instead (depth=1: {len(collapsed.boxes):,} boxes). Pass depth= "
                      f"to choose, or write .json or .dot", stacklevel=3)
        view = collapsed
    if len(view.boxes) > MAX_BOXES:
        warnings.warn(f"graphnn: laying out {len(view.boxes):,} boxes may take minutes", stacklevel=3)
    return view


def svg(graph, **options) -> str:
    """The diagram as SVG text (what notebooks display)."""
    return layout(view_to_dot(picture_view(graph, parse_options(options))).source, "svg").decode("utf-8")


def render(graph, path, **options) -> str:
    """Write the diagram of ``graph`` to ``path``; the suffix picks the format.

    .svg, .png, .pdf: a picture; .dot/.gv: the Graphviz source; .json: the
    nodes and edges as plain data. Options are those of :class:`Options`.

    >>> graph.render("forward.svg")
    'forward.svg'
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GraphError(f"cannot render to {path.name}: the suffix must be one of "
                         f"{', '.join(sorted(FORMATS))}")
    opts = parse_options(options)
    folder = path.parent
    if not folder.is_dir():
        raise GraphError(f"cannot write {path}: {'not a folder' if folder.exists() else 'no folder'} {folder}")
    if path.is_dir():
        raise GraphError(f"cannot write {path}: it is a folder")
    if fmt == "json":
        data = (json.dumps(view_to_json(build_view(graph, opts)), indent=1, allow_nan=False) + "\n").encode()
    elif fmt == "dot":
        data = view_to_dot(build_view(graph, opts)).source.encode("utf-8")
    else:
        dot = view_to_dot(picture_view(graph, opts))
        if fmt == "png":
            dot.graph_attr["dpi"] = str(opts.dpi or 96)
        data = layout(dot.source, fmt)
    try:
        write_atomically(path, data)
    except OSError as error:  # its file name is the hidden temporary file's: name the folder instead
        reason = "not writable" if isinstance(error, PermissionError) else error.strerror
        raise GraphError(f"cannot write {path}: folder {folder}: {reason}") from None
    return str(path)
