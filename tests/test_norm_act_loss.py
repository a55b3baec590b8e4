"""Normalizations, activations, dropout and the classification/regression losses of
minigan.functional against torch.nn.functional: outputs, input and parameter gradients,
second-order (gradient-penalty-shaped) gradients, and the running statistics that the
normalizations update in training."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import minigan
import minigan.functional as F
from tests.torch_ref import assert_close, check

REDUCTIONS = ["mean", "sum", "none"]
eps_values = st.floats(1e-5, 0.5)


def draw_rng(data) -> np.random.Generator:
    """One generator per example, so the arrays of an example differ from each other."""
    return np.random.default_rng(data.draw(st.integers(0, 2**31 - 1), label="seed"))


def away_from_zero(rng, shape, low=0.05, high=4.0) -> np.ndarray:
    """Values with |x| in [low, high], random signs: no input sits on a kink at 0."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def present(tensors, flags) -> list:
    """Spread the tensors given for the optional arguments marked present; None for the rest."""
    it = iter(tensors)
    return [next(it) if flag else None for flag in flags]


def torch_affine(params, flags) -> list:
    """torch's weight and bias. torch 2.13's double backward of batch/instance/layer/group
    norm fails ("Expected a proper Tensor but got None") when bias takes gradients and weight
    is None; a constant weight of ones is the same function and sidesteps that torch bug."""
    weight, bias = present(params, flags)
    if weight is None and bias is not None:
        weight = torch.ones_like(bias)
    return [weight, bias]


def buffers(arrays, dtype, backend):
    """The same running statistics as minigan and torch tensors (None stays None)."""
    if arrays is None:
        return (None, None), (None, None)
    cast = [np.asarray(a, dtype=dtype) for a in arrays]
    return (tuple(minigan.tensor(a, backend=backend) for a in cast),
            tuple(torch.tensor(a) for a in cast))


def assert_buffers(ours, theirs, dtype, what):
    for name, m, t in zip(("running_mean", "running_var"), ours, theirs):
        if t is not None:
            assert_close(m, t, dtype, f"{what}: {name}")


# --- normalization ------------------------------------------------------------------------
@st.composite
def channel_shapes(draw, min_dims=2, max_dims=4):
    """(N, C, *spatial) with more than one value per channel, as training requires."""
    ndim = draw(st.integers(min_dims, max_dims))
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
    if n * int(np.prod(spatial)) < 2:
        n = 2
    return (n, c) + spatial


def channel_values(rng, shape) -> np.ndarray:
    """Normal values with a per-channel offset and spread, so no statistic is trivially 0/1."""
    view = (1, shape[1]) + (1,) * (len(shape) - 2)
    spread = rng.uniform(0.3, 3.0, shape[1]).reshape(view)
    offset = rng.uniform(-5.0, 5.0, shape[1]).reshape(view)
    return rng.standard_normal(shape) * spread + offset


def running_stats(rng, channels):
    return rng.uniform(-2.0, 2.0, channels), rng.uniform(0.2, 3.0, channels)


def affine_params(rng, data, shape):
    """Optional weight and bias: (flags, arrays of the present ones)."""
    flags = (data.draw(st.booleans(), label="weight"), data.draw(st.booleans(), label="bias"))
    arrays = [rng.uniform(-2.0, 2.0, shape) for flag in flags if flag]
    return flags, arrays


@given(data=st.data())
def test_batch_norm_training(backend, dtype, data):
    rng = draw_rng(data)
    shape = data.draw(channel_shapes())
    flags, params = affine_params(rng, data, shape[1])
    momentum, eps = data.draw(st.floats(0.0, 1.0)), data.draw(eps_values)
    track = data.draw(st.booleans(), label="running stats")
    ours_stats, their_stats = buffers(running_stats(rng, shape[1]) if track else None, dtype,
                                      backend)
    check(lambda x, *p: F.batch_norm(x, *ours_stats, *present(p, flags), True, momentum, eps),
          lambda x, *p: TF.batch_norm(x, *their_stats, *torch_affine(p, flags), True, momentum,
                                      eps),
          [channel_values(rng, shape)] + params, backend=backend, dtype=dtype,
          what=f"batch_norm training {shape}")
    assert_buffers(ours_stats, their_stats, dtype, "batch_norm")


