"""Data-parallel steps and statistics on a ``dask.distributed`` cluster (the Model's use: :mod:`graphnn.interop.dask`).

Feed Dask arrays chunked by rows (``X (N, features)`` with one chunk across the
columns, ``y (N,)`` or ``(N, K)``) and the work runs on the workers of the
current client (``distributed.get_client()``) or of ``client=``:

>>> from distributed import Client
>>> client = Client("tcp://scheduler:8786")          # or Client(LocalCluster(...))
>>> X = dask.array.from_zarr(...)                     # (N, 2) float32, chunks (50_000, 2)
>>> model.train(X, y, epochs=30)                      # Model.train/evaluate/predict dispatch here
>>> loss, grads = gn.dask.gradients(model.data_loss, model.params, {model.input: X, model.target: y},
...                                 regularization=model.regularization)
>>> gn.dask.node_stats(model.inference_graph, {model.input: X}, nodes=["relu1/maximum"])

How a step runs:

- The graph is shipped once per worker: the client pickles the nodes needed (the
  loss, the output, the gradient nodes it built with :func:`graphnn.grad`) into one
  blob held as a Dask task; a worker unpickles it on first use and caches the result
  per process and thread, keyed by a random token. A worker that joins later (or
  is restarted after a crash) finds its cache empty and rebuilds it from the blob.
- Each step the client sends only the parameter arrays (``client.scatter``); the workers share them.
- Each worker runs the graph on its row chunks (or the part of a chunk inside a
  mini-batch's row range) and returns ``g_chunk * rows_chunk / rows_batch`` in
  float64: graphnn's losses are means over the batch (the book's joint
  softmax-CCE gradient divides by the chunk's N), so this weighted sum is the
  full-batch gradient. The client adds the chunks in a fixed order (the result
  does not depend on which worker ran what), casts to the parameters' dtype, adds
  the regularization gradient once (computed on the client, never per chunk) and
  steps the optimizer.
- A worker lost mid-step costs time only: Dask reruns its tasks elsewhere and
  recomputes the data chunks it held from their graph; the step's sum is the same.

Dropout draws its masks with numpy's random generator on each worker, so a
network with dropout trains with different masks than a single process does
(same distribution, different numbers); exact comparisons need networks without
dropout. Likewise ``nnfs.init()`` patches ``np.dot`` only in the process that
calls it: workers multiply with numpy's own ``np.dot``.

Results agree with a single process to float32 rounding: the first step's
gradient within about 2e-7 (the chunk sums are float64, so they are, if anything,
closer to a float64 run). Over 30 full-batch steps of the spiral network, SGD
with momentum ends within 5e-4 of the largest weight; Adam, which divides by the
root of tiny squared gradients, drifts by ~1e-1 -- as much as a float32
single-process run drifts from a float64 one.
"""

from __future__ import annotations

import collections
import math
import pickle
import threading
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

try:
    import dask.array as da
    import distributed
    from dask.core import flatten
except ImportError as error:  # pragma: no cover - the extra is not installed
    raise ImportError("graphnn.interop.dask needs dask[distributed]: pip install 'graphnn[dask]'") from error

from graphnn.autodiff.grad import grad
from graphnn.core.errors import GraphError
from graphnn.core.node import Node, format_shape
from graphnn.graph import Graph

__all__ = ["DistributedStep", "StepResult", "get_client", "gradients", "is_dask"]


def is_dask(value) -> bool:
    """Whether ``value`` is a Dask array (checked without importing anything)."""
    return type(value).__module__.startswith("dask.")


def get_client(client=None) -> distributed.Client:
    """``client``, or the current default client; a clear GraphError when there is none."""
    if client is not None:
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise GraphError("graphnn.dask: no dask.distributed client; start one (distributed.Client(...)) "
                         "or pass client=") from None


# ---------------------------------------------------------------- data: row chunks held on the workers

