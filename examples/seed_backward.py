"""The seed network's backward pass, as graph nodes (README "Gradients").

Prints the loss, 1.0986104, and the (2, 3) gradient of dense1's weights, then
writes backward.svg: the forward pass and, in another colour, the gradient nodes.
"""
import nnfs
from nnfs.datasets import spiral_data

import graphnn as gn

nnfs.init()
X, y = spiral_data(samples=100, classes=3)

inputs, targets = gn.Input("X"), gn.Input("y")
dense1, relu, dense2 = gn.Dense(2, 3), gn.ReLU(), gn.Dense(3, 3)
softmax, loss_fn = gn.Softmax(), gn.CategoricalCrossEntropy()
loss = loss_fn(softmax(dense2(relu(dense1(inputs)))), targets)
graph = gn.Graph([loss])

grads = gn.grad(loss, graph.params)           # dL/dW1, dL/db1, dL/dW2, dL/db2
train = gn.Graph([loss, *grads])
values = train.run({inputs: X, targets: y})
print(f"Loss: {values[loss]}")
print(values[grads[0]])                        # (2, 3) gradient of dense1's weights
train.render("backward.svg")                   # forward and backward pass in one diagram
