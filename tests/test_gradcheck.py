"""Every differentiable op, first and second order, against central finite differences in
float64: the torch-independent check of minigan's derivative formulas."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import minigan
import minigan.functional as F
from minigan.autograd import nn_ops, ops
from minigan.autograd.function import Function
from minigan.losses.penalties import GradientNormPenalty
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


def seeded(fn):
    """fn with every backend's generator reseeded before each call, as dropout above: random
    ops (dropout masks, rrelu's slopes) draw the same values at every evaluation."""
    def run(*xs):
        minigan.manual_seed(5)
        return fn(*xs)
    return run


def quiet(fn):
    """fn without its deprecation warning (upsample*)."""
    def run(*xs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn(*xs)
    return run


I23 = np.array([[0, 2, 1], [1, 0, 2]])
SQRT8 = 2 * math.sqrt(2.0)  # exact gelu switches from its Taylor series to its erfc tail
# pairs (x, x - d) whose difference d stays away from a loss's breakpoints
X23 = spread(2, 3, seed=6)
D23 = spread(2, 3, seed=7, avoid=(-0.5, 0.0, 0.5))  # smooth_l1 beta=0.5, huber delta=0.5
SIGNS6 = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
R6 = spread(6, seed=8)
M6 = spread(6, seed=9, avoid=(0.3,))  # margin_ranking: margin - target (x1 - x2) = 0.3 - M6
HW_INDEX = np.array([[[[0, 5], [5, 8]], [[3, 3], [1, 7]]]])  # repeats: scatter must accumulate

_PEN = spread(3, 4, seed=10)
PEN_ROWS = _PEN / np.linalg.norm(_PEN, axis=1, keepdims=True) * np.array([[0.6], [1.5], [2.4]])

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
    "conv2d tanh activation": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1,
                                                        groups=2, activation="tanh"),
                             [spread(1, 2, 4, 4), spread(4, 1, 2, 2, seed=1), spread(4, seed=2)]),
    "conv2d leaky_relu epilogue": (lambda x, w: F.conv2d(x, w, activation=("leaky_relu", 0.2)),
                                   [spread(1, 1, 3, 3), spread(2, 1, 2, 2, seed=1)]),
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
    "batch_norm sigmoid": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True,
                                                        activation="sigmoid"),
                           [spread(3, 2, 2, 1), spread(2, seed=1), spread(2, seed=2)]),
    "batch_norm relu eval": (lambda x, w: F.batch_norm(
        x, const(x, [0.5, -1.0]), const(x, [2.0, 0.3]), w, training=False, activation="relu"),
        [spread(2, 2, 3), spread(2)]),
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
    # the fused normalization (nn_ops.NormAffineAct): each layout with each activation
    "batch_norm leaky_relu": (lambda x, w, b: F.batch_norm(
        x, None, None, w, b, training=True, activation=("leaky_relu", 0.2)),
        [spread(3, 2, 2, 1), spread(2, seed=1), spread(2, seed=2)]),
    "batch_norm relu 2-D weight only": (lambda x, w: F.batch_norm(
        x, None, None, w, training=True, activation="relu"), [spread(4, 3), spread(3, seed=1)]),
    "batch_norm tanh": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True,
                                                     activation="tanh"),
                        [spread(3, 2, 2, 1), spread(2, seed=1), spread(2, seed=2)]),
    "instance_norm relu": (lambda x, w, b: F.instance_norm(x, weight=w, bias=b,
                                                           activation="relu"),
                           [spread(2, 2, 3), spread(2, seed=1), spread(2, seed=2)]),
    "instance_norm leaky_relu bias only": (lambda x, b: F.instance_norm(
        x, bias=b, activation=("leaky_relu", 0.1)), [spread(2, 2, 3), spread(2, seed=2)]),
    "instance_norm sigmoid": (lambda x, w, b: F.instance_norm(x, weight=w, bias=b,
                                                              activation="sigmoid"),
                              [spread(2, 2, 2, 2), spread(2, seed=1), spread(2, seed=2)]),
    "instance_norm tanh no affine": (lambda x: F.instance_norm(x, activation="tanh"),
                                     [spread(2, 2, 3)]),
    "group_norm tanh": (lambda x, w, b: F.group_norm(x, 2, w, b, activation="tanh"),
                        [spread(2, 4, 2), spread(4, seed=1), spread(4, seed=2)]),
    "group_norm relu": (lambda x, w, b: F.group_norm(x, 2, w, b, activation="relu"),
                        [spread(2, 4, 1, 2), spread(4, seed=1), spread(4, seed=2)]),
    "group_norm leaky_relu": (lambda x, w: F.group_norm(x, 1, w, activation=("leaky_relu", 0.3)),
                              [spread(2, 2, 3), spread(2, seed=1)]),
    "group_norm sigmoid": (lambda x, w, b: F.group_norm(x, 2, w, b, activation="sigmoid"),
                           [spread(1, 4, 3), spread(4, seed=1), spread(4, seed=2)]),
    "norm affine act outputs": (lambda x, w: nn_ops.NormAffineAct.apply(
        x, w, None, (1, 4, 3, 2, 1, 3), 1e-3, ("tanh", 0.0)), [spread(2, 2, 3), spread(2)]),
    # the per-sample gradient penalties (losses.penalties.GradientNormPenalty); norms
    # 0.6, 1.5, 2.4: away from center 1 (one-sided's kink)
    "gradient penalty two-sided": (lambda g: GradientNormPenalty.apply(g, "two-sided", 1.0, 6.0),
                                   [PEN_ROWS]),
    "gradient penalty one-sided": (lambda g: GradientNormPenalty.apply(g, "one-sided", 1.0, 6.0),
                                   [PEN_ROWS]),
    "gradient penalty squared": (lambda g: GradientNormPenalty.apply(g, "squared", 1.0, 6.0),
                                 [PEN_ROWS]),
    "gradient penalty power": (lambda g: GradientNormPenalty.apply(g, "power", 1.0, 6.0),
                               [PEN_ROWS]),
    "gradient penalty power 3": (lambda g: GradientNormPenalty.apply(g, "power", 1.0, 3.0),
                                 [PEN_ROWS]),
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
    "hardtanh": (F.hardtanh, [spread(3, 4, avoid=(-1.0, 1.0))]),
    "hardtanh bounds": (lambda x: F.hardtanh(x, -0.5, 1.5), [spread(3, 4, avoid=(-0.5, 1.5))]),
    "relu6": (F.relu6, [spread(3, 4, low=-1.0, high=7.0, avoid=(0.0, 6.0))]),
    "hardsigmoid": (F.hardsigmoid, [spread(3, 4, low=-4.0, high=4.0, avoid=(-3.0, 3.0))]),
    "hardswish": (F.hardswish, [spread(3, 4, low=-4.0, high=4.0, avoid=(-3.0, 3.0))]),
    "selu": (F.selu, [spread(2, 3)]),
    "celu": (lambda x: F.celu(x, 0.7), [spread(2, 3)]),
    "silu": (F.silu, [spread(2, 3)]),
    "mish": (F.mish, [spread(2, 3)]),
    "gelu": (F.gelu, [spread(3, 4, low=-4.0, high=4.0, avoid=(-SQRT8, SQRT8))]),
    "gelu tanh": (lambda x: F.gelu(x, approximate="tanh"), [spread(2, 3)]),
    "softsign": (F.softsign, [spread(2, 3)]),
    "tanhshrink": (F.tanhshrink, [spread(2, 3)]),
    "softmin": (lambda x: F.softmin(x, 1), [spread(2, 3, 2)]),
    "threshold": (lambda x: F.threshold(x, 0.3, -1.5), [spread(3, 4, avoid=(0.3,))]),
    "hardshrink": (lambda x: F.hardshrink(x, 0.5), [spread(3, 4, avoid=(-0.5, 0.5))]),
    "softshrink": (lambda x: F.softshrink(x, 0.5), [spread(3, 4, avoid=(-0.5, 0.5))]),
    "glu": (lambda x: F.glu(x, 1), [spread(2, 4, 2)]),
    "prelu": (F.prelu, [spread(2, 3, 2), spread(3, seed=1)]),
    "prelu one weight": (F.prelu, [spread(2, 3), spread(1, seed=1)]),
    "rrelu": (lambda x: F.rrelu(x, 0.1, 0.3), [spread(2, 3)]),
    "rrelu training": (seeded(lambda x: F.rrelu(x, 0.1, 0.3, training=True)), [spread(3, 4)]),
    # dropouts: the identity in eval, one fixed mask per evaluation in training
    "dropout1d": (seeded(lambda x: F.dropout1d(x, 0.4)), [spread(2, 3, 2)]),
    "dropout1d unbatched": (seeded(lambda x: F.dropout1d(x, 0.4)), [spread(4, 2)]),
    "dropout1d eval": (lambda x: F.dropout1d(x, 0.4, training=False) * x, [spread(2, 3, 2)]),
    "dropout2d": (seeded(lambda x: F.dropout2d(x, 0.4)), [spread(2, 3, 1, 2)]),
    "dropout2d eval": (lambda x: F.dropout2d(x, 0.4, training=False) * x, [spread(1, 2, 2, 2)]),
    "dropout3d": (seeded(lambda x: F.dropout3d(x, 0.4)), [spread(2, 3, 1, 1, 2)]),
    "dropout3d eval": (lambda x: F.dropout3d(x, 0.4, training=False) * x,
                       [spread(1, 2, 1, 2, 2)]),
    "alpha_dropout": (seeded(lambda x: F.alpha_dropout(x, 0.4, training=True)), [spread(3, 4)]),
    "alpha_dropout eval": (lambda x: F.alpha_dropout(x, 0.4) * x, [spread(2, 3)]),
    "feature_alpha_dropout": (seeded(lambda x: F.feature_alpha_dropout(x, 0.4, training=True)),
                              [spread(2, 3, 2)]),
    "feature_alpha_dropout eval": (lambda x: F.feature_alpha_dropout(x, 0.4) * x,
                                   [spread(2, 3, 2)]),
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
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 2, stride=1, padding=1, count_include_pad=False),
                   [spread(1, 2, 4)]),
    "avg_pool1d ceil unbatched": (lambda x: F.avg_pool1d(x, 3, stride=2, ceil_mode=True),
                                  [spread(2, 6)]),
    "max_pool1d": (lambda x: F.max_pool1d(x, 2, stride=1, padding=1), [spread(1, 2, 4)]),
    "max_pool1d dilation unbatched": (lambda x: F.max_pool1d(x, 2, dilation=2), [spread(2, 6)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [spread(1, 2, 3, 5)]),
    "adaptive_avg_pool2d unbatched keep width": (lambda x: F.adaptive_avg_pool2d(x, (2, None)),
                                                 [spread(2, 3, 2)]),
    "adaptive_avg_pool1d": (lambda x: F.adaptive_avg_pool1d(x, 3), [spread(2, 2, 5)]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (2, 3)), [spread(1, 2, 5, 4)]),
    "adaptive_max_pool2d divisible": (lambda x: F.adaptive_max_pool2d(x, 2),
                                      [spread(1, 2, 4, 4)]),
    "pixel_shuffle": (lambda x: F.pixel_shuffle(x, 2), [spread(1, 8, 1, 2)]),
    "pixel_unshuffle": (lambda x: F.pixel_unshuffle(x, 2), [spread(1, 2, 2, 4)]),
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
    "interpolate bicubic": (lambda x: F.interpolate(x, size=(3, 5), mode="bicubic"),
                            [spread(1, 1, 2, 3)]),
    "interpolate bicubic align_corners": (lambda x: F.interpolate(
        x, scale_factor=1.5, mode="bicubic", align_corners=True), [spread(1, 1, 3, 3)]),
    "interpolate area": (lambda x: F.interpolate(x, size=(2, 3), mode="area"),
                         [spread(1, 1, 3, 4)]),
    "upsample": (quiet(lambda x: F.upsample(x, scale_factor=2, mode="bilinear")),
                 [spread(1, 1, 2, 2)]),
    "upsample_nearest": (quiet(lambda x: F.upsample_nearest(x, size=(3, 4))),
                         [spread(1, 1, 2, 2)]),
    "upsample_bilinear": (quiet(lambda x: F.upsample_bilinear(x, scale_factor=1.5)),
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
    "smooth_l1_loss": (lambda x, t: F.smooth_l1_loss(x, t, beta=0.5), [X23, X23 - D23]),
    "smooth_l1_loss beta=0": (lambda x, t: F.smooth_l1_loss(x, t, reduction="sum", beta=0.0),
                              [X23, X23 - D23]),
    "huber_loss": (lambda x, t: F.huber_loss(x, t, delta=0.5), [X23, X23 - D23]),
    "huber_loss weight": (lambda x, t, w: F.huber_loss(x, t, reduction="sum", delta=0.5,
                                                       weight=w),
                          [X23, X23 - D23, positive(2, 3, seed=1)]),
    "kl_div": (lambda x, t: F.kl_div(x, t, reduction="batchmean"),
               [spread(2, 3), spread(2, 3, low=0.05, high=0.9, seed=1)]),
    "kl_div log_target": (lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True),
                          [spread(2, 3), spread(2, 3, seed=1)]),
    "hinge_embedding_loss": (lambda x: F.hinge_embedding_loss(
        x, const(x, [[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]]), margin=0.8),
        [spread(2, 3, avoid=(0.8,))]),  # max(0, margin - x): kink at x = margin
    "soft_margin_loss": (F.soft_margin_loss, [spread(2, 3), spread(2, 3, seed=1)]),
    "margin_ranking_loss": (lambda a, b, t: F.margin_ranking_loss(a, b, t, margin=0.3),
                            [R6, R6 - SIGNS6 * M6, SIGNS6]),
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b, dim=1),
                          [spread(2, 3), spread(2, 3, seed=1)]),
    "cosine_similarity broadcast": (lambda a, b: F.cosine_similarity(a, b, dim=-1),
                                    [spread(2, 3), spread(3, seed=1)]),
    # targets 1, -1, 1, -1: cos = -0.42, -0.99, 0.35, 0.94 (one -1 row inside the margin, one
    # past it)
    "cosine_embedding_loss": (lambda a, b: F.cosine_embedding_loss(
        a, b, const(a, [1, -1, 1, -1]), margin=0.2), [spread(4, 3), spread(4, 3, seed=1)]),
    "pairwise_distance": (F.pairwise_distance, [spread(2, 3), spread(2, 3, seed=1)]),
    "pairwise_distance p=3 keepdim": (lambda a, b: F.pairwise_distance(a, b, 3.0, keepdim=True),
                                      [spread(2, 3), spread(2, 3, seed=1)]),
    "normalize": (F.normalize, [spread(2, 3)]),
    "normalize p=1.5": (lambda x: F.normalize(x, 1.5, dim=0), [spread(2, 3)]),
    # margin + d(a, p) - d(a, n) = -0.17, 1.08, 3.49 (one row below the hinge); swap picks
    # d(p, n) in the second row (1.94 < 1.97)
    "triplet_margin_loss": (lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=0.2),
                            [spread(3, 2), spread(3, 2, seed=1), spread(3, 2, seed=2)]),
    "triplet_margin_loss swap": (lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=0.2,
                                                                       swap=True),
                                 [spread(3, 2), spread(3, 2, seed=1), spread(3, 2, seed=2)]),
    "gaussian_nll_loss": (F.gaussian_nll_loss,
                          [spread(2, 3), spread(2, 3, seed=1), positive(2, 3, seed=2)]),
    "gaussian_nll_loss full var per row": (lambda x, t, v: F.gaussian_nll_loss(
        x, t, v, full=True, reduction="sum"), [spread(2, 3), spread(2, 3, seed=1),
                                               positive(2, seed=2)]),
    "poisson_nll_loss": (F.poisson_nll_loss, [spread(2, 3), positive(2, 3, seed=1)]),
    # Stirling's term (targets > 1) jumps at target 1
    "poisson_nll_loss full": (lambda x, t: F.poisson_nll_loss(x, t, log_input=False, full=True),
                              [positive(2, 3), spread(2, 3, low=0.3, high=3.0, seed=1,
                                                      avoid=(1.0,))]),
    "multilabel_soft_margin_loss": (lambda x, t: F.multilabel_soft_margin_loss(
        x, t, weight=const(x, [1.0, 2.0, 0.5])),
        [spread(2, 3), spread(2, 3, low=0.0, high=1.0, seed=1)]),
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
