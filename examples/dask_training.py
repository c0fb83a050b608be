"""Data-parallel training on Dask: the spiral model trained from a Dask array (needs graphnn[dask]).

Starts a LocalCluster of two worker processes on 127.0.0.1, trains the
chapter 14 network (float32, L2 5e-4, SGD with momentum) on spiral_data(1000, 3)
held as a Dask array of 4 row chunks, and trains the same network in this
process for comparison. Prints both times, the largest weight difference
(relative to the largest weight), the validation line, and the statistics of
relu1's output over the whole data set, merged from the chunks on the workers.
Set GRAPHNN_EPOCHS to run fewer epochs (default 100).

On a real cluster only the scheduler address changes:
``client = Client("tcp://scheduler-host:8786")`` instead of the LocalCluster;
the data would come from storage the workers read (``dask.array.from_zarr``,
``from_npy_stack`` ...), never through this process.
"""
import os
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from nnfs.datasets import spiral_data

import graphnn as gn
from graphnn.interop import dask as gnd
from graphnn.seeing.stats import percent

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "100"))


def spiral_model() -> gn.Model:
    gn.reset_names()  # both models name their nodes dense1, relu1 ...
    np.random.seed(0)
    model = gn.Model()
    model.add(gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4))
    model.add(gn.ReLU())
    model.add(gn.Dense(64, 3))
    model.add(gn.Softmax())
    for layer in model.layers:  # float32 parameters, as the book has them after nnfs.init()
        for param in layer.parameters().values():
            param.value = param.value.astype(np.float32)
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.SGD(learning_rate=1.0, decay=1e-3, momentum=0.9),
              accuracy=gn.CategoricalAccuracy())
    model.finalize()
    return model


if __name__ == "__main__":  # worker processes import this file too; start the cluster only once
    np.random.seed(1)
    X, y = spiral_data(samples=1000, classes=3)
    X = X.astype(np.float32)

    # On a real cluster: client = Client("tcp://scheduler-host:8786"); nothing else changes.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        X_dask = da.from_array(X, chunks=(750, 2))   # 4 row chunks; one chunk across the columns
        y_dask = da.from_array(y, chunks=750)

        local, remote = spiral_model(), spiral_model()
        start = time.perf_counter()
        local.train(X, y, epochs=EPOCHS, verbose=False)
        local_time = time.perf_counter() - start
        start = time.perf_counter()
        remote.train(X_dask, y_dask, epochs=EPOCHS, print_every=max(1, EPOCHS // 4))  # runs on the workers
        dask_time = time.perf_counter() - start

        largest = max(np.abs(p.value).max() for p in local.params)
        difference = max(np.abs(p.value - q.value).max() for p, q in zip(local.params, remote.params))
        print(f"{EPOCHS} epochs: single process {local_time:.2f} s, Dask (2 workers) {dask_time:.2f} s")
        print(f"largest weight difference: {difference:.3g} ({difference / largest:.2e} of the largest weight)")
        remote.evaluate(X_dask, y_dask)

        stats = gnd.node_stats(remote.inference_graph, {remote.input: X_dask}, nodes=["relu1/maximum"], bins=10)
        relu1 = stats["relu1/maximum"]
        print(f"relu1 over all {relu1.stats.shape[0]} rows: {relu1.stats.line()}, std {relu1.stats.std:.4g}, "
              f"zeros {percent(relu1.stats.zeros)}, norm {relu1.stats.norm:.4g}")
        dead, total = relu1.dead_fraction
        print(f"dead neurons (0 for every row): {dead} of {total}")
        print("histogram:", " ".join(f"[{a:.2f}, {b:.2f}): {n}" for a, b, n in
                                     zip(relu1.edges[:-1], relu1.edges[1:], relu1.counts)))
