"""Gather and scatter along one axis, one-hot, and the layout ops that only move data.

``index_select`` / ``index_add`` view the array as (P, S, Q) around the indexed axis and the
index as a flat list of L entries: the gather reads one element per output element, the
scatter adds one per gradient element with an atomic add (several entries may name the same
slot). ``one_hot`` compares each index with its class in a kernel. Reshape, permute,
broadcast, basic indexing, padding and concatenation are views or layout copies of the
storage (torch's view machinery, ``copy_``): no arithmetic happens in them.
"""

import math

import torch
import triton
import triton.language as tl
from minigan.kernels.triton import _common

BLOCK = 1024
VALUE_TYPES = (torch.float32, torch.float64, torch.int64)


@triton.jit
def _gather(src, index, out, n, L, S, Q, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    q = offs % Q
    rest = offs // Q
    l = rest % L
    p = rest // L
    i = tl.load(index + l, mask=mask, other=0)
    v = tl.load(src + (p * S + i) * Q + q, mask=mask)
    tl.store(out + offs, v, mask=mask)


@triton.jit
def _scatter_add(g, index, out, n, L, S, Q, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    q = offs % Q
    rest = offs // Q
    l = rest % L
    p = rest // L
    i = tl.load(index + l, mask=mask, other=0)
    v = tl.load(g + offs, mask=mask)
    tl.atomic_add(out + (p * S + i) * Q + q, v, mask=mask)


@triton.jit
def _one_hot(index, out, n, K, Q, BLOCK: tl.constexpr):
    """out viewed as (P, K, Q): out[p, k, q] = index[p, q] == k."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    q = offs % Q
    rest = offs // Q
    k = rest % K
    p = rest // K
    i = tl.load(index + p * Q + q, mask=mask, other=-1)
    tl.store(out + offs, (i == k).to(out.dtype.element_ty), mask=mask)


def _around(shape: tuple, axis: int) -> tuple[int, int, int]:
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


def _flat_index(index: torch.Tensor) -> torch.Tensor:
    if index.dtype != torch.int64:
        raise TypeError(f"index arrays must be int64, got {index.dtype}")
    return index.reshape(-1).contiguous()


def index_select(a, axis, index):
    p, s, q = _around(tuple(a.shape), axis)
    flat = _flat_index(index)
    out = torch.empty(tuple(a.shape[:axis]) + tuple(index.shape) + tuple(a.shape[axis + 1:]),
                      dtype=a.dtype, device=a.device)
    n = out.numel()
    if n:
        _common.launch(_gather, (_common.cdiv(n, BLOCK),), a.contiguous(), flat, out, n,
                       flat.numel(), s, q, BLOCK=BLOCK)
    return out


def index_add(g, axis, index, size):
    flat = _flat_index(index)
    shape = tuple(g.shape[:axis]) + (size,) + tuple(g.shape[axis + index.ndim:])
    out = torch.zeros(shape, dtype=g.dtype, device=g.device)
    n = g.numel()
    if n:
        p, _, q = _around(shape, axis)
        _common.launch(_scatter_add, (_common.cdiv(n, BLOCK),), g.contiguous(), flat, out, n,
                       flat.numel(), size, q, BLOCK=BLOCK)
    return out


def one_hot(index, num_classes, axis, dtype):
    from minigan.kernels.triton.elementwise import _torch_dtype
    dtype = _torch_dtype(dtype)
    shape = tuple(index.shape[:axis]) + (num_classes,) + tuple(index.shape[axis:])
    out = torch.empty(shape, dtype=dtype, device=index.device)
    n = out.numel()
    if n:
        q = math.prod(index.shape[axis:])
        _common.launch(_one_hot, (_common.cdiv(n, BLOCK),), _flat_index(index), out, n,
                       num_classes, q, BLOCK=BLOCK)
    return out


# --- layout: views and copies of storage --------------------------------------------------
def _ascending(index: tuple, shape: tuple) -> tuple[tuple, list]:
    """torch's views take no negative slice steps: each such slice becomes the ascending
    slice over the same positions, and the result's matching dims are flipped (a layout
    copy). Returns (ascending index, result dims to flip)."""
    if not any(isinstance(i, slice) and i.step is not None and i.step < 0 for i in index):
        return index, []
    consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    out, flips, dim, rdim = [], [], 0, 0
    for i in index:
        if i is Ellipsis:
            span = len(shape) - consumed
            dim, rdim = dim + span, rdim + span
            out.append(i)
            continue
        if isinstance(i, slice) and i.step is not None and i.step < 0:
            positions = range(*i.indices(shape[dim]))
            if len(positions):
                out.append(slice(positions[-1], positions[0] + 1, -i.step))
                flips.append(rdim)
            else:
                out.append(slice(0, 0))
        else:
            out.append(i)
        dim += i is not None
        rdim += not isinstance(i, int)
    return tuple(out), flips


def getitem(a, index):
    index, flips = _ascending(index, tuple(a.shape))
    view = a[index]
    return view.flip(flips) if flips else view


def slice_backward(g, index, shape):
    out = torch.zeros(shape, dtype=g.dtype, device=g.device)
    index, flips = _ascending(index, tuple(shape))
    out[index].copy_(g.flip(flips) if flips else g)
    return out


def pad_constant(a, widths, value):
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, widths))
    out = torch.full(shape, value, dtype=a.dtype, device=a.device)
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, widths))].copy_(a)
    return out


def concat(arrays, axis):
    arrays = list(arrays)
    shape = list(arrays[0].shape)
    shape[axis] = sum(t.shape[axis] for t in arrays)
    out = torch.empty(shape, dtype=arrays[0].dtype, device=arrays[0].device)
    start = 0
    for t in arrays:
        out.narrow(axis, start, t.shape[axis]).copy_(t)
        start += t.shape[axis]
    return out


def reshape(a, shape):
    return a.reshape(shape)


def permute(a, axes):
    return a.permute(*axes)


def broadcast_to(a, shape):
    return a.expand(*shape)


def contiguous(a):
    return a.contiguous()


KERNELS = {"index_select": index_select, "index_add": index_add, "one_hot": one_hot,
           "getitem": getitem, "slice_backward": slice_backward, "pad_constant": pad_constant,
           "concat": concat, "reshape": reshape, "permute": permute,
           "broadcast_to": broadcast_to, "contiguous": contiguous}


def compile_cases() -> list:
    cases = []
    ints = dict(n="i32", L="i32", S="i32", Q="i32", BLOCK="constexpr")
    for t in VALUE_TYPES:
        ptr = _common.POINTER_TYPES[t]
        cases.append(_common.CompileCase(_gather, dict(src=ptr, index="*i64", out=ptr, **ints),
                                         dict(BLOCK=BLOCK)))
        if t != torch.int64:
            cases.append(_common.CompileCase(_scatter_add,
                                             dict(g=ptr, index="*i64", out=ptr, **ints),
                                             dict(BLOCK=BLOCK)))
    for t in (torch.float32, torch.float64, torch.int64, torch.bool):
        cases.append(_common.CompileCase(
            _one_hot, dict(index="*i64", out=_common.POINTER_TYPES[t], n="i32", K="i32",
                           Q="i32", BLOCK="constexpr"), dict(BLOCK=BLOCK)))
    return cases
