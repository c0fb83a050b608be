"""Chapter 17: regression on nnfs's sine_data, with a Linear output and mean squared error.

The book's chapter 17 setup: sine_data() (1,000 points), Dense(1, 64), ReLU,
Dense(64, 64), ReLU, Dense(64, 1), Linear, mean squared error,
Adam(learning_rate=0.005, decay=1e-3), weights initialised with 0.1 * randn
(the book's fix for this network), 10,001 full-batch epochs. Accuracy counts
predictions within std(y) / 250 of the target, as the book's. The mean
squared error declares the book's gradient ``-2 * (y - pred) / outputs /
samples``; every printed line and the final weights are the book's
(tests/test_book_parity.py). It ends with
(26 to 45 s on our 2-core machine)

    epoch: 10000, acc: 0.981, loss: 0.000 (data_loss: 0.000, reg_loss: 0.000), lr: 0.00045458678061641964

Set GRAPHNN_EPOCHS to run fewer epochs.
"""
import os

import nnfs
from nnfs.datasets import sine_data

import graphnn as gn

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "10001"))

nnfs.init()
X, y = sine_data()

inputs, targets = gn.Input("X"), gn.Input("y", shape=(None, 1))
dense1 = gn.Dense(1, 64, weight_scale=0.1)
dense2 = gn.Dense(64, 64, weight_scale=0.1)
dense3 = gn.Dense(64, 1, weight_scale=0.1)
outputs = gn.Linear()(dense3(gn.ReLU()(dense2(gn.ReLU()(dense1(inputs))))))
loss = gn.MeanSquaredError()(outputs, targets)

params = gn.Graph([loss]).params
grads = gn.grad(loss, params)
step = gn.Graph([loss, outputs, *grads])
optimizer = gn.Adam(learning_rate=0.005, decay=1e-3)
accuracy = gn.RegressionAccuracy()
accuracy.init(y)   # precision = std(y) / 250

for epoch in range(EPOCHS):
    values = step.run({inputs: X, targets: y}, keep="fetched")
    if not epoch % 100:
        acc = accuracy.calculate(values[outputs], y)
        print(f"epoch: {epoch}, acc: {acc:.3f}, loss: {values[loss]:.3f} (data_loss: {values[loss]:.3f}, "
              f"reg_loss: 0.000), lr: {optimizer.current_learning_rate}")
    optimizer.step(params, [values[g] for g in grads])
