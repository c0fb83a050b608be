"""Book-style numpy reference for "Neural Networks from Scratch in Python".

A small, hand-written re-implementation of the nnfs.io toolbox (layers,
activations, losses, optimizers).  It follows the book's formulas *and*
operation order, so that under ``nnfs.init()`` it reproduces the book's
printed numbers bit for bit and can serve as an oracle for graphnn.

Chapters 18-22 add the book's ``Model`` (add, set, finalize, train with
batches and validation, evaluate, predict, get/set/save/load parameters,
save/load of the whole model), with the accumulating ``Loss`` and
``Accuracy`` classes it needs; ``train_chapter18`` and ``train_chapter22``
run the configurations of examples/ch18_model.py and examples/ch22_model.py
through it, printing the same lines.
"""
import copy
import os
import pickle
import tempfile

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

    def get_parameters(self):
        return self.weights, self.biases

    def set_parameters(self, weights, biases):
        self.weights = weights
        self.biases = biases


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

    def predictions(self, outputs):
        return outputs


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

    def predictions(self, outputs):
        return np.argmax(outputs, axis=1)


class Activation_Sigmoid:
    """1 / (1 + exp(-x))."""
    def forward(self, inputs, training=True):
        self.inputs = inputs
        self.output = 1 / (1 + np.exp(-inputs))

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.output) * self.output

    def predictions(self, outputs):
        return (outputs > 0.5) * 1


class Activation_Linear:
    """Identity (regression output)."""
    def forward(self, inputs, training=True):
        self.inputs = inputs
        self.output = inputs

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()

    def predictions(self, outputs):
        return outputs


class Loss:
    """Base class: mean of per-sample losses, plus layer penalties.

    ``regularization_loss(layer)`` is chapter 14's penalty of one layer;
    without a layer it is chapter 18's one running total over the layers
    given by ``remember_trainable_layers``. ``calculate`` also accumulates
    the sample losses for ``calculate_accumulated`` (chapter 19).
    """
    accumulated_sum = 0
    accumulated_count = 0

    def regularization_loss(self, layer=None):
        layers = self.trainable_layers if layer is None else [layer]
        regularization_loss = 0
        for layer in layers:
            if layer.weight_regularizer_l1 > 0:
                regularization_loss += layer.weight_regularizer_l1 * np.sum(np.abs(layer.weights))
            if layer.weight_regularizer_l2 > 0:
                regularization_loss += layer.weight_regularizer_l2 * np.sum(layer.weights * layer.weights)
            if layer.bias_regularizer_l1 > 0:
                regularization_loss += layer.bias_regularizer_l1 * np.sum(np.abs(layer.biases))
            if layer.bias_regularizer_l2 > 0:
                regularization_loss += layer.bias_regularizer_l2 * np.sum(layer.biases * layer.biases)
        return regularization_loss

    def remember_trainable_layers(self, trainable_layers):
        self.trainable_layers = trainable_layers

    def calculate(self, output, y, *, include_regularization=False):
        sample_losses = self.forward(output, y)
        data_loss = np.mean(sample_losses)
        self.accumulated_sum += np.sum(sample_losses)
        self.accumulated_count += len(sample_losses)
        if not include_regularization:
            return data_loss
        return data_loss, self.regularization_loss()

    def calculate_accumulated(self, *, include_regularization=False):
        data_loss = self.accumulated_sum / self.accumulated_count
        if not include_regularization:
            return data_loss
        return data_loss, self.regularization_loss()

    def new_pass(self):
        self.accumulated_sum = 0
        self.accumulated_count = 0


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


class Layer_Input:
    """The model's first "layer": passes the data on."""
    def forward(self, inputs, training):
        self.output = inputs


class Accuracy:
    """Mean of ``compare``, with sums kept for ``calculate_accumulated``."""
    accumulated_sum = 0
    accumulated_count = 0

    def calculate(self, predictions, y):
        comparisons = self.compare(predictions, y)
        accuracy = np.mean(comparisons)
        self.accumulated_sum += np.sum(comparisons)
        self.accumulated_count += len(comparisons)
        return accuracy

    def calculate_accumulated(self):
        accuracy = self.accumulated_sum / self.accumulated_count
        return accuracy

    def new_pass(self):
        self.accumulated_sum = 0
        self.accumulated_count = 0


