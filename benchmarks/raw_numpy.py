"""Raw preallocated numpy: the book's arithmetic, written by hand as fast as numpy allows.

The reference for the BLAS-bound case of the benchmark (and an extra line in
the chapter 10 case). An MLP of Dense layers with ReLU between them and
Softmax + categorical cross-entropy on top, trained with Adam, where every
array is allocated once and every operation writes in place (``out=``). The
formulas and their order are the book's (and graphnn's): the joint
softmax/cross-entropy gradient ``(p - one_hot) / N``, ReLU's gradient passed
where the input is > 0, Adam with bias correction.
"""

from __future__ import annotations

import numpy as np


class RawMLP:
    """``sizes`` like ``(784, 512, 512, 10)``; ``weights`` a list of (W, b) to copy.

    >>> net = RawMLP((2, 64, 3), weights, batch=300)
    >>> loss = net.step(X, y)        # forward, loss, backward, Adam update
    """

    def __init__(self, sizes, weights, batch: int, learning_rate=0.05, decay=5e-7,
                 epsilon=1e-7, beta_1=0.9, beta_2=0.999, dtype=np.float32):
        self.W = [np.array(w, dtype=dtype) for w, _ in weights]
        self.b = [np.array(b, dtype=dtype) for _, b in weights]
        n = batch
        self.Z = [np.empty((n, s), dtype) for s in sizes[1:]]      # layer outputs (ReLU in place)
        self.dZ = [np.empty((n, s), dtype) for s in sizes[1:]]
        self.mask = [np.empty((n, s), bool) for s in sizes[1:-1]]
        self.dW = [np.empty_like(w) for w in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.rowmax = np.empty((n, 1), dtype)
        self.rowsum = np.empty((n, 1), dtype)
        self.clipped = np.empty((n, sizes[-1]), dtype)
        self.picked = np.empty(n, dtype)
        self.rows = np.arange(n)
        self.adam = [_AdamSlot(p) for p in self.W + self.b]
        self.lr, self.decay, self.iterations = learning_rate, decay, 0
        self.eps, self.b1, self.b2 = epsilon, beta_1, beta_2

    def step(self, X, y) -> float:
        W, b, Z, dZ = self.W, self.b, self.Z, self.dZ
        last = len(W) - 1
        a = X
        for i in range(len(W)):  # forward
            np.dot(a, W[i], out=Z[i])
            np.add(Z[i], b[i], out=Z[i])
            if i < last:
                np.maximum(0.0, Z[i], out=Z[i])
            a = Z[i]
        p = Z[last]  # softmax in place
        np.maximum.reduce(p, 1, None, self.rowmax, True)
        np.subtract(p, self.rowmax, out=p)
        np.exp(p, out=p)
        np.add.reduce(p, 1, None, self.rowsum, True)
        np.divide(p, self.rowsum, out=p)
        np.clip(p, 1e-7, 1 - 1e-7, out=self.clipped)  # loss
        np.log(self.clipped[self.rows, y], out=self.picked)
        loss = -np.mean(self.picked)
        d = dZ[last]  # backward: joint softmax / cross-entropy gradient
        np.copyto(d, p)
        d[self.rows, y] -= 1
        np.divide(d, len(d), out=d)
        for i in range(last, -1, -1):
            below = Z[i - 1] if i else X
            np.dot(below.T, dZ[i], out=self.dW[i])
            np.add.reduce(dZ[i], 0, None, self.db[i], True)
            if i:
                np.dot(dZ[i], W[i].T, out=dZ[i - 1])
                np.greater(Z[i - 1], 0.0, out=self.mask[i - 1])
                np.multiply(dZ[i - 1], self.mask[i - 1], out=dZ[i - 1])
        lr = self.lr * (1. / (1. + self.decay * self.iterations)) if self.decay else self.lr
        t = self.iterations + 1
        for slot, param, grad in zip(self.adam, W + b, self.dW + self.db):
            slot.update(param, grad, lr, self.b1, self.b2, self.eps, t)
        self.iterations += 1
        return float(loss)


class _AdamSlot:
    """Adam's state for one parameter, with scratch space; the book's order of operations."""

    def __init__(self, param):
        self.m, self.c = np.zeros_like(param), np.zeros_like(param)
        self.tmp, self.tmp2 = np.empty_like(param), np.empty_like(param)

    def update(self, w, g, lr, b1, b2, eps, t):
        m, c, tmp, tmp2 = self.m, self.c, self.tmp, self.tmp2
        np.multiply(m, b1, out=m)
        np.multiply(g, 1 - b1, out=tmp)
        np.add(m, tmp, out=m)
        np.divide(m, 1 - b1 ** t, out=tmp2)
        np.multiply(c, b2, out=c)
        np.square(g, out=tmp)
        np.multiply(tmp, 1 - b2, out=tmp)
        np.add(c, tmp, out=c)
        np.divide(c, 1 - b2 ** t, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.multiply(tmp2, -lr, out=tmp2)
        np.divide(tmp2, tmp, out=tmp2)
        np.add(w, tmp2, out=w)
