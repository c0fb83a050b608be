"""Each chapter example runs and reaches the quality its docstring states.

The examples run as scripts, side by side, in a temporary folder. The
ones that finish quickly (chapters 10, 11, 14, 16) run in full and must print
exactly the book's lines their docstrings quote; the two longest (chapters 15
and 17, 46-90 s and 26-45 s in full) run 1,001 epochs through GRAPHNN_EPOCHS
(tests/test_book_parity.py compares every line of every chapter with the book's script).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHORTENED = {"ch15_dropout.py": "1001", "ch17_regression.py": "1001"}
NAMES = ["ch10_adam.py", "ch11_validation.py", "ch14_l2.py", "ch15_dropout.py", "ch16_binary.py",
         "ch17_regression.py", "ch18_model.py", "ch22_model.py"]
CHECKED_ELSEWHERE = ["ch19_22_images.py"]  # tests/test_datasets.py runs it (needs pillow and scikit-learn)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start every example at once; each test waits for its own."""
    folder = tmp_path_factory.mktemp("examples")
    procs = {}
    for name in NAMES:
        env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg",
                   # tiny matrices: BLAS threads only contend with the other examples
                   OPENBLAS_NUM_THREADS="1")
        env.pop("GRAPHNN_EPOCHS", None)
        if name in SHORTENED:
            env["GRAPHNN_EPOCHS"] = SHORTENED[name]
        procs[name] = subprocess.Popen([sys.executable, str(EXAMPLES / name)], cwd=folder, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _output(runs, name) -> list[str]:
    out, err = runs[name].communicate(timeout=300)
    assert runs[name].returncode == 0, err
    return out.splitlines()


def _docstring(name) -> str:
    text = (EXAMPLES / name).read_text()
    return text.split('"""')[1]


def _numbers(line: str) -> dict:
    return {k: float(v) for k, v in re.findall(r"(\w+): (-?\d+\.\d+)", line)}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("ch*.py")) == sorted(NAMES + CHECKED_ELSEWHERE)


@pytest.mark.parametrize("name", ["ch10_adam.py", "ch11_validation.py", "ch14_l2.py"])
def test_book_parity_examples_print_what_they_state(runs, name):
    lines = _output(runs, name)
    doc = _docstring(name)
    tail = lines[-1:] if name == "ch10_adam.py" else lines[-2:]
    for line in tail:
        assert line in doc, f"{name} printed {line!r}, not stated in its docstring"
    training = [line for line in lines if line.startswith("epoch: 10000,")]
    assert len(training) == 1
    if name != "ch14_l2.py":
        assert training[0] == "epoch: 10000, acc: 0.967, loss: 0.074, lr: 0.04975126853296942"


def test_ch15_dropout(runs):
    lines = _output(runs, "ch15_dropout.py")
    assert lines[-2] == ("epoch: 1000, acc: 0.657, loss: 0.811 (data_loss: 0.789, reg_loss: 0.023), "
                         "lr: 0.04762131530072861")   # the book's line (full run: 0.694, dropout on)
    assert lines[-1] == "validation, acc: 0.703, loss: 0.776"   # full run: 0.740


def test_ch16_binary(runs):
    lines = _output(runs, "ch16_binary.py")
    assert lines[-2].startswith("epoch: 10000, ")
    for line in lines[-2:]:
        assert line in _docstring("ch16_binary.py")     # the book's 0.945 and 0.920


def test_ch17_regression(runs):
    lines = _output(runs, "ch17_regression.py")
    assert lines[-1].startswith("epoch: 1000, ")
    assert _numbers(lines[-1])["acc"] >= 0.9            # full run: 0.981


def test_ch18_model(runs):
    lines = _output(runs, "ch18_model.py")
    assert lines[-3].startswith("epoch: 10000, ") and _numbers(lines[-3])["acc"] >= 0.94   # stated: 0.953
    assert lines[-2].startswith("validation, ") and _numbers(lines[-2])["acc"] >= 0.82     # stated: 0.843
    assert re.match(r"training graph: \d+ nodes", lines[-1])


def test_ch22_model(runs):
    lines = _output(runs, "ch22_model.py")
    assert lines[-4].startswith("validation, ") and _numbers(lines[-4])["acc"] >= 0.88     # stated: 0.900
    assert lines[-3] == "same predictions after load_parameters: True"
    assert lines[-2] == "same predictions after Model.load: True"
    assert lines[-1].startswith("predictions: [")
    assert sum(line.startswith("epoch: ") for line in lines) == 50
