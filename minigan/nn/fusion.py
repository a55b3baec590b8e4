"""Kernel fusion inside ``nn.Sequential``: a layer followed by its activation runs as one kernel.

When a Sequential's module is a ``Conv2d`` followed by ``ReLU`` or ``LeakyReLU`` (0 <= slope
<= 1), or a ``BatchNorm1d/2d`` followed by one of those, ``Tanh`` or ``Sigmoid``, the pair is
called as one
``module(x, activation=...)``: the activation runs in the convolution's epilogue or in the
normalization's affine pass (``F.conv2d(..., activation=)``, ``F.batch_norm(...,
activation=)``), so the GPU backends save a read and a write of the layer's output, and the
autograd graph saves one node. Values and gradients (of every order) are those of the unfused
pair, bit for bit (``tests/test_fusion.py``); only the intermediate pre-activation tensor is
never materialized.

A pair is fused only when nothing could observe the difference: both modules of exactly these
classes (a subclass may override forward), no forward hook on the layer (it would see the
activated output) and no hook on the activation module. ``set_fusion(False)`` (or the
environment variable ``MINIGAN_NO_FUSION=1``) turns it off; ``fusion(False)`` is the same as a
context manager.
"""

from __future__ import annotations

import contextlib
import os

_ENABLED = [os.environ.get("MINIGAN_NO_FUSION", "") != "1"]


def set_fusion(enabled: bool) -> None:
    """Turn Sequential's layer + activation fusion on or off (process-wide)."""
    _ENABLED[0] = bool(enabled)


def fusion_enabled() -> bool:
    return _ENABLED[0]


@contextlib.contextmanager
def fusion(enabled: bool):
    """``with fusion(False): ...`` runs the block with fusion off (or on), then restores it."""
    before = _ENABLED[0]
    _ENABLED[0] = bool(enabled)
    try:
        yield
    finally:
        _ENABLED[0] = before


def fused_activation(layer, nxt):
    """The ``activation=`` argument to call ``layer`` with in place of ``nxt``, or None."""
    from minigan.nn.activation import LeakyReLU, ReLU, Sigmoid, Tanh
    from minigan.nn.conv import Conv2d
    from minigan.nn.norm import BatchNorm1d, BatchNorm2d
    if not _ENABLED[0] or type(layer) not in (Conv2d, BatchNorm1d, BatchNorm2d):
        return None
    if layer._forward_hooks or nxt._forward_pre_hooks or nxt._forward_hooks:
        return None
    kind = type(nxt)
    if kind is ReLU:
        return "relu"
    if kind is LeakyReLU:
        slope = float(nxt.negative_slope)
        return ("leaky_relu", slope) if 0.0 <= slope <= 1.0 else None
    if type(layer) is Conv2d:  # the convolution's epilogue: relu and leaky_relu only
        return None
    if kind is Tanh:
        return "tanh"
    if kind is Sigmoid:
        return "sigmoid"
    return None
