"""2-D pooling and the flat-H*W gather/scatter: pool.cu's kernels, with torch's output-size
rules (kernels/shapes.py). Inputs are made C-contiguous; float32 and float64."""

from __future__ import annotations

import numpy as np
from minigan.kernels.cupy import _common
from minigan.kernels.cupy._common import cupy, i64
from minigan.kernels.shapes import pool_out_size

SOURCE = "pool.cu"
_NAMES = ("avg_pool2d_forward", "avg_pool2d_backward", "max_pool2d_forward", "take_hw",
          "scatter_add_hw")
NAME_EXPRESSIONS = tuple(f"{name}<{_common.CTYPES[t]}>" for name in _NAMES
                         for t in _common.FLOAT_TYPES)


def _kernel(name: str, dtype):
    return _common.function(SOURCE, NAME_EXPRESSIONS, f"{name}<{_common.CTYPES[dtype]}>")


def _pool_out(hw, kernel, stride, padding, dilation, ceil_mode) -> tuple:
    return tuple(pool_out_size(int(hw[i]), int(kernel[i]), int(stride[i]), int(padding[i]),
                               int(dilation[i]), bool(ceil_mode)) for i in range(2))


def _ints(*pairs) -> list:
    return [i64(v) for p in pairs for v in p]


def _index(index):
    return cupy.ascontiguousarray(index, dtype=np.int64)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
    _common.check_float("avg_pool2d_forward", x)
    x = cupy.ascontiguousarray(x)
    n, c, h, w = x.shape
    ho, wo = _pool_out((h, w), kernel, stride, padding, (1, 1), ceil_mode)
    out = cupy.empty((n, c, ho, wo), dtype=x.dtype)
    if out.size:
        _common.launch(_kernel("avg_pool2d_forward", x.dtype), out.size,
                       (x, out, i64(out.size), i64(h), i64(w), i64(ho), i64(wo),
                        *_ints(kernel, stride, padding), np.int32(bool(count_include_pad)),
                        i64(divisor_override or 0)))
    return out


def avg_pool2d_backward(g, input_hw, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    _common.check_float("avg_pool2d_backward", g)
    g = cupy.ascontiguousarray(g)
    n, c, ho, wo = g.shape
    h, w = (int(v) for v in input_hw)
    expected = _pool_out((h, w), kernel, stride, padding, (1, 1), ceil_mode)
    if (ho, wo) != expected:
        raise ValueError(f"avg_pool2d_backward: g has spatial shape {(ho, wo)}, pooling "
                         f"{(h, w)} gives {expected}")
    dx = cupy.zeros((n, c, h, w), dtype=g.dtype)
    if dx.size and g.size:
        nh = -(-int(kernel[0]) // int(stride[0]))  # windows covering one pixel, per axis
        nw = -(-int(kernel[1]) // int(stride[1]))
        _common.launch(_kernel("avg_pool2d_backward", g.dtype), dx.size,
                       (g, dx, i64(dx.size), i64(h), i64(w), i64(ho), i64(wo),
                        *_ints(kernel, stride, padding), np.int32(bool(count_include_pad)),
                        i64(divisor_override or 0), i64(nh), i64(nw)))
    return dx


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    _common.check_float("max_pool2d_forward", x)
    x = cupy.ascontiguousarray(x)
    n, c, h, w = x.shape
    ho, wo = _pool_out((h, w), kernel, stride, padding, dilation, ceil_mode)
    values = cupy.empty((n, c, ho, wo), dtype=x.dtype)
    indices = cupy.empty((n, c, ho, wo), dtype=np.int64)
    if values.size:
        _common.launch(_kernel("max_pool2d_forward", x.dtype), values.size,
                       (x, values, indices, i64(values.size), i64(h), i64(w), i64(ho), i64(wo),
                        *_ints(kernel, stride, padding, dilation)))
    return values, indices


def take_hw(x, index):
    """out[n, c, ...] = x[n, c].flat[index[n, c, ...]], and 0 where the index is -1."""
    _common.check_float("take_hw", x)
    x, index = cupy.ascontiguousarray(x), _index(index)
    n, c, h, w = x.shape
    if tuple(index.shape[:2]) != (n, c):
        raise ValueError(f"take_hw: index {index.shape} does not start with x's (N, C) = "
                         f"{(n, c)}")
    out = cupy.empty(index.shape, dtype=x.dtype)
    if out.size:
        _common.launch(_kernel("take_hw", x.dtype), out.size,
                       (x, index, out, i64(out.size), i64(out.size // (n * c)), i64(h * w)))
    return out


def scatter_add_hw(g, index, hw):
    """Adjoint of take_hw: zeros of (N, C, H, W) with g summed in at the flat indices (an
    index of -1 adds nothing)."""
    _common.check_float("scatter_add_hw", g)
    g, index = cupy.ascontiguousarray(g), _index(index)
    if g.shape != index.shape:
        raise ValueError(f"scatter_add_hw: g {g.shape} and index {index.shape} differ")
    n, c = g.shape[:2]
    h, w = int(hw[0]), int(hw[1])
    out = cupy.zeros((n, c, h, w), dtype=g.dtype)
    if g.size and out.size:
        _common.launch(_kernel("scatter_add_hw", g.dtype), g.size,
                       (g, index, out, i64(g.size), i64(g.size // (n * c)), i64(h * w)))
    return out


KERNELS = {
    "avg_pool2d_forward": avg_pool2d_forward, "avg_pool2d_backward": avg_pool2d_backward,
    "max_pool2d_forward": max_pool2d_forward, "take_hw": take_hw,
    "scatter_add_hw": scatter_add_hw,
}
