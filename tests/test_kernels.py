"""Every executor kernel computes exactly what its primitive's forward computes.

Each case builds one primitive node on inputs of known shapes, then compares,
bit for bit (values, dtype, shape), the primitive's own forward with the
kernel called without and with an output buffer.
"""

import nnfs
import numpy as np
import pytest

import graphnn as gn
from graphnn.core import kernels, nn_ops, nnfs_dot, ops
from graphnn.core.primitive import Aval, aval_of

rng = np.random.default_rng(0)


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def aval(node, value):
    if node.kind == "constant":
        return aval_of(node)
    value = np.asarray(value)
    return Aval(value.shape, value.dtype)


def check(build, *values):
    """``build(*leaves) -> node``: leaves are Inputs for arrays, Constants for Python numbers."""
    leaves = [gn.Constant(v) if isinstance(v, (int, float)) else gn.Input(f"in{i}", dtype=np.asarray(v).dtype)
              for i, v in enumerate(values)]
    node = build(*leaves)
    ins = [aval(leaf, v) for leaf, v in zip(node.inputs, values)]
    out_aval = Aval(*node.prim.check(node, ins))
    expected = node.prim.bind(node)(*values)
    kernel = node.prim.kernel_for(node, ins, out_aval)
    args = [kernel.consts.get(p, values[p]) for p in kernel.args]
    results = [_call(kernel, args)]
    if kernel.out and out_aval.shape:
        buffer = np.full(out_aval.shape, np.nan, dtype=out_aval.dtype)
        results.append(_call(kernel, args, buffer))
        results.append(_call(kernel, args, buffer))  # again, into a used buffer
    for got in results:
        assert np.shape(got) == np.shape(expected)
        assert np.asarray(got).dtype == np.asarray(expected).dtype
        np.testing.assert_array_equal(got, expected)
        assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()  # signed zeros and NaNs too
    return kernel


def _call(kernel, args, out=None):
    if kernel.expr is not None:
        return eval(kernel.expr.format(*[f"a[{i}]" for i in range(len(args))]), {"a": args})
    return kernel.fn(*args) if out is None else kernel.fn(*args, out=out)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
def test_binary_elementwise(op):
    build = getattr(ops, op)
    check(build, f32(300, 64), f32(300, 64))
    check(build, f32(300, 64), f32(1, 64))
    check(build, f32(300, 64), 0.5)
    check(build, 0.0, f32(300, 64))
    check(build, f32(30, 4), 3)
    check(build, f32(30, 4), f32(30, 4).astype(np.float64))
    check(build, np.arange(12).reshape(3, 4), 0.5)  # an integer array meets a float: float64


def test_add_bias_and_unary():
    check(ops.add_bias, f32(300, 64), f32(1, 64))
    for op in (ops.neg, ops.exp, ops.log):
        check(op, np.abs(f32(300, 3)) + 0.1)
    check(ops.exp, f32(1, 1))


def test_weak_constants_are_converted_as_numpy_converts_them():
    kernel = check(ops.mul, f32(4, 3), 0.1)
    assert kernel.consts[1].dtype == np.float32 and kernel.consts[1] == np.float32(0.1)
    kernel = check(ops.mul, np.arange(4.0), 0.1)
    assert kernel.consts[1].dtype == np.float64


@pytest.mark.parametrize("a_shape, b_shape", [((300, 2), (2, 64)), ((300, 64), (64, 3)), ((1, 5), (5, 1))])
def test_matmul(a_shape, b_shape):
    a, b = f32(*a_shape), f32(*b_shape)
    check(ops.matmul, a, b)
    check(ops.matmul, np.ascontiguousarray(a.T).T, b)  # a transposed view
    check(ops.matmul, a.astype(np.float64), b.astype(np.float64))


