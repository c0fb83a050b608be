"""The same benchmark tasks in PyTorch eager, HIPS autograd and MyGrad (each optional).

Each ``*_mlp_step`` returns a function doing one training step (forward,
loss, backward, update) and returning the loss, starting from the given
weights; each ``*_chain`` returns (forward, forward+backward) functions for
the elementwise chain of case 3. A library that is not installed raises
ImportError, and the benchmark leaves its line out. Install them with
``pip install -e '.[bench]'``.

PyTorch runs on one thread: in one process with numpy, its two-thread pool
and OpenBLAS's threads (which keep spinning after each numpy matmul) stall
each other, and a 0.5 ms step took 100 ms.

The chain cycles through ``x * 0.9, x + 0.1, exp(x), log(x), -x``; the MLP is
Dense → ReLU → … → Dense → Softmax → clipped cross-entropy, as in graphnn.
"""

from __future__ import annotations

import types

import numpy as np

from benchmarks import book_numpy

CHAIN = ("mul", "add", "exp", "log", "neg")


def _book_adam(weights, learning_rate=0.05, decay=5e-7):
    """The book's Adam over plain arrays: layers as namespaces for ``Optimizer_Adam``."""
    optimizer = book_numpy.Optimizer_Adam(learning_rate=learning_rate, decay=decay)
    layers = [types.SimpleNamespace(weights=w, biases=b) for w, b in weights]

    def update(grads):
        for layer, (dw, db) in zip(layers, grads):
            layer.dweights, layer.dbiases = dw, db
        optimizer.pre_update_params()
        for layer in layers:
            optimizer.update_params(layer)
        optimizer.post_update_params()

    return update


# ---------------------------------------------------------------- PyTorch

def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


def torch_mlp_step(X, y, weights):
    torch = _torch()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    params = []
    for w, b in weights:
        params += [torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)]
    rows = torch.arange(len(X))
    optimizer = torch.optim.Adam(params, lr=0.05, eps=1e-7, betas=(0.9, 0.999))

    def step():
        optimizer.zero_grad(set_to_none=True)
        h = Xt
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = torch.relu(h)
        probs = torch.softmax(h, dim=1)
        loss = -torch.log(probs.clamp(1e-7, 1 - 1e-7)[rows, yt]).mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def torch_chain(n, x0):
    torch = _torch()
    x = torch.tensor(x0, requires_grad=True)
    ops = {"mul": lambda h: h * 0.9, "add": lambda h: h + 0.1, "exp": torch.exp,
           "log": torch.log, "neg": torch.neg}
    chain = [ops[CHAIN[i % 5]] for i in range(n)]

    def forward():
        h = x
        for f in chain:
            h = f(h)
        return h

    def forward_backward():
        h = forward()
        h.backward(torch.ones_like(h))
        g = x.grad
        x.grad = None
        return g

    return forward, forward_backward


# ---------------------------------------------------------------- HIPS autograd

def autograd_mlp_step(X, y, weights):
    import autograd.numpy as anp
    from autograd import value_and_grad

    rows = np.arange(len(X))
    params = [(np.array(w), np.array(b)) for w, b in weights]

    def loss_fn(params):
        h = X
        for i, (w, b) in enumerate(params):
            h = anp.dot(h, w) + b
            if i + 1 < len(params):
                h = anp.maximum(0.0, h)
        e = anp.exp(h - anp.max(h, axis=1, keepdims=True))
        probs = e / anp.sum(e, axis=1, keepdims=True)
        return anp.mean(-anp.log(anp.clip(probs, 1e-7, 1 - 1e-7)[rows, y]))

    value_grad = value_and_grad(loss_fn)
    update = _book_adam(params)

    def step():
        loss, grads = value_grad(params)
        update(grads)
        return float(loss)

    return step


def autograd_chain(n, x0):
    import autograd.numpy as anp
    from autograd import grad

    ops = {"mul": lambda h: h * 0.9, "add": lambda h: h + 0.1, "exp": anp.exp,
           "log": anp.log, "neg": anp.negative}
    chain = [ops[CHAIN[i % 5]] for i in range(n)]

    def forward(x=x0):
        h = x
        for f in chain:
            h = f(h)
        return h

    backward = grad(lambda x: anp.sum(forward(x)))
    return forward, lambda: backward(x0)


# ---------------------------------------------------------------- MyGrad

def mygrad_mlp_step(X, y, weights):
    import mygrad as mg

    rows = np.arange(len(X))
    tensors = [(mg.tensor(np.array(w)), mg.tensor(np.array(b))) for w, b in weights]
    arrays = [(w.data, b.data) for w, b in tensors]
    update = _book_adam(arrays)

    def step():
        h = X
        for i, (w, b) in enumerate(tensors):
            h = mg.matmul(h, w) + b
            if i + 1 < len(tensors):
                h = mg.maximum(0.0, h)
        e = mg.exp(h - mg.max(h, axis=1, keepdims=True))
        probs = e / mg.sum(e, axis=1, keepdims=True)
        loss = mg.mean(-mg.log(mg.clip(probs, 1e-7, 1 - 1e-7)[rows, y]))
        loss.backward()
        update([(w.grad, b.grad) for w, b in tensors])
        return float(loss.data)

    return step


def mygrad_chain(n, x0):
    import mygrad as mg

    ops = {"mul": lambda h: h * 0.9, "add": lambda h: h + 0.1, "exp": mg.exp,
           "log": mg.log, "neg": mg.negative}
    chain = [ops[CHAIN[i % 5]] for i in range(n)]

    def forward():
        x = mg.tensor(x0)  # a new leaf each time: MyGrad keeps a graph per leaf until backward
        h = x
        for f in chain:
            h = f(h)
        return x, h

    def forward_backward():
        x, h = forward()
        h.backward()
        return x.grad

    return (lambda: forward()[1]), forward_backward
