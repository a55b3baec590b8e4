"""Every differentiable op, first and second order, against central finite differences in
float64: the torch-independent check of minigan's derivative formulas."""

from __future__ import annotations

import numpy as np
import pytest

import minigan
import minigan.functional as F
from minigan.autograd import nn_ops, ops
from minigan.autograd.function import Function
from tests.finite_diff import gradcheck, gradgradcheck


def spread(*shape, low=-2.0, high=2.0, seed=0, avoid=(0.0,)):
    """Distinct values in [low, high] (a jittered, shuffled grid), kept at least 1e-3 away
    from the ``avoid`` points (kinks such as 0 for relu/abs), so that max/sort ties and
    non-differentiable points never fall inside a finite-difference step."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    step = (high - low) / n
    v = low + step * (rng.permutation(n) + 0.5 + rng.uniform(-0.2, 0.2, n))
    for k in avoid:
        v = np.where(np.abs(v - k) < 1e-3, v + 2e-3, v)
    return v.reshape(shape)


def positive(*shape, seed=0):
    return spread(*shape, low=0.3, high=2.0, seed=seed)


def const(x, array, dtype=None):
    """A constant (no gradient) on x's backend."""
    return minigan.tensor(np.asarray(array), dtype=dtype, backend=x.backend)


def index(x, array):
    return x._be.asarray(np.asarray(array, dtype=np.int64))


def dropout(x):
    minigan.manual_seed(5)  # the same mask at every evaluation
    return F.dropout(x, 0.4)


I23 = np.array([[0, 2, 1], [1, 0, 2]])
HW_INDEX = np.array([[[[0, 5], [5, 8]], [[3, 3], [1, 7]]]])  # repeats: scatter must accumulate

