"""The examples that show inspection: the seed notebook (run with nbclient) and the training pictures."""

import importlib.util
import json
import pathlib

import nbformat
from nbclient import NotebookClient

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def outputs(cell) -> str:
    """A code cell's printed text and plain-text results."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", "") + out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_seed_notebook_runs_and_prints_the_book_numbers():
    nb = nbformat.read(EXAMPLES / "seed_notebook.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    text = "\n".join(outputs(c) for c in code)
    assert "[[0.33333334 0.33333334 0.33333334]\n [0.3333332  0.3333332  0.33333364]" in text
    assert "Loss: 1.0986104011535645" in text
    assert "Total params: 21" in text
    svgs = [o for c in code for o in c.outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) == 3  # the graph, the values, the collapsed gradient graph
    assert "min 0.3333 mean 0.3333 max 0.3334" in svgs[1]["data"]["image/svg+xml"]
    assert "log: log produced 1 NaN and 0 Inf of 3 values [inputs: sub (3,)" in text
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_inspect_training_draws_each_snapshot(book_numpy, tmp_path, capsys):
    example = load_example("inspect_training")
    written = example.main(["--out", str(tmp_path), "--epochs", "0,100", "--format", "json"])
    assert [p.name for p in written] == ["spiral_epoch0.json", "spiral_epoch100.json"]
    printed = capsys.readouterr().out
    assert "epoch 0: loss 1.099" in printed
    assert "warning: relu1/maximum: dead ReLU: 12 of 64 neurons" in printed
    late = json.loads(written[1].read_text())
    nodes = {n["name"]: n for n in late["nodes"]}
    assert "warning" in nodes["relu1/maximum"]["marks"]
    assert nodes["dense1/weights"]["grad_norm"] > 0
    assert not any(n["name"].startswith("grad/") for n in late["nodes"])  # forward nodes only
    assert [f["check"] for f in late["findings"]] == ["dead_relu"]


def test_inspect_training_pictures(book_numpy, tmp_path):
    example = load_example("inspect_training")
    [path] = example.main(["--out", str(tmp_path), "--epochs", "3"])
    assert path.suffix == ".svg" and "epoch 3: loss" in path.read_text()
