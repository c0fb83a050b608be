"""Data-parallel training and inspection on a real dask.distributed LocalCluster (graphnn.interop.dask).

Two worker processes, one thread each. Models are float32 and without dropout,
so results can be compared with a single-process run.
"""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster, futures_of
from nnfs.datasets import spiral_data

import graphnn as gn
from graphnn.interop import dask as gnd
from graphnn.interop import dask_step
from graphnn.seeing.health import dead_fraction


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, memory_limit="1GiB")
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def spiral():
    """1,500 rows; as Dask arrays in 4 row chunks (400, 400, 400, 300)."""
    np.random.seed(1)
    X, y = spiral_data(samples=500, classes=3)
    X = X.astype(np.float32)
    return X, y, da.from_array(X, chunks=(400, 2)), da.from_array(y, chunks=400)


def build(optimizer, seed=0):
    """The spiral network, float32, L2 on the first layer (so the regularization gradient matters)."""
    np.random.seed(seed)
    model = gn.Model()
    model.add(gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4))
    model.add(gn.ReLU())
    model.add(gn.Dense(64, 3))
    model.add(gn.Softmax())
    for layer in model.layers:
        for param in layer.parameters().values():
            param.value = param.value.astype(np.float32)
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=optimizer, accuracy=gn.CategoricalAccuracy())
    model.finalize()
    model.out = lambda line: None
    return model


def relative_difference(a, b):
    return max(np.abs(p.value - q.value).max() for p, q in zip(a.params, b.params)) / \
        max(np.abs(p.value).max() for p in a.params)


def reset_counters(client):
    client.run(lambda: dask_step.TASKS.clear())


def test_first_gradient_equals_single_process(client, spiral):
    X, y, Xd, yd = spiral
    model = build(gn.SGD())
    values = model.graph.run({model.input: X, model.target: y})
    feeds = {model.input: Xd, model.target: yd}
    loss, grads = gnd.gradients(model.data_loss, model.params, feeds, regularization=model.regularization,
                                client=client)
    assert loss == pytest.approx(float(values[model.total_loss]), rel=1e-6)
    for g, local in zip(grads, (values[g] for g in model.grads)):
        assert g.dtype == np.float32 and g.shape == local.shape
        np.testing.assert_allclose(g, local, rtol=1e-4, atol=2e-6)
    # A mini-batch is a row range; rows 300:900 span three chunks.
    values = model.graph.run({model.input: X[300:900], model.target: y[300:900]})
    loss, grads = gnd.gradients(model.data_loss, model.params, feeds, regularization=model.regularization,
                                rows=(300, 900), client=client)
    assert loss == pytest.approx(float(values[model.total_loss]), rel=1e-6)
    for g, local in zip(grads, (values[g] for g in model.grads)):
        np.testing.assert_allclose(g, local, rtol=1e-4, atol=2e-6)


def test_sgd_momentum_matches_single_process(client, spiral):
    X, y, Xd, yd = spiral
    local, remote = (build(gn.SGD(learning_rate=1.0, decay=1e-3, momentum=0.9)) for _ in range(2))
    h1 = local.train(X, y, epochs=30)
    h2 = remote.train(Xd, yd, epochs=30, client=client)
    assert relative_difference(local, remote) < 1e-2
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-3)
    assert remote.optimizer.iterations == 30
    # Mini-batches: the same steps, each a row range across chunks; then validation on the workers.
    h1 = local.train(X, y, epochs=1, batch_size=512, validation_data=(X, y))
    h2 = remote.train(Xd, yd, epochs=1, batch_size=512, validation_data=(Xd, yd), client=client)
    assert relative_difference(local, remote) < 1e-2
    assert h2["validation"]["loss"] == pytest.approx(h1["validation"]["loss"], rel=1e-2)
    assert remote.evaluate(Xd, yd, client=client)["loss"] == pytest.approx(
        remote.evaluate(X, y)["loss"], rel=1e-6)
    predictions = remote.predict(Xd, client=client)
    assert isinstance(predictions, da.Array) and predictions.chunks[0] == Xd.chunks[0]
    np.testing.assert_allclose(client.compute(predictions).result(), remote.predict(X), rtol=1e-6, atol=1e-7)


