"""Gradient penalties, weight clipping and the gradient-normalized discriminators against torch
implementations of the published formulas, on a small conv discriminator: values, gradients
w.r.t. D's parameters (second order: they differentiate D's input gradient) and one order
more through tests/torch_ref.check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan
import minigan.functional as F
from minigan import losses
from tests.published import PENALTY_REFERENCE, gn, gran
from tests.torch_ref import assert_close, check

# D: conv(3->4, 3x3, stride 2, pad 1) - leaky - conv(4->4, 3x3, stride 2, pad 1) - leaky -
# linear(4*2*2 -> 1), on (N, 3, 8, 8) images. Parameters in that order.
PARAM_SHAPES = [(4, 3, 3, 3), (4,), (4, 4, 3, 3), (4,), (1, 16), (1,)]
IMAGE = (3, 8, 8)


def discriminator(fn, params):
    """The same D for minigan (fn = minigan.functional) and torch (fn = torch's)."""
    w1, b1, w2, b2, w3, b3 = params

    def D(x):
        h = fn.leaky_relu(fn.conv2d(x, w1, b1, stride=2, padding=1), 0.2)
        h = fn.leaky_relu(fn.conv2d(h, w2, b2, stride=2, padding=1), 0.2)
        return fn.linear(h.reshape(h.shape[0], -1), w3, b3)
    return D


def draw_params(rng) -> list:
    return [rng.standard_normal(s) * 0.5 for s in PARAM_SHAPES]


def test_every_penalty_has_a_reference():
    assert sorted(PENALTY_REFERENCE) == sorted(losses.PENALTIES)


@pytest.mark.parametrize("kind", sorted(PENALTY_REFERENCE))
@settings(max_examples=4)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 3), weight=st.floats(0.5, 10.0))
def test_penalty_matches_published_formula(kind, seed, n, weight, backend):
    """Value, gradient w.r.t. D's parameters (second order) and the next order, float64."""
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, *IMAGE))
    fake = rng.standard_normal((n, *IMAGE))
    alpha = rng.random((n, 1, 1, 1))
    params = draw_params(rng)

    def ours(real, fake, alpha, *params):
        D = discriminator(F, params)
        return losses.gradient_penalty(D, real, fake, kind, weight, alpha=alpha)

    def theirs(real, fake, alpha, *params):
        return PENALTY_REFERENCE[kind](discriminator(TF, params), real, fake, alpha, weight)

    check(ours, theirs, [real, fake, alpha, *params], backend=backend,
          grad=[False, False, False] + [True] * len(params), what=f"gradient_penalty {kind}")


def test_wgan_lp_is_one_sided(backend):
    """With D scaled so every gradient norm is below 1, the LP penalty vanishes; GP does not."""
    rng = np.random.default_rng(0)
    params = [minigan.tensor(p * s, backend=backend) for p, s in
              zip(draw_params(rng), [0.01, 1, 1, 1, 1, 1])]
    D = discriminator(F, params)
    real, fake = (minigan.tensor(rng.standard_normal((2, *IMAGE)), backend=backend)
                  for _ in range(2))
    assert losses.gradient_penalty(D, real, fake, "wgan-lp", 10.0).item() == 0.0
    assert losses.gradient_penalty(D, real, fake, "wgan-gp", 10.0).item() > 0.0


def test_interpolation_points_are_drawn_per_sample_in_the_unit_interval(backend):
    """With D(x) = <c, x>, wgan-div with p=2 ... is constant; so look at the points D sees."""
    seen = []

    def D(x):
        seen.append(x.detach().numpy())
        return x.sum((1, 2, 3))
    real = minigan.zeros(64, 1, 2, 2, dtype="float64", backend=backend)
    fake = minigan.ones(64, 1, 2, 2, dtype="float64", backend=backend)
    minigan.manual_seed(0)
    losses.gradient_penalty(D, real, fake, "wgan-gp", 1.0)
    points = seen[0]  # alpha * 0 + (1 - alpha) * 1 = 1 - alpha, one value per sample
    assert np.all(points == points[:, :1, :1, :1])
    assert 0.0 < points.min() and points.max() <= 1.0 and points.std() > 0.2


