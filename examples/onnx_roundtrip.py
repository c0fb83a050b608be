"""ONNX round trip: train the chapter 10 spiral network, run it in onnxruntime, load it back.

Needs the onnx extra (``pip install graphnn[onnx]``). The chapter 10 network
(Dense(2, 64), ReLU, Dense(64, 3), Softmax, Adam(learning_rate=0.05,
decay=5e-7)) trains for a few hundred epochs through ``gn.Model``, is exported
(inference graph only: no loss), runs in onnxruntime, and is loaded back as
graphnn primitives whose intermediate tensors keep their names. It prints
lines such as

    trained: acc 0.7..., loss 0.6...
    onnxruntime vs graphnn: max abs difference 1.2e-06
    imported: <OnnxGraph inputs=['X'] outputs=['softmax1/normalize'] params=4 nodes=17>
    dense1/matmul: (300, 64)
    imported vs onnxruntime: max abs difference 1.2e-06
    diagram: .../imported.svg

Set GRAPHNN_EPOCHS to train for another number of epochs.
"""
import os
import tempfile
from pathlib import Path

import nnfs
import numpy as np
import onnxruntime as ort
from nnfs.datasets import spiral_data

import graphnn as gn
from graphnn.interop import onnx as gx

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "300"))

nnfs.init()
X, y = spiral_data(samples=100, classes=3)

model = gn.Model()
model.add(gn.Dense(2, 64))
model.add(gn.ReLU())
model.add(gn.Dense(64, 3))
model.add(gn.Softmax())
model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05, decay=5e-7),
          accuracy=gn.CategoricalAccuracy())
model.finalize()
history = model.train(X, y, epochs=EPOCHS, verbose=False)
print(f"trained: acc {history['accuracy'][-1]:.3f}, loss {history['loss'][-1]:.3f}")

folder = Path(tempfile.mkdtemp(prefix="graphnn-onnx-"))
path = folder / "spiral.onnx"
gx.export(model, path)                                   # the inference graph, checked by onnx.checker
ours = model.inference_graph.run({model.input: X}, fetch=[model.inference_output])[model.inference_output]
theirs = ort.InferenceSession(str(path)).run(None, {"X": X})[0]
print(f"onnxruntime vs graphnn: max abs difference {np.max(np.abs(theirs - ours)):.1e}")

imported = gx.load(path)                                 # ONNX ops as graphnn primitives
print(f"imported: {imported}")
values = imported.run({"X": X})
print(f"dense1/matmul: {values['dense1/matmul'].shape}")  # an intermediate tensor, by its ONNX name
output = next(iter(imported.outputs))
print(f"imported vs onnxruntime: max abs difference {np.max(np.abs(values[output] - theirs)):.1e}")
print(f"diagram: {imported.graph.render(str(folder / 'imported.svg'), values=values)}")