def test_matmul_uses_np_dot_as_it_is_at_call_time(book_numpy):
    # nnfs.init() replaced np.dot with a float64 wrapper: the kernel computes what it computes
    assert nnfs_dot.is_book_dot(np.dot)
    a, b, big = f32(300, 64), f32(64, 3), f32(1000, 64)  # big: computed in float64 scratch
    assert nnfs_dot.worth_scratch(big.shape, (64, 3)) and not nnfs_dot.worth_scratch(a.shape, b.shape)
    for x, y in ((a, b), (np.ascontiguousarray(a.T).T, b), (a.T, f32(300, 5)), (b.T, a.T), (a[::2], b),
                 (big, b), (big.T, big), (big, f32(3, 64).T), (np.ascontiguousarray(big.T).T, b), (big[::2], b)):
        check(ops.matmul, x, y)
        assert check(ops.matmul, x, y).fn(x, y).tobytes() == np.dot(x, y).tobytes()
    check(ops.matmul, a, b.astype(np.float64))
    np.dot = lambda x, y: nnfs_dot.NUMPY_DOT(x, y) + 1  # any other np.dot is called as it is
    check(ops.matmul, a, b)


def test_only_nnfs_own_dot_is_recognised(book_numpy):
    wrapper = np.dot
    assert nnfs_dot.is_book_dot(wrapper) and not nnfs_dot.is_book_dot(nnfs_dot.NUMPY_DOT)
    nnfs.init()  # a wrapper around the wrapper: not numpy's own dot inside
    assert not nnfs_dot.is_book_dot(np.dot)
    np.dot = wrapper


def test_transpose_and_stop_gradient_are_views():
    x = f32(5, 3)
    kernel = check(ops.transpose, x)
    assert kernel.views == (0,) and kernel.expr == "{0}.T"
    check(ops.stop_gradient, x)


@pytest.mark.parametrize("width", [1, 2, 3, 5, 7, 8, 9, 64])
@pytest.mark.parametrize("keepdims", [True, False])
def test_max_and_sum_over_a_short_last_axis(width, keepdims):
    x = f32(300, width, scale=100)
    x[3, 0] = np.nan  # propagated by both
    x[4] = 0.0
    x[5, :] = -0.0
    for op in (ops.max_, ops.sum_):
        check(lambda v, op=op: op(v, axis=1, keepdims=keepdims), x)
        check(lambda v, op=op: op(v, axis=-1, keepdims=keepdims), x)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, True), (0, False), ((0, 1), False), (1, True)])
def test_reductions(axis, keepdims):
    x = f32(30, 5)
    for op in (ops.max_, ops.sum_, ops.mean):
        check(lambda v, op=op: op(v, axis=axis, keepdims=keepdims), x)
        check(lambda v, op=op: op(v, axis=axis, keepdims=keepdims), x.astype(np.float64))
    check(ops.mean, np.arange(10))  # integers: numpy's mean, in float64


def test_normalize_and_clip():
    for width in (3, 10):
        check(lambda v: ops.normalize(v, axis=1), np.abs(f32(300, width)) + 0.01)
    check(lambda v: ops.normalize(v, axis=0), np.abs(f32(30, 4)) + 0.01)
    p = np.abs(f32(300, 3))
    p[0, 0], p[1, 1] = 0.0, 1.0
    check(lambda v: ops.clip(v, 1e-7, 1 - 1e-7), p)
    check(lambda v: ops.clip(v, 0, 1), p)
    check(lambda v: ops.clip(v, 1e-7, 1 - 1e-7), p.astype(np.float64))


def test_pick_unpick_broadcast_like_sum_like():
    x, labels = f32(300, 3), rng.integers(0, 3, 300)
    check(ops.pick, x, labels)
    check(lambda g, y, like: ops.unpick(g, y, like), f32(300), labels, x)
    check(lambda g, like: ops.broadcast_like(g, like, axis=1, keepdims=False), f32(300), x)
    check(lambda g, like: ops.broadcast_like(g, like, axis=1, keepdims=True), f32(300, 1), x)
    check(lambda g, like: ops.broadcast_like(g, like), np.float32(2.0), x)
    check(ops.sum_like, f32(300, 64), f32(1, 64))
    check(ops.sum_like, f32(300, 64), f32(64))
    check(ops.sum_like, f32(300, 64), f32(300, 64))