@given(data=st.data())
def test_batch_norm_running_stats_over_calls(backend, dtype, data):
    """Several training calls (the unbiased variance feeds running_var), then eval with them."""
    rng = draw_rng(data)
    shape = data.draw(channel_shapes())
    momentum, eps = data.draw(st.floats(0.0, 1.0)), data.draw(eps_values)
    ours_stats, their_stats = buffers(running_stats(rng, shape[1]), dtype, backend)
    for step in range(data.draw(st.integers(2, 5), label="calls")):
        x = channel_values(rng, shape).astype(dtype)
        F.batch_norm(minigan.tensor(x, backend=backend), *ours_stats, training=True,
                     momentum=momentum, eps=eps)
        TF.batch_norm(torch.tensor(x), *their_stats, training=True, momentum=momentum, eps=eps)
        assert_buffers(ours_stats, their_stats, dtype, f"batch_norm after call {step + 1}")
    x = channel_values(rng, shape).astype(dtype)
    assert_close(F.batch_norm(minigan.tensor(x, backend=backend), *ours_stats, eps=eps),
                 TF.batch_norm(torch.tensor(x), *their_stats, eps=eps), dtype,
                 "batch_norm eval with the accumulated statistics")


@given(data=st.data())
def test_batch_norm_eval(backend, dtype, data):
    rng = draw_rng(data)
    shape = data.draw(channel_shapes())
    flags, params = affine_params(rng, data, shape[1])
    eps = data.draw(eps_values)
    mean, var = running_stats(rng, shape[1])
    check(lambda x, m, v, *p: F.batch_norm(x, m, v, *present(p, flags), False, 0.1, eps),
          lambda x, m, v, *p: TF.batch_norm(x, m, v, *torch_affine(p, flags), False, 0.1, eps),
          [channel_values(rng, shape), mean, var] + params, backend=backend, dtype=dtype,
          grad=[True, False, False] + [True] * len(params), what=f"batch_norm eval {shape}")


def test_batch_norm_eval_leaves_running_stats_alone(backend, dtype):
    rng = np.random.default_rng(0)
    (mean, var), _ = buffers(running_stats(rng, 3), dtype, backend)
    before = mean.numpy().copy(), var.numpy().copy()
    F.batch_norm(minigan.tensor(channel_values(rng, (4, 3, 2)).astype(dtype), backend=backend),
                 mean, var, training=False, momentum=0.5)
    np.testing.assert_array_equal(mean.numpy(), before[0])
    np.testing.assert_array_equal(var.numpy(), before[1])


@given(data=st.data())
def test_instance_norm(backend, dtype, data):
    rng = draw_rng(data)
    shape = data.draw(channel_shapes(min_dims=3))
    if int(np.prod(shape[2:])) < 2:  # statistics over one spatial value are undefined
        shape = shape[:2] + (2,) + shape[3:]
    flags, params = affine_params(rng, data, shape[1])
    momentum, eps = data.draw(st.floats(0.0, 1.0)), data.draw(eps_values)
    use_input_stats = data.draw(st.booleans(), label="use_input_stats")
    track = not use_input_stats or data.draw(st.booleans(), label="running stats")
    ours_stats, their_stats = buffers(running_stats(rng, shape[1]) if track else None, dtype,
                                      backend)
    check(lambda x, *p: F.instance_norm(x, *ours_stats, *present(p, flags), use_input_stats,
                                        momentum, eps),
          lambda x, *p: TF.instance_norm(x, *their_stats, *torch_affine(p, flags), use_input_stats,
                                         momentum, eps),
          [channel_values(rng, shape)] + params, backend=backend, dtype=dtype,
          what=f"instance_norm {shape} use_input_stats={use_input_stats}")
    assert_buffers(ours_stats, their_stats, dtype, "instance_norm")


@given(data=st.data())
def test_layer_norm(backend, dtype, data):
    rng = draw_rng(data)
    shape = data.draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    k = data.draw(st.integers(1, min(3, len(shape))), label="normalized dims")
    normalized = shape[len(shape) - k:]
    if int(np.prod(normalized)) < 2:
        shape = shape[:-1] + (3,)
        normalized = normalized[:-1] + (3,)
    # an int normalized_shape (nn.LayerNorm's spelling) for minigan; F.layer_norm in torch
    # takes only a tuple
    arg = normalized[0] if k == 1 and data.draw(st.booleans(), label="int shape") else normalized
    flags, params = affine_params(rng, data, normalized)
    eps = data.draw(eps_values)
    check(lambda x, *p: F.layer_norm(x, arg, *present(p, flags), eps),
          lambda x, *p: TF.layer_norm(x, normalized, *torch_affine(p, flags), eps),
          [rng.standard_normal(shape) * 2 + rng.uniform(-3, 3)] + params, backend=backend,
          dtype=dtype, what=f"layer_norm {shape} over {normalized}")


