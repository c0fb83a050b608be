"""The book's chapter scripts 10, 11, 14, 15, 16 and 17, written with the book-style numpy classes.

Each function is the chapter's final code listing (data, layers, loop,
printing, validation) with ``epochs`` as a parameter; call ``nnfs.init()``
first, as the book does. Each returns ``(lines, params)``: every line the
script prints, and the final weights and biases of its Dense layers in order.

    python -m benchmarks.book_chapters 16                  # prints what chapter 16's code prints
    python -m benchmarks.book_chapters 16 --compare        # and compares examples/ch16_binary.py with it
    python -m benchmarks.book_chapters 15 1001 --compare   # 1,001 epochs
"""
import contextlib
import io
import os
import runpy
import sys
from pathlib import Path

import numpy as np

from benchmarks import book_numpy as bk


def _line(epoch, accuracy, loss, data_loss, reg_loss, optimizer):
    return (f'epoch: {epoch}, ' + f'acc: {accuracy:.3f}, ' + f'loss: {loss:.3f} (' +
            f'data_loss: {data_loss:.3f}, ' + f'reg_loss: {reg_loss:.3f}), ' +
            f'lr: {optimizer.current_learning_rate}')


def _update(optimizer, layers):
    optimizer.pre_update_params()
    for layer in layers:
        optimizer.update_params(layer)
    optimizer.post_update_params()


def _params(layers):
    return [a for layer in layers for a in (layer.weights, layer.biases)]


def spiral_softmax(epochs=10001, regularized=False, dropout=None, samples=100,
                   learning_rate=0.05, decay=5e-7):
    """Chapters 10/11 (plain), 14 (``regularized``) and 15 (``dropout=0.1``, ``samples=1000``)."""
    from nnfs.datasets import spiral_data

    X, y = spiral_data(samples=samples, classes=3)
    reg = {"weight_regularizer_l2": 5e-4, "bias_regularizer_l2": 5e-4} if regularized else {}
    dense1 = bk.Layer_Dense(2, 64, **reg)
    activation1 = bk.Activation_ReLU()
    dropout1 = bk.Layer_Dropout(dropout) if dropout is not None else None
    dense2 = bk.Layer_Dense(64, 3)
    loss_activation = bk.Activation_Softmax_Loss_CategoricalCrossentropy()
    optimizer = bk.Optimizer_Adam(learning_rate=learning_rate, decay=decay)
    lines = []
    for epoch in range(epochs):
        dense1.forward(X)
        activation1.forward(dense1.output)
        hidden = activation1.output
        if dropout1 is not None:
            dropout1.forward(hidden)
            hidden = dropout1.output
        dense2.forward(hidden)
        data_loss = loss_activation.forward(dense2.output, y)
        predictions = np.argmax(loss_activation.output, axis=1)
        accuracy = np.mean(predictions == y)
        if regularized:
            regularization_loss = (loss_activation.loss.regularization_loss(dense1) +
                                   loss_activation.loss.regularization_loss(dense2))
            loss = data_loss + regularization_loss
            if not epoch % 100:
                lines.append(_line(epoch, accuracy, loss, data_loss, regularization_loss, optimizer))
        elif not epoch % 100:
            lines.append(f'epoch: {epoch}, acc: {accuracy:.3f}, loss: {data_loss:.3f}, '
                         f'lr: {optimizer.current_learning_rate}')
        loss_activation.backward(loss_activation.output, y)
        dense2.backward(loss_activation.dinputs)
        grad = dense2.dinputs
        if dropout1 is not None:
            dropout1.backward(grad)
            grad = dropout1.dinputs
        activation1.backward(grad)
        dense1.backward(activation1.dinputs)
        _update(optimizer, [dense1, dense2])

    X_test, y_test = spiral_data(samples=100, classes=3)
    dense1.forward(X_test)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    loss = loss_activation.forward(dense2.output, y_test)
    predictions = np.argmax(loss_activation.output, axis=1)
    accuracy = np.mean(predictions == y_test)
    lines.append(f'validation, acc: {accuracy:.3f}, loss: {loss:.3f}')
    return lines, _params([dense1, dense2])


def chapter10(epochs=10001):
    lines, params = spiral_softmax(epochs)
    return lines[:-1], params  # chapter 10 has no validation


def chapter11(epochs=10001):
    return spiral_softmax(epochs)


def chapter14(epochs=10001):
    return spiral_softmax(epochs, regularized=True, learning_rate=0.02)


def chapter15(epochs=10001):
    return spiral_softmax(epochs, regularized=True, dropout=0.1, samples=1000, decay=5e-5)


def chapter16(epochs=10001):
    """Binary logistic regression: Sigmoid output, binary cross-entropy."""
    from nnfs.datasets import spiral_data

    X, y = spiral_data(samples=100, classes=2)
    y = y.reshape(-1, 1)
    dense1 = bk.Layer_Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4)
    activation1 = bk.Activation_ReLU()
    dense2 = bk.Layer_Dense(64, 1)
    activation2 = bk.Activation_Sigmoid()
    loss_function = bk.Loss_BinaryCrossentropy()
    optimizer = bk.Optimizer_Adam(decay=5e-7)
    lines = []
    for epoch in range(epochs):
        dense1.forward(X)
        activation1.forward(dense1.output)
        dense2.forward(activation1.output)
        activation2.forward(dense2.output)
        data_loss = loss_function.calculate(activation2.output, y)
        regularization_loss = (loss_function.regularization_loss(dense1) +
                               loss_function.regularization_loss(dense2))
        loss = data_loss + regularization_loss
        predictions = (activation2.output > 0.5) * 1
        accuracy = np.mean(predictions == y)
        if not epoch % 100:
            lines.append(_line(epoch, accuracy, loss, data_loss, regularization_loss, optimizer))
        loss_function.backward(activation2.output, y)
        activation2.backward(loss_function.dinputs)
        dense2.backward(activation2.dinputs)
        activation1.backward(dense2.dinputs)
        dense1.backward(activation1.dinputs)
        _update(optimizer, [dense1, dense2])

    X_test, y_test = spiral_data(samples=100, classes=2)
    y_test = y_test.reshape(-1, 1)
    dense1.forward(X_test)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    activation2.forward(dense2.output)
    loss = loss_function.calculate(activation2.output, y_test)
    predictions = (activation2.output > 0.5) * 1
    accuracy = np.mean(predictions == y_test)
    lines.append(f'validation, acc: {accuracy:.3f}, loss: {loss:.3f}')
    return lines, _params([dense1, dense2])


