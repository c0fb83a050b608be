"""Chapters 19-22: mini-batches, evaluation, saving, loading and prediction with the Model.

The book trains these chapters on Fashion-MNIST, which needs a download; this
example uses nnfs's spiral_data(1000, 3), shuffled as in chapter 19, with
Dense(2, 64), ReLU, Dense(64, 64), ReLU, Dense(64, 3), Softmax, categorical
cross-entropy and Adam(learning_rate=0.02, decay=1e-4), batch_size=128 for 50
epochs (each prints ``epoch: N``, step lines and a ``training, ...``
summary, then ``validation, ...`` on spiral_data(100, 3)). Then:

- ``save_parameters`` / ``load_parameters`` into a second model built the same way,
- ``save`` / ``Model.load`` of the whole model (optimizer state included),
- ``predict`` on three test points and their classes.

It ends with

    validation, acc: 0.900, loss: 0.255
    same predictions after load_parameters: True
    same predictions after Model.load: True
    predictions: [0, 1, 2], labels: [0, 1, 2]

Files go to a temporary folder. Set GRAPHNN_EPOCHS to run fewer epochs.
"""
import os
import tempfile

import nnfs
import numpy as np
from nnfs.datasets import spiral_data

import graphnn as gn

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "50"))

nnfs.init()
X, y = spiral_data(samples=1000, classes=3)
X_test, y_test = spiral_data(samples=100, classes=3)
keys = np.array(range(X.shape[0]))
np.random.shuffle(keys)          # the spiral comes sorted by class: shuffle, as chapter 19 does
X, y = X[keys], y[keys]


def build() -> gn.Model:
    model = gn.Model()
    model.add(gn.Dense(2, 64))
    model.add(gn.ReLU())
    model.add(gn.Dense(64, 64))
    model.add(gn.ReLU())
    model.add(gn.Dense(64, 3))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.02, decay=1e-4),
              accuracy=gn.CategoricalAccuracy())
    model.finalize()
    return model


model = build()
model.train(X, y, validation_data=(X_test, y_test), epochs=EPOCHS, batch_size=128, print_every=10)
model.evaluate(X_test, y_test)

folder = tempfile.mkdtemp()
model.save_parameters(os.path.join(folder, "spiral.params.npz"))
copy = build()
copy.load_parameters(os.path.join(folder, "spiral.params.npz"))
print("same predictions after load_parameters:", np.array_equal(copy.predict(X_test), model.predict(X_test)))

model.save(os.path.join(folder, "spiral.model.npz"))
loaded = gn.Model.load(os.path.join(folder, "spiral.model.npz"))
print("same predictions after Model.load:", np.array_equal(loaded.predict(X_test), model.predict(X_test)))

confidences = loaded.predict(X_test[[50, 150, 250]])
predictions = loaded.output_layer_activation.predictions(confidences)
print(f"predictions: {predictions.tolist()}, labels: {y_test[[50, 150, 250]].tolist()}")
