"""An interactive, self-contained HTML page to walk a graph and look at every tensor.

``explore(graph, "net.html", values=..., grads=..., history=recorder)`` writes
one ``.html`` file that needs no network: the script, the styles, the data (as
JSON) and the Graphviz diagrams are all inside. The diagrams are drawn here
with :mod:`graphnn.seeing.render`, once per setting the page can switch between:
every node or one box per layer, each layer expanded on its own, with and
without the backward pass. The page pans and zooms, searches nodes by name
and op, and shows a clicked node in an inspector (statistics, histogram,
heatmap and numbers of its value, its gradient, health findings), at the
recorded step the slider picks.

Contract for automation: each drawn node's ``<g>`` has ``data-node="<node
name>"`` (a collapsed layer's has ``data-layer="<layer>"``, an expanded
layer's cluster ``data-cluster="<layer>"``); the inspector is
``#inspector``, the search box ``#search``, the step slider ``#step``.

>>> recorder = gn.Recorder(every=100)
>>> model.train(X, y, epochs=1000, record=recorder)
>>> gn.explore(model.graph, "training.html", history=recorder)     # in Jupyter: shown inline
"""

from __future__ import annotations

import base64
import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

from graphnn.core.errors import GraphError
from graphnn.core.files import write_atomically
from graphnn.core.node import Node, format_shape
from graphnn.seeing.graphviz_backend import layout
from graphnn.seeing.options import parse_options
from graphnn.seeing.recorder import Frame, Recorder
from graphnn.seeing.render_dot import cluster_names, view_to_dot
from graphnn.seeing.render_view import View, attrs_text, build_view
from graphnn.seeing.stats import Stats, fmt, percent

SVG_NS = "http://www.w3.org/2000/svg"
STAT_KEYS = ("shape", "dtype", "size", "min", "max", "mean", "std", "norm", "zeros", "nans", "infs")
COLLAPSE_ABOVE = 60  # graphs with more nodes open with one box per layer
RELATIVES_UP_TO = 400  # ancestors/descendants embedded (networkx) up to this many nodes; the page walks bigger ones
DROPPED = {"script", "foreignObject", "image", "iframe", "object", "embed", "use", "style"}


class Explorer:
    """The page: ``html`` (the text), ``path`` (where it was written, or None); Jupyter shows it inline."""

    def __init__(self, html_text: str, path: Path | None):
        self.html, self.path = html_text, path

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
                f'style="width:100%;height:640px;border:1px solid #ccc"></iframe>')

    def __repr__(self) -> str:
        return f"<Explorer {self.path or '(not written)'}: {len(self.html.encode()) / 1024:.0f} KB>"


