"""Chapter 14: L2 regularization, with the regularization loss reported apart.

The book's chapter 14 setup: spiral_data(100, 3), Dense(2, 64) with
weight_regularizer_l2=5e-4 and bias_regularizer_l2=5e-4, ReLU, Dense(64, 3),
Softmax + categorical cross-entropy, Adam(learning_rate=0.02, decay=5e-7),
10,001 full-batch epochs, then a fresh spiral_data(100, 3) for validation.
The training is bit for bit the book's arithmetic (the same weights as the
book-style numpy reference, benchmarks/book_numpy.py). It ends with

    epoch: 10000, acc: 0.950, loss: 0.226 (data_loss: 0.165, reg_loss: 0.062), lr: 0.019900507413187767
    validation, acc: 0.840, loss: 0.525

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
dense1 = gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4)
relu, dense2 = gn.ReLU(), gn.Dense(64, 3)
probs = gn.Softmax()(dense2(relu(dense1(inputs))))
data_loss = gn.CategoricalCrossEntropy()(probs, targets)
reg_loss = gn.regularization_loss([dense1, dense2])   # a node of its own: dense1's penalty
loss = data_loss + reg_loss

params = gn.Graph([loss]).params
grads = gn.grad(loss, params)
step = gn.Graph([data_loss, reg_loss, probs, *grads])
optimizer = gn.Adam(learning_rate=0.02, decay=5e-7)

for epoch in range(EPOCHS):
    values = step.run({inputs: X, targets: y}, keep="fetched")
    if not epoch % 100:
        accuracy = np.mean(np.argmax(values[probs], axis=1) == y)
        print(f"epoch: {epoch}, acc: {accuracy:.3f}, "
              f"loss: {values[data_loss] + values[reg_loss]:.3f} (data_loss: {values[data_loss]:.3f}, "
              f"reg_loss: {values[reg_loss]:.3f}), lr: {optimizer.current_learning_rate}")
    optimizer.step(params, [values[g] for g in grads])

X_test, y_test = spiral_data(samples=100, classes=3)
values = gn.Graph([data_loss, probs]).run({inputs: X_test, targets: y_test})
accuracy = np.mean(np.argmax(values[probs], axis=1) == y_test)
print(f"validation, acc: {accuracy:.3f}, loss: {values[data_loss]:.3f}")
