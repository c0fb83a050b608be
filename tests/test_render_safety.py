"""Diagrams are safe and bounded: hostile names stay text, bad options and paths are GraphErrors.

Names full of DOT and SVG syntax go through every way into a picture (inputs,
layer names, scopes, titles, a tampered model file, the command line,
notebooks); the SVG must parse, hold nothing but what Graphviz draws for a plain
diagram, and show the names literally.
"""

import io
import json
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphnn as gn
from graphnn.cli import main
from graphnn.seeing import render as rd
from graphnn.seeing.render_dot import visible

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
HOSTILE = [
    '<n1> [URL="javascript:alert(1)"] <n2>',
    "port:a:b",
    "trailing backslash\\",
    "<b>bold</b>",
    "</svg><script>alert(1)</script>",
    'quote " \\" & &amp; &#1; &lt;x&gt;',
    "two\nlines \\N \\G \\l \\n",
    "ctrl \x00\x01\x07\x1b\x7f\t\r\u202e end",
]


def network(name: str):
    """X -> dense (named ``name``) -> relu inside scope ``name``, X itself named ``name``.

    A layer's name may not hold "/" (it separates scopes), so the layer gets the name without it."""
    X = gn.Input(name)
    with gn.scope(name):
        out = gn.ReLU()(gn.Dense(2, 3, name=name.replace("/", "|"))(X))
    return gn.Graph([out]), {X: np.ones((4, 2), np.float32)}


def tags_and_attributes(root) -> tuple[set, set]:
    return {e.tag for e in root.iter()}, {a for e in root.iter() for a in e.attrib}


def check_safe(svg_text: str, names: list[str], plain: str) -> None:
    """``svg_text`` parses, has only the elements and attributes of ``plain`` (a benign diagram of the
    same kind), no links, and every name shown literally in a label and in a tooltip."""
    root = ET.fromstring(svg_text)
    tags, attributes = tags_and_attributes(root)
    plain_tags, plain_attributes = tags_and_attributes(ET.fromstring(plain))
    assert tags <= plain_tags and attributes <= plain_attributes
    assert "href" not in str(attributes) and not {"script", "foreignObject"} & {t.split("}")[-1] for t in tags}
    for e in root.iter():
        assert not any(v.strip().lower().startswith("javascript:") for v in e.attrib.values())
        if e.tag == f"{SVG}a":
            assert set(e.attrib) == {f"{XLINK}title"}  # a tooltip, never a link
    texts = [e.text or "" for e in root.iter(f"{SVG}text")]
    tips = [e.get(f"{XLINK}title") for e in root.iter(f"{SVG}a")]
    for name in names:
        for line in name.split("\n"):
            assert any(visible(line) in t for t in texts), (line, texts)
            assert any(visible(line) in t for t in tips), (line, tips)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_text(name, tmp_path):
    graph, feeds = network(name)
    gn.reset_names()
    plain_graph, plain_feeds = network("plain")
    options = {"legend": True, "order": True}
    plain = plain_graph.render(tmp_path / "plain.svg", values=plain_graph.run(plain_feeds), title="t", **options)
    path = graph.render(tmp_path / "net.svg", values=graph.run(feeds), title=name, **options)
    check_safe(pathlib.Path(path).read_text(), [name], pathlib.Path(plain).read_text())
    assert graph.to_dot(title=name).source == graph.to_dot(title=name).source
    assert [b.id for b in rd.build_view(graph, rd.parse_options({})).boxes][:1] == ["n0"]
    assert rd.build_view(graph, rd.parse_options({})).boxes[0].info["name"] == name
    check_safe(graph._repr_svg_(), [name], plain_graph._repr_svg_())  # the notebook display
    layers = graph.render(tmp_path / "layers.svg", depth=1)
    check_safe(pathlib.Path(layers).read_text(), [name], pathlib.Path(plain_graph.render(
        tmp_path / "plain_layers.svg", depth=1)).read_text())