class _Data:
    """Row-aligned arrays persisted on the cluster: ``chunks[k][i]`` is array k's i-th row chunk (a Future)."""

    def __init__(self, client, arrays: Sequence, names: Sequence[str]):
        arrays = [_as_dask(a) for a in arrays]
        first = arrays[0]
        for a, name in zip(arrays, names):
            if any(math.isnan(c) for c in a.chunks[0]):
                raise GraphError(f"graphnn.dask: {name} has unknown chunk sizes; call .compute_chunk_sizes() "
                                 f"first")
            if any(len(c) != 1 for c in a.chunks[1:]):
                raise GraphError(f"graphnn.dask: {name} of shape {format_shape(a.shape)} is chunked along "
                                 f"its columns (chunks {a.chunks}); chunk it by rows only, e.g. "
                                 f"X.rechunk({{0: 'auto', 1: -1}})")
            if a.shape[0] != first.shape[0]:
                raise GraphError(f"graphnn.dask: {names[0]} has {first.shape[0]} rows but {name} has "
                                 f"{a.shape[0]}")
        self.sources = [a if a.chunks[0] == first.chunks[0] else a.rechunk({0: first.chunks[0]}) for a in arrays]
        self.persist(client)
        self.sizes = list(first.chunks[0])
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.rows = int(self.starts[-1])

    def persist(self, client) -> None:
        """Hold the row chunks on the workers (again, after a failure lost some: they are recomputed)."""
        persisted = client.persist(self.sources)
        self.chunks = []
        for a in persisted:
            by_key = {f.key: f for f in distributed.futures_of(a)}
            self.chunks.append([by_key[k] for k in flatten(a.__dask_keys__())])
        self.arrays = persisted

    def pieces(self, start: int, stop: int) -> list[tuple[int, int, int]]:
        """``(chunk, lo, hi)`` for every chunk that rows ``start:stop`` overlap, in row order."""
        out = []
        for i, (a, b) in enumerate(zip(self.starts[:-1], self.starts[1:])):
            lo, hi = max(start, a), min(stop, b)
            if lo < hi:
                out.append((i, int(lo - a), int(hi - a)))
        return out


def _as_dask(a):
    if is_dask(a):
        return a
    a = np.asarray(a)
    return da.from_array(a, chunks=(a.shape[0],) + a.shape[1:]) if a.ndim else a


# ---------------------------------------------------------------- the worker side

RETRIES = 3  # times a step is computed again when workers are lost
# What a lost worker can do to a step: its futures are cancelled, or its tasks die with it.
LOST = (distributed.client.FutureCancelledError, distributed.KilledWorker, distributed.comm.CommClosedError,
        OSError)
TASKS: collections.Counter = collections.Counter()  # chunk tasks this process ran, by kind (read by tests)
_RUNNERS: dict[tuple[str, int], _Runner] = {}


class _Runner:
    """The unpickled spec on a worker: inputs, params and groups of nodes, with one Graph per group."""

    def __init__(self, spec: dict):
        self.inputs, self.params, self.groups = spec["inputs"], spec["params"], spec["groups"]
        self.activation = spec.get("activation")
        self.graphs = {name: Graph([n for n in _group_nodes(g)]) for name, g in self.groups.items()}

    def run(self, group: str, params: Sequence[np.ndarray], chunks: Sequence, lo: int, hi: int):
        for p, a in zip(self.params, params):
            if p.value.shape == a.shape and p.value.dtype == a.dtype:
                np.copyto(p.value, a)
            else:
                p.value = np.array(a)
        feeds = {n: c[lo:hi] for n, c in zip(self.inputs, chunks)}
        return self.graphs[group].run(feeds, keep="fetched")


def _group_nodes(group: dict) -> list[Node]:
    nodes = []
    for value in group.values():
        nodes += value if isinstance(value, list) else [] if value is None else [value]
    return nodes


def _runner(token: str, blob: bytes) -> _Runner:
    key = (token, threading.get_ident())  # one copy per thread: a compiled plan reuses its buffers
    runner = _RUNNERS.get(key)
    if runner is None:
        while len(_RUNNERS) >= 16:  # forget the oldest graphs (each node_stats call ships its own)
            del _RUNNERS[next(iter(_RUNNERS))]
        runner = _RUNNERS[key] = _Runner(pickle.loads(blob))
    return runner


def _hold(blob: bytes) -> bytes:
    return blob


def _chunk_task(blob, token, kind, group, params, lo, hi, weight, extra, *chunks):
    """One chunk's share of a step (``kind`` "grad", "eval", "predict" or "stats")."""
    TASKS[kind] += 1
    runner = _runner(token, blob)
    values = runner.run(group, params, chunks, lo, hi)
    nodes, rows = runner.groups[group], hi - lo
    if kind == "predict":
        return values[nodes["output"]]
    if kind == "stats":
        return [_partial(values[n], n, rows, None if extra is None else extra[k])
                for k, n in enumerate(nodes["nodes"])]
    loss = np.asarray(values[nodes["loss"]], np.float64)
    out = {"loss": float(loss.sum() if loss.ndim else loss * rows), "rows": rows}
    if kind == "grad":
        out["grads"] = [np.asarray(values[g], np.float64) * weight for g in nodes["grads"]]
    if extra is not None:  # the accuracy: predictions compared with the target chunk
        predictions = runner.activation.predictions(values[nodes["output"]])
        comparisons = extra.compare(np.asarray(predictions), np.asarray(chunks[1][lo:hi]))
        out["correct"], out["count"] = float(np.sum(comparisons)), len(comparisons)
    return out


