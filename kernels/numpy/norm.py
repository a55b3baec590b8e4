"""Normalization over a set of axes and softmax, on numpy.

The normalizations run in the compiled extension (csrc/cpu/normalize.cpp) when it is built
and the axes they keep are one contiguous run (every batch, instance, layer and group norm),
and as numpy code otherwise.

``norm_forward`` / ``norm_backward`` are the fused batch, instance and group norm (statistics,
normalize, affine map, activation; kernels/include/minigan/norm.h's layout): one compiled call
each way where the extension has them, else the compiled normalize and channel-affine kernels
(or numpy) one after the other, for the same values.
"""

from __future__ import annotations

import math

import numpy as np
from minigan.kernels import compiled
from minigan.kernels.numpy import activation
from minigan.kernels.shapes import channel_rows


def _rows(shape: tuple, axes: tuple) -> tuple[int, int, int] | None:
    """(A, C, B) such that x viewed as (A, C, B) keeps C and reduces A and B, or None when
    the kept axes are not one contiguous run."""
    reduced = {a % len(shape) for a in axes}
    kept = [d for d in range(len(shape)) if d not in reduced]
    if not kept:
        return 1, 1, math.prod(shape)
    if kept != list(range(kept[0], kept[-1] + 1)):
        return None
    return (math.prod(shape[:kept[0]]), math.prod(shape[kept[0]:kept[-1] + 1]),
            math.prod(shape[kept[-1] + 1:]))


def _compiled_rows(x: np.ndarray, axes: tuple) -> tuple[int, int, int] | None:
    if compiled.CPU is None or x.dtype not in (np.float32, np.float64):
        return None
    return _rows(x.shape, axes)


def _stat_shape(shape: tuple, axes: tuple) -> tuple:
    reduced = {a % len(shape) for a in axes}
    return tuple(1 if d in reduced else n for d, n in enumerate(shape))


def normalize_forward(x, axes, eps):
    """y = (x - mean) / sqrt(var + eps) with the biased variance; mean, var keep their axes.

    Two passes (mean, then centred second moment) rather than E[x^2] - E[x]^2, which cancels
    catastrophically in float32 when |mean| >> std.
    """
    rows = _compiled_rows(x, axes)
    if rows is not None:
        x = np.ascontiguousarray(x)
        y = np.empty_like(x)
        mean = np.empty(_stat_shape(x.shape, axes), dtype=x.dtype)
        var = np.empty_like(mean)
        compiled.CPU.normalize_forward(x, y, mean, var, rows, float(eps))
        return y, mean, var
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = np.mean(xc * xc, axis=axes, keepdims=True)
    return xc / np.sqrt(var + eps), mean, var


def normalize_backward(g, y, var, axes, eps):
    """dx = invstd * (g - mean(g) - y * mean(g * y)): one fused pass when no graph is built."""
    rows = _compiled_rows(y, axes)
    if rows is not None and g.dtype == y.dtype:
        dx = np.empty(y.shape, dtype=y.dtype)
        compiled.CPU.normalize_backward(np.ascontiguousarray(g), np.ascontiguousarray(y),
                                        np.ascontiguousarray(var), dx, rows, float(eps))
        return dx
    invstd = 1.0 / np.sqrt(var + eps)
    return invstd * (g - g.mean(axis=axes, keepdims=True)
                     - y * np.mean(g * y, axis=axes, keepdims=True))


def _channel_view(a: np.ndarray, ndim: int) -> np.ndarray:
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def channel_affine(y, weight, bias, act=None):
    """act(y * weight[c] + bias[c]) along axis 1 (weight or bias may be None; ``act`` None or
    (name, slope), :mod:`.activation`)."""
    if compiled.CPU is not None and y.dtype in (np.float32, np.float64):
        y = np.ascontiguousarray(y)
        out = np.empty_like(y)
        compiled.CPU.channel_affine(y, weight, bias, out, channel_rows(y.shape))
        return activation.apply(out, act)
    out = y * _channel_view(weight, y.ndim) if weight is not None else y.copy()
    if bias is not None:
        out += _channel_view(bias, y.ndim)
    return activation.apply(out, act)


def channel_affine_backward(g, y, weight, need_y, need_w, need_b):
    """(g * weight[c], sum of g * y per c, sum of g per c), None where not needed: the fused
    no-graph backward of ``channel_affine``."""
    if compiled.CPU is not None and y.dtype in (np.float32, np.float64) and g.dtype == y.dtype:
        g, y = np.ascontiguousarray(g), np.ascontiguousarray(y)
        c = y.shape[1]
        gy = np.empty_like(y) if need_y else None
        gw = np.empty(c, dtype=y.dtype) if need_w else None
        gb = np.empty(c, dtype=y.dtype) if need_b else None
        compiled.CPU.channel_affine_backward(g, y, weight, gy, gw, gb, channel_rows(y.shape))
        return gy, gw, gb
    axes = (0,) + tuple(range(2, y.ndim))
    gy = (g * _channel_view(weight, y.ndim) if weight is not None else g.copy()) \
        if need_y else None
    gw = np.sum(g * y, axis=axes) if need_w else None
    gb = np.sum(g, axis=axes) if need_b else None
    return gy, gw, gb


