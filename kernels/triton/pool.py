"""2-D pooling and the flat-H*W gather/scatter on Triton, with torch's output-size rules.

Every kernel is a 1-D grid of programs over one output's flattened elements (BLOCK lanes
each); the window or index geometry is computed per lane from runtime ints, so one compiled
kernel per (dtype, BLOCK) serves every kernel size, stride, padding, dilation and flag.

* avg_pool2d_forward: each output lane sums its window (masked loads, zero outside the
  input, which covers padding and ceil-mode windows that hang off the edge) and divides by
  the divisor torch's CPU kernel uses, computed in the kernel from the window bounds.
* avg_pool2d_backward: a gather, no atomics: each input lane visits the at most
  ceil(KH/sh) * ceil(KW/sw) output windows that cover it and adds g / divisor of each.
* max_pool2d_forward: each output lane walks its window in row-major order; a position
  replaces the running maximum when it is greater, NaN (torch's rule: the last NaN wins and
  the value is NaN), or the first in-bounds one (so an all -inf window keeps its first
  in-bounds position). A window with no in-bounds position keeps -inf and index -1.
* take_hw / scatter_add_hw: one lane per index element; index -1 (or out of range) reads 0
  / adds nothing. The scatter accumulates with tl.atomic_add (order not deterministic).

Offsets are int32: every tensor must have fewer than 2**31 elements (checked).
"""

import torch
import triton
import triton.language as tl
from minigan.kernels.shapes import pool_out_size
from minigan.kernels.triton import _common

BLOCKS = (128, 256, 512, 1024)  # the finite set of block lengths the wrappers launch with
_DTYPES = (torch.float32, torch.float64)
_INT32_LIMIT = 2**31


# --- kernels --------------------------------------------------------------------------------
@triton.jit
def _avg_divisor(oh, ow, H, W, KH, KW, sh, sw, ph, pw, count_pad, override):
    """torch's CPU pool_size for output (oh, ow), or the override when it is non-zero."""
    hs = oh * sh - ph
    ws = ow * sw - pw
    he = tl.minimum(hs + KH, H + ph)
    we = tl.minimum(ws + KW, W + pw)
    full = (he - hs) * (we - ws)
    clipped = (tl.minimum(he, H) - tl.maximum(hs, 0)) * (tl.minimum(we, W) - tl.maximum(ws, 0))
    size = tl.where(count_pad != 0, full, clipped)
    return tl.where(override != 0, override, size)


