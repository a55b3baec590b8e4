"""Normalization, the per-channel affine map, running statistics and the gradient-penalty
norms: the CUDA extension's fused kernels, called with device pointers on the current stream.

The normalizations view x as (A, S, B) (kernels/include/minigan/norm.h): statistics group s
holds x[a][s][b] for all a, b. ``normalize_forward`` over any axes keeps the others as S when
they are one contiguous run (every batch, instance, layer and group norm) and otherwise
transposes the kept axes to the front first (A = 1), as kernels/numpy/norm.py does.
"""

from __future__ import annotations

import math

import numpy as np
from minigan.kernels.cupy import _common
from minigan.kernels.cupy._common import cupy, ptr, stream
from minigan.kernels.shapes import channel_rows, penalty_code, reduction_plan


def _to_acb(x, perm):
    return cupy.ascontiguousarray(x if perm is None else x.transpose(perm))


def _from_acb(y, perm):
    if perm is None:
        return y
    return cupy.ascontiguousarray(y.transpose(np.argsort(perm).tolist()))


def _plain_layout(A: int, C: int, B: int) -> tuple:
    """The 6-int layout of a normalization without affine parameters (the parameter index
    is never used; g, cg, hw are kept >= 1 so it stays defined)."""
    return (A, C, B, max(C, 1), 1, max(B, 1))


def normalize_forward(x, axes, eps):
    """(y, mean, var): y = (x - mean) / sqrt(var + eps), biased var, over ``axes``; mean and
    var keep the reduced axes as size 1."""
    dtype = _common.check_float("normalize_forward", x)
    stat_shape, perm, (A, C, B) = reduction_plan(tuple(x.shape), axes)
    xa = _to_acb(x, perm)
    y = cupy.empty_like(xa)
    if A * B == 0 or C == 0:  # an empty reduction: NaN statistics, as numpy and torch give
        nan = cupy.full(stat_shape, math.nan, dtype=dtype)
        return _from_acb(y, perm), nan, nan.copy()
    mean = cupy.empty(C, dtype=dtype)
    var = cupy.empty(C, dtype=dtype)
    _common.ext().norm_forward(xa.data.ptr, 0, y.data.ptr, mean.data.ptr, var.data.ptr, 0, 0,
                               _plain_layout(A, C, B), float(eps), 0, 0.0,
                               _common.dtype_name(dtype), stream())
    return _from_acb(y, perm), mean.reshape(stat_shape), var.reshape(stat_shape)


def normalize_backward(g, y, var, axes, eps):
    """dx = invstd * (g - mean(g) - y * mean(g * y)) over ``axes``, for y = normalize(x)."""
    dtype = _common.check_float("normalize_backward", y)
    _, perm, (A, C, B) = reduction_plan(tuple(y.shape), axes)
    ya = _to_acb(y, perm)
    ga = _to_acb(g.astype(dtype, copy=False), perm)
    va = _common.ready(var, dtype).reshape(-1)
    dx = cupy.empty_like(ya)
    if dx.size == 0:
        return _from_acb(dx, perm)
    # act none: the affine output is y itself (passed as ``out``, which act 0 never reads)
    _common.ext().norm_backward(ga.data.ptr, ya.data.ptr, ya.data.ptr, va.data.ptr, 0,
                                dx.data.ptr, 0, 0, _plain_layout(A, C, B), float(eps), 0, 0.0,
                                _common.dtype_name(dtype), stream())
    return _from_acb(dx, perm)


def channel_affine(y, weight, bias, act=None):
    """act(y * weight[c] + bias[c]) along axis 1 (weight or bias may be None; ``act`` None or
    (name, slope)), one pass."""
    dtype = _common.check_float("channel_affine", y)
    code, slope = _common.act_args(act, op="channel_affine")
    acb = channel_rows(tuple(y.shape))
    y = cupy.ascontiguousarray(y)
    weight, bias = _common.ready(weight, dtype), _common.ready(bias, dtype)
    out = cupy.empty_like(y)
    if out.size:
        _common.ext().channel_affine(y.data.ptr, ptr(weight), ptr(bias), out.data.ptr, acb,
                                     code, slope, _common.dtype_name(dtype), stream())
    return out


