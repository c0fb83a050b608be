"""The joint Softmax + cross-entropy gradient, declared as a custom gradient by the loss.

The book's chapter 9 shows that the gradient of the mean categorical
cross-entropy of a softmax, with respect to the softmax's input (the logits),
is ``(softmax - one_hot) / N``. Differentiating the chain primitive by
primitive (mean, neg, log, pick, clip, normalize, exp, sub) gives the same
value with many more operations and the rounding of each. When
:class:`graphnn.CategoricalCrossEntropy` is called on a Softmax output,
:func:`declare_joint` recognises the chain (:func:`match`) and declares
:func:`joint_gradient`, the single ``softmax_cce_grad`` node, as its custom
gradient (:mod:`graphnn.autodiff.custom`). It applies only when none of the
chain's inner nodes feeds anything else the loss depends on (their gradients
would be lost) and none of them, nor the labels, is asked for.

Clipped rows. The loss clips probabilities to ``[1e-7, 1 - 1e-7]`` so that
``log`` never sees 0. The clip's own gradient is zero on and beyond those
bounds, so the plain chain gives a zero gradient to a row whose picked
probability is clipped; the book's joint gradient does not clip: it is
``(p - one_hot) / N`` on every row (the derivative of the unclipped loss).
The two differ only on such rows, but in training they are common: in the
book's chapter 10 run, 9,343 of the 10,001 steps have some. So there are two
modes, chosen with ``grad(..., rewrite=...)``:

- ``True`` or ``"book"`` (the default): the book's joint gradient on every
  row, which is what reproduces the book's numbers bit for bit.
- ``"strict"``: the joint gradient with clipped rows zeroed, the same
  function as the plain chain (to rounding), clipped rows included.
- ``False``: no rewrite; the plain chain, to compare or to draw it.

>>> grads = gn.grad(loss, params)                      # the book's joint gradient
>>> strict = gn.grad(loss, params, rewrite="strict")   # means exactly what the chain means
>>> plain = gn.grad(loss, params, rewrite=False)       # primitive by primitive
"""

from __future__ import annotations

from dataclasses import dataclass

from graphnn.autodiff.custom import declare
from graphnn.core import ops
from graphnn.core.errors import GraphError
from graphnn.core.nn_ops import softmax_cce_grad
from graphnn.core.node import Node
from graphnn.core.primitive import Primitive


@dataclass(frozen=True)
class SoftmaxCCE:
    """One matched chain: ``loss = mean(-log(pick(clip(softmax(logits)), labels)))``."""

    loss: Node      # the mean node, where the rewrite takes over
    logits: Node    # the softmax's input, which receives the joint gradient
    probs: Node     # the softmax's output (a normalize node)
    labels: Node
    lo: float
    hi: float
    inner: tuple    # the nodes whose gradient the rewrite skips


def _op(node: Node, prim: Primitive) -> bool:
    return node.prim is prim


def _last_axis(node: Node, axis) -> bool:
    # A shape unknown until run time is fine: pick (and softmax_cce_grad) insist on (N, C) then.
    return axis in (1, -1) and (node.shape is None or len(node.shape) == 2)