def test_dragan_default_perturbation_is_around_the_data(backend):
    """x_p = x + 0.5 std(x) U[0, 1): the penalty points lie between x and x + 0.5 std(x)."""
    seen = []

    def D(x):
        seen.append(x.detach().numpy())
        return (x * x).sum((1, 2, 3))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 2, 3, 3))
    minigan.manual_seed(1)
    losses.gradient_penalty(D, minigan.tensor(x, backend=backend), None, "dragan", 1.0)
    offset = (seen[0] - x) / x.std(ddof=1)
    assert offset.min() >= 0.0 and offset.max() < 0.5 and offset.max() > 0.3


def test_penalty_errors_name_the_kind_and_shapes(backend):
    real = minigan.zeros(2, 3, 8, 8, backend=backend)
    D = discriminator(F, [minigan.zeros(s, backend=backend) for s in PARAM_SHAPES])
    with pytest.raises(ValueError, match=r"unknown kind 'gp'.*'wgan-gp'.*'wgan-div'"):
        losses.gradient_penalty(D, real, real, "gp", 10.0)
    with pytest.raises(ValueError, match=r"kind='wgan-gp'.*fake \(\(3, 3, 8, 8\)"):
        losses.gradient_penalty(D, real, minigan.zeros(3, 3, 8, 8, backend=backend),
                                "wgan-gp", 10.0)
    with pytest.raises(ValueError, match="kind='r2'.*pass fake"):
        losses.gradient_penalty(D, real, None, "r2", 10.0)


def test_clip_weights_clamps_in_place(backend):
    rng = np.random.default_rng(2)
    values = [rng.standard_normal(s) * 0.05 for s in PARAM_SHAPES]
    params = [minigan.tensor(v, requires_grad=True, backend=backend) for v in values]
    losses.clip_weights(params, 0.01)
    for p, v in zip(params, values):
        assert p.requires_grad and p.is_leaf
        np.testing.assert_array_equal(p.detach().numpy(), np.clip(v, -0.01, 0.01))


@pytest.mark.parametrize("wrapper", ["gn", "gran"])
def test_gradient_normalized_discriminators(wrapper, backend):
    """Output, gradients w.r.t. the input (G's side) and D's parameters, and one order more."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, *IMAGE))
    params = draw_params(rng)

    def ours(x, *params):
        D = discriminator(F, params)
        if wrapper == "gn":
            return losses.GradientNormalization(D)(x)
        return losses.PiecewiseGradientNormalization(D, eps=0.5, lipschitz=2.0)(x)

    def theirs(x, *params):
        D = discriminator(TF, params)
        return gn(D, x) if wrapper == "gn" else gran(D, x, 0.5, 2.0)

    check(ours, theirs, [x, *params], backend=backend, what=wrapper)


def test_gradient_normalization_on_data_that_needs_no_grad(backend):
    """Real images (no requires_grad) still get normalized; gradients reach D's parameters."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, *IMAGE))
    values = draw_params(rng)
    params = [minigan.tensor(v, requires_grad=True, backend=backend, dtype="float64")
              for v in values]
    out = losses.GradientNormalization(discriminator(F, params))(minigan.tensor(x,
                                                                                backend=backend))
    t_params = [torch.tensor(v, requires_grad=True) for v in values]
    expected = gn(discriminator(TF, t_params), torch.tensor(x, requires_grad=True))
    assert_close(out, expected, "float64", "GN on data")
    assert np.all(np.abs(out.detach().numpy()) <= 1)
    grads = minigan.grad(out.sum(), params)
    t_grads = torch.autograd.grad(expected.sum(), t_params)
    for i, (g, t) in enumerate(zip(grads, t_grads)):
        assert_close(g, t, "float64", f"GN parameter gradient {i}")
