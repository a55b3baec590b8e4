"""Layers from the GAN literature, each written as its paper's formula in minigan ops.

SelfAttention (SAGAN), MinibatchDiscrimination and VirtualBatchNorm (Salimans et al. 2016),
MinibatchStdDev (ProGAN / StyleGAN2), ConditionalBatchNorm2d (class-conditional BN as in
cGANs with projection discriminator / BigGAN). All are differentiable to second order, so they
can sit in a discriminator under a gradient penalty.
"""

from __future__ import annotations

import numpy as np

import minigan
from minigan import functional as F
from minigan.autograd import no_grad
from minigan.autograd.tensor import Tensor
from minigan.nn import init
from minigan.nn.conv import Conv2d
from minigan.nn.embedding import Embedding
from minigan.nn.module import Module
from minigan.nn.norm import BatchNorm2d
from minigan.nn.parameter import Parameter

__all__ = ["SelfAttention", "MinibatchDiscrimination", "MinibatchStdDev", "VirtualBatchNorm",
           "ConditionalBatchNorm2d"]


def _require_ndim(layer: str, x: Tensor, ndims: tuple[int, ...], layout: str) -> None:
    if x.ndim not in ndims:
        raise ValueError(f"{layer}: expected {layout} input, got shape {x.shape}")


