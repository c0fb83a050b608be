"""graphnn's benchmarks: is the graph engine as fast as hand-written numpy, and as the book's own code?

    python benchmarks/run.py            # all seven cases, about ten minutes
    python benchmarks/run.py --quick    # a smoke run of every case, seconds
    python benchmarks/run.py --cases 1,3

Every implementation of a case runs in this one process on the same data and
starting weights. Timings are interleaved: each round times every
implementation once, in a rotating order, and a ratio is the median over rounds
of the per-round ratio against the reference, so a burst of load on a shared
machine moves both sides of a pair. Nothing here is a timed test; the test
suite only runs ``--quick`` to keep the script working.

Cases:
1. The book's chapter 10 step: spiral_data(100, 3), Dense(2, 64) → ReLU →
   Dense(64, 3) → Softmax + cross-entropy, Adam(0.05, decay=5e-7), full batch,
   float32, numpy's own matmul. Reference: book-style hand-written numpy
   (``benchmarks/book_numpy.py``). The Model API's row is per epoch of
   ``Model.train(epochs=10)`` (which also computes the accuracy every epoch, as
   the book's Model does) against the low-level step; ``train(epochs=1)`` per
   call, with its checks of the data and set-up, is shown beside it.
2. A 784-512-512-10 MLP, batch 1024, random data, same step. Reference: raw
   preallocated numpy (``benchmarks/raw_numpy.py``).
3. Per-node overhead: a chain of 1,000 elementwise primitives on a (1, 1)
   array, forward and forward+backward, µs per forward node.
4. Building and compiling chains of 1,000, 4,000 and 16,000 nodes.
5. Peak memory (tracemalloc, which sees numpy's allocations) of case 2's
   training step against raw numpy's.
6. The chapter examples (``examples/ch*.py``: 10, 11, 14, 15, 16, 17 and the
   Model API runs of 18 and 22) against the book's own code for the same run
   (``benchmarks/book_chapters.py``), each a whole process (start-up, data,
   training, printing), with fewer epochs than the book's where its run is long
   (GRAPHNN_EPOCHS; chapter 22's 50 epochs are run whole); the two alternate
   which runs first, and a ratio is the median over rounds.
7. Start-up: ``import graphnn`` and ``graphnn --help`` in fresh processes.

BLAS runs on one thread (``--blas-threads``, through threadpoolctl when it is
installed): on a shared 2-core machine, OpenBLAS's second thread waits for a
core other processes hold, and a 0.07 ms matmul took 47 ms. Case 2 is also
run with BLAS's default thread count, for information.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import graphnn as gn
from benchmarks import book_numpy, others
from benchmarks.raw_numpy import RawMLP

TARGETS = {
    "case 1": "graphnn step ≤ 0.50× book-style numpy",
    "case 1, Model API": "Model.train per epoch ≤ 1.05× the low-level loop's step",
    "case 2": "graphnn step ≤ 1.03× raw preallocated numpy",
    "case 3": "≤ 1.0 µs/node forward, ≤ 2.0 µs per forward node forward+backward",
    "case 4": "16k nodes ≤ 16.5× the time of 1k, and < 2 s",
    "case 5": "peak memory ≤ 1.1× raw numpy",
    "case 6": "every chapter's whole process ≤ 0.80× the book's own code",
    "case 7": "import graphnn ≤ 0.35 s; graphnn --help < 0.5 s",
}


# ---------------------------------------------------------------- timing

def interleaved(steps: dict[str, Callable], rounds: int, inner: int, warmup: int = 3) -> dict:
    """Seconds per call of each step, one sample per round, in rotating order."""
    for f in steps.values():
        for _ in range(warmup):
            f()
    names = list(steps)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            f = steps[name]
            start = time.perf_counter()
            for _ in range(inner):
                f()
            samples[name].append((time.perf_counter() - start) / inner)
    return samples


def paired_ratio(samples: dict, name: str, reference: str) -> float:
    return statistics.median(a / b for a, b in zip(samples[name], samples[reference]))


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def print_table(title: str, samples: dict, reference: str, unit_scale: float = 1.0, unit: str = "µs/step"):
    width = max(44, *map(len, samples))
    print(f"\n{title}")
    print(f"  {'implementation':<{width}} {unit:>12}  {'× ' + reference.split(',')[0]:>14}")
    for name in samples:
        ratio = paired_ratio(samples, name, reference)
        print(f"  {name:<{width}} {median_us(samples[name]) * unit_scale:>12.1f}  {ratio:>13.2f}×")


# ---------------------------------------------------------------- implementations

def graphnn_mlp(X, y, weights, optimize=True):
    """graphnn at the low level: layers, gn.grad, a Graph, gn.Adam; returns step()."""
    inputs, labels = gn.Input("X", shape=(None, X.shape[1]), dtype=X.dtype), gn.Input("y")
    h, params = inputs, []
    for i, (w, b) in enumerate(weights):
        dense = gn.Dense(*w.shape)
        dense.weights.value, dense.biases.value = w.copy(), b.copy()
        params += [dense.weights, dense.biases]
        h = dense(h)
        if i + 1 < len(weights):
            h = gn.ReLU()(h)
    loss = gn.CategoricalCrossEntropy()(gn.Softmax()(h), labels)
    grads = gn.grad(loss, params)
    graph = gn.Graph([loss, *grads], optimize=optimize)
    optimizer = gn.Adam(learning_rate=0.05, decay=5e-7)
    feeds = {inputs: X, labels: y}

    def step():
        values = graph.run(feeds, keep="fetched")
        optimizer.step(params, [values[g] for g in grads])
        return float(values[loss])

    return step


def model_api_step(X, y, weights, epochs=1):
    """graphnn's Model API, ``epochs`` full-batch epochs per call, output quiet."""
    model = gn.Model()
    for i, (w, b) in enumerate(weights):
        dense = gn.Dense(*w.shape)
        dense.weights.value, dense.biases.value = w.copy(), b.copy()
        model.add(dense)
        model.add(gn.ReLU() if i + 1 < len(weights) else gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05, decay=5e-7),
              accuracy=gn.CategoricalAccuracy())
    model.finalize()
    quiet = _quiet_options(model)  # once: inspect.signature costs more than a tenth of a step

    def step():
        model.train(X, y, epochs=epochs, print_every=10 ** 9, **quiet)
        return float("nan")

    return step


