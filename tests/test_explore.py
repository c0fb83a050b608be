"""The explorer page (graphnn.explore) and the Recorder, tested in a real browser.

One Chromium (Debian's, /usr/bin/chromium) is launched for the module; each
test opens a fresh page that records console errors, requests and dialogs.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nnfs.datasets import spiral_data
from playwright.sync_api import sync_playwright

import graphnn as gn
from graphnn.cli import main
from graphnn.core.node import format_shape
from graphnn.seeing import stats as ins
from graphnn.seeing.explore import explore, json_for_script
from graphnn.seeing.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEPS = list(range(0, 100, 5))  # 20 recorded steps
HOSTILE = ["<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>", "a&b\"c'd\u2028e\x01f"]


def spiral_model(seed=0):
    gn.reset_names()
    np.random.seed(seed)
    model = gn.Model()
    for layer in (gn.Dense(2, 64), gn.ReLU(), gn.Dense(64, 3), gn.Softmax()):
        model.add(layer)
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05, decay=5e-7))
    model.finalize()
    return model


def expected_stats(value) -> dict:
    s = gn.stats(value)
    return {"shape": format_shape(s.shape), "dtype": s.dtype, "size": str(s.size), "min": ins.fmt(s.min),
            "max": ins.fmt(s.max), "mean": ins.fmt(s.mean), "std": ins.fmt(s.std), "norm": ins.fmt(s.norm),
            "zeros": ins.percent(s.zeros)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A recorded 100-step training run, and the values of dense1/matmul at each recorded step, computed apart."""
    folder = tmp_path_factory.mktemp("explore")
    np.random.seed(1)
    X, y = spiral_data(samples=100, classes=3)
    plain = spiral_model()
    plain.train(X, y, epochs=100, verbose=False)
    apart, seen = spiral_model(), {}
    for step in range(100):
        if step in STEPS:
            seen[step] = apart.graph.run({apart.input: X, apart.target: y})["dense1/matmul"].copy()
        apart.train(X, y, epochs=1, verbose=False)
    model, recorder = spiral_model(), Recorder(steps=STEPS)
    model.train(X, y, epochs=100, verbose=False, record=recorder)
    page = explore(model.graph, folder / "train.html", history=recorder)
    return {"model": model, "plain": plain, "apart": apart, "recorder": recorder, "seen": seen,
            "page": page, "X": X, "y": y, "folder": folder}


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    """``open_page(path)``: the loaded page; after the test, no console error, dialog or other request."""
    pages = []

    def opener(path):
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        page.problems, page.requests = [], []
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("request", lambda r: page.requests.append(r.url))
        page.goto(Path(path).resolve().as_uri())
        page.wait_for_selector("body[data-ready=true]", timeout=10000)
        pages.append((page, Path(path).resolve().as_uri()))
        return page

    yield opener
    for page, uri in pages:
        assert page.problems == []
        assert page.requests == [uri]
        page.close()


def stats_shown(page) -> dict:
    rows = page.locator("#inspector #stats tr")
    return {rows.nth(k).get_attribute("data-stat"): rows.nth(k).locator("td").inner_text()
            for k in range(rows.count())}


# ---------------------------------------------------------------- the recorder


def test_recording_does_not_change_training(trained):
    for p, q, r in zip(trained["model"].params, trained["plain"].params, trained["apart"].params):
        assert np.array_equal(p.value, q.value) and np.array_equal(p.value, r.value)
    assert [f.step for f in trained["recorder"].frames] == STEPS


def test_recorder_keeps_a_flagged_sample_within_its_budget(trained):
    model = spiral_model()
    recorder = Recorder(nodes=["dense1/matmul", "relu1/maximum", "dense2/weights"], every=5, max_rows=8,
                        max_bytes=6000)  # one step of numbers: 2 x 8 x 64 + 64 x 3 float32
    model.train(trained["X"], trained["y"], epochs=20, verbose=False, record=recorder)
    first = recorder.frames[0].entries
    assert first["dense1/matmul"].rows == (8, 300) and first["dense1/matmul"].sample.shape == (8, 64)
    assert first["dense2/weights"].rows is None and first["dense2/weights"].sample.shape == (64, 3)
    assert first["dense1/matmul"].stats.shape == (300, 64)  # statistics of every row
    assert recorder.over_budget == [5, 10, 15] and recorder.frames[1].entries["relu1/maximum"].sample is None
    assert recorder.bytes <= recorder.max_bytes
    page = explore(model.graph, None, history=recorder).html
    assert "Sampled: dense1/matmul and 1 more keep 8 of 300 rows" in page and "Memory budget" in page
    with pytest.raises(gn.GraphError, match="no value for 'nope'"):
        Recorder(nodes=["nope"]).record(0, model.graph.run({model.input: trained["X"], model.target: trained["y"]}))
    with pytest.raises(gn.GraphError, match="every= or steps="):
        Recorder(every=2, steps=[1])
    with pytest.raises(gn.GraphError, match="record must be a gn.Recorder"):
        model.train(trained["X"], trained["y"], record="yes")


# ---------------------------------------------------------------- the page in a browser


def test_page_loads_offline_with_every_node(trained, open_page):
    page = open_page(trained["page"].path)
    names = {n.name for n in trained["model"].graph.nodes}
    drawn = page.eval_on_selector_all("[data-node]", "es => es.map(e => e.getAttribute('data-node'))")
    assert set(drawn) == names and len(drawn) == len(names)
    assert page.locator("#step").get_attribute("max") == str(len(STEPS) - 1)
    assert page.locator("#canvas svg a, #canvas svg script, #canvas svg [onclick]").count() == 0