@given(data=st.data())
def test_group_norm(backend, dtype, data):
    rng = draw_rng(data)
    groups, per_group = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    spatial = data.draw(array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    if per_group * int(np.prod(spatial)) < 2:
        spatial = spatial + (2,)
    shape = (data.draw(st.integers(1, 3)), groups * per_group) + spatial
    flags, params = affine_params(rng, data, shape[1])
    eps = data.draw(eps_values)
    check(lambda x, *p: F.group_norm(x, groups, *present(p, flags), eps),
          lambda x, *p: TF.group_norm(x, groups, *torch_affine(p, flags), eps),
          [channel_values(rng, shape)] + params, backend=backend, dtype=dtype,
          what=f"group_norm {shape} groups={groups}")


# --- activations --------------------------------------------------------------------------
def saturating(rng, shape) -> np.ndarray:
    """Moderate values with about a quarter of them pushed out to |x| in [30, 60]."""
    x = away_from_zero(rng, shape)
    far = rng.random(shape) < 0.25
    return np.where(far, np.sign(x) * rng.uniform(30.0, 60.0, shape), x)


def elu_values(rng, shape) -> np.ndarray:
    """Large positive inputs too: exp must never see them (overflow, then inf * 0 = NaN)."""
    x = away_from_zero(rng, shape)
    return np.where(rng.random(shape) < 0.25, rng.uniform(50.0, 1000.0, shape), x)


def logsigmoid_values(rng, shape) -> np.ndarray:
    """Saturated values and the band x in (-36, -20), where a thresholded softplus is off."""
    x = saturating(rng, shape)
    return np.where(rng.random(shape) < 0.25, rng.uniform(-36.0, -20.0, shape), x)


# name: (hyper-parameter strategy, minigan, torch, values(rng, shape, hyper))
ACTIVATIONS = {
    "relu": (st.just(None), lambda x, h: F.relu(x), lambda x, h: TF.relu(x),
             lambda rng, s, h: away_from_zero(rng, s)),
    "leaky_relu": (st.floats(-0.5, 1.5), F.leaky_relu, TF.leaky_relu,
                   lambda rng, s, h: away_from_zero(rng, s)),
    "elu": (st.floats(0.1, 3.0), F.elu, TF.elu, lambda rng, s, h: elu_values(rng, s)),
    "tanh": (st.just(None), lambda x, h: F.tanh(x), lambda x, h: TF.tanh(x),
             lambda rng, s, h: saturating(rng, s)),
    "sigmoid": (st.just(None), lambda x, h: F.sigmoid(x), lambda x, h: TF.sigmoid(x),
                lambda rng, s, h: saturating(rng, s)),
    "logsigmoid": (st.just(None), lambda x, h: F.logsigmoid(x), lambda x, h: TF.logsigmoid(x),
                   lambda rng, s, h: logsigmoid_values(rng, s)),
    # beta * x spans both sides of the threshold: the soft branch and the linear one
    "softplus": (st.tuples(st.floats(0.25, 4.0), st.floats(0.5, 20.0)),
                 lambda x, h: F.softplus(x, *h), lambda x, h: TF.softplus(x, *h),
                 lambda rng, s, h: rng.uniform(-2.0, 2.0, s) * h[1] / h[0]),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(data=st.data())
def test_activation(name, backend, dtype, data):
    hyper_strategy, ours, theirs, values = ACTIVATIONS[name]
    rng = draw_rng(data)
    hyper = data.draw(hyper_strategy, label="hyper-parameter")
    shape = data.draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5))
    check(lambda x: ours(x, hyper), lambda x: theirs(x, hyper), [values(rng, shape, hyper)],
          backend=backend, dtype=dtype, what=f"{name}({hyper})")


