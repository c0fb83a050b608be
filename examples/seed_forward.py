"""The seed notebook's forward pass, as a graph (README quick start).

Prints the first five softmax rows, [[0.33333334 0.33333334 0.33333334]
[0.3333332 0.3333332 0.33333364] ...], and Loss: 1.0986104011535645.
"""
import nnfs
from nnfs.datasets import spiral_data

import graphnn as gn

nnfs.init()
X, y = spiral_data(samples=100, classes=3)

inputs, targets = gn.Input("X"), gn.Input("y")
dense1, relu, dense2 = gn.Dense(2, 3), gn.ReLU(), gn.Dense(3, 3)
softmax, loss_fn = gn.Softmax(), gn.CategoricalCrossEntropy()

probs = softmax(dense2(relu(dense1(inputs))))
loss = loss_fn(probs, targets)

graph = gn.Graph([probs, loss])
values = graph.run({inputs: X, targets: y})
print(values[probs][:5])
print(f"Loss: {values[loss]}")
print(values["dense1/matmul"].shape)   # any intermediate tensor, by name
graph.render("forward.svg")            # the forward pass as a Graphviz diagram