# name: (fn of tensors, input arrays). Names before " " say the op; the coverage tests below
# make sure every op of minigan.functional and every primitive Function is here.
OPS = {
    # elementwise, binary (with broadcasting)
    "add": (lambda a, b: a + b, [spread(2, 3), spread(3, seed=1)]),
    "sub": (lambda a, b: a - b, [spread(2, 1, 3), spread(4, 1, seed=1)]),
    "mul": (lambda a, b: a * b, [spread(2, 3), spread(2, 1, seed=1)]),
    "div": (lambda a, b: a / b, [spread(2, 3), positive(3, seed=1)]),
    "rdiv scalar": (lambda a: 2.0 / a, [positive(2, 3)]),
    "pow tensor": (lambda a, b: a ** b, [positive(2, 3), spread(3, seed=1)]),
    "maximum": (minigan.maximum, [spread(2, 3), spread(3, seed=1)]),
    "minimum": (minigan.minimum, [spread(2, 3, seed=2), spread(2, 1, seed=3)]),
    "where": (lambda a, b: minigan.where(a > b, a * b, b), [spread(2, 3), spread(2, 3, seed=1)]),
    # elementwise, unary
    "neg": (lambda a: -a, [spread(2, 3)]),
    "pow scalar 3": (lambda a: a ** 3, [spread(2, 3)]),
    "pow scalar 2": (lambda a: a.pow(2), [spread(2, 3)]),
    "pow scalar -1.5": (lambda a: a ** -1.5, [positive(2, 3)]),
    "pow scalar 0": (lambda a: a ** 0 * a, [spread(2, 3)]),
    "exp": (lambda a: a.exp(), [spread(2, 3)]),
    "log": (lambda a: a.log(), [positive(2, 3)]),
    "sqrt": (lambda a: a.sqrt(), [positive(2, 3)]),
    "abs": (lambda a: a.abs(), [spread(2, 3)]),
    "tanh": (lambda a: a.tanh(), [spread(2, 3)]),
    "sigmoid": (lambda a: a.sigmoid(), [spread(2, 3)]),
    "relu": (lambda a: a.relu(), [spread(2, 3)]),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), [spread(3, 4, avoid=(-0.5, 0.5))]),
    "clamp min": (lambda a: a.clamp(min=0.25), [spread(3, 4, avoid=(0.25,))]),
    "clamp tensor bounds": (lambda a, lo: a.clamp(min=lo), [spread(2, 3), spread(3, seed=4)]),
    "cast": (lambda a: ops.Cast.apply(a * a, np.dtype(np.float64)), [spread(2, 3)]),
    "clone": (lambda a: a.clone() * a, [spread(2, 3)]),
    # reductions
    "sum": (lambda a: a.sum((0, 2)), [spread(2, 3, 2)]),
    "sum keepdim": (lambda a: a.sum(1, keepdim=True) * a, [spread(2, 3)]),
    "mean": (lambda a: a.mean(-1), [spread(2, 3)]),
    "var": (lambda a: a.var(0), [spread(3, 2)]),
    "var biased": (lambda a: a.var(1, unbiased=False, keepdim=True), [spread(2, 3)]),
    "std": (lambda a: a.std(), [spread(2, 3)]),
    "amax": (lambda a: a.amax((0, 1)), [spread(2, 3, 2)]),
    "amin": (lambda a: a.amin(1, keepdim=True), [spread(2, 3)]),
    "max all": (lambda a: a.max(), [spread(2, 3)]),
    "max dim": (lambda a: a.max(1), [spread(3, 4)]),
    "min dim keepdim": (lambda a: a.min(0, keepdim=True).values * a, [spread(3, 4)]),
    "norm 2": (lambda a: a.norm(2, dim=1), [spread(3, 4)]),
    "norm 1": (lambda a: a.norm(1), [spread(3, 4)]),
    "norm 3": (lambda a: a.norm(3, dim=0), [spread(3, 4)]),
    # layout
    "reshape": (lambda a: a.reshape(3, -1) * a.reshape(3, 2), [spread(2, 3)]),
    "permute": (lambda a: a.permute(2, 0, 1), [spread(2, 3, 2)]),
    "transpose T mT": (lambda a: a.transpose(0, 2) + a.T - a.mT.permute(1, 2, 0),
                       [spread(2, 2, 2)]),
    "flatten squeeze unsqueeze": (lambda a: a.unsqueeze(1).flatten(2).squeeze(1), [spread(2, 3)]),
    "expand": (lambda a: a.expand(2, 3, 4) * 1.5, [spread(3, 1)]),
    "getitem": (lambda a: a[1:, ::2, None, -1], [spread(3, 4, 2)]),
    "getitem ellipsis": (lambda a: a[..., 0] * a[0], [spread(2, 2)]),
    "slice backward": (lambda g: ops.SliceBackward.apply(g, (slice(1, 3), 0), (4, 2)),
                       [spread(2)]),
    "cat": (lambda a, b: minigan.cat([a, b * b, a], 1), [spread(2, 3), spread(2, 1, seed=1)]),
    "stack": (lambda a, b: minigan.stack([a, b], -1), [spread(2, 3), spread(2, 3, seed=1)]),
    "split chunk": (lambda a: a.split([1, 2], 1)[1] * a.chunk(2, 1)[0].sum(), [spread(2, 3)]),
    "sum_to": (lambda a: a.sum_to((1, 3)), [spread(2, 3)]),
    "matmul": (lambda a, b: a @ b, [spread(2, 2, 3), spread(3, 2, seed=1)]),
    "matmul vector": (lambda a, b: (a @ b) * (b @ a.T), [spread(2, 3), spread(3, seed=1)]),
    "index_add": (lambda g: ops.IndexAdd.apply(g, 0, index(g, [2, 0, 2]), 4), [spread(3, 2)]),
    # convolution and linear
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
               [spread(1, 2, 4, 4), spread(4, 1, 2, 2, seed=1), spread(4, seed=2)]),
    "conv2d dilation": (lambda x, w: F.conv2d(x, w, stride=(1, 2), dilation=(2, 1)),
                        [spread(2, 1, 5, 4), spread(2, 1, 2, 2, seed=1)]),
    "conv2d same": (lambda x, w: F.conv2d(x, w, padding="same"),
                    [spread(1, 1, 3, 3), spread(2, 1, 2, 2, seed=1)]),
    "conv2d unbatched": (lambda x, w: F.conv2d(x, w), [spread(1, 3, 3), spread(1, 1, 2, 2)]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                            output_padding=1, groups=2),
                         [spread(1, 2, 2, 2), spread(2, 1, 3, 3, seed=1), spread(2, seed=2)]),
    "conv_transpose2d dilation": (lambda x, w: F.conv_transpose2d(x, w, dilation=2, stride=2),
                                  [spread(1, 1, 2, 2), spread(1, 2, 2, 2, seed=1)]),
    "conv_transpose2d output_padding past stride": (
        lambda x, w: F.conv_transpose2d(x, w, stride=1, dilation=2, output_padding=1),
        [spread(1, 1, 2, 3), spread(1, 2, 2, 2, seed=1)]),
    "conv2d backward weight": (lambda x, g: nn_ops.Conv2dBackwardWeight.apply(
        x, g, (2, 2), (1, 1), (1, 0), (1, 1), 1), [spread(1, 2, 3, 3), spread(1, 2, 4, 2)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [spread(2, 3), spread(4, 3, seed=1),
                                                   spread(4, seed=2)]),
    "linear no bias 3-D": (lambda x, w: F.linear(x, w), [spread(2, 1, 3), spread(2, 3, seed=1)]),
    # normalization
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                   [spread(3, 2, 2, 1), spread(2, seed=1), spread(2, seed=2)]),
    "batch_norm 2-D": (lambda x: F.batch_norm(x, None, None, training=True, eps=0.1),
                       [spread(4, 3)]),
    "batch_norm eval": (lambda x, w: F.batch_norm(x, const(x, [0.5, -1.0]), const(x, [2.0, 0.3]),
                                                  w, training=False), [spread(2, 2, 3), spread(2)]),
    "instance_norm": (lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
                      [spread(2, 2, 2, 2), spread(2, seed=1), spread(2, seed=2)]),
    "normalize mean var outputs": (lambda x: nn_ops.Normalize.apply(x, (0, 2), 1e-3),
                                   [spread(2, 2, 3)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (2, 3), w, b),
                   [spread(2, 2, 3), spread(2, 3, seed=1), spread(2, 3, seed=2)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b),
                   [spread(2, 4, 2), spread(4, seed=1), spread(4, seed=2)]),
    # activations
    "functional relu": (F.relu, [spread(2, 3)]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), [spread(2, 3)]),
    "elu": (lambda x: F.elu(x, 0.7), [spread(2, 3)]),
    "functional tanh": (F.tanh, [spread(2, 3)]),
    "functional sigmoid": (F.sigmoid, [spread(2, 3)]),
    "softplus": (lambda x: F.softplus(x, beta=2.0, threshold=1.0), [spread(3, 3, avoid=(0.5,))]),
    "logsigmoid": (F.logsigmoid, [spread(2, 3)]),
    "softmax": (lambda x: F.softmax(x, 1), [spread(2, 3, 2)]),
    "log_softmax": (lambda x: F.log_softmax(x, -1), [spread(2, 3)]),
    "dropout": (dropout, [spread(3, 4)]),
    # padding, pooling, resampling
    "pad constant": (lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), [spread(1, 2, 2)]),
    "pad negative": (lambda x: F.pad(x, (-1, 1)), [spread(2, 3)]),
    "pad reflect": (lambda x: F.pad(x, (2, 1, 1, 0), mode="reflect"), [spread(1, 1, 3, 3)]),
    "pad replicate": (lambda x: F.pad(x, (1, 2), mode="replicate"), [spread(1, 2, 3)]),
    "pad circular": (lambda x: F.pad(x, (1, 1, 2, 0), mode="circular"), [spread(1, 1, 2, 3)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False),
                   [spread(1, 2, 3, 3)]),
    "avg_pool2d ceil": (lambda x: F.avg_pool2d(x, (2, 3), stride=2, ceil_mode=True),
                        [spread(1, 1, 3, 5)]),
    "avg_pool2d backward": (lambda g: nn_ops.AvgPool2dBackward.apply(
        g, (3, 3), (2, 2), (1, 1), (0, 0), False, True, None), [spread(1, 1, 2, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2, stride=1, padding=1), [spread(1, 2, 3, 3)]),
    "max_pool2d dilation ceil": (lambda x: F.max_pool2d(x, 2, stride=2, dilation=2,
                                                        ceil_mode=True), [spread(1, 1, 5, 5)]),
    "take_hw": (lambda x: nn_ops.TakeHW.apply(x, index(x, HW_INDEX)), [spread(1, 2, 3, 3)]),
    "scatter_add_hw": (lambda g: nn_ops.ScatterAddHW.apply(g, index(g, HW_INDEX), (3, 3)),
                       [spread(1, 2, 2, 2)]),
    "interpolate bilinear": (lambda x: F.interpolate(x, size=(3, 5), mode="bilinear"),
                             [spread(1, 1, 2, 3)]),
    "interpolate bilinear align_corners": (lambda x: F.interpolate(
        x, scale_factor=1.5, mode="bilinear", align_corners=True), [spread(1, 1, 2, 2)]),
    "interpolate nearest": (lambda x: F.interpolate(x, scale_factor=2), [spread(1, 1, 2, 2)]),
    "interpolate nearest-exact": (lambda x: F.interpolate(x, size=3, mode="nearest-exact"),
                                  [spread(1, 1, 2, 2)]),
    "embedding": (lambda w: F.embedding(const(w, I23), w), [spread(4, 2)]),
    "index_select": (lambda x: F.index_select(x, 1, const(x, [2, 0, 2, -1])), [spread(2, 3)]),
    # losses
    "binary_cross_entropy_with_logits": (
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, const(x, [1.0, 2.0, 0.5]),
                                                        pos_weight=const(x, [2.0, 1.0, 3.0])),
        [spread(2, 3), spread(2, 3, low=0.0, high=1.0, seed=1)]),
    "binary_cross_entropy": (lambda p, t: F.binary_cross_entropy(p, t, reduction="sum"),
                             [spread(2, 3, low=0.05, high=0.95),
                              spread(2, 3, low=0.0, high=1.0, seed=1)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, const(x, [2, -100, 0]),
                                                weight=const(x, [1.0, 2.0, 0.5]),
                                                label_smoothing=0.1), [spread(3, 3)]),
    "cross_entropy soft targets": (lambda x, t: F.cross_entropy(x, F.softmax(t, 1)),
                                   [spread(2, 3), spread(2, 3, seed=1)]),
    "cross_entropy spatial": (lambda x: F.cross_entropy(x, const(x, [[0, 2], [1, 1]]),
                                                        reduction="none"), [spread(2, 3, 2)]),
    "nll_loss": (lambda x: F.nll_loss(x, const(x, [1, 0, 2]), reduction="sum"), [spread(3, 3)]),
    "mse_loss": (lambda x, t: F.mse_loss(x, t), [spread(2, 3), spread(2, 3, seed=1)]),
    "l1_loss": (lambda x, t: F.l1_loss(x, t, reduction="sum"),
                [spread(2, 3), spread(2, 3, seed=1, low=-1.9, high=2.1)]),
}

