"""GAN-literature layers against short torch implementations of the published formulas.

Each torch reference below is written from the paper (or the authors' code) independently of
minigan's implementation, with the same parameter names, so ``check_module`` can load its
weights and compare outputs, input and parameter gradients and the gradient-penalty-shaped
second order.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import minigan
from minigan import nn
from minigan.interop import load_torch_state_dict
from tests.torch_ref import assert_close, check, check_module


class TorchSelfAttention(torch.nn.Module):
    """SAGAN: s_ij = f(x_i)^T g(x_j), beta_ji = exp(s_ij) / sum_i exp(s_ij),
    o_j = sum_i beta_ji h(x_i), y = gamma o + x."""

    def __init__(self, channels, keys):
        super().__init__()
        self.f = torch.nn.Conv2d(channels, keys, 1)
        self.g = torch.nn.Conv2d(channels, keys, 1)
        self.h = torch.nn.Conv2d(channels, channels, 1)
        self.gamma = torch.nn.Parameter(torch.tensor([0.7]))

    def forward(self, x):
        f, g, h = (conv(x).flatten(2) for conv in (self.f, self.g, self.h))
        s = torch.einsum("nki,nkj->nij", f, g)
        e = torch.exp(s - s.amax(1, keepdim=True))
        beta = e / e.sum(1, keepdim=True)
        o = torch.einsum("nij,nci->ncj", beta, h)
        return self.gamma * o.reshape(x.shape) + x


class TorchMinibatchDiscrimination(torch.nn.Module):
    """Salimans et al.: M_i = x_i T, o(x_i)_b = sum_j exp(-||M_ib - M_jb||_1), [x, o]."""

    def __init__(self, a, b, c):
        super().__init__()
        self.T = torch.nn.Parameter(torch.randn(a, b, c) * 0.3)

    def forward(self, x):
        m = torch.einsum("na,abc->nbc", x, self.T)
        c = torch.exp(-(m[:, None] - m[None, :]).abs().sum(-1))  # (i, j, b)
        return torch.cat([x, c.sum(1)], 1)


def torch_minibatch_stddev(x, group_size, parts, eps=1e-8):
    """Per sample k: the std over its group (the samples equal to k mod N/G), averaged over
    each of ``parts`` channel blocks and all pixels, appended as constant maps."""
    n, _, h, w = x.shape
    groups = n // min(group_size, n)
    stats = []
    for k in range(n):
        members = x[k % groups::groups]
        std = (members.var(0, unbiased=False) + eps).sqrt()
        stats.append(std.reshape(parts, -1).mean(1))
    maps = torch.stack(stats)[:, :, None, None].expand(n, parts, h, w)
    return torch.cat([x, maps], 1)


class TorchVirtualBatchNorm(torch.nn.Module):
    """Salimans et al. / the authors' VBN: the reference batch is normalized by its own
    statistics, which are kept; a sample x by 1/(B+1) of its own plus B/(B+1) of them."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(1 + 0.3 * torch.randn(channels))
        self.bias = torch.nn.Parameter(0.3 * torch.randn(channels))
        self.register_buffer("reference_mean", torch.zeros(channels))
        self.register_buffer("reference_mean_sq", torch.zeros(channels))
        self.register_buffer("reference_size", torch.tensor(0))

    def forward(self, x):
        view = (1, -1) + (1,) * (x.dim() - 2)
        if self.reference_size == 0:
            axes = [0] + list(range(2, x.dim()))
            mean, mean_sq = x.mean(axes, keepdim=True), (x * x).mean(axes, keepdim=True)
            with torch.no_grad():
                self.reference_mean.copy_(mean.flatten())
                self.reference_mean_sq.copy_(mean_sq.flatten())
                self.reference_size.fill_(x.shape[0])
        else:
            spatial = list(range(2, x.dim()))
            own, own_sq = (x.mean(spatial, keepdim=True), (x * x).mean(spatial, keepdim=True)) \
                if spatial else (x, x * x)
            c = 1.0 / (self.reference_size.item() + 1)
            mean = c * own + (1 - c) * self.reference_mean.view(view)
            mean_sq = c * own_sq + (1 - c) * self.reference_mean_sq.view(view)
        y = (x - mean) / torch.sqrt(self.eps + mean_sq - mean ** 2)
        return y * self.weight.view(view) + self.bias.view(view)