class Accuracy_Categorical(Accuracy):
    """Class indices against sparse or one-hot labels (or 0/1 as they are with ``binary``)."""
    def __init__(self, *, binary=False):
        self.binary = binary

    def init(self, y):
        pass

    def compare(self, predictions, y):
        if not self.binary and len(y.shape) == 2:
            y = np.argmax(y, axis=1)
        return predictions == y


class Accuracy_Regression(Accuracy):
    """Correct within ``std(y) / 250`` of the target."""
    def __init__(self):
        self.precision = None

    def init(self, y, reinit=False):
        if self.precision is None or reinit:
            self.precision = np.std(y) / 250

    def compare(self, predictions, y):
        return np.absolute(predictions - y) < self.precision


class Model:
    """The book's Model (chapters 18-22), in its order of operations.

    ``train`` without ``batch_size`` is chapter 18's loop (a line every
    ``print_every`` epochs, validation once at the end); with ``batch_size``
    it is chapter 19's (``epoch: N``, step lines, a ``training`` summary and
    validation after every epoch). graphnn's Model prints the same way.
    """
    def __init__(self):
        self.layers = []
        self.softmax_classifier_output = None

    def add(self, layer):
        self.layers.append(layer)

    def set(self, *, loss=None, optimizer=None, accuracy=None):
        if loss is not None:
            self.loss = loss
        if optimizer is not None:
            self.optimizer = optimizer
        if accuracy is not None:
            self.accuracy = accuracy

    def finalize(self):
        self.input_layer = Layer_Input()
        layer_count = len(self.layers)
        self.trainable_layers = []
        for i in range(layer_count):
            if i == 0:
                self.layers[i].prev = self.input_layer
                self.layers[i].next = self.layers[i + 1]
            elif i < layer_count - 1:
                self.layers[i].prev = self.layers[i - 1]
                self.layers[i].next = self.layers[i + 1]
            else:
                self.layers[i].prev = self.layers[i - 1]
                self.layers[i].next = self.loss
                self.output_layer_activation = self.layers[i]
            if hasattr(self.layers[i], 'weights'):
                self.trainable_layers.append(self.layers[i])
        if self.loss is not None:
            self.loss.remember_trainable_layers(self.trainable_layers)
        if isinstance(self.layers[-1], Activation_Softmax) and \
                isinstance(self.loss, Loss_CategoricalCrossentropy):
            self.softmax_classifier_output = Activation_Softmax_Loss_CategoricalCrossentropy()

    def train(self, X, y, *, epochs=1, batch_size=None, print_every=1, validation_data=None):
        if batch_size is None:
            return self.train_chapter18(X, y, epochs=epochs, print_every=print_every,
                                        validation_data=validation_data)
        self.accuracy.init(y)
        train_steps = len(X) // batch_size
        if train_steps * batch_size < len(X):
            train_steps += 1
        for epoch in range(1, epochs + 1):
            print(f'epoch: {epoch}')
            self.loss.new_pass()
            self.accuracy.new_pass()
            for step in range(train_steps):
                batch_X = X[step * batch_size:(step + 1) * batch_size]
                batch_y = y[step * batch_size:(step + 1) * batch_size]
                data_loss, regularization_loss, loss, accuracy = self._train_step(batch_X, batch_y)
                if not step % print_every or step == train_steps - 1:
                    print(f'step: {step}, acc: {accuracy:.3f}, loss: {loss:.3f} (data_loss: {data_loss:.3f}, '
                          f'reg_loss: {regularization_loss:.3f}), lr: {self.optimizer.current_learning_rate}')
            epoch_data_loss, epoch_regularization_loss = self.loss.calculate_accumulated(include_regularization=True)
            epoch_loss = epoch_data_loss + epoch_regularization_loss
            epoch_accuracy = self.accuracy.calculate_accumulated()
            print(f'training, acc: {epoch_accuracy:.3f}, loss: {epoch_loss:.3f} (data_loss: {epoch_data_loss:.3f}, '
                  f'reg_loss: {epoch_regularization_loss:.3f}), lr: {self.optimizer.current_learning_rate}')
            if validation_data is not None:
                self.evaluate(*validation_data, batch_size=batch_size)

    def _train_step(self, X, y):
        """The book's body of one step: forward, loss, accuracy, backward, the optimizer's update."""
        output = self.forward(X, training=True)
        data_loss, regularization_loss = self.loss.calculate(output, y, include_regularization=True)
        loss = data_loss + regularization_loss
        predictions = self.output_layer_activation.predictions(output)
        accuracy = self.accuracy.calculate(predictions, y)
        self.backward(output, y)
        self.optimizer.pre_update_params()
        for layer in self.trainable_layers:
            self.optimizer.update_params(layer)
        self.optimizer.post_update_params()
        return data_loss, regularization_loss, loss, accuracy

    def train_chapter18(self, X, y, *, epochs=1, print_every=1, validation_data=None):
        self.accuracy.init(y)
        for epoch in range(1, epochs + 1):
            data_loss, regularization_loss, loss, accuracy = self._train_step(X, y)
            if not epoch % print_every:
                print(f'epoch: {epoch}, acc: {accuracy:.3f}, loss: {loss:.3f} (data_loss: {data_loss:.3f}, '
                      f'reg_loss: {regularization_loss:.3f}), lr: {self.optimizer.current_learning_rate}')
        if validation_data is not None:
            X_val, y_val = validation_data
            output = self.forward(X_val, training=False)
            loss = self.loss.calculate(output, y_val)
            predictions = self.output_layer_activation.predictions(output)
            accuracy = self.accuracy.calculate(predictions, y_val)
            print(f'validation, acc: {accuracy:.3f}, loss: {loss:.3f}')

    def evaluate(self, X_val, y_val, *, batch_size=None):
        validation_steps = 1
        if batch_size is not None:
            validation_steps = len(X_val) // batch_size
            if validation_steps * batch_size < len(X_val):
                validation_steps += 1
        self.loss.new_pass()
        self.accuracy.new_pass()
        for step in range(validation_steps):
            if batch_size is None:
                batch_X = X_val
                batch_y = y_val
            else:
                batch_X = X_val[step * batch_size:(step + 1) * batch_size]
                batch_y = y_val[step * batch_size:(step + 1) * batch_size]
            output = self.forward(batch_X, training=False)
            self.loss.calculate(output, batch_y)
            predictions = self.output_layer_activation.predictions(output)
            self.accuracy.calculate(predictions, batch_y)
        validation_loss = self.loss.calculate_accumulated()
        validation_accuracy = self.accuracy.calculate_accumulated()
        print(f'validation, acc: {validation_accuracy:.3f}, loss: {validation_loss:.3f}')

    def predict(self, X, *, batch_size=None):
        prediction_steps = 1
        if batch_size is not None:
            prediction_steps = len(X) // batch_size
            if prediction_steps * batch_size < len(X):
                prediction_steps += 1
        output = []
        for step in range(prediction_steps):
            if batch_size is None:
                batch_X = X
            else:
                batch_X = X[step * batch_size:(step + 1) * batch_size]
            batch_output = self.forward(batch_X, training=False)
            output.append(batch_output)
        return np.vstack(output)

    def forward(self, X, training):
        self.input_layer.forward(X, training)
        for layer in self.layers:
            layer.forward(layer.prev.output, training)
        return layer.output

    def backward(self, output, y):
        if self.softmax_classifier_output is not None:
            self.softmax_classifier_output.backward(output, y)
            self.layers[-1].dinputs = self.softmax_classifier_output.dinputs
            for layer in reversed(self.layers[:-1]):
                layer.backward(layer.next.dinputs)
            return
        self.loss.backward(output, y)
        for layer in reversed(self.layers):
            layer.backward(layer.next.dinputs)

    def get_parameters(self):
        parameters = []
        for layer in self.trainable_layers:
            parameters.append(layer.get_parameters())
        return parameters

    def set_parameters(self, parameters):
        for parameter_set, layer in zip(parameters, self.trainable_layers):
            layer.set_parameters(*parameter_set)

    # The book pickles; this module reads back only the files it wrote itself.
    def save_parameters(self, path):
        with open(path, 'wb') as f:
            pickle.dump(self.get_parameters(), f)

    def load_parameters(self, path):
        with open(path, 'rb') as f:
            self.set_parameters(pickle.load(f))

    def save(self, path):
        model = copy.deepcopy(self)
        model.loss.new_pass()
        model.accuracy.new_pass()
        model.input_layer.__dict__.pop('output', None)
        model.loss.__dict__.pop('dinputs', None)
        for layer in model.layers:
            for property in ['inputs', 'output', 'dinputs', 'dweights', 'dbiases']:
                layer.__dict__.pop(property, None)
        with open(path, 'wb') as f:
            pickle.dump(model, f)

    @staticmethod
    def load(path):
        with open(path, 'rb') as f:
            model = pickle.load(f)
        return model