def _layout(layout) -> tuple[int, int, int, int, int, int]:
    a, s, b, g, cg, hw = (int(v) for v in layout)
    return a, s, b, g, cg, hw


def _affine_rows(layout, numel: int) -> tuple[int, int, int]:
    """x viewed as (N, C, HW), the channel-affine map's view, for any of the three layouts:
    p(s, b) = (s % G) Cg + b // HW is the channel of that view."""
    _, _, _, g, cg, hw = layout
    c = g * cg
    return numel // (c * hw), c, hw


def _compiled_fused(name: str, *arrays) -> bool:
    return hasattr(compiled.CPU, name) and arrays[0].dtype in (np.float32, np.float64) and \
        all(a is None or a.dtype == arrays[0].dtype for a in arrays)


def norm_forward(x, layout, weight, bias, eps, act=None):
    """(out, y, mean, var): x viewed as (A, S, B) (``layout`` = (A, S, B, G, Cg, HW)),
    mean and biased var per group s (shape (S,)), y = (x - mean) / sqrt(var + eps),
    out = act(y * w[p] + b[p]) with p = (s % G) Cg + b // HW. Without weight, bias and act,
    out is y itself."""
    layout = _layout(layout)
    a, s, b = layout[:3]
    x = np.ascontiguousarray(x)
    plain = weight is None and bias is None and act is None
    if _compiled_fused("norm_forward", x, weight, bias):
        code, slope = activation.exact_code(act)
        y = np.empty_like(x)
        out = None if plain else np.empty_like(x)
        mean = np.empty(s, dtype=x.dtype)
        var = np.empty(s, dtype=x.dtype)
        compiled.CPU.norm_forward(x, out, y, mean, var, weight, bias, layout, float(eps),
                                  code, slope)
        if plain:
            return y, y, mean, var
        if act is not None and code == 0:  # tanh, sigmoid: numpy's, as the unfused op
            out = activation.apply(out, act)
        return out, y, mean, var
    y, mean, var = normalize_forward(x.reshape(a, s, b), (0, 2), eps)
    y = y.reshape(x.shape)
    if plain:
        return y, y, mean.reshape(s), var.reshape(s)
    out = channel_affine(y.reshape(_affine_rows(layout, x.size)), weight, bias, act)
    return out.reshape(x.shape), y, mean.reshape(s), var.reshape(s)


def norm_backward(g, out, y, var, weight, layout, eps, act, need_x, need_w, need_b):
    """(dx, dw, db) from g, the gradient of norm_forward's out (each None unless asked): the
    activation's gradient from out, then the affine map's, then the normalization's,
    dx = rstd (dy - mean(dy) - y mean(dy y)) per group."""
    layout = _layout(layout)
    a, s, b = layout[:3]
    if not (need_x or need_w or need_b):
        return None, None, None
    y = np.ascontiguousarray(y)
    g = np.ascontiguousarray(g)
    c = layout[3] * layout[4]
    if _compiled_fused("norm_backward", y, g, weight):
        # The activation's gradient here, the kernel with act 0: the same values bit for bit
        # (relu and leaky_relu are exact; tanh and sigmoid must be numpy's, as unfused), and
        # faster: measured at batch 64 on one core, the kernel's relu branch runs 2-2.6x slower
        # than this numpy pass plus the act-0 kernel, leaky_relu about the same.
        dz = activation.backward(g, out, act)
        dx = np.empty_like(y) if need_x else None
        dw = np.empty(c, dtype=y.dtype) if need_w else None
        db = np.empty(c, dtype=y.dtype) if need_b else None
        compiled.CPU.norm_backward(dz, y, y, np.ascontiguousarray(var), weight, dx, dw, db,
                                   layout, float(eps), 0, 0.0)
        return dx, dw, db
    dz = activation.backward(g, out, act)
    rows = _affine_rows(layout, y.size)
    dy = dw = db = None
    if need_w or need_b or (need_x and weight is not None):
        dy, dw, db = channel_affine_backward(dz.reshape(rows), y.reshape(rows), weight,
                                             need_x and weight is not None, need_w, need_b)
    dx = None
    if need_x:
        dy = dz if dy is None else dy
        dx = normalize_backward(dy.reshape(a, s, b), y.reshape(a, s, b),
                                np.asarray(var).reshape(1, s, 1), (0, 2), eps).reshape(y.shape)
    return dx, dw, db


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def running_stats_update(running_mean, running_var, mean, var, momentum, correction):
    """In place: running = (1 - momentum) running + momentum value (var times correction,
    the unbiased n / (n - 1)), in the buffers' dtype."""
    for running, value, c in ((running_mean, mean, None), (running_var, var, correction)):
        if running is None:
            continue
        value = value.reshape(running.shape)
        if c is not None:
            value = value * running.dtype.type(c)
        running *= running.dtype.type(1 - momentum)
        running += running.dtype.type(momentum) * value