def test_work_runs_on_the_workers_and_data_stays_there(client):
    # Data generated on the workers (dask's random arrays, 8 chunks); the client never computes X.
    rng = da.random.default_rng(0)
    Xd = rng.standard_normal((4000, 2), chunks=(500, 2), dtype=np.float32)
    first, second = sorted(client.scheduler_info()["workers"])  # half the rows on each, whatever the load
    Xd = da.concatenate([client.persist(Xd[:2000], workers=first), client.persist(Xd[2000:], workers=second)])
    yd = ((Xd[:, 0] > 0).astype(np.int64) + (Xd[:, 1] > 0.5)).astype(np.int64)
    yd = client.persist(yd)  # Xd itself stays the two persisted halves (persisting the concatenation
    #                          would make new keys the scheduler may gather on one worker)
    model = build(gn.SGD(learning_rate=1.0, momentum=0.5))
    reset_counters(client)
    model.train(Xd, yd, epochs=3, client=client)
    counts = client.run(lambda: dict(dask_step.TASKS))
    assert all(c.get("grad", 0) > 0 for c in counts.values()), counts  # both workers computed gradients
    assert sum(c.get("grad", 0) for c in counts.values()) == 3 * 8
    held = client.has_what()
    keys = {f.key for f in futures_of(Xd)}
    assert len(keys) == 8
    portions = [keys & set(h) for h in held.values()]
    assert all(0 < len(p) < len(keys) for p in portions), portions  # no worker holds all of X

    # Whole-data-set statistics, merged on the client, equal the in-memory ones.
    stats = gnd.node_stats(model.inference_graph, {model.input: Xd}, nodes=["relu1/maximum", "dense2/add_bias"],
                           bins=16, client=client)
    X = client.compute(Xd).result()  # only to compare here
    values = model.inference_graph.run({model.input: X}, fetch=["relu1/maximum", "dense2/add_bias"])
    for name, merged in stats.items():
        expected = gn.stats(values[name])
        for field in ("shape", "dtype", "size", "min", "max", "zeros", "nans", "infs"):
            assert getattr(merged.stats, field) == getattr(expected, field), (name, field)
        for field in ("mean", "std", "norm"):
            assert getattr(merged.stats, field) == pytest.approx(getattr(expected, field), rel=1e-9)
        np.testing.assert_array_equal(merged.counts, np.histogram(values[name], bins=merged.edges)[0])
        assert merged.edges[0] == expected.min and merged.edges[-1] == expected.max
        assert merged.dead_fraction == dead_fraction(values[name])
    edges = np.linspace(-1, 1, 9)
    fixed = gnd.node_stats(model.inference_graph, {"X": Xd}, nodes=["dense2/add_bias"], bins=edges, client=client)
    np.testing.assert_array_equal(fixed["dense2/add_bias"].counts,
                                  np.histogram(values["dense2/add_bias"], bins=edges)[0])


def test_a_lost_worker_costs_time_not_correctness(client, spiral):
    X, y, Xd, yd = spiral

    def run(kill_at=None):
        model = build(gn.SGD(learning_rate=1.0, decay=1e-3, momentum=0.9))
        step = gnd.DistributedStep(model.data_loss, model.params, [model.input, model.target],
                                   regularization=model.regularization, client=client)
        pids = client.run(os.getpid)
        for k in range(8):
            if k == kill_at:  # kill a worker process while this step's tasks run; its nanny restarts it
                victim = sorted(pids.values())[0]
                threading.Timer(0.05, os.kill, (victim, signal.SIGKILL)).start()
            model.optimizer.step(model.params, step.gradients([Xd, yd]).grads)
        return model, pids

    undisturbed, _ = run()
    disturbed, before = run(kill_at=3)
    client.wait_for_workers(2, timeout=60)
    after = client.run(os.getpid)
    assert set(after.values()) != set(before.values())  # a new worker process replaced the killed one
    for p, q in zip(undisturbed.params, disturbed.params):
        np.testing.assert_array_equal(p.value, q.value)  # the chunks are summed in a fixed order
    # The new worker rebuilds its cached graph when it first gets work.
    reset_counters(client)
    step = gnd.DistributedStep(disturbed.data_loss, disturbed.params, [disturbed.input, disturbed.target],
                               client=client)
    step.gradients([da.from_array(X, chunks=(100, 2)), da.from_array(y, chunks=100)])
    assert all(c.get("grad", 0) > 0 for c in client.run(lambda: dict(dask_step.TASKS)).values())


def test_default_client_and_errors(client, spiral):
    X, y, Xd, yd = spiral
    model = build(gn.SGD())
    with pytest.raises(gn.GraphError, match="no dask.distributed client"):
        model.train(Xd, yd)
    with client.as_current():
        history = model.train(Xd, yd, epochs=2)  # the current client, found by distributed.get_client()
    assert len(history["loss"]) == 2
    with pytest.raises(gn.GraphError, match="chunked along its columns"):
        model.train(da.from_array(X, chunks=(400, 1)), yd, client=client)
    with pytest.raises(gn.GraphError, match="client= is for Dask arrays"):
        model.train(X, y, client=client)
    with pytest.raises(gn.GraphError, match="class labels must lie in"):
        model.train(Xd, yd + 5, client=client)
    with pytest.raises(gn.GraphError, match=r"X must have shape \(N, 2\)"):
        model.evaluate(da.zeros((10, 3), chunks=5, dtype=np.float32), yd[:10], client=client)


def test_the_example_trains_on_its_own_cluster_and_matches_one_process():
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "GRAPHNN_EPOCHS": "8", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, str(root / "examples" / "dask_training.py")], env=env, cwd=root,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    difference = float(out.split("largest weight difference: ")[1].split(" (")[1].split(" of")[0])
    assert difference < 1e-2  # SGD with momentum, 8 steps: float32 rounding apart
    assert "dead neurons (0 for every row):" in out and "validation, acc: " in out
