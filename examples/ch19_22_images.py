"""Chapters 19-22 on real images: a folder of PNGs, the Model, saving, loading, prediction.

The book trains on Fashion-MNIST (28x28 PNGs in ``train/<label>/`` and
``test/<label>/``), which needs a download. This example writes
scikit-learn's bundled 8x8 handwritten digits (1,797 scans) in that layout
as PNG files, 1,347 for training and 450 for testing, then runs the book's
pipeline on the files:

- ``gn.datasets.load_image_dataset`` (the book's ``create_data_mnist``),
  ``scale_images`` (``(X - 127.5) / 127.5``, flattened to (N, 64) float32),
  ``shuffle_together`` (chapter 19's shuffled keys);
- Dense(64, 128), ReLU, Dense(128, 128), ReLU, Dense(128, 10), Softmax,
  categorical cross-entropy, Adam(learning_rate=0.01, decay=1e-3),
  batch_size=128, 20 epochs, validation on the test folder after each;
- ``evaluate``, ``save_parameters`` / ``load_parameters`` into a second
  model, ``save`` / ``Model.load`` of the whole model;
- prediction on three test images read back from their files with
  ``prepare_image`` (chapter 22), named through the label map;
- the training graph drawn to ``model.svg`` (one box per layer).

It ends with

    same predictions after load_parameters: True
    same predictions after Model.load: True
    files: ['0000.png', '0004.png', '0008.png'], predicted: ['0', '4', '8']
    validation accuracy: 0.978

Files go to a temporary folder. Set GRAPHNN_EPOCHS to run fewer epochs.
"""
import os
import tempfile

import nnfs
import numpy as np

import graphnn as gn
from graphnn import datasets

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "20"))

nnfs.init()
folder = tempfile.mkdtemp()
test_files = datasets.write_digits_folders(os.path.join(folder, "digits"))
X, y, X_test, y_test, labels = datasets.load_image_dataset(os.path.join(folder, "digits"))
print(f"train: {X.shape}, test: {X_test.shape}, labels: {labels}")
X, X_test = datasets.scale_images(X), datasets.scale_images(X_test)
X, y = datasets.shuffle_together(X, y)


def build() -> gn.Model:
    model = gn.Model()
    model.add(gn.Dense(X.shape[1], 128))
    model.add(gn.ReLU())
    model.add(gn.Dense(128, 128))
    model.add(gn.ReLU())
    model.add(gn.Dense(128, len(labels)))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.01, decay=1e-3),
              accuracy=gn.CategoricalAccuracy())
    model.finalize()
    return model


model = build()
model.train(X, y, validation_data=(X_test, y_test), epochs=EPOCHS, batch_size=128, print_every=100)
result = model.evaluate(X_test, y_test)
model.graph.render(os.path.join(folder, "model.svg"), depth=1)

model.save_parameters(os.path.join(folder, "digits.params.npz"))
copy = build()
copy.load_parameters(os.path.join(folder, "digits.params.npz"))
print("same predictions after load_parameters:", np.array_equal(copy.predict(X_test), model.predict(X_test)))

model.save(os.path.join(folder, "digits.model.npz"))
loaded = gn.Model.load(os.path.join(folder, "digits.model.npz"))
print("same predictions after Model.load:", np.array_equal(loaded.predict(X_test), model.predict(X_test)))

files = test_files[:3]
images = np.vstack([datasets.prepare_image(file, size=(8, 8)) for file in files])
predictions = loaded.output_layer_activation.predictions(loaded.predict(images))
print(f"files: {[os.path.basename(f) for f in files]}, predicted: {datasets.label_names(predictions, labels)}")
print(f"validation accuracy: {result['accuracy']:.3f}")