def test_activation_subgradients_at_kinks(backend, dtype):
    """torch's conventions where the derivative jumps: relu'(0) = 0, leaky_relu'(0) = slope,
    elu'(0) = alpha, |x|'(0) = 0 (l1_loss), softplus takes the soft branch at beta x ==
    threshold."""
    x = np.array([-1.0, 0.0, 0.0, 1.0])
    for name, ours, theirs in (
            ("relu", F.relu, TF.relu),
            ("leaky_relu", lambda t: F.leaky_relu(t, 0.3), lambda t: TF.leaky_relu(t, 0.3)),
            ("l1_loss", lambda t: F.l1_loss(t, t * 0, reduction="none"),
             lambda t: TF.l1_loss(t, t * 0, reduction="none"))):
        check(ours, theirs, [x], backend=backend, dtype=dtype, what=f"{name} at its kink")
    # A legitimate difference in the second order: torch's double backward of elu masks with
    # x < 0 and of softplus with beta x < threshold, while their backward takes the other
    # branch on equality (x <= 0, beta x <= threshold). minigan keeps one branch for both
    # orders, so its elu''(0) is alpha and its softplus'' at the threshold is the soft
    # branch's, where torch's are 0. Only the first order is a shared convention.
    for name, ours, theirs in (
            ("elu", lambda t: F.elu(t, 0.7), lambda t: TF.elu(t, 0.7)),
            ("softplus", lambda t: F.softplus(t + 3, 2.0, 6.0),
             lambda t: TF.softplus(t + 3, 2.0, 6.0))):
        check(ours, theirs, [x], backend=backend, dtype=dtype, second_order=False,
              what=f"{name} at its kink")


@pytest.mark.parametrize("log", [False, True])
@given(data=st.data())
def test_softmax(log, backend, dtype, data):
    rng = draw_rng(data)
    shape = data.draw(array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    dim = data.draw(st.one_of(st.none(), st.integers(-max(len(shape), 1),
                                                     max(len(shape), 1) - 1)), label="dim")
    ours, theirs = (F.log_softmax, TF.log_softmax) if log else (F.softmax, TF.softmax)
    x = rng.uniform(-5.0, 5.0, shape) + rng.choice([0.0, 40.0])  # a shift softmax cancels

    def torch_fn(t):
        with warnings.catch_warnings():  # dim=None: torch warns about the implicit choice
            warnings.simplefilter("ignore", UserWarning)
            return theirs(t, dim)

    check(lambda t: ours(t, dim), torch_fn, [x], backend=backend, dtype=dtype,
          what=f"{'log_' if log else ''}softmax {shape} dim={dim}")


# --- dropout ------------------------------------------------------------------------------
def test_dropout_identities(backend, dtype):
    """Eval mode and p=0 return the input (same values and gradient); p=1 zeros everything."""
    x = minigan.tensor(np.random.default_rng(0).standard_normal((4, 5)), dtype=dtype,
                       requires_grad=True, backend=backend)
    for kwargs in ({"p": 0.5, "training": False}, {"p": 0.0}):
        y = F.dropout(x, **kwargs)
        np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())
        (g,) = minigan.grad(y.sum(), [x])
        np.testing.assert_array_equal(g.numpy(), np.ones((4, 5)))
    y = F.dropout(x, p=1.0)
    np.testing.assert_array_equal(y.detach().numpy(), np.zeros((4, 5)))
    (g,) = minigan.grad(y.sum(), [x])
    np.testing.assert_array_equal(g.numpy(), np.zeros((4, 5)))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_one_minus_p_and_scales_the_gradient(p, backend, dtype):
    minigan.manual_seed(7)
    x = minigan.tensor(np.random.default_rng(1).uniform(0.5, 2.0, (300, 300)), dtype=dtype,
                       requires_grad=True, backend=backend)
    y = F.dropout(x, p)
    kept = y.detach().numpy() != 0
    # 90000 Bernoulli(1 - p) draws: the kept fraction has std <= 0.0017
    assert abs(kept.mean() - (1 - p)) < 0.01, f"kept {kept.mean()} for p={p}"
    np.testing.assert_allclose(y.detach().numpy()[kept], x.detach().numpy()[kept] / (1 - p),
                               rtol=1e-6)
    v = np.random.default_rng(2).standard_normal((300, 300)).astype(dtype)
    (g,) = minigan.grad((y * minigan.tensor(v, backend=backend)).sum(), [x])
    np.testing.assert_allclose(g.numpy(), kept * v / (1 - p), rtol=1e-6)


def test_dropout_manual_seed_reproduces_the_mask(backend):
    x = minigan.ones(20, 30, backend=backend)
    minigan.manual_seed(11)
    first = F.dropout(x, 0.4).numpy()
    second = F.dropout(x, 0.4).numpy()
    minigan.manual_seed(11)
    np.testing.assert_array_equal(F.dropout(x, 0.4).numpy(), first)
    np.testing.assert_array_equal(F.dropout(x, 0.4).numpy(), second)
    assert (first != second).any()