def saved_model(path, layer_name=None):
    """A small spiral model saved to ``path``; with ``layer_name``, its header tampered to name layer 0."""
    model = gn.Model()
    model.add(gn.Dense(2, 4))
    model.add(gn.ReLU())
    model.add(gn.Dense(4, 3))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.SGD())
    model.finalize()
    model.save(path)
    gn.reset_names()
    if layer_name is not None:
        tamper(path, lambda header: header["layers"][0]["config"].update(name=layer_name))


def tamper(path, change) -> None:
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(str(arrays["__graphnn__"]))
    change(header)
    arrays["__graphnn__"] = np.array(json.dumps(header))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    pathlib.Path(path).write_bytes(buffer.getvalue())


def test_a_hostile_layer_name_in_a_model_file_is_refused(book_numpy, tmp_path, capsys):
    # layer names are not saved; a tampered config that tries to set one is refused with one line
    name = HOSTILE[0] + HOSTILE[4]
    saved_model(tmp_path / "m.model", layer_name=name)
    with pytest.raises(gn.GraphError, match=r"layers\[0\]\.config"):
        gn.Model.load(tmp_path / "m.model")
    line = one_error_line(capsys, ["render", str(tmp_path / "m.svg"), "--model", str(tmp_path / "m.model")])
    assert "<script>" not in line.split("config")[0] and not (tmp_path / "m.svg").exists()


def one_error_line(capsys, argv) -> str:
    assert main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphnn render: ") and "Traceback" not in captured.err
    return lines[0]


def test_command_line_errors_are_one_line(book_numpy, tmp_path, capsys):
    saved_model(tmp_path / "good.model")
    (tmp_path / "empty.model").write_bytes(b"")
    (tmp_path / "garbage.model").write_bytes(os.urandom(300))
    (tmp_path / "file").write_text("x")
    np.savez(tmp_path / "noheader.npz", a=np.zeros(2))
    bad = {"kind.model": lambda h: h["layers"][0].update(kind="<evil>"),
           "config.model": lambda h: h["layers"][0]["config"].update(n_inputs="x"),
           "extra.model": lambda h: h["layers"][0]["config"].update(surprise=1)}
    for file, change in bad.items():
        (tmp_path / file).write_bytes((tmp_path / "good.model").read_bytes())
        tamper(tmp_path / file, change)
    out = str(tmp_path / "out.svg")
    for model in ["missing.model", "empty.model", "garbage.model", "noheader.npz", "file", ".", *bad]:
        line = one_error_line(capsys, ["render", out, "--model", str(tmp_path / model)])
        assert str(tmp_path / model).rstrip("/.") in line or model == ".", line
    assert "cannot create the folder" in one_error_line(capsys, ["render", str(tmp_path / "file" / "x" / "o.svg")])
    (tmp_path / "dir.svg").mkdir()
    assert "it is a folder" in one_error_line(capsys, ["render", str(tmp_path / "dir.svg")])
    assert "cannot render to" in one_error_line(capsys, ["render", str(tmp_path / "o.bmp")])


