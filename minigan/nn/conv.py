"""Conv2d and ConvTranspose2d with torch's signatures, weight layouts and initialization."""

from __future__ import annotations

import math

import minigan
from minigan import functional as F
from minigan.autograd.tensor import Tensor
from minigan.nn import init
from minigan.nn.module import Module
from minigan.nn.parameter import Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(v, layer: str, name: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(i, int) for i in v):
        raise ValueError(f"{layer}: {name} must be an int or a pair of ints, got {v}")
    return v


class _ConvNd(Module):
    """The shared constructor: argument checks, weight/bias layout, torch's default init."""

    def __init__(self, layer: str, in_channels: int, out_channels: int, kernel_size, stride,
                 padding, dilation, transposed: bool, output_padding, groups: int, bias: bool,
                 padding_mode: str, dtype, backend):
        super().__init__()
        if groups <= 0:
            raise ValueError(f"{layer}: groups must be a positive integer, got {groups}")
        for name, n in (("in_channels", in_channels), ("out_channels", out_channels)):
            if n % groups:
                raise ValueError(f"{layer}: {name}={n} must be divisible by groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{layer}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, layer, "kernel_size")
        self.stride = _pair(stride, layer, "stride")
        self.dilation = _pair(dilation, layer, "dilation")
        self.padding = padding if isinstance(padding, str) else _pair(padding, layer, "padding")
        self._check_string_padding(layer)
        self.transposed = transposed
        self.output_padding = _pair(output_padding, layer, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        self._reversed_padding_repeated_twice = self._padding_for_pad()
        shape = (in_channels, out_channels // groups) if transposed else \
            (out_channels, in_channels // groups)
        factory = dict(dtype=dtype, backend=backend)
        self.weight = Parameter(minigan.empty(*shape, *self.kernel_size, **factory))
        if bias:
            self.bias = Parameter(minigan.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _check_string_padding(self, layer: str) -> None:
        if not isinstance(self.padding, str):
            return
        if self.padding not in ("same", "valid"):
            raise ValueError(f"{layer}: padding must be 'same', 'valid' or ints, got "
                             f"{self.padding!r}")
        if self.padding == "same" and self.stride != (1, 1):
            raise ValueError(f"{layer}: padding='same' is not supported for strided "
                             f"convolutions (stride={self.stride})")

    def _padding_for_pad(self) -> list[int]:
        """F.pad's (left, right, top, bottom) for a non-zero padding_mode, as torch builds it."""
        if self.padding == "valid":
            return [0, 0, 0, 0]
        if self.padding == "same":
            out = []
            for d, k in reversed(list(zip(self.dilation, self.kernel_size))):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return out
        return [p for p in reversed(self.padding) for _ in range(2)]

    def reset_parameters(self) -> None:
        """kaiming_uniform_(a=sqrt(5)) for the weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        for the bias: torch's defaults."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution; weight (out_channels, in_channels / groups, kH, kW)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 *, dtype=None, backend=None):
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding,
                         dilation, False, 0, groups, bias, padding_mode, dtype, backend)

    def forward(self, input: Tensor, activation=None) -> Tensor:
        """``activation``: see ``F.conv2d`` (nn.Sequential passes it to fuse the next layer)."""
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(input, self.weight, self.bias, self.stride, 0, self.dilation,
                            self.groups, activation=activation)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups, activation=activation)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution; weight (in_channels, out_channels / groups, kH, kW)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", *, dtype=None, backend=None):
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be ints, got {padding!r}")
        super().__init__("ConvTranspose2d", in_channels, out_channels, kernel_size, stride,
                         padding, dilation, True, output_padding, groups, bias, padding_mode,
                         dtype, backend)

    def _output_padding(self, input: Tensor, output_size) -> tuple[int, int]:
        """The output_padding that makes the output ``output_size`` (torch's rule)."""
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-2:]
        if len(tuple(output_size)) not in (2, input.ndim):
            raise ValueError(f"ConvTranspose2d: output_size must have 2 or {input.ndim} "
                             f"elements for input of shape {input.shape}, got {output_size}")
        smallest = tuple((input.shape[-2 + d] - 1) * self.stride[d] - 2 * self.padding[d]
                         + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(2))
        largest = tuple(s + self.stride[d] - 1 for d, s in enumerate(smallest))
        if any(not lo <= s <= hi for s, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"ConvTranspose2d: requested an output size of {size}, but valid "
                             f"sizes range from {smallest} to {largest} (for an input of "
                             f"{input.shape[-2:]})")
        return tuple(s - lo for s, lo in zip(size, smallest))

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)
