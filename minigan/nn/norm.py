"""Normalization layers: BatchNorm1d/2d, InstanceNorm2d, LayerNorm, GroupNorm.

Parameters and buffers carry torch's names and dtypes (``num_batches_tracked`` is int64), so
their state_dicts are interchangeable with torch's.
"""

from __future__ import annotations

import warnings

import minigan
from minigan import functional as F
from minigan.autograd import no_grad
from minigan.autograd.tensor import Tensor
from minigan.nn import init
from minigan.nn.module import Module
from minigan.nn.parameter import Parameter


def _affine_parameters(module: Module, shape: tuple, affine: bool, bias: bool,
                       factory: dict) -> None:
    """weight (and bias) Parameters of ``shape``, or None entries when not affine."""
    if affine:
        module.weight = Parameter(minigan.empty(*shape, **factory))
        if bias:
            module.bias = Parameter(minigan.empty(*shape, **factory))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _reset_affine(module: Module) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _NormBase(Module):
    """Per-channel affine parameters and (optionally) running statistics."""

    def __init__(self, num_features: int, eps: float, momentum: float | None, affine: bool,
                 track_running_stats: bool, bias: bool, dtype, backend):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        factory = dict(dtype=dtype, backend=backend)
        _affine_parameters(self, (num_features,), affine, bias, factory)
        if track_running_stats:
            self.register_buffer("running_mean", minigan.zeros(num_features, **factory))
            self.register_buffer("running_var", minigan.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked",
                                 minigan.zeros((), dtype=minigan.int64, backend=backend))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        _reset_affine(self)

    def _check_ndim(self, input: Tensor, ndims: tuple[int, ...], what: str) -> None:
        if input.ndim not in ndims:
            raise ValueError(f"{type(self).__name__}: expected {what} input, got input of shape "
                             f"{input.shape}")

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Batch statistics in training (updating the running ones), running statistics in eval.
    momentum=None makes the running statistics a cumulative average, as in torch."""

    _ndims: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, bias: bool = True,
                 dtype=None, backend=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias, dtype,
                         backend)

    def _momentum(self) -> float:
        """The weight of this batch in the running statistics; counts the batch."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        return factor

    def forward(self, input: Tensor, activation=None) -> Tensor:
        """``activation``: see ``F.batch_norm`` (nn.Sequential passes it to fuse the next
        layer)."""
        self._check_ndim(input, self._ndims, self._layout)
        factor = self._momentum()
        use_batch_stats = self.training or (self.running_mean is None
                                            and self.running_var is None)
        pass_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if pass_running else None,
                            self.running_var if pass_running else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps, activation=activation)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input over N (and L)."""

    _ndims, _layout = (2, 3), "2D (N, C) or 3D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) input over N, H and W."""

    _ndims, _layout = (4,), "4D (N, C, H, W)"


class InstanceNorm2d(_NormBase):
    """Normalization of each sample's channels over H and W; (C, H, W) input is unbatched.

    Running statistics (if tracked) are updated in training and used in eval, as in torch;
    momentum=None counts as 0.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, *, bias: bool = True,
                 dtype=None, backend=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias, dtype,
                         backend)

    def forward(self, input: Tensor) -> Tensor:
        self._check_ndim(input, (3, 4), "3D (C, H, W) or 4D (N, C, H, W)")
        channel_dim = input.ndim - 3
        if input.shape[channel_dim] != self.num_features:
            message = (f"InstanceNorm2d: input of shape {input.shape} has "
                       f"{input.shape[channel_dim]} channels at dim={channel_dim} but "
                       f"num_features is {self.num_features}")
            if self.affine:
                raise ValueError(message)
            warnings.warn(message + " (unused because affine=False)", stacklevel=2)
        if input.ndim == 3:
            return self._normalize(input.unsqueeze(0)).squeeze(0)
        return self._normalize(input)

    def _normalize(self, input: Tensor) -> Tensor:
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight,
                               self.bias, self.training or not self.track_running_stats,
                               0.0 if self.momentum is None else self.momentum, self.eps)


class LayerNorm(Module):
    """Normalization over the trailing ``normalized_shape`` dims, elementwise affine."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype=None, backend=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape = tuple(shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias,
                           dict(dtype=dtype, backend=backend))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalization of each sample over groups of channels (and all spatial dims)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, bias: bool = True, dtype=None, backend=None):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        _affine_parameters(self, (num_channels,), affine, bias,
                           dict(dtype=dtype, backend=backend))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