def train_chapter18(epochs=10000):
    """examples/ch18_model.py's run through the book's Model (call ``nnfs.init()`` first).

    Prints the same lines as the example, but for its last (the graph's
    node count). Returns the model.
    """
    from nnfs.datasets import spiral_data

    X, y = spiral_data(samples=100, classes=3)
    X_test, y_test = spiral_data(samples=100, classes=3)
    model = Model()
    model.add(Layer_Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4))
    model.add(Activation_ReLU())
    model.add(Layer_Dense(64, 3))
    model.add(Activation_Softmax())
    model.set(loss=Loss_CategoricalCrossentropy(), optimizer=Optimizer_Adam(learning_rate=0.02, decay=5e-7),
              accuracy=Accuracy_Categorical())
    model.finalize()
    model.train(X, y, validation_data=(X_test, y_test), epochs=epochs, print_every=100)
    return model


def train_chapter22(epochs=50):
    """examples/ch22_model.py's run through the book's Model (call ``nnfs.init()`` first).

    Shuffled spiral_data(1000, 3), batch_size=128, validation each epoch,
    evaluate, save/load of parameters and of the whole model, prediction;
    prints the same lines as the example. Returns the trained model.
    """
    from nnfs.datasets import spiral_data

    X, y = spiral_data(samples=1000, classes=3)
    X_test, y_test = spiral_data(samples=100, classes=3)
    keys = np.array(range(X.shape[0]))
    np.random.shuffle(keys)
    X = X[keys]
    y = y[keys]

    def build():
        model = Model()
        model.add(Layer_Dense(2, 64))
        model.add(Activation_ReLU())
        model.add(Layer_Dense(64, 64))
        model.add(Activation_ReLU())
        model.add(Layer_Dense(64, 3))
        model.add(Activation_Softmax())
        model.set(loss=Loss_CategoricalCrossentropy(), optimizer=Optimizer_Adam(learning_rate=0.02, decay=1e-4),
                  accuracy=Accuracy_Categorical())
        model.finalize()
        return model

    model = build()
    model.train(X, y, validation_data=(X_test, y_test), epochs=epochs, batch_size=128, print_every=10)
    model.evaluate(X_test, y_test)

    with tempfile.TemporaryDirectory() as folder:
        model.save_parameters(os.path.join(folder, 'spiral.parms'))
        model_copy = build()
        model_copy.load_parameters(os.path.join(folder, 'spiral.parms'))
        print('same predictions after load_parameters:',
              np.array_equal(model_copy.predict(X_test), model.predict(X_test)))
        model.save(os.path.join(folder, 'spiral.model'))
        loaded = Model.load(os.path.join(folder, 'spiral.model'))
    print('same predictions after Model.load:', np.array_equal(loaded.predict(X_test), model.predict(X_test)))

    confidences = loaded.predict(X_test[[50, 150, 250]])
    predictions = loaded.output_layer_activation.predictions(confidences)
    print(f'predictions: {predictions.tolist()}, labels: {y_test[[50, 150, 250]].tolist()}')
    return model
