"""Linear, Identity, Flatten and Unflatten."""

from __future__ import annotations

import math

import minigan
from minigan import functional as F
from minigan.autograd.tensor import Tensor, _norm_dim
from minigan.nn import init
from minigan.nn.module import Module
from minigan.nn.parameter import Parameter


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments (torch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x W^T + b with W (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, dtype=None,
                 backend=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        factory = dict(dtype=dtype, backend=backend)
        self.weight = Parameter(minigan.empty(out_features, in_features, **factory))
        if bias:
            self.bias = Parameter(minigan.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), ...)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Flatten(Module):
    """Flatten dims start_dim..end_dim (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand dim ``dim`` into ``unflattened_size`` (one entry may be -1)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, but found "
                            f"type {type(unflattened_size).__name__}")
        for i, size in enumerate(unflattened_size):
            if not isinstance(size, int):
                raise TypeError(f"Unflatten: unflattened_size must be tuple of ints, but found "
                                f"element of type {type(size).__name__} at pos {i}")
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        dim = _norm_dim(self.dim, input.ndim, "Unflatten")
        sizes = tuple(self.unflattened_size)
        known = math.prod(s for s in sizes if s != -1)
        n = input.shape[dim]
        if sizes.count(-1) > 1 or any(s < -1 for s in sizes) or \
                (n != known if -1 not in sizes else known == 0 or n % known):
            raise ValueError(f"Unflatten: unflattened_size {sizes} does not match size {n} of "
                             f"dim {self.dim} of input of shape {input.shape}")
        sizes = tuple(n // known if s == -1 else s for s in sizes)
        return input.reshape(input.shape[:dim] + sizes + input.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