# public functional ops that have no gradient to check
NOT_DIFFERENTIABLE = {"one_hot"}


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradcheck(name, backend):
    fn, inputs = OPS[name]
    gradcheck(fn, inputs, backend=backend, what=name, fast=_interpreted(backend))


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradgradcheck(name, backend):
    fn, inputs = OPS[name]
    gradgradcheck(fn, inputs, backend=backend, what=name, fast=_interpreted(backend))


def _interpreted(backend: str) -> bool:
    """Under Triton's interpreter every launch costs milliseconds: check along random
    directions there (finite_diff's fast mode); every element everywhere else."""
    return backend == "triton" and minigan.get_backend(backend).device == "cpu"


def test_every_functional_op_is_checked():
    checked = {name.split(" ")[0] for name in OPS}
    missing = sorted(set(F.__all__) - NOT_DIFFERENTIABLE - checked)
    assert not missing, f"minigan.functional ops without a gradient check: {missing}"


def _primitives() -> set:
    found, todo = set(), [Function]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__ in (ops.__name__, nn_ops.__name__):
                found.add(sub)
    return found


def test_every_primitive_function_is_checked(monkeypatch):
    """Run each entry forward and through a graph-recording backward, recording which
    Functions are applied: every primitive must appear (its backward is then checked by
    gradcheck, and the backward of the Functions its backward uses by gradgradcheck)."""
    seen = set()
    apply = Function.apply.__func__

    def recording(cls, *args, **kwargs):
        seen.add(cls)
        return apply(cls, *args, **kwargs)

    monkeypatch.setattr(Function, "apply", classmethod(recording))
    for fn, inputs in OPS.values():
        xs = [minigan.tensor(a, requires_grad=True) for a in inputs]
        out = fn(*xs)
        outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o.requires_grad]
        minigan.grad(sum(o.sum() for o in outs), xs, create_graph=True, allow_unused=True)
    missing = sorted(c.__name__ for c in _primitives() - seen)
    assert not missing, f"primitive Functions no gradient check reaches: {missing}"


def test_finite_differences_catch_a_wrong_derivative(backend):
    """The checker itself must fail on a wrong backward (first and second order)."""
    class WrongTanh(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_outputs()
            return ctx.k.tanh(a.array)

        @staticmethod
        def backward(ctx, g):
            y = ctx.saved_outputs[0]
            return g * (1 - y * y) * 1.0001  # 0.01% off

    class WrongSecondOrder(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return ctx.k.mul(a.array, a.array)

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * 2 * a.detach()  # right value, but no second-order path

    x = [spread(2, 3)]
    for fast in (False, True):
        with pytest.raises(AssertionError, match="gradient of input 0 differs"):
            gradcheck(WrongTanh.apply, x, backend=backend, what="wrong tanh", fast=fast)
        gradcheck(WrongSecondOrder.apply, x, backend=backend, fast=fast)
        with pytest.raises(AssertionError,
                           match=r"\(second order\): gradient of input 0 differs"):
            gradgradcheck(WrongSecondOrder.apply, x, backend=backend, fast=fast)