def _partial(value, node: Node, rows: int, edges) -> dict:
    """One chunk's mergeable statistics of a per-row value ``(rows, ...)``."""
    a = np.asarray(value)
    if a.ndim == 0 or a.shape[0] != rows:
        raise GraphError(f"graphnn.dask.node_stats: {node.name} has shape {format_shape(a.shape)}, not one "
                         f"row per data row; whole-data-set statistics need per-row nodes")
    x = a.astype(np.float64).ravel()
    finite = x[np.isfinite(x)]
    n = finite.size
    mean = float(finite.mean()) if n else 0.0
    return {"shape": a.shape[1:], "dtype": str(a.dtype), "size": x.size, "n": n, "mean": mean,
            "m2": float(np.square(finite - mean).sum()), "min": float(finite.min()) if n else math.inf,
            "max": float(finite.max()) if n else -math.inf, "zeros": int(np.count_nonzero(x == 0)),
            "nans": int(np.isnan(x).sum()), "infs": int(np.isinf(x).sum()), "sumsq": float(np.dot(finite, finite)),
            "alive": np.any(a != 0, axis=0),
            "hist": None if edges is None else np.histogram(finite, bins=edges)[0]}


# ---------------------------------------------------------------- the client side

@dataclass
class StepResult:
    """What one distributed step computed over ``rows`` data rows.

    ``loss``: the data loss (mean over the rows, float64) plus ``reg_loss``;
    ``grads``: one array per parameter, its shape and dtype (float32 stays float32);
    ``correct``/``count``: the accuracy's sums, when an accuracy was given.
    """

    loss: float
    data_loss: float
    reg_loss: float
    grads: list[np.ndarray]
    rows: int
    correct: float = 0.0
    count: int = 0