def test_command_line_error_without_traceback_as_a_program(tmp_path):
    (tmp_path / "bad.model").write_bytes(b"PK\x03\x04 not really a zip")
    result = subprocess.run([sys.executable, "-m", "graphnn.cli", "render", str(tmp_path / "o.svg"), "--model",
                             str(tmp_path / "bad.model")], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "bad.model" in result.stderr and not (tmp_path / "o.svg").exists()


# ---------------------------------------------------------------- options and limits


@pytest.mark.parametrize("options, message", [
    ({"dpi": -5}, "dpi must be a whole number from 1 to 1200"),
    ({"dpi": 0}, "dpi must be"), ({"dpi": 5000}, "dpi must be"), ({"dpi": 2.5}, "dpi must be"),
    ({"dpi": True}, "dpi must be"),
    ({"thresholds": "x"}, "thresholds must be a gn.Thresholds"),
    ({"title": 5}, "title must be a string"), ({"title": b"bytes"}, "title must be a string"),
    ({"legend": "yes"}, "legend must be True or False"), ({"backward": None}, "backward must be True or False"),
    ({"rankdir": ["TB"]}, "rankdir must be one of"), ({"depth": True}, "depth must be a whole number"),
    ({"grads": 3}, "grads must be a mapping"),
])
def test_bad_options_are_graph_errors(options, message, tmp_path):
    graph, _ = network("x")
    with pytest.raises(gn.GraphError, match=message):
        graph.render(tmp_path / "net.png", **options)
    assert list(tmp_path.iterdir()) == []


def test_dpi_sets_the_png_resolution(tmp_path):
    graph, _ = network("x")
    small = pathlib.Path(graph.render(tmp_path / "small.png", dpi=20)).read_bytes()
    large = pathlib.Path(graph.render(tmp_path / "large.png", dpi=200)).read_bytes()
    width = int.from_bytes(small[16:20], "big"), int.from_bytes(large[16:20], "big")
    assert width[1] > 8 * width[0]


def test_bad_output_folders_name_the_folder(tmp_path, monkeypatch):
    graph, _ = network("x")
    with pytest.raises(gn.GraphError, match=r"cannot write .*net.svg: no folder .*missing"):
        graph.render(tmp_path / "missing" / "net.svg")
    (tmp_path / "file").write_text("x")
    with pytest.raises(gn.GraphError, match=r"not a folder .*file"):
        graph.render(tmp_path / "file" / "net.svg")
    (tmp_path / "dir.svg").mkdir()
    with pytest.raises(gn.GraphError, match=r"dir.svg: it is a folder"):
        graph.render(tmp_path / "dir.svg")

    def read_only(path, data):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".net.svg.1.abcd.tmp"))

    monkeypatch.setattr(rd, "write_atomically", read_only)
    with pytest.raises(gn.GraphError, match=rf"cannot write .*net.svg: folder {tmp_path}: not writable") as error:
        graph.render(tmp_path / "net.svg")
    assert ".tmp" not in str(error.value)


def test_huge_graphs_are_collapsed_with_a_warning(seed_graph, tmp_path, monkeypatch):
    monkeypatch.setattr(rd, "MAX_BOXES", 12)  # the seed network has 21 boxes, 7 once collapsed
    with pytest.warns(UserWarning, match=r"21 boxes are too many .* one box per layer instead \(depth=1: 7 boxes\)"):
        path = seed_graph.render(tmp_path / "net.svg")
    assert pathlib.Path(path).read_text().count("<polygon") > 0
    root = ET.parse(path).getroot()
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]) == 7
    monkeypatch.setattr(rd, "MAX_BOXES", 5)
    with pytest.warns(UserWarning) as record:
        seed_graph.render(tmp_path / "net.svg")
    assert "laying out 7 boxes may take minutes" in str(record[-1].message) and len(record) == 2
    seed_graph.render(tmp_path / "net.dot")  # no layout, no collapsing
    assert (tmp_path / "net.dot").read_text().count("box3d") == 0


@pytest.fixture
def seed_graph(book_numpy):
    from graphnn.cli import seed_network
    return seed_network()[0]


# ---------------------------------------------------------------- pictures with pip alone


def test_svg_and_png_without_graphviz_on_path_or_an_activated_venv(tmp_path):
    """``.venv/bin/python script.py`` with a PATH that has neither ``dot`` nor the venv's scripts."""
    script = ("import graphnn as gn; x = gn.Input('x'); g = gn.Graph([gn.ReLU()(x)]);"
              f"g.render({str(tmp_path / 'n.svg')!r}); g.render({str(tmp_path / 'n.png')!r});"
              f"g.render({str(tmp_path / 'n.pdf')!r})")
    result = subprocess.run([sys.executable, "-c", script], env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
                            cwd=pathlib.Path(__file__).parents[1], capture_output=True, text=True, timeout=120,
                            check=False)
    assert "needs the Graphviz 'dot' program" in result.stderr  # PDF alone needs system Graphviz
    ET.parse(tmp_path / "n.svg")
    assert (tmp_path / "n.png").read_bytes()[:4] == b"\x89PNG"