# --- losses -------------------------------------------------------------------------------
small_shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_binary_cross_entropy_with_logits(reduction, backend, dtype, data):
    rng = draw_rng(data)
    shape = data.draw(small_shapes)
    # large |logits|: log(1 + exp(-x)) must stay stable, and exact in (-36, -20) too
    logits = logsigmoid_values(rng, shape)
    target = rng.uniform(0.0, 1.0, shape)
    weight_shape = data.draw(st.sampled_from([None, shape, shape[-1:]]), label="weight shape")
    use_pos_weight = data.draw(st.booleans(), label="pos_weight")
    extra = [rng.uniform(0.2, 2.0, s) for s in (weight_shape, shape[-1:] if use_pos_weight
                                                 else None) if s is not None]
    flags = (weight_shape is not None, use_pos_weight)

    def call(fn):
        return lambda x, t, *w: fn(x, t, *present(w, flags)[:1], reduction=reduction,
                                   pos_weight=present(w, flags)[1])

    # torch defines no derivative for weight and pos_weight
    check(call(F.binary_cross_entropy_with_logits), call(TF.binary_cross_entropy_with_logits),
          [logits, target] + extra, backend=backend, dtype=dtype,
          grad=[True, True] + [False] * len(extra),
          what=f"binary_cross_entropy_with_logits {shape} {flags} {reduction}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_binary_cross_entropy(reduction, backend, dtype, data):
    rng = draw_rng(data)
    shape = data.draw(small_shapes)
    # torch's double backward divides by (p + 1e-12)^2 (1 - p + 1e-12)^2; p in [0.05, 0.95]
    # keeps that epsilon below 1e-10 relative
    probs, target = rng.uniform(0.05, 0.95, shape), rng.uniform(0.0, 1.0, shape)
    weighted = data.draw(st.booleans(), label="weight")
    extra = [rng.uniform(0.2, 2.0, shape)] if weighted else []
    check(lambda p, t, *w: F.binary_cross_entropy(p, t, *w, reduction=reduction),
          lambda p, t, *w: TF.binary_cross_entropy(p, t, *w, reduction=reduction),
          [probs, target] + extra, backend=backend, dtype=dtype,
          grad=[True, True] + [False] * len(extra),
          what=f"binary_cross_entropy {shape} weighted={weighted} {reduction}")


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_at_saturated_probabilities(reduction, backend, dtype):
    """p of exactly 0 or 1 (a float32 sigmoid of |x| > 17): each log is clamped at -100 and
    the gradient is torch's (p - t) / max(p (1 - p), 1e-12), finite, never nan."""
    probs = np.array([0.0, 1.0, 0.0, 1.0, 1e-60, 0.5, 1 - 1e-13])
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.7, 0.5, 0.3])
    # d/dtarget there is a legitimate difference: torch's is -logit(p), infinite at 0 and 1;
    # minigan's is the slope of its clamped value, log(1 - p) - log(p) each clamped. Nor is
    # the second order compared there: torch's double backward divides by
    # (p + 1e-12)^2 (1 - p + 1e-12)^2 (~1e34 at p = 1e-60), minigan differentiates its
    # clamped first derivative (~1e22).
    check(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction),
          lambda p, t: TF.binary_cross_entropy(p, t, reduction=reduction),
          [probs, target], backend=backend, dtype=dtype, grad=[True, False],
          second_order=False, what=f"binary_cross_entropy at 0 and 1 ({reduction})")


@st.composite
def class_problem(draw, min_dims=1):
    """(input shape, class dim size): (C,), (N, C) or (N, C, d1[, d2])."""
    ndim = draw(st.integers(min_dims, 4))
    classes = draw(st.integers(1, 4))
    if ndim == 1:
        return (classes,), classes
    extra = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
    return (draw(st.integers(1, 4)), classes) + extra, classes


def class_targets(rng, data, shape, classes):
    """Integer targets, an ignore_index (default, an in-range class, or -1) with some targets
    set to it, but at least one target kept (else 'mean' is 0/0)."""
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, classes, target_shape)
    ignore_index = data.draw(st.sampled_from([-100, -1] + list(range(classes))),
                             label="ignore_index")
    if ignore_index < 0:
        target = np.where(rng.random(target_shape) < 0.3, ignore_index, target)
    keep = target != ignore_index
    if not keep.any():
        if ignore_index == 0 and classes == 1:
            ignore_index = -100
        else:
            target = np.where(keep, target, (ignore_index + 1) % classes)
    return np.asarray(target, dtype=np.int64), ignore_index