class DistributedStep:
    """The gradient of a mean-over-rows ``loss`` for ``params``, computed chunk by chunk on a cluster.

    ``inputs`` are the Input nodes fed by row-chunked arrays, in the order the
    arrays are given (``[X, y]``). ``regularization`` (a scalar node on
    parameters only) is computed once on the client and added; ``output`` and
    ``activation`` (a layer with ``predictions``) let a step count an accuracy;
    ``inference`` = ``(output, per-sample losses)`` is what :meth:`evaluate` and
    :meth:`predict` run (the Model's graph without dropout).

    >>> step = DistributedStep(loss, params, [X_in, y_in], client=client)
    >>> for _ in range(30):
    ...     result = step.gradients([X, y])               # full batch; rows=(0, 128) for a mini-batch
    ...     optimizer.step(params, result.grads)
    """

    def __init__(self, loss: Node, params: Sequence[Node], inputs: Sequence[Node], *,
                 regularization: Node | None = None, output: Node | None = None, activation=None,
                 inference: tuple[Node, Node] | None = None, client=None):
        if not isinstance(loss, Node) or loss.shape != ():
            raise GraphError(f"DistributedStep: loss must be a scalar node (a mean over rows), got {loss!r}")
        self.client = get_client(client)
        self.params, self.inputs = list(params), list(inputs)
        grads = grad(loss, self.params)
        groups = {"train": {"loss": loss, "output": output, "grads": grads}}
        if inference is not None:
            groups["infer"] = {"loss": inference[1], "output": inference[0]}
            groups["predict"] = {"output": inference[0]}
        self._spec(groups, activation)
        self._reg = None
        if regularization is not None:
            reg_grads = grad(regularization, self.params, allow_unused=True)
            self._reg = (regularization, reg_grads, Graph([regularization, *reg_grads]))
        self._data: dict[tuple, _Data] = {}

    def _spec(self, groups: dict, activation=None) -> None:
        for g in groups.values():
            Graph(_group_nodes(g))  # names every node here, so a worker never renames one
        self.groups = groups
        blob = pickle.dumps({"inputs": self.inputs, "params": self.params, "groups": groups,
                             "activation": activation}, protocol=pickle.HIGHEST_PROTOCOL)
        self.token = uuid.uuid4().hex
        self.blob = self.client.submit(_hold, blob, key=f"graphnn-spec-{self.token}")

    def data(self, arrays: Sequence) -> _Data:
        """``arrays`` persisted on the cluster as row chunks (cached by the Dask arrays' names)."""
        arrays = list(arrays)
        if len(arrays) > len(self.inputs):
            raise GraphError(f"graphnn.dask: {len(arrays)} arrays for {len(self.inputs)} inputs")
        arrays = [_as_dask(a) for a in arrays]
        key = tuple(a.name for a in arrays)
        if key not in self._data:
            if len(self._data) > 4:
                self._data.clear()
            self._data[key] = _Data(self.client, arrays, [n.name for n in self.inputs[:len(arrays)]])
        return self._data[key]

    def _submit(self, kind: str, group: str, data: _Data, start: int, stop: int, extra=None) -> list:
        # to one worker; the others fetch it (a broadcast would wait for a worker that just died)
        params = self.client.scatter([tuple(p.value.copy() for p in self.params)], hash=False, timeout=60)[0]
        total = stop - start
        return [self.client.submit(_chunk_task, self.blob, self.token, kind, group, params, lo, hi,
                                   (hi - lo) / total, extra, *(c[i] for c in data.chunks), pure=False)
                for i, lo, hi in data.pieces(start, stop)]

    def run(self, kind: str, group: str, data: _Data, start: int, stop: int, extra=None) -> list:
        """The chunk tasks' results; a step a lost worker broke is computed again (its data re-persisted)."""
        for attempt in range(RETRIES + 1):
            try:
                return self.client.gather(self._submit(kind, group, data, start, stop, extra))
            except LOST as error:
                if attempt == RETRIES:
                    raise GraphError(f"graphnn.dask: a step failed {RETRIES + 1} times as workers were lost "
                                     f"({type(error).__name__}: {error})") from None
                data.persist(self.client)

    def gradients(self, arrays, rows: tuple[int, int] | None = None, accuracy=None) -> StepResult:
        """The summed gradient over ``rows`` (a range ``(start, stop)``; default all rows) of ``arrays``.

        ``arrays``: the Dask (or numpy) arrays for ``inputs``, ``[X (N, features), y (N,) or (N, K)]``.
        ``accuracy``: a :class:`graphnn.Accuracy` to count correct predictions (needs ``output``).
        """
        data = arrays if isinstance(arrays, _Data) else self.data(arrays)
        start, stop = (0, data.rows) if rows is None else rows
        if not 0 <= start < stop <= data.rows:
            raise GraphError(f"graphnn.dask: rows {start}:{stop} outside the data's {data.rows} rows")
        results = self.run("grad", "train", data, start, stop, accuracy)
        grads = [np.sum([r["grads"][k] for r in results], axis=0) for k in range(len(self.params))]
        grads = [g.astype(p.value.dtype) for g, p in zip(grads, self.params)]
        reg_loss = 0.0
        if self._reg is not None:
            node, reg_grads, graph = self._reg
            values = graph.run({}, keep="fetched")
            reg_loss = float(values[node])
            grads = [g + values[r] for g, r in zip(grads, reg_grads)]
        data_loss = sum(r["loss"] for r in results) / (stop - start)
        return StepResult(data_loss + reg_loss, data_loss, reg_loss, grads, stop - start,
                          sum(r.get("correct", 0.0) for r in results), sum(r.get("count", 0) for r in results))

    def evaluate(self, arrays, accuracy=None) -> tuple[float, float, int]:
        """``(loss sum, correct, count)`` of the inference graph over all rows of ``arrays``."""
        data = arrays if isinstance(arrays, _Data) else self.data(arrays)
        results = self.run("eval", "infer", data, 0, data.rows, accuracy)
        return (sum(r["loss"] for r in results), sum(r.get("correct", 0.0) for r in results),
                sum(r.get("count", 0) for r in results))

    def predict(self, X):
        """The inference output for ``X (N, features)``, as a Dask array chunked like X (held on the workers)."""
        data = self.data([X])
        out = self.groups["predict"]["output"]
        futures = self._submit("predict", "predict", data, 0, data.rows)
        # The output's dtype and row shape, from one row run here (a node's static dtype can be wider).
        probe = Graph([out]).run({self.inputs[0]: np.zeros((1,) + X.shape[1:], X.dtype)}, keep="fetched")[out]
        tail, dtype = probe.shape[1:], probe.dtype
        return da.concatenate([da.from_delayed(f, shape=(n,) + tail, dtype=dtype)
                               for f, n in zip(futures, data.sizes)])


def gradients(loss: Node, params: Sequence[Node], feeds: Mapping, *, regularization: Node | None = None,
              rows: tuple[int, int] | None = None, client=None) -> tuple[float, list[np.ndarray]]:
    """``(loss, grads)``: the full-batch (or ``rows=(start, stop)``) gradient, summed over row chunks.

    ``loss`` is a mean over rows (graphnn's losses are); ``feeds`` maps Input
    nodes to Dask arrays chunked by rows; ``regularization`` (optional) is added
    once. The shipped graph is cached per loss node and client, so calling this
    every step sends only the parameter arrays.
    """
    client = get_client(client)
    inputs = list(feeds)
    key = (tuple(params), tuple(inputs), regularization, id(client))
    cache = _STEPS.setdefault(loss, {})
    step = cache.get(key)
    if step is None:
        step = cache[key] = DistributedStep(loss, params, inputs, regularization=regularization, client=client)
    result = step.gradients([feeds[i] for i in inputs], rows)
    return result.loss, result.grads


_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
