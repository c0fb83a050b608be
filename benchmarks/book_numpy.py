"""Book-style numpy reference for "Neural Networks from Scratch in Python".

A small, hand-written re-implementation of the nnfs.io toolbox (layers,
activations, losses, optimizers).  It follows the book's formulas *and*
operation order, so that under ``nnfs.init()`` it reproduces the book's
printed numbers bit for bit and can serve as an oracle for graphnn.
"""
import numpy as np


def _l1_sign(a):
    """The book's L1 derivative: ones_like(a), with -1 where a < 0."""
    sign = np.ones_like(a)
    sign[a < 0] = -1
    return sign


class Layer_Dense:
    """Fully connected layer with optional L1/L2 penalties."""
    def __init__(self, n_inputs, n_neurons,
                 weight_regularizer_l1=0, weight_regularizer_l2=0,
                 bias_regularizer_l1=0, bias_regularizer_l2=0,
                 weight_scale=0.01):
        # weight_scale: the book uses 0.01; chapter 17 switches to 0.1.
        self.weights = weight_scale * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))
        self.weight_regularizer_l1 = weight_regularizer_l1
        self.weight_regularizer_l2 = weight_regularizer_l2
        self.bias_regularizer_l1 = bias_regularizer_l1
        self.bias_regularizer_l2 = bias_regularizer_l2

    def forward(self, inputs, training=True):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        # Regularization terms, in the book's order: weights L1, L2, biases L1, L2.
        if self.weight_regularizer_l1 > 0:
            self.dweights += self.weight_regularizer_l1 * _l1_sign(self.weights)
        if self.weight_regularizer_l2 > 0:
            self.dweights += 2 * self.weight_regularizer_l2 * self.weights
        if self.bias_regularizer_l1 > 0:
            self.dbiases += self.bias_regularizer_l1 * _l1_sign(self.biases)
        if self.bias_regularizer_l2 > 0:
            self.dbiases += 2 * self.bias_regularizer_l2 * self.biases
        self.dinputs = np.dot(dvalues, self.weights.T)


class Layer_Dropout:
    """Inverted dropout; ``rate`` is the fraction of units dropped."""
    def __init__(self, rate):
        self.rate = 1 - rate  # stored as the keep probability, like the book

    def forward(self, inputs, training=True):
        self.inputs = inputs
        if not training:
            self.output = inputs.copy()
            return
        self.binary_mask = np.random.binomial(
            1, self.rate, size=inputs.shape) / self.rate
        self.output = inputs * self.binary_mask

    def backward(self, dvalues):
        self.dinputs = dvalues * self.binary_mask


class Activation_ReLU:
    """max(0, x)."""
    def forward(self, inputs, training=True):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Softmax:
    """Row-wise softmax; backward uses the full per-sample Jacobian."""
    def forward(self, inputs, training=True):
        self.inputs = inputs
        exps = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exps / np.sum(exps, axis=1, keepdims=True)

    def backward(self, dvalues):
        self.dinputs = np.empty_like(dvalues)
        for i, (out_row, dval_row) in enumerate(zip(self.output, dvalues)):
            col = out_row.reshape(-1, 1)
            jacobian = np.diagflat(col) - np.dot(col, col.T)
            self.dinputs[i] = np.dot(jacobian, dval_row)


class Activation_Sigmoid:
    """1 / (1 + exp(-x))."""
    def forward(self, inputs, training=True):
        self.inputs = inputs
        self.output = 1 / (1 + np.exp(-inputs))

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.output) * self.output


class Activation_Linear:
    """Identity (regression output)."""
    def forward(self, inputs, training=True):
        self.inputs = inputs
        self.output = inputs

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()


class Loss:
    """Base class: mean of per-sample losses, plus layer penalties."""
    def regularization_loss(self, layer):
        total = 0
        if layer.weight_regularizer_l1 > 0:
            total += layer.weight_regularizer_l1 * np.sum(np.abs(layer.weights))
        if layer.weight_regularizer_l2 > 0:
            total += layer.weight_regularizer_l2 * np.sum(layer.weights * layer.weights)
        if layer.bias_regularizer_l1 > 0:
            total += layer.bias_regularizer_l1 * np.sum(np.abs(layer.biases))
        if layer.bias_regularizer_l2 > 0:
            total += layer.bias_regularizer_l2 * np.sum(layer.biases * layer.biases)
        return total

    def calculate(self, output, y):
        sample_losses = self.forward(output, y)
        return np.mean(sample_losses)