class TorchConditionalBatchNorm2d(torch.nn.Module):
    """BN without affine, then y = gamma[label] * x + beta[label]."""

    def __init__(self, channels, classes):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(channels, affine=False)
        self.gamma = torch.nn.Embedding(classes, channels)
        self.beta = torch.nn.Embedding(classes, channels)

    def forward(self, x, labels):
        scale = self.gamma.weight[labels][:, :, None, None]
        return self.bn(x) * scale + self.beta.weight[labels][:, :, None, None]


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_self_attention(backend, dtype):
    ours, theirs = nn.SelfAttention(8), TorchSelfAttention(8, 1)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.gamma.item() == 0.0  # starts as the identity
    # The second derivative w.r.t. gamma (at 0) is a sum of ~100 terms of order 1 that
    # cancel to ~1e-5: in float32 its rounding is ~2e-5 in any summation order (torch's and
    # minigan's land on opposite signs), so float32 compares at 4x the usual tolerance.
    check_module(ours, theirs, [_x(2, 8, 3, 2)], backend=backend, dtype=dtype,
                 what="SelfAttention", scale=4.0 if dtype == "float32" else 1.0)


def test_minibatch_discrimination(backend, dtype):
    torch.manual_seed(0)
    ours, theirs = nn.MinibatchDiscrimination(4, 3, 2), TorchMinibatchDiscrimination(4, 3, 2)
    assert ours.T.shape == (4, 3, 2)
    check_module(ours, theirs, [_x(5, 4)], backend=backend, dtype=dtype,
                 what="MinibatchDiscrimination")


@pytest.mark.parametrize("group_size, parts, batch", [(4, 1, 8), (2, 2, 6), (8, 1, 3)])
def test_minibatch_stddev(group_size, parts, batch, backend, dtype):
    layer = nn.MinibatchStdDev(group_size, parts)
    check(layer, lambda t: torch_minibatch_stddev(t, group_size, parts), [_x(batch, 4, 3, 2)],
          backend=backend, dtype=dtype, what=f"MinibatchStdDev({group_size}, {parts})")


@pytest.mark.parametrize("shape", [(6, 3, 4, 4), (5, 3)])
def test_virtual_batch_norm(shape, backend, dtype):
    """First call: the reference batch (its own statistics); later calls: per-sample mix."""
    torch.manual_seed(0)
    ours, theirs = nn.VirtualBatchNorm(3), TorchVirtualBatchNorm(3)
    reference = _x(*shape) * 2 + 1
    # float32 second order through batch statistics cancels (see test_nn's norm layers)
    scale = 5.0 if dtype == "float32" else 1.0
    check_module(ours, theirs, [reference], backend=backend, dtype=dtype, scale=scale,
                 what="VBN reference")
    assert ours.reference_size.item() == shape[0]
    for seed in (1, 2):  # the reference statistics stay fixed
        check_module(ours, theirs, [_x(4, *shape[1:], seed=seed)], backend=backend,
                     dtype=dtype, scale=scale, what=f"VBN sample batch {seed}")
    assert ours.reference_size.item() == shape[0]


