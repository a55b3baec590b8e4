"""Weight initializations with torch.nn.init's names, gains and fan rules.

Each writes into a tensor's storage in place (under no_grad, so parameters qualify; every alias
such as ``m.weight.data`` sees the values, as in torch) samples from the tensor's backend
generator, and returns it.
The distributions are torch's; the samples are not (each library has its own generator).
"""

from __future__ import annotations

import math

import minigan
from minigan.autograd import no_grad
from minigan.autograd.tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_"]

_LINEAR_GAINS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                 "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain)."""
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (torch's rule,
    so a ConvTranspose2d weight (in, out/groups, kH, kW) has fan_in = out/groups * kH * kW)."""
    if tensor.ndim < 2:
        raise ValueError(f"init: fan in and fan out cannot be computed for a tensor with fewer "
                         f"than 2 dims (shape {tensor.shape})")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _overwrite(tensor: Tensor, values: Tensor) -> Tensor:
    with no_grad():  # into the storage: a parameter initialised through .data changes too
        tensor.copy_(values)
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b)."""
    u = minigan.rand(tensor.shape, dtype=tensor.dtype, backend=tensor.backend)
    return _overwrite(tensor, u * (b - a) + a)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2)."""
    z = minigan.randn(tensor.shape, dtype=tensor.dtype, backend=tensor.backend)
    return _overwrite(tensor, z * std + mean)


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _overwrite(tensor, minigan.full(tensor.shape, val, dtype=tensor.dtype,
                                           backend=tensor.backend))


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    fan = _calculate_correct_fan(tensor, mode)
    if fan == 0:
        raise ValueError(f"init: cannot initialize a tensor of shape {tensor.shape} with "
                         "zero fan")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al. 2015). Layers use a=sqrt(5), which
    makes b = 1 / sqrt(fan_in), torch's default for Linear and Conv."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix over (size(0), rest), scaled by gain (Saxe et al. 2013).

    torch takes Q of the QR decomposition of a Gaussian matrix with R's diagonal made
    positive; Gram-Schmidt on the same matrix gives that Q, so the distribution is torch's.
    """
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dims are supported, got "
                         f"shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    with no_grad():
        flat = minigan.randn(rows, cols, dtype=minigan.float64, backend=tensor.backend)
        q = _gram_schmidt(flat.t() if rows < cols else flat)
        q = q.t() if rows < cols else q
        return _overwrite(tensor, (q * gain).reshape(tensor.shape))


def _gram_schmidt(a: Tensor) -> Tensor:
    """Orthonormal columns spanning a's columns (tall a), orthogonalized twice for accuracy."""
    columns: list[Tensor] = []
    for j in range(a.shape[1]):
        v = a[:, j:j + 1]
        for _ in range(2):
            if columns:
                q = minigan.cat(columns, 1)
                v = v - q @ (q.t() @ v)
        columns.append(v / v.norm())
    return minigan.cat(columns, 1)