def check_path(path) -> Path:
    """``path`` as a Path, if the page can be written there (an ``.html`` file in an existing folder)."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise GraphError(f"explore: the page must be an .html file, got {path.name!r}")
    if not path.parent.is_dir():
        raise GraphError(f"explore: cannot write {path}: no such folder {str(path.parent)!r}")
    return path


def explore(graph, path=None, *, values: Mapping | None = None, grads: Mapping | None = None,
            history: Recorder | None = None, title: str | None = None, collapsed: bool | None = None,
            max_variants: int = 24) -> Explorer:
    """Write the explorer page of ``graph`` to ``path`` (``.html``) and return it.

    values:       a run's values (``graph.run(feeds)``), shown as the last step ("run").
    grads:        forward node -> gradient node or array (:func:`graphnn.gradients`), for ``values``.
    history:      a :class:`graphnn.Recorder` that recorded training: one slider step per record.
    title:        the page's heading.
    collapsed:    open with one box per layer (default: when the graph has more than 60 nodes).
    max_variants: draw each layer expanded on its own when there are at most this many layers
                  (and at most 1,000 nodes); otherwise a layer expands into the full diagram.
    """
    if not hasattr(graph, "nodes") or not hasattr(graph, "outputs"):
        raise GraphError(f"explore: expected a gn.Graph, got {type(graph).__name__}")
    if history is not None and not isinstance(history, Recorder):
        raise GraphError(f"explore: history must be a gn.Recorder, got {type(history).__name__}")
    if path is not None:
        path = check_path(path)
    frames = list(history.frames) if history is not None else []
    budget = history if history is not None else Recorder(max_bytes=2**62)
    if values is not None:
        frames.append(Recorder(max_rows=budget.max_rows, max_cols=budget.max_cols,
                               max_bytes=2**62).record(None, values, grads))
    if collapsed is None:
        collapsed = len(graph.nodes) > COLLAPSE_ABOVE
    data = page_data(graph, frames, title, collapsed, max_variants, grads)
    data["notes"] = notes(frames, budget)
    page = build_page(data)
    if path is not None:
        try:
            write_atomically(path, page.encode("utf-8"))
        except OSError as error:
            raise GraphError(f"explore: cannot write {path}: {error.strerror or error}") from None
    return Explorer(page, path)


# ---------------------------------------------------------------- data


def page_data(graph, frames: list[Frame], title: str | None, collapsed: bool, max_variants: int,
              grads: Mapping | None = None) -> dict:
    """Everything the page shows, as plain JSON-ready data."""
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    users: dict[Node, list[int]] = {n: [] for n in nodes}
    for n in nodes:
        for i in dict.fromkeys(n.inputs):
            users[i].append(index[n])
    views, layer_of, layer_names = diagrams(graph, max_variants)
    grad_node = {fwd: g for fwd, g in (grads or {}).items() if isinstance(g, Node) and g in index and fwd in index}
    out_nodes = []
    for n in nodes:
        item = {"name": n.name, "op": n.op, "kind": n.kind, "backward": n.backward,
                "layer": layer_of.get(n.name), "shape": format_shape(n.shape) if n.shape is not None else "unknown",
                "dtype": n.dtype_str, "attrs": attrs_text(n.attrs),
                "inputs": [index[i] for i in n.inputs], "outputs": users[n]}
        if n in grad_node:
            item["grad"] = index[grad_node[n]]
        out_nodes.append(item)
    data = {"title": title or f"graphnn explorer: {len(nodes)} nodes", "nodes": out_nodes, "views": views,
            "layers": layer_names, "collapsed": collapsed, "backward": any(n.backward for n in nodes),
            "frames": [frame_data(f, index, graph) for f in frames]}
    if len(nodes) <= RELATIVES_UP_TO:
        import networkx as nx  # deferred: slow to import, and only pages need it here

        dag = nx.DiGraph()
        dag.add_nodes_from(range(len(nodes)))
        dag.add_edges_from((index[i], index[n]) for n in nodes for i in n.inputs)
        data["ancestors"] = [sorted(nx.ancestors(dag, k)) for k in range(len(nodes))]
        data["descendants"] = [sorted(nx.descendants(dag, k)) for k in range(len(nodes))]
    return data


def stat_texts(s: Stats) -> list[str]:
    """The statistics as the page shows them (in :data:`STAT_KEYS` order, numbers as ``gn`` prints them)."""
    return [format_shape(s.shape), s.dtype, str(s.size), fmt(s.min), fmt(s.max), fmt(s.mean),
            fmt(s.std), fmt(s.norm), percent(s.zeros), str(s.nans), str(s.infs)]


def frame_data(frame: Frame, index: dict, graph) -> dict:
    """One slider step: per node statistics, histograms, kept numbers (base64 float32), findings."""
    by_name = {n.name: i for n, i in index.items()}
    entries = {}
    for name, e in frame.entries.items():
        k = by_name.get(name)
        if k is None:
            continue
        item = {"s": stat_texts(e.stats), "h": e.hist}
        if e.sample is not None:
            a = np.ascontiguousarray(e.sample.reshape(e.sample.shape[0], -1) if e.sample.ndim == 2
                                     else e.sample.reshape(1, -1), dtype="<f4")
            item["x"] = base64.b64encode(a.tobytes()).decode("ascii")
            item["xs"] = list(a.shape)
        if e.rows or e.cols:
            item["rows"], item["cols"] = e.rows and list(e.rows), e.cols and list(e.cols)
        if e.grad is not None:
            item["g"], item["gh"] = stat_texts(e.grad), e.grad_hist
        entries[str(k)] = item
    findings = [[by_name[f.node], f.severity, f.check, f.message] for f in frame.findings if f.node in by_name]
    label = "run" if frame.step is None else f"step {frame.step}"
    return {"label": label, "arrays": frame.arrays, "nodes": entries, "findings": findings}


def notes(frames: list[Frame], recorder: Recorder) -> list[str]:
    """What the page does not show in full: sampled rows, steps past the memory budget."""
    out = []
    sampled = {name: e for f in frames for name, e in f.entries.items() if e.rows or e.cols}
    if sampled:
        first, e = next(iter(sampled.items()))
        more = f" and {len(sampled) - 1} more" if len(sampled) > 1 else ""
        what = " and ".join(f"{kept} of {total} {axis}" for axis, part in (("rows", e.rows), ("columns", e.cols))
                            if part for kept, total in [part])
        out.append(f"Sampled: {first}{more} keep {what} (evenly spaced) for heatmaps and tables; "
                   f"statistics and histograms use every number.")
    over = [f for f in frames if not f.arrays]
    if over:
        steps = ", ".join("run" if f.step is None else str(f.step) for f in over[:5])
        out.append(f"Memory budget ({recorder.max_bytes:,} bytes) reached: steps {steps}"
                   f"{' ...' if len(over) > 5 else ''} keep statistics and histograms only.")
    return out


# ---------------------------------------------------------------- diagrams


def diagrams(graph, max_variants: int = 24) -> tuple[list[dict], dict[str, str], list[str]]:
    """The page's pre-drawn SVGs, which layer box holds each node in the layer view, and the layers.

    Views: ``full`` (every node), ``layers`` (one box per layer) and, for
    graphs small enough, ``layer:<name>`` (that layer expanded), each with and
    without the backward pass.
    """
    jobs, layer_of = [], {}
    for backward in ((False, True) if any(n.backward for n in graph.nodes) else (False,)):
        full = build_view(graph, parse_options({"backward": backward, "health": False}))
        layers = build_view(graph, parse_options({"depth": 1, "backward": backward,
                                                                "health": False}))
        jobs.append(("full", None, backward, full))
        boxes = [b for b in layers.boxes if b.kind == "layer"]
        if not boxes:
            continue
        jobs.append(("layers", None, backward, layers))
        for b in boxes:
            for member in b.info["members"]:
                layer_of[member] = b.info["name"]
        if len(boxes) <= max_variants and len(graph.nodes) <= 1000:
            jobs += [("layer", b.info["name"], backward, expanded(full, layers, b.info["name"])) for b in boxes]
    node_index = {n.name: i for i, n in enumerate(graph.nodes)}
    constants = {n.name for n in graph.nodes if n.kind == "constant"}
    layer_index = {name: i for i, name in enumerate(dict.fromkeys(layer_of.values()))}

    def draw(job):
        mode, layer, backward, view = job
        view = dot_safe(view)
        svg = layout(view_to_dot(view).source, "svg").decode("utf-8")
        return {"mode": mode, "layer": layer, "backward": backward,
                "svg": clean_svg(svg, view, node_index, layer_index, constants)}

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(draw, jobs)), layer_of, list(layer_index)


def expanded(full: View, layers: View, name: str) -> View:
    """The layer view with layer ``name`` drawn node by node (boxes and arrows from ``full``)."""
    owner = {}
    for b in layers.boxes:
        for member in b.info.get("members", [b.info["name"]]) if b.kind == "layer" else [b.info["name"]]:
            owner[member] = b
    inside = {b.info["name"] for b in full.boxes if owner.get(b.info["name"]) is not None
              and owner[b.info["name"]].kind == "layer" and owner[b.info["name"]].info["name"] == name}
    boxes = [b for b in layers.boxes if not (b.kind == "layer" and b.info["name"] == name)]
    boxes += [b for b in full.boxes if b.info["name"] in inside]
    boxes = _unique_ids(boxes)
    node_of = {b.id: b.info["name"] for b in full.boxes}
    box_of = {b.info["name"]: b for b in boxes}
    arrows, seen = [], set()
    for a in full.arrows:
        src = node_of[a.tail]
        tail = box_of[src] if src in inside else owner[src]
        dst = node_of[a.head]
        head = box_of[dst] if dst in inside else owner[dst]
        if tail is head:
            continue
        tail_id, head_id = tail.id, head.id
        if head.kind == "layer":
            if (tail_id, head_id, src) in seen:
                continue
            seen.add((tail_id, head_id, src))
            arrows.append(replace(a, tail=tail_id, head=head_id, position=None))
        else:
            arrows.append(replace(a, tail=tail_id, head=head_id))
    return View(boxes, arrows, [], layers.options)


def _unique_ids(boxes: list) -> list:
    """Boxes from two views may share generated ids: give later duplicates new ones."""
    seen, out = set(), []
    for b in boxes:
        if b.id in seen:
            b = replace(b, id=f"{b.id}~{len(seen)}")
        seen.add(b.id)
        out.append(b)
    return out


def dot_safe(view: View) -> View:
    """The view with box ids of its own (``b0``, ``b1`` ...: an expanded view mixes two views' boxes)
    and no tooltips (the page has its inspector)."""
    ids = {b.id: f"b{k}" for k, b in enumerate(view.boxes)}
    boxes = [replace(b, id=ids[b.id], tooltip=[]) for b in view.boxes]
    arrows = [replace(a, tail=ids[a.tail], head=ids[a.head]) for a in view.arrows]
    return View(boxes, arrows, view.findings, view.options)


CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML


def clean_svg(svg: str, view: View, node_index: dict[str, int], layer_index: dict[str, int],
              constants: frozenset | set = frozenset()) -> str:
    """Graphviz's SVG made inert and tagged with indexes into the page's node and layer lists.

    Node groups get ``data-i`` (a node) or ``data-li`` (a collapsed layer),
    expanded layers' clusters ``data-ci``, edges ``data-from``/``data-to``
    (``n<i>`` or ``l<i>``); the page turns them into ``data-node`` etc. with
    the exact names, so no name is ever markup. Links are unwrapped; scripts,
    foreign objects, images, event handler and link attributes and ids are
    dropped; titles show the node's name. A constant written into the label
    of the op that uses it (``maximum(0, ·)``) gets an empty group inside that
    op's (the first that uses it), so it too has its element.
    """
    def key(b):
        name = b.info["name"]
        return f"l{layer_index[name]}" if b.kind == "layer" else f"n{node_index[name]}"

    boxes = {CONTROL.sub("\ufffd", b.id): b for b in view.boxes}
    clusters = {dot_name: "/".join(path) for path, dot_name in cluster_names(view).items()
                if "/".join(path) in layer_index}
    ends = {}
    for a in view.arrows:
        tail, head = (CONTROL.sub("\ufffd", x) for x in (a.tail, a.head))
        ends[f"{tail}->{head}"] = ends[f"{head}->{tail}"] = (key(boxes[tail]), key(boxes[head]))
    drawn = {b.info["name"] for b in view.boxes}
    root = ET.fromstring(CONTROL.sub("\ufffd", svg).encode("utf-8"))
    _sanitize(root)
    tag = f"{{{SVG_NS}}}"
    for g in root.iter(f"{tag}g"):
        title = g.find(f"{tag}title")
        text = title.text if title is not None else None
        if g.get("class") == "node":
            box = boxes.get(text) or boxes.get(g.get("id"))
            if box is not None:
                g.set("data-li" if box.kind == "layer" else "data-i", key(box)[1:])
                title.text = CONTROL.sub("\ufffd", box.info["name"])
                for name in box.info.get("inputs", ()):
                    if name in constants and name not in drawn:
                        drawn.add(name)  # inside its first user only
                        ET.SubElement(g, f"{tag}g", {"class": "constant", "data-i": str(node_index[name])})
        elif g.get("class") == "edge" and text in ends:
            g.set("data-from", ends[text][0])
            g.set("data-to", ends[text][1])
        elif g.get("class") == "cluster" and text in clusters:
            g.set("data-ci", str(layer_index[clusters[text]]))
    for g in root.iter(f"{tag}g"):
        g.attrib.pop("id", None)
    ET.register_namespace("", SVG_NS)
    return ET.tostring(root, encoding="unicode")


def _sanitize(parent: ET.Element) -> None:
    """Remove active content below ``parent`` in place (unwrapping ``<a>``)."""
    k = 0
    while k < len(parent):
        child = parent[k]
        local = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
        if local in DROPPED or not local:
            del parent[k]
            continue
        if local == "a":
            del parent[k]
            for j, grandchild in enumerate(list(child)):
                parent.insert(k + j, grandchild)
            continue
        for key in list(child.attrib):
            name, value = key.rsplit("}", 1)[-1].lower(), child.attrib[key].lower()
            if name.startswith("on") or name == "href" or "javascript:" in value or \
                    re.search(r"url\(\s*[^#\s]", value):
                del child.attrib[key]
        _sanitize(child)
        k += 1


# ---------------------------------------------------------------- the page


def json_for_script(data: dict) -> str:
    """JSON that is inert inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``, U+2028/9)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_page(data: dict) -> str:
    """The template with the styles, the script and the data put in (each placeholder once)."""
    folder = resources.files("graphnn.seeing") / "explore_static"
    parts = {"STYLE": (folder / "page.css").read_text("utf-8"), "SCRIPT": (folder / "page.js").read_text("utf-8"),
             "DATA": json_for_script(data)}
    for key in ("STYLE", "SCRIPT"):
        if re.search(r"</(style|script)", parts[key], re.I):
            raise GraphError(f"explore: the page's {key.lower()} must not close its element")
    template = (folder / "page.html").read_text("utf-8")
    return re.sub(r"\{\{(STYLE|SCRIPT|DATA)\}\}", lambda m: parts[m.group(1)], template)