class SelfAttention(Module):
    """SAGAN's self-attention block (Zhang et al. 2019): with 1x1 convolutions f, g, h,

        s_ij = f(x_i)^T g(x_j),  beta_ji = softmax_i(s_ij),  o_j = sum_i beta_ji h(x_i),
        y = gamma * o + x,

    over the H*W positions. gamma starts at 0, so the block starts as the identity.
    """

    def __init__(self, in_channels: int, key_channels: int | None = None, *, dtype=None,
                 backend=None):
        super().__init__()
        key_channels = max(in_channels // 8, 1) if key_channels is None else key_channels
        factory = dict(dtype=dtype, backend=backend)
        self.in_channels, self.key_channels = in_channels, key_channels
        self.f = Conv2d(in_channels, key_channels, 1, **factory)
        self.g = Conv2d(in_channels, key_channels, 1, **factory)
        self.h = Conv2d(in_channels, in_channels, 1, **factory)
        self.gamma = Parameter(minigan.zeros(1, **factory))

    def forward(self, x: Tensor) -> Tensor:
        _require_ndim("SelfAttention", x, (4,), "(N, C, H, W)")
        n, c, height, width = x.shape
        positions = height * width
        f = self.f(x).reshape(n, self.key_channels, positions)
        g = self.g(x).reshape(n, self.key_channels, positions)
        h = self.h(x).reshape(n, c, positions)
        s = f.transpose(1, 2) @ g          # (N, i, j)
        beta = F.softmax(s, dim=1)          # normalized over the attended positions i
        o = h @ beta                        # o[:, :, j] = sum_i h[:, :, i] beta[i, j]
        return self.gamma * o.reshape(x.shape) + x

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, key_channels={self.key_channels}"


class MinibatchDiscrimination(Module):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2): with M_i = x_i T reshaped
    to (out_features, kernel_dims),

        c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_1),  o(x_i)_b = sum_j c_b(x_i, x_j),

    the sum running over the whole batch (j = i included, as in the paper); the output is
    [x_i, o(x_i)]. T starts as N(0, 0.05^2), the scale of the authors' code.
    """

    def __init__(self, in_features: int, out_features: int, kernel_dims: int, *, dtype=None,
                 backend=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.kernel_dims = kernel_dims
        self.T = Parameter(minigan.empty(in_features, out_features, kernel_dims, dtype=dtype,
                                         backend=backend))
        init.normal_(self.T, 0.0, 0.05)

    def forward(self, x: Tensor) -> Tensor:
        _require_ndim("MinibatchDiscrimination", x, (2,), "(N, in_features)")
        if x.shape[1] != self.in_features:
            raise ValueError(f"MinibatchDiscrimination: input has {x.shape[1]} features (shape "
                             f"{x.shape}) but in_features is {self.in_features}")
        m = (x @ self.T.reshape(self.in_features, -1)).reshape(
            x.shape[0], self.out_features, self.kernel_dims)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # (N_j, N_i, out_features)
        o = (-l1).exp().sum(0)
        return minigan.cat([x, o], 1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"kernel_dims={self.kernel_dims}"


class MinibatchStdDev(Module):
    """Minibatch standard deviation (Karras et al. 2018, ProGAN; StyleGAN2's generalization).

    The batch is split into groups of ``group_size`` (sample k is in group k mod N/G) and the
    channels into ``num_channels`` parts; the standard deviation over each group, averaged
    over channels and pixels, is appended as ``num_channels`` constant feature maps.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.num_channels, self.eps = group_size, num_channels, eps

    def forward(self, x: Tensor) -> Tensor:
        _require_ndim("MinibatchStdDev", x, (4,), "(N, C, H, W)")
        n, c, height, width = x.shape
        group = min(self.group_size, n)
        parts = self.num_channels
        if n % group or c % parts:
            raise ValueError(f"MinibatchStdDev: batch {n} must be divisible by the group size "
                             f"{group} and channels {c} by num_channels {parts} (input "
                             f"{x.shape})")
        y = x.reshape(group, n // group, parts, c // parts, height, width)
        y = y - y.mean(0, keepdim=True)
        std = ((y * y).mean(0) + self.eps).sqrt()             # (N/G, F, C/F, H, W)
        std = std.mean((2, 3, 4)).reshape(1, n // group, parts, 1, 1)
        maps = std.expand(group, n // group, parts, height, width).reshape(n, parts, height,
                                                                           width)
        return minigan.cat([x, maps], 1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class VirtualBatchNorm(Module):
    """Virtual batch normalization (Salimans et al. 2016, section 3.4), as in the authors' code.

    The first call (or ``set_reference``) takes its batch as the reference batch: it is
    normalized with its own statistics (mean and mean of squares over the batch and spatial
    dims), which are then kept fixed in buffers. Every later sample x is normalized with

        mean = m(x) / (B + 1) + B / (B + 1) * m_ref,  mean_sq likewise,
        y = (x - mean) / sqrt(eps + mean_sq - mean^2) * weight + bias,

    where m(x) are x's own per-channel spatial statistics and B is the reference batch size,
    so each sample is normalized as if it had been added to the reference batch.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True, *,
                 dtype=None, backend=None):
        super().__init__()
        self.num_features, self.eps, self.affine = num_features, eps, affine
        factory = dict(dtype=dtype, backend=backend)
        if affine:
            self.weight = Parameter(minigan.ones(num_features, **factory))
            self.bias = Parameter(minigan.zeros(num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("reference_mean", minigan.zeros(num_features, **factory))
        self.register_buffer("reference_mean_sq", minigan.zeros(num_features, **factory))
        self.register_buffer("reference_size", minigan.zeros((), dtype=minigan.int64,
                                                             backend=backend))

    def _check(self, x: Tensor) -> None:
        _require_ndim("VirtualBatchNorm", x, (2, 3, 4, 5), "(N, C, *)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"VirtualBatchNorm: input of shape {x.shape} has {x.shape[1]} "
                             f"channels but num_features is {self.num_features}")

    def _channel(self, t: Tensor, ndim: int) -> Tensor:
        return t.reshape((1, -1) + (1,) * (ndim - 2))

    def _normalize(self, x: Tensor, mean: Tensor, mean_sq: Tensor) -> Tensor:
        y = (x - mean) / (mean_sq - mean * mean + self.eps).sqrt()
        if self.weight is not None:
            y = y * self._channel(self.weight, x.ndim) + self._channel(self.bias, x.ndim)
        return y

    def set_reference(self, reference: Tensor) -> Tensor:
        """Fix the reference statistics from this batch; returns it normalized with them
        (differentiably, like batch norm in training)."""
        self._check(reference)
        axes = (0,) + tuple(range(2, reference.ndim))
        mean = reference.mean(axes, keepdim=True)
        mean_sq = (reference * reference).mean(axes, keepdim=True)
        with no_grad():
            self.reference_mean.data = mean.detach().reshape(-1)
            self.reference_mean_sq.data = mean_sq.detach().reshape(-1)
            self.reference_size.data = minigan.full((), reference.shape[0],
                                                    dtype=minigan.int64,
                                                    backend=reference.backend)
        return self._normalize(reference, mean, mean_sq)

    def forward(self, x: Tensor) -> Tensor:
        if int(self.reference_size.item()) == 0:
            return self.set_reference(x)
        self._check(x)
        spatial = tuple(range(2, x.ndim))
        own_mean = x.mean(spatial, keepdim=True) if spatial else x
        own_mean_sq = (x * x).mean(spatial, keepdim=True) if spatial else x * x
        new = 1.0 / (int(self.reference_size.item()) + 1.0)
        mean = own_mean * new + self._channel(self.reference_mean, x.ndim) * (1.0 - new)
        mean_sq = own_mean_sq * new + self._channel(self.reference_mean_sq, x.ndim) * (1.0 - new)
        return self._normalize(x, mean, mean_sq)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


class ConditionalBatchNorm2d(Module):
    """BatchNorm2d without its own affine, followed by a per-class scale and shift looked up
    from embeddings: y = gamma[c] * BN(x) + beta[c] (gamma starts at 1, beta at 0)."""

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5,
                 momentum: float | None = 0.1, track_running_stats: bool = True, *,
                 dtype=None, backend=None):
        super().__init__()
        factory = dict(dtype=dtype, backend=backend)
        self.num_features, self.num_classes = num_features, num_classes
        self.bn = BatchNorm2d(num_features, eps, momentum, affine=False,
                              track_running_stats=track_running_stats, **factory)
        self.gamma = Embedding(num_classes, num_features, **factory)
        self.beta = Embedding(num_classes, num_features, **factory)
        init.ones_(self.gamma.weight)
        init.zeros_(self.beta.weight)

    def forward(self, x: Tensor, labels) -> Tensor:
        n = x.shape[0]
        if tuple(np.shape(labels)) != (n,):
            raise ValueError(f"ConditionalBatchNorm2d: expected {n} labels (one per sample of "
                             f"input {x.shape}), got labels of shape {tuple(np.shape(labels))}")
        out = self.bn(x)
        shape = (n, self.num_features, 1, 1)
        return out * self.gamma(labels).reshape(shape) + self.beta(labels).reshape(shape)
