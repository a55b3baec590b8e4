"""2-D pooling on numpy through strided window views, with torch's output-size rules."""

from __future__ import annotations

import numpy as np
from minigan.kernels.shapes import pool_out_size
from numpy.lib.stride_tricks import as_strided


def _padded(x, pads_hw, ext_hw, value):
    """Pad (p, p + extra) on H and W so every (ceil-mode) window lies inside the array."""
    (ph, pw), (eh, ew) = pads_hw, ext_hw
    if ph == pw == eh == ew == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph + eh), (pw, pw + ew)), constant_values=value)


def _extra(size, k, stride, pad, dilation, out):
    return max(0, (out - 1) * stride + dilation * (k - 1) + 1 - (size + 2 * pad))


def _window_view(xp, kernel, stride, dilation, out_hw):
    n, c = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (n, c, kernel[0], kernel[1], *out_hw),
                      (s0, s1, s2 * dilation[0], s3 * dilation[1],
                       s2 * stride[0], s3 * stride[1]), writeable=False)


def _geometry(hw, kernel, stride, padding, dilation, ceil_mode):
    out = tuple(pool_out_size(hw[i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode)
                for i in range(2))
    ext = tuple(_extra(hw[i], kernel[i], stride[i], padding[i], dilation[i], out[i])
                for i in range(2))
    return out, ext


def avg_pool_divisor(hw, kernel, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, out_hw, dtype):
    """(Ho, Wo) divisor map, exactly as torch's CPU kernel computes pool_size."""
    if divisor_override:
        return np.full(out_hw, divisor_override, dtype=dtype)
    sizes = []
    for i in range(2):
        start = np.arange(out_hw[i]) * stride[i] - padding[i]
        end = np.minimum(start + kernel[i], hw[i] + padding[i])
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, hw[i]) - np.maximum(start, 0))
    return np.outer(sizes[0], sizes[1]).astype(dtype)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
    hw = x.shape[2:]
    out, ext = _geometry(hw, kernel, stride, padding, (1, 1), ceil_mode)
    win = _window_view(_padded(x, padding, ext, 0), kernel, stride, (1, 1), out)
    div = avg_pool_divisor(hw, kernel, stride, padding, ceil_mode, count_include_pad,
                           divisor_override, out, x.dtype)
    return win.sum(axis=(2, 3)) / div


def avg_pool2d_backward(g, input_hw, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    n, c, ho, wo = g.shape
    out, ext = _geometry(input_hw, kernel, stride, padding, (1, 1), ceil_mode)
    div = avg_pool_divisor(input_hw, kernel, stride, padding, ceil_mode, count_include_pad,
                           divisor_override, out, g.dtype)
    gd = g / div
    (ph, pw), (eh, ew) = padding, ext
    dx = np.zeros((n, c, input_hw[0] + 2 * ph + eh, input_hw[1] + 2 * pw + ew), dtype=g.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            dx[:, :, i:i + stride[0] * (ho - 1) + 1:stride[0],
               j:j + stride[1] * (wo - 1) + 1:stride[1]] += gd
    return np.ascontiguousarray(dx[:, :, ph:ph + input_hw[0], pw:pw + input_hw[1]])


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    out, ext = _geometry((h, w), kernel, stride, padding, dilation, ceil_mode)
    win = _window_view(_padded(x, padding, ext, -np.inf), kernel, stride, dilation, out)
    win = win.reshape(n, c, kernel[0] * kernel[1], *out)
    arg = win.argmax(axis=2)  # first maximum in row-major window order, as torch's CPU kernel
    values = np.take_along_axis(win, arg[:, :, None], axis=2)[:, :, 0]
    # Where nothing beats -inf, torch keeps the window's first in-bounds position; a window
    # wholly in the padding (possible with dilation) has none and gets index -1.
    inside = _window_view(_padded(np.ones((1, 1, h, w), bool), padding, ext, False), kernel,
                          stride, dilation, out).reshape(1, 1, kernel[0] * kernel[1], *out)
    arg = np.where(np.isneginf(values), inside.argmax(axis=2), arg)
    rows = np.arange(out[0])[:, None] * stride[0] - padding[0] + (arg // kernel[1]) * dilation[0]
    cols = np.arange(out[1])[None, :] * stride[1] - padding[1] + (arg % kernel[1]) * dilation[1]
    index = np.where(inside.any(axis=2), rows * w + cols, -1)
    return np.ascontiguousarray(values), index.astype(np.int64)


def take_hw(x, index):
    """out[n, c, i, j] = x[n, c].flat[index[n, c, i, j]], and 0 where the index is -1."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    idx = index.reshape(n, c, -1)
    taken = np.take_along_axis(flat, np.maximum(idx, 0), axis=2)
    return np.where(idx >= 0, taken, 0).astype(x.dtype, copy=False).reshape(index.shape)


def scatter_add_hw(g, index, hw):
    """Adjoint of take_hw: zeros of (N, C, H, W) with g summed in at the flat indices
    (an index of -1 adds nothing)."""
    n, c = g.shape[:2]
    size = hw[0] * hw[1]
    offsets = (np.arange(n * c, dtype=np.int64) * size).reshape(n, c, *([1] * (index.ndim - 2)))
    weights = np.where(index >= 0, g, 0).ravel()
    out = np.bincount((np.maximum(index, 0) + offsets).ravel(), weights=weights,
                      minlength=n * c * size)
    return out.astype(g.dtype, copy=False).reshape(n, c, *hw)
