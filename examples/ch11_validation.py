"""Chapter 11: the chapter 10 model checked on out-of-sample data.

Trains exactly as examples/ch10_adam.py (book parity: the last training line
is the book's ``epoch: 10000, acc: 0.967, loss: 0.074, lr: 0.04975126853296942``),
then runs the same forward graph on a fresh spiral_data(100, 3) and prints

    validation, acc: 0.797, loss: 0.921

the same figures as the book-style numpy reference (benchmarks/book_numpy.py)
gives for this model: it overfits (0.967 on its training data).
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

# Out-of-sample data: the forward part of the same graph, without gradients.
X_test, y_test = spiral_data(samples=100, classes=3)
values = gn.Graph([loss, probs]).run({inputs: X_test, targets: y_test})
accuracy = np.mean(np.argmax(values[probs], axis=1) == y_test)
print(f"validation, acc: {accuracy:.3f}, loss: {values[loss]:.3f}")
