"""Chapter 10: spiral classification trained with Adam, the book's loop by hand.

With nnfs.init() and the book's setup (spiral_data(100, 3), Dense(2, 64),
ReLU, Dense(64, 3), Softmax + categorical cross-entropy, Adam(learning_rate=0.05,
decay=5e-7), 10,001 full-batch epochs) it prints every 100th epoch and ends
with exactly the book's line:

    epoch: 10000, acc: 0.967, loss: 0.074, lr: 0.04975126853296942

The gradients come from gn.grad (with the joint Softmax/cross-entropy
gradient); the optimizer updates the parameter arrays in place.
Set GRAPHNN_EPOCHS to run fewer epochs.
"""
import os

import nnfs
import numpy as np
from nnfs.datasets import spiral_data

import graphnn as gn

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "10001"))

nnfs.init()
X, y = spiral_data(samples=100, classes=3)

inputs, targets = gn.Input("X"), gn.Input("y")
dense1, relu, dense2 = gn.Dense(2, 64), gn.ReLU(), gn.Dense(64, 3)
probs = gn.Softmax()(dense2(relu(dense1(inputs))))
loss = gn.CategoricalCrossEntropy()(probs, targets)

params = gn.Graph([loss]).params
grads = gn.grad(loss, params)
step = gn.Graph([loss, probs, *grads])
optimizer = gn.Adam(learning_rate=0.05, decay=5e-7)

for epoch in range(EPOCHS):
    values = step.run({inputs: X, targets: y}, keep="fetched")
    if not epoch % 100:
        accuracy = np.mean(np.argmax(values[probs], axis=1) == y)
        print(f"epoch: {epoch}, acc: {accuracy:.3f}, loss: {values[loss]:.3f}, "
              f"lr: {optimizer.current_learning_rate}")
    optimizer.step(params, [values[g] for g in grads])
