"""Chapter 15: dropout.

The book's chapter 15 setup: spiral_data(1000, 3), Dense(2, 64) with L2
5e-4 on weights and biases, ReLU, Dropout(0.1), Dense(64, 3), Softmax +
categorical cross-entropy, Adam(learning_rate=0.05, decay=5e-5), 10,001
full-batch epochs; validation on spiral_data(100, 3). Dropout draws a new
mask every step (np.random.binomial, as the book) and is left out of the
validation graph, built by calling the same layers with training=False.
The book's mask is float64 (``np.random.binomial(...) / rate``), so from the
dropout on its network computes in float64 (the next np.dot, which nnfs.init()
replaces, returns float32 again): ``gn.Dropout(0.1, mask_dtype="float64")``
does the same. Every printed line, and the final weights, are the book's
(tests/test_book_parity.py; benchmarks/book_chapters.py is the book's script).
It ends with (46 to 90 s on our 2-core machine)

    epoch: 10000, acc: 0.694, loss: 0.703 (data_loss: 0.686, reg_loss: 0.017), lr: 0.03333444448148271
    validation, acc: 0.740, loss: 0.671

Training accuracy is measured with dropout active, so it stays below the
validation accuracy. With a float32 mask (``gn.Dropout(0.1)``, the default)
the network stays float32 and the run drifts away from the book's.

Set GRAPHNN_EPOCHS to run fewer epochs.
"""
import os

import nnfs
import numpy as np
from nnfs.datasets import spiral_data

import graphnn as gn

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "10001"))

nnfs.init()
X, y = spiral_data(samples=1000, classes=3)

inputs, targets = gn.Input("X"), gn.Input("y")
dense1 = gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4)
relu, dense2, softmax = gn.ReLU(), gn.Dense(64, 3), gn.Softmax()
dropout = gn.Dropout(0.1, mask_dtype="float64")   # the book's mask is float64: see the docstring
cce = gn.CategoricalCrossEntropy()

# Training graph, with dropout.
probs = softmax(dense2(dropout(relu(dense1(inputs)))))
data_loss = cce(probs, targets)
reg_loss = gn.regularization_loss([dense1, dense2])
loss = data_loss + reg_loss
params = gn.Graph([loss]).params
grads = gn.grad(loss, params)
step = gn.Graph([data_loss, reg_loss, probs, *grads])

# Inference graph: the same layers and parameters; dropout builds nothing.
with gn.scope("inference"):
    test_probs = softmax(dense2(dropout(relu(dense1(inputs)), training=False)))
    test_loss = cce(test_probs, targets)
validate = gn.Graph([test_loss, test_probs])

optimizer = gn.Adam(learning_rate=0.05, decay=5e-5)
for epoch in range(EPOCHS):
    values = step.run({inputs: X, targets: y}, keep="fetched")
    if not epoch % 100:
        accuracy = np.mean(np.argmax(values[probs], axis=1) == y)
        print(f"epoch: {epoch}, acc: {accuracy:.3f}, "
              f"loss: {values[data_loss] + values[reg_loss]:.3f} (data_loss: {values[data_loss]:.3f}, "
              f"reg_loss: {values[reg_loss]:.3f}), lr: {optimizer.current_learning_rate}")
    optimizer.step(params, [values[g] for g in grads])

X_test, y_test = spiral_data(samples=100, classes=3)
values = validate.run({inputs: X_test, targets: y_test})
accuracy = np.mean(np.argmax(values[test_probs], axis=1) == y_test)
print(f"validation, acc: {accuracy:.3f}, loss: {values[test_loss]:.3f}")