def test_maximum_against_a_number_gives_the_same_bits_with_signed_zeros_and_nan():
    x = f32(300, 64)
    x[0, :4] = [-0.0, 0.0, np.nan, -np.inf]
    for value in (0.0, -0.0, 1.5):
        kernel = check(ops.maximum, value, x)
        assert kernel.consts[0].shape == x.shape  # compared with a whole array of the number: numpy's fast loop
        check(ops.maximum, x.astype(np.float64), value)
        check(ops.maximum, x[:1, :1], value)
        for data in (x, x.astype(np.float64)):  # np.minimum's kernel too (no built-in primitive uses it)
            array, number = Aval(data.shape, data.dtype), Aval((), data.dtype, weak=value)
            kernel = kernels.ufunc_kernel(np.minimum, [array, number], array)
            assert kernel.fn(data, kernel.consts[1]).tobytes() == np.minimum(data, value).tobytes()


@pytest.mark.parametrize("labels_dtype", ["uint8", "int64", "int32"])
def test_softmax_cce_grad(labels_dtype):
    logits = f32(300, 3)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, 300).astype(labels_dtype)
    kernel = check(nn_ops.softmax_cce_grad, probs, labels)
    assert kernel.inplace == (0,)
    expected = kernel.fn(probs, labels)
    buffer = probs.copy()  # the plan may give it its input's buffer
    assert kernel.fn(buffer, labels, out=buffer) is buffer
    assert buffer.tobytes() == expected.tobytes()
    check(lambda p, y: nn_ops.softmax_cce_grad(p, y, mask_clipped=True), probs, labels)
    check(nn_ops.softmax_cce_grad, probs.astype(np.float64), labels)


@pytest.mark.parametrize("op", [ops.pick, nn_ops.softmax_cce_grad])
@pytest.mark.parametrize("labels, labels_dtype", [
    (labels, dtype) for labels in ([0, 1, 2, 3], [0, -1, 2, 1], [0, 1, 2, 100])
    for dtype in ("int8", "int16", "int64", "uint16") if min(labels) >= 0 or dtype.startswith("int")])
def test_kernels_still_reject_bad_labels(op, labels, labels_dtype):
    x = f32(4, 3)
    labels = np.array(labels, dtype=labels_dtype)
    node = op(gn.Input("x", dtype="float32"), gn.Input("y", dtype=labels_dtype))
    out = node.prim.check(node, [aval(node.inputs[0], x), aval(node.inputs[1], labels)])
    kernel = node.prim.kernel_for(node, [aval(node.inputs[0], x), aval(node.inputs[1], labels)], Aval(*out))
    before = x.copy()
    with pytest.raises(ValueError, match=f"labels must lie in \\[0, 3\\), got values from {labels.min()} to"):
        kernel.fn(x, labels)
    assert x.tobytes() == before.tobytes()


