"""Padding layers (ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad in 1-D,
2-D and 3-D): F.pad with the layer's mode; ``padding`` is an int or the per-side tuple,
(left, right[, top, bottom[, front, back]]), as in torch."""

from __future__ import annotations

import numbers

from minigan import functional as F
from minigan.autograd.tensor import Tensor
from minigan.nn.module import Module


def _sides(name: str, padding, n: int) -> tuple:
    """An int repeated 2 n times, or a tuple of exactly 2 n ints."""
    if isinstance(padding, numbers.Integral):
        return (int(padding),) * (2 * n)
    padding = tuple(padding)
    if len(padding) != 2 * n or not all(isinstance(p, numbers.Integral) for p in padding):
        raise ValueError(f"{name}: padding must be an int or {2 * n} ints, got {padding}")
    return padding


class _PadNd(Module):
    _mode = "constant"
    _dims = 2

    def __init__(self, padding):
        super().__init__()
        self.padding = _sides(type(self).__name__, padding, self._dims)

    def _check(self, input: Tensor) -> None:
        """torch's reflect/replicate/circular pads take (C, *) or (N, C, *) input."""
        if input.ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"{type(self).__name__}: expected {self._dims + 1}-D or "
                             f"{self._dims + 2}-D input, got shape {input.shape}")

    def forward(self, input: Tensor) -> Tensor:
        self._check(input)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:  # any rank, as torch
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    _dims = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    _dims = 1


class ZeroPad2d(_ZeroPadNd):
    _dims = 2


class ZeroPad3d(_ZeroPadNd):
    _dims = 3


class ReflectionPad1d(_PadNd):
    _mode, _dims = "reflect", 1


class ReflectionPad2d(_PadNd):
    _mode, _dims = "reflect", 2


class ReflectionPad3d(_PadNd):
    _mode, _dims = "reflect", 3


class ReplicationPad1d(_PadNd):
    _mode, _dims = "replicate", 1


class ReplicationPad2d(_PadNd):
    _mode, _dims = "replicate", 2


class ReplicationPad3d(_PadNd):
    _mode, _dims = "replicate", 3


class CircularPad1d(_PadNd):
    _mode, _dims = "circular", 1


class CircularPad2d(_PadNd):
    _mode, _dims = "circular", 2


class CircularPad3d(_PadNd):
    _mode, _dims = "circular", 3
