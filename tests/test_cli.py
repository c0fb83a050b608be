"""The ``graphnn`` command line: ``demo`` and ``render``."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import graphnn as gn
from graphnn.cli import main


def test_demo_prints_the_notebook_numbers(book_numpy, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Loss: 1.09861" in out and "[[0.33333334 0.33333334 0.33333334]" in out
    ET.parse(tmp_path / "forward.svg")


def test_render_the_demo_network(book_numpy, tmp_path, capsys):
    assert main(["render", str(tmp_path / "net.svg")]) == 0
    assert "wrote" in capsys.readouterr().out
    ET.parse(tmp_path / "net.svg")


def test_render_with_every_option(book_numpy, tmp_path):
    out = tmp_path / "sub" / "net.json"
    assert main(["render", str(out), "--values", "--backward", "--legend", "--order",
                 "--rankdir", "LR", "--title", "seed"]) == 0
    data = json.loads(out.read_text())
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["dense1/matmul"]["step"] == 1
    assert "grad_norm" in nodes["dense1/weights"] and nodes["grad/dense1/matmul"]["backward"]
    assert nodes["cce1/mean"]["stats"]["mean"] == pytest.approx(1.0986104)
    assert main(["render", str(tmp_path / "layers.gv"), "--depth", "1"]) == 0
    assert (tmp_path / "layers.gv").read_text().count("box3d") == 5


def test_render_errors_are_reported(book_numpy, tmp_path, capsys):
    assert main(["render", str(tmp_path / "net.bmp")]) == 1
    assert "cannot render to net.bmp" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "net.svg"), "--depth", "0"]) == 1
    assert "depth must be" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "m.svg"), "--model", str(tmp_path / "missing.model")]) == 1
    assert "missing.model: no such file" in capsys.readouterr().err


def test_render_a_saved_model(book_numpy, tmp_path):
    model = gn.Model()
    model.add(gn.Dense(2, 8))
    model.add(gn.ReLU())
    model.add(gn.Dense(8, 3))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05))
    model.finalize()
    path = tmp_path / "spiral.model"
    model.save(path)
    gn.reset_names()
    out = tmp_path / "model.json"
    assert main(["render", str(out), "--model", str(path), "--values", "--depth", "1"]) == 0
    nodes = {n["id"]: n for n in json.loads(out.read_text())["nodes"]}
    assert nodes["dense1"]["params"] == 2 * 8 + 8 and nodes["dense2"]["params"] == 8 * 3 + 3
    assert not any(k.startswith("grad") for k in nodes)  # forward only unless --backward
    assert main(["render", str(tmp_path / "b.json"), "--model", str(path), "--backward"]) == 0
    assert any(n["id"].startswith("grad/") for n in json.loads((tmp_path / "b.json").read_text())["nodes"])


def test_graphnn_module_runs_as_a_program(tmp_path):
    result = subprocess.run([sys.executable, "-m", "graphnn.cli", "render", str(tmp_path / "n.dot")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "n.dot").read_text().startswith("digraph graphnn {")
    assert "wrote" in result.stdout