def test_virtual_batch_norm_reference_is_explicit_and_saved(backend):
    vbn = nn.VirtualBatchNorm(2).to(backend=backend)
    reference = minigan.randn(8, 2, 3, 3, backend=backend)
    y = vbn.set_reference(reference).detach().numpy()
    np.testing.assert_allclose(y.mean((0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var((0, 2, 3)), 1, atol=1e-3)
    restored = nn.VirtualBatchNorm(2).to(backend=backend)
    restored.load_state_dict(vbn.state_dict())
    x = minigan.randn(3, 2, 3, 3, backend=backend)
    np.testing.assert_array_equal(restored(x).detach().numpy(), vbn(x).detach().numpy())
    with pytest.raises(ValueError, match=r"VirtualBatchNorm: input of shape \(3, 4\) has 4 "
                                         "channels but num_features is 2"):
        vbn(minigan.randn(3, 4, backend=backend))


def test_conditional_batch_norm(backend, dtype):
    torch.manual_seed(0)
    ours, theirs = nn.ConditionalBatchNorm2d(3, 4), TorchConditionalBatchNorm2d(3, 4)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert (ours.gamma.weight.detach().numpy() == 1).all()
    assert not ours.beta.weight.detach().numpy().any()
    labels = np.array([0, 3, 3, 1, 2])
    # float32 second order through batch statistics cancels (see test_nn's norm layers)
    scale = 5.0 if dtype == "float32" else 1.0
    check_module(ours, theirs, [_x(5, 3, 2, 2), labels], backend=backend, dtype=dtype,
                 scale=scale, what="ConditionalBatchNorm2d (train)")
    ours.eval()
    theirs.eval()
    check_module(ours, theirs, [_x(5, 3, 2, 2, seed=1), labels], backend=backend, dtype=dtype,
                 scale=scale, what="ConditionalBatchNorm2d (eval)")
    with pytest.raises(ValueError, match="expected 5 labels"):
        ours(minigan.randn(5, 3, 2, 2, backend=backend), minigan.tensor([0, 1]))


def _discriminator(lib):
    """conv -> self-attention -> minibatch stddev -> flatten -> minibatch discrimination ->
    linear: every D-side layer in one network."""
    if lib is nn:
        attention, mbd = nn.SelfAttention(4), nn.MinibatchDiscrimination(45, 3, 2)
        mbstd = nn.MinibatchStdDev(2)
    else:
        attention, mbd = TorchSelfAttention(4, 1), TorchMinibatchDiscrimination(45, 3, 2)
        mbstd = TorchMinibatchStdDev(2)
    return lib.Sequential(lib.Conv2d(2, 4, 3, 2, 1), lib.LeakyReLU(0.2), attention, mbstd,
                          lib.Flatten(), mbd, lib.Linear(48, 1))


class TorchMinibatchStdDev(torch.nn.Module):
    def __init__(self, group_size):
        super().__init__()
        self.group_size = group_size

    def forward(self, x):
        return torch_minibatch_stddev(x, self.group_size, 1)


def test_discriminator_under_wgan_gp(backend):
    """The WGAN-GP penalty E[(||dD/dx|| - 1)^2] and its gradient for every parameter."""
    torch.manual_seed(0)
    theirs = _discriminator(torch.nn).double()
    ours = _discriminator(nn).to(minigan.float64, backend=backend)
    load_torch_state_dict(ours, theirs.state_dict())
    x = _x(4, 2, 6, 6)
    penalties = []
    for model, lib, make in ((ours, minigan, lambda a: minigan.tensor(a, requires_grad=True,
                                                                      backend=backend)),
                             (theirs, torch, lambda a: torch.tensor(a, requires_grad=True))):
        xt = make(x)
        (g,) = (minigan.grad if lib is minigan else torch.autograd.grad)(
            model(xt).sum(), [xt], create_graph=True)
        penalty = ((g.reshape(4, -1).norm(2, dim=1) - 1) ** 2).mean()
        penalty.backward()
        penalties.append(penalty)
    assert_close(penalties[0], penalties[1], "float64", "gradient penalty")
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if p.grad is None:  # the last bias does not change dD/dx
            assert mine[name].grad is None, name
            continue
        assert_close(mine[name].grad, p.grad, "float64", f"penalty gradient of {name}")


def test_layer_errors():
    with pytest.raises(ValueError, match=r"MinibatchStdDev: batch 6 must be divisible by the "
                                         r"group size 4"):
        nn.MinibatchStdDev(4)(minigan.randn(6, 2, 2, 2))
    with pytest.raises(ValueError, match=r"MinibatchDiscrimination: input has 3 features"):
        nn.MinibatchDiscrimination(4, 2, 2)(minigan.randn(5, 3))
    with pytest.raises(ValueError, match=r"SelfAttention: expected \(N, C, H, W\) input"):
        nn.SelfAttention(8)(minigan.randn(2, 8))