def test_inspector_shows_the_values_at_each_step(trained, open_page):
    page = open_page(trained["page"].path)
    page.locator('[data-node="dense1/matmul"]').click()
    assert page.locator("#inspector h2").inner_text() == "dense1/matmul"
    last = STEPS[-1]
    assert stats_shown(page) == expected_stats(trained["seen"][last])
    assert page.locator("#inspector #heatmap").count() == 1 and page.locator("#grad-hist").count() == 1
    assert "sampled: 32 of 300 rows" in page.locator("#inspector .sampled").inner_text()
    page.locator("#step").fill("3")
    assert page.locator("#step-label").inner_text().startswith(f"step {STEPS[3]}")
    assert stats_shown(page) == expected_stats(trained["seen"][STEPS[3]])
    page.locator("#inspector .links button", has_text="dense1/add_bias").first.click()
    assert page.locator("#inspector h2").inner_text() == "dense1/add_bias"
    # a picture of the page for people to look at (GRAPHNN_SCREENSHOTS names a folder to keep it in)
    page.locator('[data-node="relu1/maximum"]').click()
    shot = Path(os.environ.get("GRAPHNN_SCREENSHOTS", trained["folder"])) / "explorer.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000


def test_search_finds_softmax(trained, open_page):
    page = open_page(trained["page"].path)
    page.locator("#search").fill("softmax")
    found = page.eval_on_selector_all("#results li[data-node]", "es => es.map(e => e.dataset.node)")
    assert "softmax1/normalize" in found and all("softmax" in n for n in found)
    page.locator("#search").press("Enter")
    assert "softmax" in page.locator("#inspector h2").inner_text()
    assert page.locator("#canvas .gn-sel").count() == 1


def test_layers_expand_and_collapse(trained, open_page):
    page = open_page(trained["page"].path)
    page.locator("#view-layers").click()
    assert page.locator('[data-layer="dense1"]').count() == 1 and page.locator("[data-node]").count() == 2  # X, y
    page.locator('[data-layer="dense1"]').click()
    assert page.locator('[data-node="dense1/matmul"]').count() == 1
    assert page.locator('[data-layer="dense2"]').count() == 1 and page.locator('[data-layer="dense1"]').count() == 0
    page.locator('[data-cluster="dense1"] > text').click()
    assert page.locator('[data-layer="dense1"]').count() == 1
    assert page.locator('[data-node="dense1/matmul"]').count() == 0


def test_hostile_names_stay_text(open_page, tmp_path):
    x = gn.Input(HOSTILE[0])
    with gn.scope(HOSTILE[1]):
        out = gn.exp(x, name=HOSTILE[2])
    graph = gn.Graph([out])
    path = tmp_path / "hostile.html"
    result = explore(graph, path, values=graph.run({x: np.ones((2, 2))}), title=HOSTILE[1])
    text = path.read_text()
    assert "</script><script>alert" not in text and "<img src=x" not in text
    page = open_page(path)
    names = [n.name for n in graph.nodes]
    assert HOSTILE[0] in names and f"{HOSTILE[1]}/{HOSTILE[2]}" in names
    drawn = page.eval_on_selector_all("[data-node]", "es => es.map(e => e.dataset.node)")
    assert sorted(drawn) == sorted(names)
    page.locator("[data-node]").evaluate_all(
        "(es, n) => es.find(e => e.dataset.node === n).dispatchEvent(new MouseEvent('click', {bubbles: true}))",
        HOSTILE[0])
    assert page.locator("#inspector h2").inner_text() == HOSTILE[0]
    assert page.locator("#title").inner_text() == HOSTILE[1]
    assert page.locator("img").count() == 0 and page.locator("script").count() == 2
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in result._repr_html_()


def test_json_is_inert_in_a_script_element():
    text = json_for_script({"a": "</script>&\u2028\u2029<!--"})
    assert not any(c in text for c in "<>&\u2028\u2029")


# ---------------------------------------------------------------- command line and example


def test_cli_explore(book_numpy, tmp_path, capsys, open_page):
    out = tmp_path / "cli.html"
    assert main(["explore", str(out), "--epochs", "20", "--record-every", "5"]) == 0
    assert "(5 recorded steps)" in capsys.readouterr().out
    page = open_page(out)
    assert page.locator("#step").get_attribute("max") == "4"
    for bad in (["explore", str(tmp_path / "no" / "x.html")], ["explore", str(tmp_path / "x.svg")],
                ["explore", str(out), "--model", str(tmp_path / "missing.npz")]):
        assert main(bad) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_demo_page_shows_the_notebooks_tensors(book_numpy, tmp_path, capsys, open_page):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert f"wrote {tmp_path / 'explore.html'}" in capsys.readouterr().out
    from graphnn.cli import seed_network

    gn.reset_names()  # the same names as the demo's graph
    graph, feeds, probs, loss = seed_network()  # the notebook's run, again (nnfs.init() seeds it the same)
    values = graph.run(feeds)
    page = open_page(tmp_path / "explore.html")
    page.locator('[data-node="dense1/matmul"]').first.click()
    assert page.locator("#inspector h2").inner_text() == "dense1/matmul"
    assert stats_shown(page) == expected_stats(values["dense1/matmul"])
    page.locator('[data-node="softmax1/normalize"]').first.click()
    assert stats_shown(page) == expected_stats(values[probs])


def test_example_shows_dead_neurons_appearing(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRAPHNN_EPOCHS="401")
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "explore_training.py")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    fractions = [float(line.split("dead ")[1].split()[0]) for line in run.stdout.splitlines() if "dead " in line]
    assert len(fractions) >= 10 and fractions[-1] > fractions[0]
    assert (tmp_path / "explore_training.html").stat().st_size > 10_000