def _quiet_options(model) -> dict:
    import inspect
    accepted = inspect.signature(model.train).parameters
    return {k: v for k, v in {"verbose": False, "progress": False, "quiet": True}.items() if k in accepted}


def book_numpy_step(X, y, weights):
    """The book's classes, as a learner writes them (benchmarks/book_numpy.py)."""
    layers = []
    for w, b in weights:
        dense = book_numpy.Layer_Dense(*w.shape)
        dense.weights, dense.biases = w.copy(), b.copy()
        layers.append(dense)
    relus = [book_numpy.Activation_ReLU() for _ in layers[:-1]]
    head = book_numpy.Activation_Softmax_Loss_CategoricalCrossentropy()
    optimizer = book_numpy.Optimizer_Adam(learning_rate=0.05, decay=5e-7)

    def step():
        a = X
        for dense, relu in zip(layers, relus + [None]):
            dense.forward(a)
            a = dense.output
            if relu is not None:
                relu.forward(a)
                a = relu.output
        loss = head.forward(a, y)
        head.backward(head.output, y)
        d = head.dinputs
        for dense, relu in reversed(list(zip(layers, relus + [None]))):
            if relu is not None:
                relu.backward(d)
                d = relu.dinputs
            dense.backward(d)
            d = dense.dinputs
        optimizer.pre_update_params()
        for dense in layers:
            optimizer.update_params(dense)
        optimizer.post_update_params()
        return float(loss)

    return step


def raw_numpy_step(X, y, weights):
    sizes = [weights[0][0].shape[0]] + [w.shape[1] for w, _ in weights]
    net = RawMLP(sizes, weights, batch=len(X))
    return lambda: net.step(X, y)


OTHER_MLP = {"PyTorch eager (1 thread)": others.torch_mlp_step, "HIPS autograd": others.autograd_mlp_step,
             "MyGrad": others.mygrad_mlp_step}
OTHER_CHAIN = {"PyTorch eager (1 thread)": others.torch_chain, "HIPS autograd": others.autograd_chain,
               "MyGrad": others.mygrad_chain}


def _optional(makers: dict, *args) -> dict:
    made = {}
    for name, make in makers.items():
        try:
            made[name] = make(*args)
        except ImportError as error:
            print(f"  ({name} skipped: {error.name or error} not installed)")
    return made


def _same_start(steps: dict, reference: str, rtol: float = 2e-4) -> None:
    """Every implementation's first loss agrees: they train the same network."""
    losses = {name: f() for name, f in steps.items()}
    ref = losses[reference]
    for name, loss in losses.items():
        if not np.isnan(loss) and not np.isclose(loss, ref, rtol=rtol):
            raise RuntimeError(f"{name}: first loss {loss} differs from {reference}'s {ref}")


