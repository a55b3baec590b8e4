"""The activations a kernel applies to its own result (conv2d_forward's epilogue,
channel_affine): ``act`` is None or ``(name, slope)``, name one of ``ACTIVATIONS``. The same
formulas as the numpy backend's elementwise kernels (``relu`` is its clip, ``leaky_relu`` the
LeakyRelu factor), so a fused result equals the unfused one bit for bit."""

from __future__ import annotations

import numpy as np
from minigan.kernels.shapes import ACTIVATIONS, CONV_ACTIVATIONS  # noqa: F401  (shared)


def sigmoid(a):
    # exp of a non-positive number only: no overflow for large |a|.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def apply(out: np.ndarray, act) -> np.ndarray:
    """``act`` applied to ``out`` (a fresh array the caller owns: overwritten where it can)."""
    if act is None:
        return out
    name, slope = act
    if name == "relu":
        return np.clip(out, 0, None)
    if name == "leaky_relu":
        if 0.0 < slope <= 1.0:
            # max(v, slope v) is v * (1 if v > 0 else slope) bit for bit (the one product
            # slope v where v <= 0; NaN propagates) in two passes instead of four; slope 0
            # would turn +inf into max(inf, 0 * inf) = NaN, so it takes the factor below
            return np.maximum(out, out * out.dtype.type(slope), out=out)
        factor = np.maximum((out > 0).astype(out.dtype), slope) if 0.0 <= slope <= 1.0 else \
            (out > 0).astype(out.dtype) + (out <= 0).astype(out.dtype) * slope
        return np.multiply(out, factor, out=out)
    if name == "tanh":
        return np.tanh(out, out=out)
    if name == "sigmoid":
        return sigmoid(out).astype(out.dtype, copy=False)
    raise ValueError(f"unknown fused activation {name!r}; choose one of "
                     f"{', '.join(ACTIVATIONS)}")


def backward(g: np.ndarray, out: np.ndarray, act) -> np.ndarray:
    """g times d act / d v from the output ``out`` = act(v) (0 <= slope <= 1 for leaky_relu):
    the products of minigan.autograd.nn_ops.activation_grad (and of the unfused Relu,
    LeakyRelu, Tanh and Sigmoid backwards), operation for operation, so a fused backward
    equals the unfused one bit for bit."""
    if act is None:
        return g
    name, slope = act
    if name == "relu":
        return g * (out > 0).astype(g.dtype)
    if name == "leaky_relu":
        return g * np.maximum((out > 0).astype(g.dtype), slope)
    if name == "tanh":
        return g * (1 - out * out)
    if name == "sigmoid":
        return g * out * (1 - out)
    raise ValueError(f"unknown fused activation {name!r}; choose one of "
                     f"{', '.join(ACTIVATIONS)}")


# the compiled kernels' activation codes (kernels/include/minigan/activation.h)
ACT_CODES = {name: i + 1 for i, name in enumerate(ACTIVATIONS)}


def exact_code(act) -> tuple[int, float]:
    """(code, slope) for a compiled kernel when its activation is exact in any arithmetic
    order (relu, leaky_relu: one comparison and at most one product), else (0, 0.0): tanh
    and sigmoid then run here in numpy, so fused and unfused results stay bit-identical."""
    if act is None or act[0] not in ("relu", "leaky_relu"):
        return 0, 0.0
    return ACT_CODES[act[0]], float(act[1])