class Loss_CategoricalCrossentropy(Loss):
    """-log(p[correct class]); targets sparse (n,) or one-hot (n, k)."""
    def forward(self, y_pred, y_true):
        samples = len(y_pred)
        clipped = np.clip(y_pred, 1e-7, 1 - 1e-7)
        if len(y_true.shape) == 1:
            confidences = clipped[range(samples), y_true]
        else:
            confidences = np.sum(clipped * y_true, axis=1)
        return -np.log(confidences)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        labels = len(dvalues[0])
        if len(y_true.shape) == 1:
            y_true = np.eye(labels)[y_true]
        self.dinputs = -y_true / dvalues
        self.dinputs = self.dinputs / samples


class Activation_Softmax_Loss_CategoricalCrossentropy:
    """Softmax + CCE fused, with the cheap combined gradient."""
    def __init__(self):
        self.activation = Activation_Softmax()
        self.loss = Loss_CategoricalCrossentropy()

    def forward(self, inputs, y_true):
        self.activation.forward(inputs)
        self.output = self.activation.output
        return self.loss.calculate(self.output, y_true)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        if len(y_true.shape) == 2:
            y_true = np.argmax(y_true, axis=1)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


class Loss_BinaryCrossentropy(Loss):
    """Per-output logistic loss, averaged over outputs."""
    def forward(self, y_pred, y_true):
        clipped = np.clip(y_pred, 1e-7, 1 - 1e-7)
        losses = -(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped))
        return np.mean(losses, axis=-1)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        outputs = len(dvalues[0])
        clipped = np.clip(dvalues, 1e-7, 1 - 1e-7)
        self.dinputs = -(y_true / clipped - (1 - y_true) / (1 - clipped)) / outputs
        self.dinputs = self.dinputs / samples


class Loss_MeanSquaredError(Loss):
    """L2 loss."""
    def forward(self, y_pred, y_true):
        return np.mean((y_true - y_pred) ** 2, axis=-1)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        outputs = len(dvalues[0])
        self.dinputs = -2 * (y_true - dvalues) / outputs
        self.dinputs = self.dinputs / samples


class Loss_MeanAbsoluteError(Loss):
    """L1 loss.  Backward keeps the book's sign(y_true - y_pred), which is
    the negative of the true derivative; kept as-is for parity."""
    def forward(self, y_pred, y_true):
        return np.mean(np.abs(y_true - y_pred), axis=-1)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        outputs = len(dvalues[0])
        self.dinputs = np.sign(y_true - dvalues) / outputs
        self.dinputs = self.dinputs / samples


class _Optimizer:
    """Shared learning-rate decay and iteration counting."""
    def __init__(self, learning_rate, decay):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.iterations = 0

    def pre_update_params(self):
        if self.decay:
            self.current_learning_rate = self.learning_rate * \
                (1. / (1. + self.decay * self.iterations))

    def post_update_params(self):
        self.iterations += 1

    def _cache_step(self, layer):
        """Adagrad/RMSprop step: p += -lr * grad / (sqrt(cache) + eps)."""
        lr = self.current_learning_rate
        layer.weights += -lr * layer.dweights / (np.sqrt(layer.weight_cache) + self.epsilon)
        layer.biases += -lr * layer.dbiases / (np.sqrt(layer.bias_cache) + self.epsilon)


class Optimizer_SGD(_Optimizer):
    """Plain SGD, optionally with momentum."""
    def __init__(self, learning_rate=1., decay=0., momentum=0.):
        super().__init__(learning_rate, decay)
        self.momentum = momentum

    def update_params(self, layer):
        lr = self.current_learning_rate
        if self.momentum:
            if not hasattr(layer, 'weight_momentums'):
                layer.weight_momentums = np.zeros_like(layer.weights)
                layer.bias_momentums = np.zeros_like(layer.biases)
            weight_updates = self.momentum * layer.weight_momentums - lr * layer.dweights
            layer.weight_momentums = weight_updates
            bias_updates = self.momentum * layer.bias_momentums - lr * layer.dbiases
            layer.bias_momentums = bias_updates
        else:
            weight_updates = -lr * layer.dweights
            bias_updates = -lr * layer.dbiases
        layer.weights += weight_updates
        layer.biases += bias_updates