def match(loss: Node) -> SoftmaxCCE | None:
    """The chain ending at ``loss`` if it is the mean CCE of a Softmax layer, else None.

    Recognises exactly what :class:`graphnn.Softmax` and
    :class:`graphnn.CategoricalCrossEntropy` build (sparse or one-hot labels).
    """
    if not _op(loss, ops.MEAN) or loss.attrs.get("axis") not in (None, 0) \
            or loss.attrs.get("keepdims"):
        return None
    neg = loss.inputs[0]
    if not (_op(neg, ops.NEG) and (neg.shape is None or len(neg.shape) == 1)):
        return None
    log = neg.inputs[0]
    if not _op(log, ops.LOG):
        return None
    picked = _picked(log.inputs[0])
    if picked is None:
        return None
    clip, labels, picking = picked
    norm = clip.inputs[0]
    if not (_op(norm, ops.NORMALIZE) and _last_axis(norm, norm.attrs.get("axis"))):
        return None
    exp = norm.inputs[0]
    if not _op(exp, ops.EXP):
        return None
    sub = exp.inputs[0]
    if not _op(sub, ops.SUB):
        return None
    logits, stop = sub.inputs
    if not _op(stop, ops.STOP_GRADIENT):
        return None
    top = stop.inputs[0]
    if not (_op(top, ops.MAX) and top.inputs[0] is logits and top.attrs.get("keepdims")
            and _last_axis(top.inputs[0], top.attrs.get("axis"))):
        return None
    return SoftmaxCCE(loss, logits, norm, labels, clip.attrs["lo"], clip.attrs["hi"],
                      (neg, log, *picking, clip, norm, exp, sub))


def _picked(node: Node):
    """``(clip, labels, nodes)`` if ``node`` picks the labelled entries of a clip, else None.

    Sparse labels: ``pick(clip, labels)``; one-hot: ``sum(mul(clip, labels), axis=1)``.
    """
    if _op(node, ops.PICK):
        clip, labels = node.inputs
        picking = (node,)
    elif _op(node, ops.SUM) and node.attrs.get("axis") in (1, -1) and not node.attrs.get("keepdims") \
            and _op(node.inputs[0], ops.MUL):
        clip, labels = node.inputs[0].inputs
        picking = (node, node.inputs[0])
        if labels.shape is None or len(labels.shape) != 2:
            return None
    else:
        return None
    return (clip, labels, picking) if _op(clip, ops.CLIP) else None


def declare_joint(loss: Node) -> Node:
    """Declare the book's joint gradient on ``loss`` if it is the mean CCE of a Softmax; return ``loss``.

    Called by :class:`graphnn.CategoricalCrossEntropy`. The declaration
    (:mod:`graphnn.autodiff.custom`, named ``softmax_cce``) covers the nodes
    between the logits and the loss; :func:`graphnn.grad` uses it where they
    feed nothing else and none of them, nor the labels, is asked for.
    """
    m = match(loss)
    if m is not None:
        declare(loss, (m.logits,), lambda g, mode: joint_gradient(g, m, mode), "softmax_cce",
                book=True, takes_mode=True)
    return loss


MODES = {True: "book", "book": "book", "strict": "strict"}


def mode_of(rewrite) -> str | None:
    """``"book"``, ``"strict"`` or None (no rewrite) for a ``grad(..., rewrite=)`` value."""
    if rewrite is False or rewrite is None:
        return None
    try:
        if rewrite is True or isinstance(rewrite, str):  # not 1, 0.0 ...: they would pass for True
            return MODES[rewrite]
        raise KeyError(rewrite)
    except (KeyError, TypeError):
        raise GraphError(f"grad: rewrite must be True, False, 'book' or 'strict', got {rewrite!r}") from None


def joint_gradient(g: Node, m: SoftmaxCCE, mode: str = "book") -> Node:
    """The gradient of ``m.loss`` with respect to ``m.logits``, given the loss's gradient ``g``.

    ``g`` is the scalar upstream gradient; when it is the seed ``ones_like``
    of the loss itself the multiplication by 1 is left out. ``mode="strict"``
    zeroes clipped rows as the plain chain does (see the module docstring).
    """
    return times_upstream(softmax_cce_grad(m.probs, m.labels, m.lo, m.hi, mask_clipped=mode == "strict"), g)


def times_upstream(d: Node, g: Node) -> Node:
    """``d * g`` for a scalar loss's gradient ``g``; just ``d`` when ``g`` is the seed ``ones_like``
    of the loss (the book's closed forms start from the loss itself, with no multiplication by 1)."""
    if _op(g, ops.ONES_LIKE) and g.shape == ():
        return d
    return ops.mul(d, g)
