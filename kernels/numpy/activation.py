"""The activations a kernel applies to its own result (conv2d_forward's epilogue,
channel_affine): ``act`` is None or ``(name, slope)``, name one of ``ACTIVATIONS``. The same
formulas as the numpy backend's elementwise kernels (``relu`` is its clip, ``leaky_relu`` the
LeakyRelu factor), so a fused result equals the unfused one bit for bit."""

from __future__ import annotations

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")
CONV_ACTIVATIONS = ("relu", "leaky_relu")  # conv2d_forward's epilogue takes these


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
        factor = np.maximum((out > 0).astype(out.dtype), slope) if 0.0 <= slope <= 1.0 else \
            (out > 0).astype(out.dtype) + (out <= 0).astype(out.dtype) * slope
        return np.multiply(out, factor, out=out)
    if name == "tanh":
        return np.tanh(out, out=out)
    if name == "sigmoid":
        return sigmoid(out).astype(out.dtype, copy=False)
    raise ValueError(f"unknown fused activation {name!r}; choose one of "
                     f"{', '.join(ACTIVATIONS)}")