def mlp_weights(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [((0.01 * rng.standard_normal((a, b))).astype(np.float32), np.zeros((1, b), np.float32))
            for a, b in zip(sizes[:-1], sizes[1:])]


# ---------------------------------------------------------------- cases

def case1(quick: bool, results: dict) -> None:
    from nnfs.datasets import spiral_data
    np.random.seed(0)
    X, y = spiral_data(samples=100, classes=3)
    X = X.astype(np.float32)
    weights = mlp_weights((2, 64, 3))
    ref = "numpy, book-style"
    steps = {
        ref: book_numpy_step(X, y, weights),
        "numpy, preallocated in place": raw_numpy_step(X, y, weights),
        "graphnn, graph + gn.grad + gn.Adam": graphnn_mlp(X, y, weights),
        "graphnn, same, optimize=False": graphnn_mlp(X, y, weights, optimize=False),
    }
    model, per_call = "graphnn, Model API, per epoch of train(epochs=10)", "graphnn, Model API, train(epochs=1)"
    steps[model] = model_api_step(X, y, weights, epochs=10)
    steps[per_call] = model_api_step(X, y, weights)
    steps.update(_optional(OTHER_MLP, X, y, weights))
    _same_start(steps, ref)
    samples = interleaved(steps, rounds=3 if quick else 40, inner=3 if quick else 40)
    samples[model] = [s / 10 for s in samples[model]]
    print_table("case 1: chapter 10 training step (300 × 2 → 64 → 3, Adam, float32)", samples, ref)
    ratio = paired_ratio(samples, "graphnn, graph + gn.grad + gn.Adam", ref)
    overhead = paired_ratio(samples, model, "graphnn, graph + gn.grad + gn.Adam")
    print(f"  the Model API's epoch takes {overhead:.3f}× the low-level loop's step (train(epochs=1) per call: "
          f"{paired_ratio(samples, per_call, 'graphnn, graph + gn.grad + gn.Adam'):.3f}×, its checks and set-up "
          f"included)")
    results["case 1, Model API"] = (overhead <= 1.05, f"{overhead:.3f}× the low-level step "
                                    f"({median_us(samples[model]):.0f} µs per epoch)")
    results["case 1"] = (ratio <= 0.50, f"{ratio:.2f}× book-style numpy "
                                        f"({median_us(samples['graphnn, graph + gn.grad + gn.Adam']):.0f} µs "
                                        f"vs {median_us(samples[ref]):.0f} µs)")
    torch = "PyTorch eager (1 thread)"
    if torch in samples:
        print(f"  graphnn's step is {paired_ratio(samples, torch, 'graphnn, graph + gn.grad + gn.Adam'):.2f}×"
              f" faster than PyTorch eager's")


def case2_setup(quick: bool):
    sizes = (784, 64, 64, 10) if quick else (784, 512, 512, 10)
    batch = 64 if quick else 1024
    rng = np.random.default_rng(1)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return sizes, X, y, mlp_weights(sizes, seed=2)


def case2(quick: bool, results: dict) -> None:
    _case2(quick, results, "case 2")
    default = _blas_default_threads()
    if default and default > 1:
        with blas_threads(default):
            _case2(quick, {}, f"case 2 again, BLAS on {default} threads (information only)")


def _case2(quick: bool, results: dict, label: str) -> None:
    sizes, X, y, weights = case2_setup(quick)
    ref = "numpy, raw preallocated"
    steps = {
        ref: raw_numpy_step(X, y, weights),
        "graphnn, graph + gn.grad + gn.Adam": graphnn_mlp(X, y, weights),
        "graphnn, same, optimize=False": graphnn_mlp(X, y, weights, optimize=False),
        "numpy, book-style": book_numpy_step(X, y, weights),
    }
    steps.update(_optional({"PyTorch eager (1 thread)": others.torch_mlp_step}, X, y, weights))
    _same_start(steps, ref)
    samples = interleaved(steps, rounds=2 if quick else 15, inner=1, warmup=1 if quick else 2)
    print_table(f"{label}: MLP {'-'.join(map(str, sizes))}, batch {len(X)}, training step (float32)",
                samples, ref, unit_scale=1e-3, unit="ms/step")
    ratio = paired_ratio(samples, "graphnn, graph + gn.grad + gn.Adam", ref)
    results[label] = (ratio <= 1.03, f"{ratio:.3f}× raw numpy "
                                        f"({median_us(samples['graphnn, graph + gn.grad + gn.Adam']) / 1e3:.1f} ms "
                                        f"vs {median_us(samples[ref]) / 1e3:.1f} ms)")


def chain(n: int):
    """x (1, 1) float32 through n elementwise primitives: * 0.9, + 0.1, exp, log, neg, ..."""
    x = gn.Input("x", shape=(1, 1), dtype="float32")
    h = x
    cycle = (lambda v: v * 0.9, lambda v: v + 0.1, gn.exp, gn.log, gn.neg)
    for i in range(n):
        h = cycle[i % 5](h)
    return x, h


def case3(quick: bool, results: dict) -> None:
    n = 100 if quick else 1000
    x0 = np.full((1, 1), 0.3, np.float32)
    x, h = chain(n)
    forward = gn.Graph([h])
    seed = gn.Constant(np.ones((1, 1), np.float32))
    dx = gn.grad(h, x, upstream=seed)
    both = gn.Graph([h, dx])
    feeds = {x: x0}
    numpy_ops = [(np.multiply, 0.9), (np.add, 0.1), (np.exp,), (np.log,), (np.negative,)]
    numpy_chain = [numpy_ops[i % 5] for i in range(n)]

    def numpy_forward():
        v = x0
        for f, *c in numpy_chain:
            v = f(v, *c)
        return v

    fwd = {
        "numpy: a Python loop over the same ufuncs": numpy_forward,
        "graphnn, keep='fetched'": lambda: forward.run(feeds, keep="fetched"),
        "graphnn, keep='all' (every value returned)": lambda: forward.run(feeds),
        "graphnn, keep='fetched', optimize=False": lambda: forward.run(feeds, keep="fetched", optimize=False),
    }
    bwd = {
        "graphnn, keep='fetched'": lambda: both.run(feeds, keep="fetched"),
        "graphnn, keep='all' (every value returned)": lambda: both.run(feeds),
        "graphnn, keep='fetched', optimize=False": lambda: both.run(feeds, keep="fetched", optimize=False),
    }
    for name, (f, fb) in _optional(OTHER_CHAIN, n, x0).items():
        fwd[name], bwd[name] = f, fb
    rounds, inner = (3, 2) if quick else (25, 10)
    fs = interleaved(fwd, rounds, inner)
    bs = interleaved(bwd, rounds, max(1, inner // 2))
    print(f"\ncase 3: per-node overhead, a chain of {n} elementwise primitives on a (1, 1) array")
    print(f"  {'implementation':<44} {'forward':>12}  {'fwd+bwd':>12}   (µs per forward node)")
    for name in fwd:
        back = f"{median_us(bs[name]) / n:>12.2f}" if name in bs else f"{'':>12}"
        print(f"  {name:<44} {median_us(fs[name]) / n:>12.2f}  {back}")
    f_us = median_us(fs["graphnn, keep='fetched'"]) / n
    b_us = median_us(bs["graphnn, keep='fetched'"]) / n
    fa_us = median_us(fs["graphnn, keep='all' (every value returned)"]) / n
    ba_us = median_us(bs["graphnn, keep='all' (every value returned)"]) / n
    results["case 3"] = (f_us <= 1.0 and b_us <= 2.0,
                         f"{f_us:.2f} µs/node forward, {b_us:.2f} µs/node fwd+bwd (keep='fetched'); "
                         f"{fa_us:.2f} / {ba_us:.2f} with keep='all'")


def case4(quick: bool, results: dict) -> None:
    """Growth of the time to build and compile a chain: after a warm-up, each round runs every size (in
    turn ascending and descending), and each size's best round counts (another process on the machine
    only ever adds time)."""
    sizes = (100, 200, 400) if quick else (1000, 4000, 16000)
    rounds = 1 if quick else 3
    print(f"\ncase 4: build and compile a chain (nodes → Graph → first run, which specialises and compiles),"
          f" best of {rounds} rounds")
    print(f"  {'nodes':>7} {'build s':>9} {'Graph s':>9} {'1st run s':>10} {'total s':>9} {'µs/node':>9}"
          f" {'+grad total s':>14}")
    x0 = np.full((1, 1), 0.3, np.float32)
    rows: dict[int, list] = {n: [] for n in sizes}
    x, h = chain(sizes[0])  # warm-up: the first run of any graph pays for code paths run once
    gn.Graph([h]).run({x: x0})
    gn.reset_names()
    for r in range(rounds):
        for n in sizes if r % 2 == 0 else sizes[::-1]:
            gc.collect()
            t0 = time.perf_counter()
            x, h = chain(n)
            t1 = time.perf_counter()
            graph = gn.Graph([h])
            t2 = time.perf_counter()
            graph.run({x: x0})
            t3 = time.perf_counter()
            dx = gn.grad(h, x, upstream=gn.Constant(np.ones((1, 1), np.float32)))
            gn.Graph([h, dx]).run({x: x0}, keep="fetched")
            t4 = time.perf_counter()
            rows[n].append((t1 - t0, t2 - t1, t3 - t2, t3 - t0, t4 - t0))
            gn.reset_names()
    totals = {}
    for n in sizes:
        build, make, first, total, with_grad = min(rows[n], key=lambda row: row[3])
        totals[n] = total
        print(f"  {n:>7} {build:>9.3f} {make:>9.3f} {first:>10.3f} {total:>9.3f} {total / n * 1e6:>9.1f}"
              f" {with_grad:>14.3f}")
    small, mid, large = sizes
    growth = totals[large] / totals[small]
    per_round = ", ".join(f"{b[3] / a[3]:.1f}×" for a, b in zip(rows[small], rows[large]))
    print(f"  growth: {mid // small}× nodes → {totals[mid] / totals[small]:.1f}× time; "
          f"{large // small}× nodes → {growth:.1f}× time (round by round: {per_round})")
    results["case 4"] = (growth <= 16.5 and totals[large] < 2.0,
                         f"{large} nodes in {totals[large]:.2f} s, {growth:.1f}× the time of {small}")


def peak_bytes(make: Callable, steps: int) -> int:
    """Peak traced memory while building an implementation's step (after its
    construction garbage is gone) and running ``steps`` steps."""
    gc.collect()
    tracemalloc.start()
    try:
        step = make()
        gc.collect()
        tracemalloc.reset_peak()
        for _ in range(steps):
            step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def case5(quick: bool, results: dict) -> None:
    _, X, y, weights = case2_setup(quick)
    makers = {
        "numpy, raw preallocated": lambda: raw_numpy_step(X, y, weights),
        "graphnn, graph + gn.grad + gn.Adam": lambda: graphnn_mlp(X, y, weights),
        "graphnn, same, optimize=False": lambda: graphnn_mlp(X, y, weights, optimize=False),
        "numpy, book-style": lambda: book_numpy_step(X, y, weights),
    }
    peaks = {name: peak_bytes(make, 3) for name, make in makers.items()}
    ref = peaks["numpy, raw preallocated"]
    print("\ncase 5: peak memory of case 2's training step (tracemalloc; parameters, optimizer state,"
          " buffers and temporaries; the data excluded)")
    print(f"  {'implementation':<44} {'peak MB':>10}  {'× raw numpy':>12}")
    for name, peak in peaks.items():
        print(f"  {name:<44} {peak / 2 ** 20:>10.1f}  {peak / ref:>11.2f}×")
    ratio = peaks["graphnn, graph + gn.grad + gn.Adam"] / ref
    results["case 5"] = (ratio <= 1.1, f"{ratio:.3f}× raw numpy "
                                       f"({peaks['graphnn, graph + gn.grad + gn.Adam'] / 2 ** 20:.1f} MB "
                                       f"vs {ref / 2 ** 20:.1f} MB)")


ROOT = Path(__file__).resolve().parent.parent
# chapter -> (graphnn's example, epochs in a full run); the book's side is benchmarks/book_chapters.py
CHAPTERS = {"ch10": ("ch10_adam.py", 2001), "ch11": ("ch11_validation.py", 2001), "ch14": ("ch14_l2.py", 2001),
            "ch15": ("ch15_dropout.py", 501), "ch16": ("ch16_binary.py", 2001),
            "ch17": ("ch17_regression.py", 1001), "ch18": ("ch18_model.py", 2000), "ch22": ("ch22_model.py", 50)}


def _compiled() -> None:
    """Bytecode for graphnn, the examples and the book's code, as ``pip install`` writes it: a process
    started with PYTHONDONTWRITEBYTECODE and a checkout's stale caches would compile graphnn's modules
    at every start, which no installed copy does."""
    import compileall
    for folder in ("graphnn", "examples", "benchmarks"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def _process_seconds(argv: list[str], epochs: int) -> float:
    """Wall time of one whole process (start, imports, data, training, printing), output discarded."""
    import subprocess
    env = {**os.environ, "GRAPHNN_EPOCHS": str(epochs), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def case6(quick: bool, results: dict) -> None:
    """Each chapter example against the book's own code for the same run, as whole processes."""
    rounds = 1 if quick else 5
    _compiled()
    print(f"\ncase 6: chapter examples against the book's code, whole processes (median of {rounds} paired"
          f" rounds, alternating which runs first; BLAS on one thread)")
    print(f"  {'chapter':<8} {'epochs':>7} {'graphnn s':>10} {'book s':>8} {'ratio':>7}")
    worst = []
    for chapter, (example, epochs) in CHAPTERS.items():
        epochs = (3 if chapter == "ch22" else 21) if quick else epochs
        ours, book, ratios = [], [], []
        for r in range(rounds):
            runs = [("g", ["examples/" + example]), ("b", ["-m", "benchmarks.book_chapters", chapter[2:], str(epochs)])]
            timed = {}
            for side, argv in (runs if r % 2 == 0 else runs[::-1]):
                timed[side] = _process_seconds(argv, epochs)
            ours.append(timed["g"])
            book.append(timed["b"])
            ratios.append(timed["g"] / timed["b"])
        ratio = statistics.median(ratios)
        worst.append((ratio, chapter))
        print(f"  {chapter:<8} {epochs:>7} {statistics.median(ours):>10.2f} {statistics.median(book):>8.2f}"
              f" {ratio:>6.2f}×")
    top = max(worst)
    results["case 6"] = (top[0] <= 0.80, "; ".join(f"{c} {r:.2f}×" for r, c in worst))


def case7(quick: bool, results: dict) -> None:
    """Start-up: ``import graphnn`` and ``graphnn --help``, fresh processes, best of several."""
    import subprocess
    rounds = 3 if quick else 9
    _compiled()

    def best(argv):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        return min(times), statistics.median(times)

    bare = best([sys.executable, "-c", "pass"])
    numpy_only = best([sys.executable, "-c", "import numpy"])
    ours = best([sys.executable, "-c", "import graphnn"])
    cli = best([sys.executable, "-m", "graphnn.cli", "--help"])
    print(f"\ncase 7: start-up, best / median of {rounds} fresh processes")
    for name, (low, mid) in (("python -c pass", bare), ("import numpy", numpy_only), ("import graphnn", ours),
                             ("graphnn --help", cli)):
        print(f"  {name:<44} {low:>8.3f} s {mid:>8.3f} s")
    results["case 7"] = (ours[0] <= 0.35 and cli[0] < 0.5,
                         f"import graphnn {ours[0]:.3f} s (numpy alone {numpy_only[0]:.3f} s), "
                         f"graphnn --help {cli[0]:.3f} s")


CASES = {1: case1, 2: case2, 3: case3, 4: case4, 5: case5, 6: case6, 7: case7}


_BLAS_DEFAULT: list = []


def _blas_default_threads() -> int | None:
    return _BLAS_DEFAULT[0] if _BLAS_DEFAULT else None


def blas_threads(n: int | None):
    """Limit numpy's BLAS to ``n`` threads (a no-op without threadpoolctl or with None)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas") if n else contextlib.nullcontext()


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS threads not controlled (pip install threadpoolctl)"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if infos and not _BLAS_DEFAULT:
        _BLAS_DEFAULT.append(infos[0].get("num_threads"))
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}, "
                     f"{i.get('num_threads')} threads" for i in infos)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = os.environ.get("OPENBLAS_CORETYPE")
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy {np.__version__}"
            f"{', OPENBLAS_CORETYPE=' + blas if blas else ''}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds: a smoke run")
    parser.add_argument("--cases", default="1,2,3,4,5,6,7", help="comma-separated case numbers")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for every case (0: BLAS's default); default 1")
    args = parser.parse_args(argv)
    print(f"graphnn benchmarks, {time.strftime('%Y-%m-%d')}: {machine()}")
    print(f"BLAS: {blas_info()}; running with {args.blas_threads or 'its default number of'} thread(s)")
    results: dict = {}
    with blas_threads(args.blas_threads or None):
        for number in (int(c) for c in args.cases.split(",")):
            CASES[number](args.quick, results)
            gn.reset_names()
    print("\ntargets")
    for case, (met, figure) in results.items():
        print(f"  {case}: {'met   ' if met else 'MISSED'} {figure}  [{TARGETS[case]}]")
    if args.quick:
        print("  (--quick: small sizes and few rounds; the figures say nothing about the targets)")
    return results


if __name__ == "__main__":
    main()
