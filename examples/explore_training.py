"""Chapter 10's network trained with a Recorder, and the explorer page of its training.

The book's setup (nnfs.init(), spiral_data(100, 3), Dense(2, 64), ReLU,
Dense(64, 3), Softmax + categorical cross-entropy, Adam(learning_rate=0.05,
decay=5e-7)) trains through the Model API for 10,001 epochs; a gn.Recorder
keeps every tensor at 21 steps (every 500th). The script prints relu1's dead
fraction (neurons that are 0 for the whole batch) at each recorded step and
writes explore_training.html: click relu1/maximum and move the step slider to
watch dead neurons appear (white columns in the heatmap, the orange health
mark). Set GRAPHNN_EPOCHS to train fewer epochs.
"""
import os

import nnfs
from nnfs.datasets import spiral_data

import graphnn as gn

EPOCHS = int(os.environ.get("GRAPHNN_EPOCHS", "10001"))

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

recorder = gn.Recorder(every=max(1, (EPOCHS - 1) // 20))
model.train(X, y, epochs=EPOCHS, print_every=max(1, EPOCHS // 5), record=recorder)

for frame in recorder.frames:
    dead = [f.amount for f in frame.findings if f.node == "relu1/maximum" and f.check == "dead_relu"]
    print(f"step {frame.step:5d}: relu1 dead {dead[0] if dead else 0.0:.3f}")

page = gn.explore(model.graph, "explore_training.html", history=recorder,
               title=f"chapter 10 spiral network, {EPOCHS} epochs, relu1's dead neurons over training")
print(f"wrote {page.path}")