class Optimizer_Adagrad(_Optimizer):
    """Per-parameter rate scaled by the running sum of squared grads."""
    def __init__(self, learning_rate=1., decay=0., epsilon=1e-7):
        super().__init__(learning_rate, decay)
        self.epsilon = epsilon

    def update_params(self, layer):
        if not hasattr(layer, 'weight_cache'):
            layer.weight_cache = np.zeros_like(layer.weights)
            layer.bias_cache = np.zeros_like(layer.biases)
        layer.weight_cache += layer.dweights ** 2
        layer.bias_cache += layer.dbiases ** 2
        self._cache_step(layer)


class Optimizer_RMSprop(_Optimizer):
    """Adagrad with an exponential moving average of squared grads."""
    def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7, rho=0.9):
        super().__init__(learning_rate, decay)
        self.epsilon = epsilon
        self.rho = rho

    def update_params(self, layer):
        if not hasattr(layer, 'weight_cache'):
            layer.weight_cache = np.zeros_like(layer.weights)
            layer.bias_cache = np.zeros_like(layer.biases)
        rho = self.rho
        layer.weight_cache = rho * layer.weight_cache + (1 - rho) * layer.dweights ** 2
        layer.bias_cache = rho * layer.bias_cache + (1 - rho) * layer.dbiases ** 2
        self._cache_step(layer)


class Optimizer_Adam(_Optimizer):
    """Momentum + RMSprop with bias correction."""
    def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7,
                 beta_1=0.9, beta_2=0.999):
        super().__init__(learning_rate, decay)
        self.epsilon = epsilon
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def update_params(self, layer):
        if not hasattr(layer, 'weight_cache'):
            layer.weight_momentums = np.zeros_like(layer.weights)
            layer.weight_cache = np.zeros_like(layer.weights)
            layer.bias_momentums = np.zeros_like(layer.biases)
            layer.bias_cache = np.zeros_like(layer.biases)
        b1, b2, step = self.beta_1, self.beta_2, self.iterations + 1
        layer.weight_momentums = b1 * layer.weight_momentums + (1 - b1) * layer.dweights
        layer.bias_momentums = b1 * layer.bias_momentums + (1 - b1) * layer.dbiases
        w_mom = layer.weight_momentums / (1 - b1 ** step)
        b_mom = layer.bias_momentums / (1 - b1 ** step)
        layer.weight_cache = b2 * layer.weight_cache + (1 - b2) * layer.dweights ** 2
        layer.bias_cache = b2 * layer.bias_cache + (1 - b2) * layer.dbiases ** 2
        w_cache = layer.weight_cache / (1 - b2 ** step)
        b_cache = layer.bias_cache / (1 - b2 ** step)
        lr = self.current_learning_rate
        layer.weights += -lr * w_mom / (np.sqrt(w_cache) + self.epsilon)
        layer.biases += -lr * b_mom / (np.sqrt(b_cache) + self.epsilon)


def train_chapter10(epochs=10001, print_every=100, out=print):
    """Chapter 10's Adam run on spiral data (call ``nnfs.init()`` first).

    Returns ``(params, last_line)`` where params maps names to the final
    weight/bias arrays and last_line is the last progress line printed.
    """
    from nnfs.datasets import spiral_data

    X, y = spiral_data(samples=100, classes=3)
    dense1 = Layer_Dense(2, 64)
    activation1 = Activation_ReLU()
    dense2 = Layer_Dense(64, 3)
    loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
    optimizer = Optimizer_Adam(learning_rate=0.05, decay=5e-7)

    last_line = None
    for epoch in range(epochs):
        dense1.forward(X)
        activation1.forward(dense1.output)
        dense2.forward(activation1.output)
        loss = loss_activation.forward(dense2.output, y)
        predictions = np.argmax(loss_activation.output, axis=1)
        accuracy = np.mean(predictions == y)
        if not epoch % print_every:
            last_line = (f'epoch: {epoch}, acc: {accuracy:.3f}, '
                         f'loss: {loss:.3f}, lr: {optimizer.current_learning_rate}')
            out(last_line)
        loss_activation.backward(loss_activation.output, y)
        dense2.backward(loss_activation.dinputs)
        activation1.backward(dense2.dinputs)
        dense1.backward(activation1.dinputs)
        optimizer.pre_update_params()
        optimizer.update_params(dense1)
        optimizer.update_params(dense2)
        optimizer.post_update_params()

    params = {'dense1.weights': dense1.weights, 'dense1.biases': dense1.biases,
              'dense2.weights': dense2.weights, 'dense2.biases': dense2.biases}
    return params, last_line
