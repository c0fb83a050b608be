"""Chapter 18: the Model class: add layers, set loss/optimizer/accuracy, finalize, train.

The chapter 14 network through the Model API: spiral_data(100, 3),
Dense(2, 64) with L2 5e-4 on weights and biases, ReLU, Dense(64, 3),
Softmax, categorical cross-entropy, Adam(learning_rate=0.02, decay=5e-7),
10,000 epochs printing every 100th, validation on spiral_data(100, 3). As in
the book's chapter 18, each epoch line is printed after that epoch's update.
It ends with

    epoch: 10000, acc: 0.953, loss: 0.200 (data_loss: 0.142, reg_loss: 0.058), lr: 0.019900507413187767
    validation, acc: 0.843, loss: 0.605

then how many nodes the training graph holds (``model.graph``: forward, loss,
regularization and gradient nodes; it renders like any graph).
Set GRAPHNN_EPOCHS to run fewer epochs.
"""
import os

import nnfs
from nnfs.datasets import spiral_data

import graphnn as gn

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "10000"))

nnfs.init()
X, y = spiral_data(samples=100, classes=3)
X_test, y_test = spiral_data(samples=100, classes=3)

model = gn.Model()
model.add(gn.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4))
model.add(gn.ReLU())
model.add(gn.Dense(64, 3))
model.add(gn.Softmax())
model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.02, decay=5e-7),
          accuracy=gn.CategoricalAccuracy())
model.finalize()
model.train(X, y, validation_data=(X_test, y_test), epochs=EPOCHS, print_every=100)
print(f"training graph: {len(model.graph.nodes)} nodes")   # model.graph.render("model.svg") draws it