def channel_affine_backward(g, y, weight, need_y, need_w, need_b):
    """(g * weight[c], sum of g * y per c, sum of g per c), None where not needed."""
    dtype = _common.check_float("channel_affine_backward", y)
    A, C, B = channel_rows(tuple(y.shape))
    if not (need_y or need_w or need_b):
        return None, None, None
    y = cupy.ascontiguousarray(y)
    g = _common.ready(g, dtype)
    weight = _common.ready(weight, dtype)
    gy = cupy.empty_like(y) if need_y else None
    if y.size == 0:
        return gy, cupy.zeros(C, dtype=dtype) if need_w else None, \
            cupy.zeros(C, dtype=dtype) if need_b else None
    # zeroed: the sums are complete whether the kernel writes or accumulates them
    gw = cupy.zeros(C, dtype=dtype) if need_w else None
    gb = cupy.zeros(C, dtype=dtype) if need_b else None
    _common.ext().channel_affine_backward(g.data.ptr, y.data.ptr, ptr(weight), ptr(gy), ptr(gw),
                                          ptr(gb), (A, C, B), _common.dtype_name(dtype),
                                          stream())
    return gy, gw, gb


def running_stats_update(running_mean, running_var, mean, var, momentum, correction):
    """In place, one launch: running = (1 - m) running + m value (var times correction)."""
    pairs = [(r, v) for r, v in ((running_mean, mean), (running_var, var)) if r is not None]
    if not pairs:
        return
    dtype = _common.check_float("running_stats_update", *(r for r, _ in pairs))
    for r, v in pairs:
        if r.dtype != dtype or v.size != r.size:
            raise ValueError(f"running_stats_update: statistics of shape {v.shape} for a "
                             f"{r.dtype} buffer of shape {r.shape} (both buffers: {dtype})")
    n = pairs[0][0].size
    if n == 0:
        return
    # buffers updated in place; a strided one (rare) through a contiguous copy written back
    targets = [None if r is None else (r if r.flags.c_contiguous else cupy.ascontiguousarray(r))
               for r in (running_mean, running_var)]
    values = [None if r is None else _common.ready(v, dtype).reshape(-1)
              for r, v in ((running_mean, mean), (running_var, var))]
    _common.ext().running_stats_update(ptr(targets[0]), ptr(targets[1]), ptr(values[0]),
                                       ptr(values[1]), n, float(momentum), float(correction),
                                       _common.dtype_name(dtype), stream())
    for r, t in zip((running_mean, running_var), targets):
        if r is not None and t is not r:
            r[...] = t


def _norm_layout(x, layout) -> tuple:
    layout = tuple(int(v) for v in layout)
    if len(layout) != 6:
        raise ValueError(f"norm: layout must be 6 ints (a, s, b, g, cg, hw), got {layout}")
    a, s, b = layout[:3]
    if a * s * b != x.size:
        raise ValueError(f"norm: layout {layout} views {a * s * b} elements, x {x.shape} "
                         f"has {x.size}")
    return layout


def norm_forward(x, layout, weight, bias, eps, act):
    """(out, y, mean, var) of a normalization with its affine map and activation fused:
    y = (x - mean) * rstd over each statistics group of the (A, S, B) view, out = act(y *
    w[p] + b[p]) (y itself without weight, bias and act); mean and var have shape (S,)."""
    dtype = _common.check_float("norm_forward", x)
    code, slope = _common.act_args(act, op="norm_forward")
    layout = _norm_layout(x, layout)
    x = cupy.ascontiguousarray(x)
    weight, bias = _common.ready(weight, dtype), _common.ready(bias, dtype)
    s = layout[1]
    plain = weight is None and bias is None and act is None  # out is y itself
    y = cupy.empty_like(x)
    out = y if plain else cupy.empty_like(x)
    if layout[0] * layout[2] == 0 or s == 0:
        nan = cupy.full(s, math.nan, dtype=dtype)
        return out, y, nan, nan.copy()
    mean, var = cupy.empty(s, dtype=dtype), cupy.empty(s, dtype=dtype)
    _common.ext().norm_forward(x.data.ptr, 0 if plain else out.data.ptr, y.data.ptr,
                               mean.data.ptr, var.data.ptr, ptr(weight), ptr(bias), layout,
                               float(eps), code, slope, _common.dtype_name(dtype), stream())
    return out, y, mean, var


