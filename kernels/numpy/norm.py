"""Normalization over a set of axes and softmax, on numpy."""

from __future__ import annotations

import numpy as np


def normalize_forward(x, axes, eps):
    """y = (x - mean) / sqrt(var + eps) with the biased variance; mean, var keep their axes.

    Two passes (mean, then centred second moment) rather than E[x^2] - E[x]^2, which cancels
    catastrophically in float32 when |mean| >> std.
    """
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = np.mean(xc * xc, axis=axes, keepdims=True)
    return xc / np.sqrt(var + eps), mean, var


def normalize_backward(g, y, var, axes, eps):
    """dx = invstd * (g - mean(g) - y * mean(g * y)): one fused pass when no graph is built."""
    invstd = 1.0 / np.sqrt(var + eps)
    return invstd * (g - g.mean(axis=axes, keepdims=True)
                     - y * np.mean(g * y, axis=axes, keepdims=True))


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
