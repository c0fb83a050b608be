"""The book's losses, each a composition of primitives, plus the regularization loss.

A loss is a layer called as ``loss_fn(predictions, targets)``; it returns the
scalar mean over samples. The mean's input (``loss.inputs[0]``) is the vector
of per-sample losses ``(N,)``, which the Model sums to report epoch averages
as the book's ``calculate_accumulated`` does.

>>> loss = gn.BinaryCrossEntropy()(outputs, targets)    # outputs, targets: (N, 1)
>>> samples = loss.inputs[0]                            # (N,)
"""

from __future__ import annotations

from collections.abc import Iterable

from graphnn.autodiff.custom import declare
from graphnn.autodiff.rewrite import declare_joint, times_upstream
from graphnn.core import nn_ops, ops
from graphnn.core.errors import GraphError
from graphnn.core.node import Node, format_shape
from graphnn.nn.layers import Layer


class Loss(Layer):
    """Base: ``forward`` returns ``mean(sample_losses(predictions, targets))``.

    A loss whose book backward is a closed form (``book_gradient``) declares
    it as the loss's custom gradient with respect to the predictions, so
    :func:`graphnn.grad` computes the book's expression, in its order of
    operations (``grad(..., rewrite=False)`` differentiates the primitives instead).
    """

    def forward(self, predictions: Node, targets: Node) -> Node:
        loss = ops.mean(self.sample_losses(predictions, targets))
        if type(self).book_gradient is not Loss.book_gradient:
            declare(loss, (predictions,), lambda g: times_upstream(self.book_gradient(predictions, targets), g),
                    self.type_name, book=True)
        return loss

    def book_gradient(self, predictions: Node, targets: Node) -> Node:
        """The book's ``dinputs`` of the mean loss, ``(N, K)``, or nothing to declare."""
        raise NotImplementedError

    def sample_losses(self, predictions: Node, targets: Node) -> Node:
        """Per-sample losses ``(N,)``."""
        raise NotImplementedError

    def check_targets(self, predictions: Node, targets: Node) -> None:
        """Targets must have the predictions' shape (``(N, outputs)``); no silent broadcasting."""
        p, t = predictions.shape, targets.shape
        if p is None or t is None:
            return
        if len(p) != len(t) or any(a is not None and b is not None and a != b for a, b in zip(p, t)):
            hint = " (reshape them with y.reshape(-1, 1))" if len(t) == 1 and len(p) == 2 else ""
            raise GraphError(f"{self.name}: {type(self).__name__} needs targets of the predictions' "
                             f"shape {format_shape(p)}; got {targets.name} of shape "
                             f"{format_shape(t)}{hint}")


class CategoricalCrossEntropy(Loss):
    """Mean of ``-log`` of the probability given to the correct class.

    ``loss_fn(probs, labels)``: ``probs (N, C)``; labels are class indices
    ``(N,)`` or one-hot ``(N, C)``. Probabilities are clipped to
    ``[1e-7, 1 - 1e-7]`` first, as the book does, so ``log`` never sees 0.
    Over a :class:`graphnn.Softmax`, :func:`graphnn.grad` uses the joint
    gradient ``(probs - one_hot) / N`` (see :mod:`graphnn.autodiff.rewrite`).
    """

    type_name = "cce"

    def forward(self, probs: Node, labels: Node) -> Node:
        return declare_joint(super().forward(probs, labels))

    def sample_losses(self, probs: Node, labels: Node) -> Node:
        clipped = ops.clip(probs, 1e-7, 1 - 1e-7)
        if labels.shape is not None and len(labels.shape) == 2:
            confidences = ops.sum_(ops.mul(clipped, labels), axis=1)
        else:
            confidences = ops.pick(clipped, labels)
        return ops.neg(ops.log(confidences))


class BinaryCrossEntropy(Loss):
    """``-(y log p + (1 - y) log(1 - p))``, averaged over outputs then samples.

    ``outputs (N, K)`` (sigmoid outputs), ``targets (N, K)`` of 0/1; ``p`` is
    clipped to ``[1e-7, 1 - 1e-7]`` as in the book.
    """

    type_name = "bce"

    def sample_losses(self, outputs: Node, targets: Node) -> Node:
        self.check_targets(outputs, targets)
        clipped = ops.clip(outputs, 1e-7, 1 - 1e-7)
        per_output = ops.neg(ops.add(ops.mul(targets, ops.log(clipped)),
                                     ops.mul(ops.sub(1, targets), ops.log(ops.sub(1, clipped)))))
        return ops.mean(per_output, axis=-1)

    def book_gradient(self, outputs: Node, targets: Node) -> Node:
        # -(y / clipped - (1 - y) / (1 - clipped)) / outputs / samples
        clipped = ops.clip(outputs, 1e-7, 1 - 1e-7)
        d = ops.neg(ops.sub(ops.div(targets, clipped), ops.div(ops.sub(1, targets), ops.sub(1, clipped))))
        return _per_output_and_sample(d, outputs)


class MeanSquaredError(Loss):
    """``mean((y - p) ** 2)`` over outputs, then over samples. ``outputs, targets: (N, K)``."""

    type_name = "mse"

    def sample_losses(self, outputs: Node, targets: Node) -> Node:
        self.check_targets(outputs, targets)
        return ops.mean(ops.square(ops.sub(targets, outputs)), axis=-1)

    def book_gradient(self, outputs: Node, targets: Node) -> Node:
        # -2 * (y - pred) / outputs / samples
        return _per_output_and_sample(ops.mul(-2, ops.sub(targets, outputs)), outputs)


class MeanAbsoluteError(Loss):
    """``mean(|y - p|)`` over outputs, then over samples. ``outputs, targets: (N, K)``.

    The derivative of ``|d|`` at ``d = 0`` is 0, as the book's ``np.sign``. The
    book's backward, ``np.sign(y - pred) / outputs / samples``, has the wrong
    sign (the derivative with respect to ``pred`` is ``-sign(y - pred)``); the
    declared gradient is ``-sign(y - pred) / outputs / samples``, the book's
    numbers negated.
    """

    type_name = "mae"

    def sample_losses(self, outputs: Node, targets: Node) -> Node:
        self.check_targets(outputs, targets)
        return ops.mean(nn_ops.abs_(ops.sub(targets, outputs)), axis=-1)

    def book_gradient(self, outputs: Node, targets: Node) -> Node:
        return _per_output_and_sample(ops.neg(nn_ops.sign(ops.sub(targets, outputs))), outputs)


def _per_output_and_sample(d: Node, outputs: Node) -> Node:
    """``d / outputs / samples``, the book's two divisions (``outputs (N, K)``: by K, then by N)."""
    return ops.div(ops.div(d, ops.count(outputs, axis=-1)), ops.count(outputs, axis=0))


def regularization_loss(layers: Iterable[Layer]) -> Node | None:
    """The sum of the layers' penalties (:meth:`graphnn.Dense.penalty`), or None if none has one.

    Kept apart from the data loss so both can be reported; train on their sum.

    >>> reg = gn.regularization_loss([dense1, dense2])
    >>> loss = data_loss + reg
    """
    penalties = [layer.penalty() for layer in layers if hasattr(layer, "penalty")]
    penalties = [p for p in penalties if p is not None]
    return ops.add_all(penalties) if penalties else None