def norm_backward(g, out, y, var, weight, layout, eps, act, need_x, need_w, need_b):
    """(dx, dweight, dbias) of norm_forward from the gradient g of out, None where not
    needed; dweight and dbias have the affine length C = g * cg."""
    dtype = _common.check_float("norm_backward", y)
    code, slope = _common.act_args(act, op="norm_backward")
    layout = _norm_layout(y, layout)
    if not (need_x or need_w or need_b):
        return None, None, None
    y = cupy.ascontiguousarray(y)
    g = _common.ready(g, dtype)
    out = y if out is None else _common.ready(out, dtype)  # act 0 never reads it
    var = _common.ready(var, dtype).reshape(-1)
    weight = _common.ready(weight, dtype)
    channels = layout[3] * layout[4]
    dx = cupy.empty_like(y) if need_x else None
    dw = cupy.zeros(channels, dtype=dtype) if need_w else None
    db = cupy.zeros(channels, dtype=dtype) if need_b else None
    if y.size:
        _common.ext().norm_backward(g.data.ptr, out.data.ptr, y.data.ptr, var.data.ptr,
                                    ptr(weight), ptr(dx), ptr(dw), ptr(db), layout, float(eps),
                                    code, slope, _common.dtype_name(dtype), stream())
    return dx, dw, db


def penalty_forward(g2d, kind, center, power):
    """(squared norm of each row of g2d, the penalty of each row), shapes (rows,)."""
    dtype = _common.check_float("penalty_forward", g2d)
    code = penalty_code(kind)
    if g2d.ndim != 2:
        raise ValueError(f"penalty_forward: g2d must be 2-D (rows, cols), got {g2d.shape}")
    g2d = cupy.ascontiguousarray(g2d)
    rows, cols = g2d.shape
    sq_norms, penalty = cupy.empty(rows, dtype=dtype), cupy.empty(rows, dtype=dtype)
    if rows:
        _common.ext().penalty_forward(g2d.data.ptr, sq_norms.data.ptr, penalty.data.ptr, rows,
                                      cols, code, float(center), float(power),
                                      _common.dtype_name(dtype), stream())
    return sq_norms, penalty


def penalty_backward(g2d, sq_norms, upstream, kind, center, power):
    """dg = upstream[row] * c(sq_norms[row]) * g2d: the gradient of the row penalties."""
    dtype = _common.check_float("penalty_backward", g2d)
    code = penalty_code(kind)
    g2d = cupy.ascontiguousarray(g2d)
    rows, cols = g2d.shape
    sq_norms = _common.ready(sq_norms, dtype).reshape(-1)
    upstream = _common.ready(upstream, dtype).reshape(-1)
    if upstream.size == 1 and rows != 1:  # one upstream value for every row
        upstream = cupy.ascontiguousarray(cupy.broadcast_to(upstream, (rows,)))
    dg = cupy.empty_like(g2d)
    if dg.size:
        _common.ext().penalty_backward(g2d.data.ptr, sq_norms.data.ptr, upstream.data.ptr,
                                       dg.data.ptr, rows, cols, code, float(center),
                                       float(power), _common.dtype_name(dtype), stream())
    return dg


KERNELS = {
    "normalize_forward": normalize_forward, "normalize_backward": normalize_backward,
    "channel_affine": channel_affine, "channel_affine_backward": channel_affine_backward,
    "running_stats_update": running_stats_update,
    "norm_forward": norm_forward, "norm_backward": norm_backward,
    "penalty_forward": penalty_forward, "penalty_backward": penalty_backward,
}