@pytest.mark.parametrize("strict", [True, False])
def test_gate(strict):
    x = f32(300, 64)
    x[0, :5] = 0.0
    check(lambda g, a, b: ops.gate(g, a, b, strict=strict), f32(300, 64), x, 0.0)
    check(lambda g, a, b: ops.gate(g, a, b, strict=strict), f32(300, 3), 1e-7, np.abs(f32(300, 3)))
    # a float64 gradient gated by a float32 comparison with a Python number
    check(lambda g, a, b: ops.gate(g, a, b, strict=strict), f32(30, 3).astype(np.float64), f32(30, 3), 0.1)
    g = f32(300, 64)
    g[1, :4] = [np.nan, np.inf, -np.inf, -0.0]  # NaN/Inf times a 0 of the mask, -0.0 times 1
    x[1, :4], x[2, :3] = -1.0, [np.nan, 1.0, -0.0]
    kernel = check(lambda g, a, b: ops.gate(g, a, b, strict=strict), g, x, 0.0)
    assert kernel.inplace == (1,)  # the comparison may overwrite a dying x: then the product is made there
    expected = g * (x > 0.0 if strict else x >= 0.0)
    args = [kernel.consts.get(p, v) for p, v in zip(kernel.args, (g, x.copy(), 0.0))]
    assert kernel.fn(*args, out=args[1]).tobytes() == expected.tobytes()
    # the mask broadcast wider than the gradient, or narrower; integer and half-precision gradients;
    # a Python number
    check(lambda g, a, b: ops.gate(g, a, b, strict=strict), f32(1, 3), f32(30, 3), f32(30, 1))
    check(lambda g, a, b: ops.gate(g, a, b, strict=strict), f32(30, 3), f32(30, 1), 0.0)
    check(lambda g, a, b: ops.gate(g, a, b, strict=strict), np.arange(-6, 6, dtype=np.int32).reshape(4, 3),
          f32(4, 3), 0.0)
    check(lambda g, a, b: ops.gate(g, a, b, strict=strict), f32(4, 3).astype(np.float16), f32(4, 3), 0.0)
    check(lambda g, a, b: ops.gate(g, a, b, strict=strict), 2.5, f32(4, 3), 0.0)


def test_ops_without_a_kernel_run_their_own_forward():
    node = ops.equal(gn.Input("a", dtype="float32"), gn.Input("b", dtype="float32"))
    kernel = node.prim.kernel_for(node, [Aval((3,), np.dtype("float32"))] * 2,
                                Aval((3,), np.dtype("float32")))
    assert not kernel.out and kernel.views == ()  # a new array: equal declares it does not alias
    user = gn.define_primitive("first_of_two", lambda a, b: a, gn.same_shape, (gn.ZERO, gn.ZERO))(*node.inputs)
    kernel = user.prim.kernel_for(user, [Aval((3,), np.dtype("float32"))] * 2, Aval((3,), np.dtype("float32")))
    assert not kernel.out and kernel.views == (0, 1)  # a user's forward may return an input


@pytest.mark.parametrize("mask_dtype", [None, "float64", "float32"])
def test_dropout_mask_draws_the_same_mask_into_a_buffer(mask_dtype):
    x = gn.Input("x", dtype="float32")
    node = nn_ops.dropout_mask(x, 0.1, dtype=mask_dtype)
    out = Aval(*node.prim.check(node, [Aval((300, 64), np.dtype("float32"))]))
    kernel = node.prim.kernel_for(node, [Aval((300, 64), np.dtype("float32"))], out)
    results = []
    for buffer in (None, np.full(out.shape, np.nan, out.dtype)):
        np.random.seed(3)
        results.append(kernel.fn() if buffer is None else kernel.fn(out=buffer))
    np.random.seed(3)
    expected = node.prim.bind(node)(np.zeros((300, 64), np.float32))
    for got in results:
        assert got.dtype == expected.dtype == out.dtype and got.tobytes() == expected.tobytes()


def test_a_huge_relu_compares_with_the_number_itself():
    # no array of zeros as large as a huge activation: beyond a cache, both loops wait on memory
    big = Aval((1100, 1000), np.dtype("float32"))
    kernel = kernels.ufunc_kernel(np.maximum, [Aval((), None, weak=0.0), big], big)
    assert np.ndim(kernel.consts[0]) == 0


def test_dropout_mask_of_integers_is_float64_as_declared_optimized_or_not():
    # it was cast to the integers' dtype unoptimized (1 / 0.9 became 1), float64 optimized
    x = gn.Input("x", dtype="int64")
    mask = nn_ops.dropout_mask(x, 0.1)
    graph = gn.Graph([mask])
    masks = []
    for optimize in (False, True):
        np.random.seed(5)
        masks.append(graph.run({x: np.ones((40, 30), np.int64)}, optimize=optimize, keep="fetched")[mask])
    assert mask.dtype == masks[0].dtype == masks[1].dtype == np.float64
    assert masks[0].tobytes() == masks[1].tobytes() and set(np.unique(masks[0])) == {0.0, 1 / 0.9}