def class_weight(rng, data, classes):
    return [rng.uniform(0.2, 2.0, classes)] if data.draw(st.booleans(), label="weight") else []


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_cross_entropy_class_indices(reduction, backend, dtype, data):
    rng = draw_rng(data)
    shape, classes = data.draw(class_problem())
    target, ignore_index = class_targets(rng, data, shape, classes)
    extra = class_weight(rng, data, classes)
    smoothing = data.draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]) | st.floats(0.0, 1.0),
                          label="label_smoothing")
    kwargs = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    # the class weight is a constant for torch (no derivative defined)
    check(lambda x, t, *w: F.cross_entropy(x, t, *w, **kwargs),
          lambda x, t, *w: TF.cross_entropy(x, t, *w, **kwargs),
          [rng.uniform(-4.0, 4.0, shape), target] + extra, backend=backend, dtype=dtype,
          grad=[True, False] + [False] * len(extra),
          what=f"cross_entropy {shape} weighted={bool(extra)} {kwargs}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_cross_entropy_probability_targets(reduction, backend, dtype, data):
    rng = draw_rng(data)
    shape, classes = data.draw(class_problem())
    class_dim = 1 if len(shape) > 1 else 0
    probs = rng.random(shape) + 0.05
    probs /= probs.sum(class_dim, keepdims=True)
    extra = class_weight(rng, data, classes)
    smoothing = data.draw(st.sampled_from([0.0, 0.3]) | st.floats(0.0, 1.0),
                          label="label_smoothing")
    kwargs = dict(reduction=reduction, label_smoothing=smoothing)
    # probability targets take torch's composite path: input, target and weight all have
    # derivatives there
    check(lambda x, t, *w: F.cross_entropy(x, t, *w, **kwargs),
          lambda x, t, *w: TF.cross_entropy(x, t, *w, **kwargs),
          [rng.uniform(-4.0, 4.0, shape), probs] + extra, backend=backend, dtype=dtype,
          what=f"cross_entropy soft {shape} weighted={bool(extra)} {kwargs}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_nll_loss(reduction, backend, dtype, data):
    rng = draw_rng(data)
    shape, classes = data.draw(class_problem())
    target, ignore_index = class_targets(rng, data, shape, classes)
    extra = class_weight(rng, data, classes)
    kwargs = dict(ignore_index=ignore_index, reduction=reduction)
    check(lambda x, t, *w: F.nll_loss(x, t, *w, **kwargs),
          lambda x, t, *w: TF.nll_loss(x, t, *w, **kwargs),
          [rng.uniform(-5.0, 0.0, shape), target] + extra, backend=backend, dtype=dtype,
          grad=[True, False] + [False] * len(extra),
          what=f"nll_loss {shape} weighted={bool(extra)} {kwargs}")


@pytest.mark.parametrize("op, smoothing", [("nll_loss", None), ("cross_entropy", 0.0),
                                          ("cross_entropy", 0.2)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_every_target_ignored(op, smoothing, reduction, backend, dtype):
    """torch's 'mean' over no kept targets is 0 / 0 = nan, yet its gradient is 0 (no target
    contributes); 'sum' is 0."""
    rng = np.random.default_rng(3)
    x, target, weight = rng.uniform(-2.0, 0.0, (3, 4)), np.array([2, 2, 2]), rng.random(4) + 0.5
    kwargs = dict(ignore_index=2, reduction=reduction)
    if smoothing is not None:
        kwargs["label_smoothing"] = smoothing
    for extra in ([], [weight]):
        check(lambda t, y, *w: getattr(F, op)(t, y, *w, **kwargs),
              lambda t, y, *w: getattr(TF, op)(t, y, *w, **kwargs),
              [x, target] + extra, backend=backend, dtype=dtype,
              grad=[True, False] + [False] * len(extra),
              what=f"{op} all ignored {kwargs} weighted={bool(extra)}")


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_regression_loss(name, reduction, backend, dtype, data):
    rng = draw_rng(data)
    shape = data.draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    target = rng.uniform(-3.0, 3.0, shape)
    # input - target stays away from l1's kink at 0
    x = target + away_from_zero(rng, shape)
    check(lambda a, b: getattr(F, name)(a, b, reduction=reduction),
          lambda a, b: getattr(TF, name)(a, b, reduction=reduction), [x, target],
          backend=backend, dtype=dtype, what=f"{name} {shape} {reduction}")