def chapter17(epochs=10001):
    """Regression on sine_data: Linear output, mean squared error, weights 0.1 * randn."""
    from nnfs.datasets import sine_data

    X, y = sine_data()
    dense1 = bk.Layer_Dense(1, 64, weight_scale=0.1)
    activation1 = bk.Activation_ReLU()
    dense2 = bk.Layer_Dense(64, 64, weight_scale=0.1)
    activation2 = bk.Activation_ReLU()
    dense3 = bk.Layer_Dense(64, 1, weight_scale=0.1)
    activation3 = bk.Activation_Linear()
    loss_function = bk.Loss_MeanSquaredError()
    optimizer = bk.Optimizer_Adam(learning_rate=0.005, decay=1e-3)
    accuracy_precision = np.std(y) / 250
    lines = []
    for epoch in range(epochs):
        dense1.forward(X)
        activation1.forward(dense1.output)
        dense2.forward(activation1.output)
        activation2.forward(dense2.output)
        dense3.forward(activation2.output)
        activation3.forward(dense3.output)
        data_loss = loss_function.calculate(activation3.output, y)
        regularization_loss = (loss_function.regularization_loss(dense1) +
                               loss_function.regularization_loss(dense2) +
                               loss_function.regularization_loss(dense3))
        loss = data_loss + regularization_loss
        predictions = activation3.output
        accuracy = np.mean(np.absolute(predictions - y) < accuracy_precision)
        if not epoch % 100:
            lines.append(_line(epoch, accuracy, loss, data_loss, regularization_loss, optimizer))
        loss_function.backward(activation3.output, y)
        activation3.backward(loss_function.dinputs)
        dense3.backward(activation3.dinputs)
        activation2.backward(dense3.dinputs)
        dense2.backward(activation2.dinputs)
        activation1.backward(dense2.dinputs)
        dense1.backward(activation1.dinputs)
        _update(optimizer, [dense1, dense2, dense3])
    return lines, _params([dense1, dense2, dense3])


CHAPTERS = {"10": chapter10, "11": chapter11, "14": chapter14, "15": chapter15, "16": chapter16,
            "17": chapter17}
MODEL_CHAPTERS = {"18": bk.train_chapter18, "22": bk.train_chapter22}
EXAMPLES = {"10": "ch10_adam.py", "11": "ch11_validation.py", "14": "ch14_l2.py", "15": "ch15_dropout.py",
            "16": "ch16_binary.py", "17": "ch17_regression.py"}


def compare(chapter, epochs=10001):
    """Run ``examples/<chapter's script>`` (graphnn, GRAPHNN_EPOCHS=epochs), then the book's script.

    Both start from ``nnfs.init()``'s seed. Returns ``(graphnn_lines,
    book_lines, graphnn_params, book_params)``; the params are arrays, in order.
    """
    import numpy as np

    script = Path(__file__).resolve().parents[1] / "examples" / EXAMPLES[chapter]
    saved = os.environ.get("GRAPHNN_EPOCHS")
    os.environ["GRAPHNN_EPOCHS"] = str(epochs)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            example = runpy.run_path(str(script))   # calls nnfs.init(), as the book's scripts do
    finally:
        if saved is None:
            del os.environ["GRAPHNN_EPOCHS"]
        else:
            os.environ["GRAPHNN_EPOCHS"] = saved
    np.random.seed(0)
    book, weights = CHAPTERS[chapter](epochs)
    return out.getvalue().splitlines(), book, [p.value for p in example["params"]], weights


def main(argv):
    import nnfs
    import numpy as np

    chapter, rest = argv[0], [a for a in argv[1:] if a != "--compare"]
    epochs = int(rest[0]) if rest else 10001
    nnfs.init()
    if chapter in MODEL_CHAPTERS:  # the Model chapters: the book's Model class prints as it trains
        MODEL_CHAPTERS[chapter](epochs)
        return 0
    if "--compare" not in argv:
        for text in CHAPTERS[chapter](epochs)[0]:
            print(text)
        return 0
    mine, book, params, weights = compare(chapter, epochs)
    differ = [k for k in range(max(len(mine), len(book))) if mine[k:k + 1] != book[k:k + 1]]
    same = [np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(params, weights)]
    print(f"chapter {chapter}, {epochs} epochs: {len(book)} lines, {len(differ)} differ; "
          f"final weights equal: {all(same) and len(params) == len(weights)}")
    for k in differ[:5]:
        print(f"  line {k}: graphnn {mine[k:k + 1]} book {book[k:k + 1]}")
    print(f"  graphnn: {mine[-1]}\n  book:    {book[-1]}")
    return 1 if differ or not all(same) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
