"""Chapter 16: binary logistic regression (a Sigmoid output and binary cross-entropy).

The book's chapter 16 setup: spiral_data(100, 2) with labels reshaped to
(N, 1), Dense(2, 64) with L2 5e-4 on weights and biases, ReLU, Dense(64, 1),
Sigmoid, binary cross-entropy, Adam(decay=5e-7), 10,001 full-batch epochs;
validation on spiral_data(100, 2). The Sigmoid and the binary cross-entropy
declare the book's closed-form gradients (``dvalues * (1 - output) * output``
and ``-(y / clipped - (1 - y) / (1 - clipped)) / outputs / samples``), so
every printed line and the final weights are the book's
(tests/test_book_parity.py). It ends with

    epoch: 10000, acc: 0.945, loss: 0.260 (data_loss: 0.204, reg_loss: 0.056), lr: 0.0009950253706593885
    validation, acc: 0.920, loss: 0.237

(with ``gn.grad(..., rewrite=False)``, differentiating the primitives one by
one, the rounding differs and the run drifts to 0.935 and 0.915).

Set GRAPHNN_EPOCHS to run fewer epochs.
"""
import os

import nnfs
import numpy as np
from nnfs.datasets import spiral_data

import graphnn as gn

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "10001"))

nnfs.init()
X, y = spiral_data(samples=100, classes=2)
y = y.reshape(-1, 1)   # one output per sample: targets (N, 1), not (N,)

inputs, targets = gn.Input("X"), gn.Input("y", shape=(None, 1))
dense1 = gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4)
relu, dense2, sigmoid = gn.ReLU(), gn.Dense(64, 1), gn.Sigmoid()
outputs = sigmoid(dense2(relu(dense1(inputs))))
data_loss = gn.BinaryCrossEntropy()(outputs, targets)
reg_loss = gn.regularization_loss([dense1, dense2])
loss = data_loss + reg_loss

params = gn.Graph([loss]).params
grads = gn.grad(loss, params)
step = gn.Graph([data_loss, reg_loss, outputs, *grads])
optimizer = gn.Adam(decay=5e-7)

for epoch in range(EPOCHS):
    values = step.run({inputs: X, targets: y}, keep="fetched")
    if not epoch % 100:
        accuracy = np.mean(sigmoid.predictions(values[outputs]) == y)
        print(f"epoch: {epoch}, acc: {accuracy:.3f}, "
              f"loss: {values[data_loss] + values[reg_loss]:.3f} (data_loss: {values[data_loss]:.3f}, "
              f"reg_loss: {values[reg_loss]:.3f}), lr: {optimizer.current_learning_rate}")
    optimizer.step(params, [values[g] for g in grads])

X_test, y_test = spiral_data(samples=100, classes=2)
y_test = y_test.reshape(-1, 1)
values = gn.Graph([data_loss, outputs]).run({inputs: X_test, targets: y_test})
accuracy = np.mean(sigmoid.predictions(values[outputs]) == y_test)
print(f"validation, acc: {accuracy:.3f}, loss: {values[data_loss]:.3f}")