@triton.jit
def _avg_pool2d_fwd_kernel(x_ptr, out_ptr, total, H, W, Ho, Wo, KH, KW, sh, sw, ph, pw,
                           count_pad, override, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < total
    ow = offs % Wo
    t = offs // Wo
    oh = t % Ho
    plane = t // Ho
    base = x_ptr + plane * (H * W)
    hs = oh * sh - ph
    ws = ow * sw - pw
    acc = tl.zeros([BLOCK], dtype=out_ptr.dtype.element_ty)
    for kh in range(0, KH):
        ih = hs + kh
        mh = m & (ih >= 0) & (ih < H)
        for kw in range(0, KW):
            iw = ws + kw
            mk = mh & (iw >= 0) & (iw < W)
            acc += tl.load(base + ih * W + iw, mask=mk, other=0.0)
    div = _avg_divisor(oh, ow, H, W, KH, KW, sh, sw, ph, pw, count_pad, override)
    div = tl.where(m, div, 1)  # lanes past the end never divide by zero
    tl.store(out_ptr + offs, acc / div.to(acc.dtype), mask=m)


@triton.jit
def _avg_pool2d_bwd_kernel(g_ptr, dx_ptr, total, H, W, Ho, Wo, KH, KW, sh, sw, ph, pw,
                           count_pad, override, NH, NW, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < total
    iw = offs % W
    t = offs // W
    ih = t % H
    plane = t // H
    gbase = g_ptr + plane * (Ho * Wo)
    # the last window (in each axis) that starts at or before this pixel
    oh_hi = (ih + ph) // sh
    ow_hi = (iw + pw) // sw
    acc = tl.zeros([BLOCK], dtype=dx_ptr.dtype.element_ty)
    for a in range(0, NH):
        oh = oh_hi - a
        mh = m & (oh >= 0) & (oh < Ho) & (oh * sh - ph + KH > ih)
        for b in range(0, NW):
            ow = ow_hi - b
            mk = mh & (ow >= 0) & (ow < Wo) & (ow * sw - pw + KW > iw)
            div = _avg_divisor(oh, ow, H, W, KH, KW, sh, sw, ph, pw, count_pad, override)
            div = tl.where(mk, div, 1)
            gv = tl.load(gbase + oh * Wo + ow, mask=mk, other=0.0)
            acc += gv / div.to(gv.dtype)
    tl.store(dx_ptr + offs, acc, mask=m)


@triton.jit
def _max_pool2d_fwd_kernel(x_ptr, out_ptr, idx_ptr, total, H, W, Ho, Wo, KH, KW, sh, sw,
                           ph, pw, dh, dw, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < total
    ow = offs % Wo
    t = offs // Wo
    oh = t % Ho
    plane = t // Ho
    base = x_ptr + plane * (H * W)
    hs = oh * sh - ph
    ws = ow * sw - pw
    best = tl.full([BLOCK], float("-inf"), out_ptr.dtype.element_ty)
    idx = tl.full([BLOCK], -1, tl.int32)
    for kh in range(0, KH):
        ih = hs + kh * dh
        mh = m & (ih >= 0) & (ih < H)
        for kw in range(0, KW):
            iw = ws + kw * dw
            mk = mh & (iw >= 0) & (iw < W)
            pos = ih * W + iw
            v = tl.load(base + pos, mask=mk, other=float("-inf"))
            # greater, NaN (torch: the last NaN wins), or the first in-bounds position
            upd = mk & ((v > best) | (v != v) | (idx < 0))
            best = tl.where(upd, v, best)
            idx = tl.where(upd, pos, idx)
    tl.store(out_ptr + offs, best, mask=m)
    tl.store(idx_ptr + offs, idx.to(tl.int64), mask=m)


@triton.jit
def _take_hw_kernel(x_ptr, index_ptr, out_ptr, total, L, HW, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < total
    plane = offs // L
    index = tl.load(index_ptr + offs, mask=m, other=-1)
    ok = m & (index >= 0) & (index < HW)
    v = tl.load(x_ptr + plane * HW + index, mask=ok, other=0.0)
    tl.store(out_ptr + offs, v, mask=m)


@triton.jit
def _scatter_add_hw_kernel(g_ptr, index_ptr, out_ptr, total, L, HW, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < total
    plane = offs // L
    index = tl.load(index_ptr + offs, mask=m, other=-1)
    ok = m & (index >= 0) & (index < HW)
    gv = tl.load(g_ptr + offs, mask=ok, other=0.0)
    tl.atomic_add(out_ptr + plane * HW + index, gv, mask=ok, sem="relaxed")


# --- wrappers -------------------------------------------------------------------------------
def _block(n: int) -> int:
    return _common.block_for(n, BLOCKS[0], BLOCKS[-1])


def _grid(n: int, block: int) -> tuple:
    return (_common.cdiv(n, block),)


def _check_float(name: str, *tensors) -> None:
    for t in tensors:
        if t.dtype not in _DTYPES:
            raise TypeError(f"triton {name}: float32 or float64 values, got {t.dtype}")


def _check_size(name: str, *tensors) -> None:
    for t in tensors:
        if t.numel() >= _INT32_LIMIT:
            raise ValueError(f"triton {name}: tensors of 2**31 or more elements "
                             f"({tuple(t.shape)}) are not supported (int32 offsets)")


def _index(index: torch.Tensor) -> torch.Tensor:
    if index.dtype != torch.int64:
        index = index.to(torch.int64)
    return index.contiguous()


def _pool_out(hw, kernel, stride, padding, dilation, ceil_mode) -> tuple:
    return tuple(pool_out_size(int(hw[i]), int(kernel[i]), int(stride[i]), int(padding[i]),
                               int(dilation[i]), bool(ceil_mode)) for i in range(2))


def _ints(*pairs) -> list:
    return [int(v) for p in pairs for v in p]


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
    _check_float("avg_pool2d_forward", x)
    x = x.contiguous()
    n, c, h, w = x.shape
    ho, wo = _pool_out((h, w), kernel, stride, padding, (1, 1), ceil_mode)
    out = torch.empty((n, c, ho, wo), dtype=x.dtype, device=x.device)
    total = out.numel()
    _check_size("avg_pool2d_forward", x, out)
    if total == 0:
        return out
    block = _block(total)
    _common.launch(_avg_pool2d_fwd_kernel, _grid(total, block), x, out, total, h, w, ho, wo,
                   *_ints(kernel, stride, padding), int(bool(count_include_pad)),
                   int(divisor_override or 0), BLOCK=block)
    return out


def avg_pool2d_backward(g, input_hw, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    _check_float("avg_pool2d_backward", g)
    g = g.contiguous()
    n, c, ho, wo = g.shape
    h, w = (int(v) for v in input_hw)
    expected = _pool_out((h, w), kernel, stride, padding, (1, 1), ceil_mode)
    if (ho, wo) != expected:
        raise ValueError(f"triton avg_pool2d_backward: g has spatial shape {(ho, wo)}, "
                         f"pooling {(h, w)} gives {expected}")
    if g.numel() == 0:
        return torch.zeros((n, c, h, w), dtype=g.dtype, device=g.device)
    dx = torch.empty((n, c, h, w), dtype=g.dtype, device=g.device)
    total = dx.numel()
    _check_size("avg_pool2d_backward", g, dx)
    if total == 0:
        return dx
    kh, kw = int(kernel[0]), int(kernel[1])
    sh, sw = int(stride[0]), int(stride[1])
    nh, nw = _common.cdiv(kh, sh), _common.cdiv(kw, sw)  # windows covering one pixel, per axis
    block = _block(total)
    _common.launch(_avg_pool2d_bwd_kernel, _grid(total, block), g, dx, total, h, w, ho, wo,
                   *_ints(kernel, stride, padding), int(bool(count_include_pad)),
                   int(divisor_override or 0), nh, nw, BLOCK=block)
    return dx


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    _check_float("max_pool2d_forward", x)
    x = x.contiguous()
    n, c, h, w = x.shape
    ho, wo = _pool_out((h, w), kernel, stride, padding, dilation, ceil_mode)
    values = torch.empty((n, c, ho, wo), dtype=x.dtype, device=x.device)
    indices = torch.empty((n, c, ho, wo), dtype=torch.int64, device=x.device)
    total = values.numel()
    _check_size("max_pool2d_forward", x, values)
    if total == 0:
        return values, indices
    block = _block(total)
    _common.launch(_max_pool2d_fwd_kernel, _grid(total, block), x, values, indices, total,
                   h, w, ho, wo, *_ints(kernel, stride, padding, dilation), BLOCK=block)
    return values, indices


def take_hw(x, index):
    """out[n, c, ...] = x[n, c].flat[index[n, c, ...]], and 0 where the index is -1."""
    _check_float("take_hw", x)
    x, index = x.contiguous(), _index(index)
    n, c, h, w = x.shape
    if tuple(index.shape[:2]) != (n, c):
        raise ValueError(f"triton take_hw: index {tuple(index.shape)} does not start with "
                         f"x's (N, C) = {(n, c)}")
    out = torch.empty(index.shape, dtype=x.dtype, device=x.device)
    total = out.numel()
    _check_size("take_hw", x, index)
    if total == 0:
        return out
    per_plane = total // (n * c)
    block = _block(total)
    _common.launch(_take_hw_kernel, _grid(total, block), x, index, out, total, per_plane,
                   h * w, BLOCK=block)
    return out


def scatter_add_hw(g, index, hw):
    """Adjoint of take_hw: zeros of (N, C, H, W) with g summed in at the flat indices (an
    index of -1 adds nothing)."""
    _check_float("scatter_add_hw", g)
    g, index = g.contiguous(), _index(index)
    if tuple(g.shape) != tuple(index.shape):
        raise ValueError(f"triton scatter_add_hw: g {tuple(g.shape)} and index "
                         f"{tuple(index.shape)} differ")
    n, c = g.shape[:2]
    h, w = int(hw[0]), int(hw[1])
    out = torch.zeros((n, c, h, w), dtype=g.dtype, device=g.device)
    total = g.numel()
    _check_size("scatter_add_hw", g, out)
    if total == 0 or out.numel() == 0:
        return out
    per_plane = total // (n * c)
    block = _block(total)
    _common.launch(_scatter_add_hw_kernel, _grid(total, block), g, index, out, total,
                   per_plane, h * w, BLOCK=block)
    return out


KERNELS = {
    "avg_pool2d_forward": avg_pool2d_forward,
    "avg_pool2d_backward": avg_pool2d_backward,
    "max_pool2d_forward": max_pool2d_forward,
    "take_hw": take_hw,
    "scatter_add_hw": scatter_add_hw,
}


# --- every configuration the wrappers launch ------------------------------------------------
def _signature(kernel, pointers: dict, dtype: torch.dtype) -> dict:
    """Pointer arguments typed from ``pointers`` ("x" -> the value dtype, "i64" -> int64),
    every other runtime argument i32, BLOCK constexpr."""
    value, index = _common.POINTER_TYPES[dtype], _common.POINTER_TYPES[torch.int64]
    sig = {}
    for name in kernel.arg_names:
        if name == "BLOCK":
            sig[name] = "constexpr"
        elif name in pointers:
            sig[name] = index if pointers[name] == "i64" else value
        else:
            sig[name] = "i32"
    return sig


_POINTERS = {
    _avg_pool2d_fwd_kernel: {"x_ptr": "x", "out_ptr": "x"},
    _avg_pool2d_bwd_kernel: {"g_ptr": "x", "dx_ptr": "x"},
    _max_pool2d_fwd_kernel: {"x_ptr": "x", "out_ptr": "x", "idx_ptr": "i64"},
    _take_hw_kernel: {"x_ptr": "x", "index_ptr": "i64", "out_ptr": "x"},
    _scatter_add_hw_kernel: {"g_ptr": "x", "index_ptr": "i64", "out_ptr": "x"},
}


def compile_cases() -> list:
    return [_common.CompileCase(kernel, _signature(kernel, pointers, dtype), {"BLOCK": block})
            for kernel, pointers in _POINTERS.items()
            for dtype in _DTYPES
            for block in BLOCKS]
