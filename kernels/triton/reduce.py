"""Reductions: sum / amax / amin over any set of axes, and (values, first index) of the
max or min along one axis.

Every reduction is phrased on a contiguous (A, C, B) view whose middle run C is kept and whose
outer A and inner B are reduced (numpy's keepdims layout falls out of C's position). That
covers a bias gradient's sum over (0, 2, 3) of NCHW, leading and trailing reductions, with no
copy; any other set of axes is first permuted so the kept axes lead (one layout copy).

Each program owns ``BLOCK_C`` kept entries and walks the A*B reduced positions in tiles of
``BLOCK_R``, accumulating elementwise in a (BLOCK_R, BLOCK_C) register tile and reducing it
once at the end: one read of the input, one write of the result. Tiles run along B (stride 1)
when B > 1 and along C otherwise, so loads are coalesced in both layouts.
"""

import math

import torch
import triton
import triton.language as tl
from minigan.kernels.triton import _common
from minigan.kernels.triton.elementwise import cast

# (BLOCK_R, BLOCK_C): tiles along the reduced inner run, or along the kept run when B == 1
TILES = {"inner": (256, 4), "kept": (16, 64)}
ROW_TILE = (8, 128)  # (BLOCK_M, BLOCK_R) for max_dim / min_dim


@triton.jit
def _reduce_acb(x, out, A, C, B, OP: tl.constexpr, BLOCK_R: tl.constexpr,
                BLOCK_C: tl.constexpr):
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = c < C
    if OP == "sum":
        acc = tl.zeros((BLOCK_R, BLOCK_C), dtype=x.dtype.element_ty)
        fill = 0
    elif OP == "max":
        acc = tl.full((BLOCK_R, BLOCK_C), float("-inf"), dtype=x.dtype.element_ty)
        fill = float("-inf")
    else:
        acc = tl.full((BLOCK_R, BLOCK_C), float("inf"), dtype=x.dtype.element_ty)
        fill = float("inf")
    total = A * B
    for r0 in range(0, total, BLOCK_R):
        r = r0 + tl.arange(0, BLOCK_R)
        a = (r // B).to(tl.int64)
        b = r % B
        offs = a[:, None] * C * B + c[None, :].to(tl.int64) * B + b[:, None]
        mask = (r < total)[:, None] & cmask[None, :]
        v = tl.load(x + offs, mask=mask, other=fill)
        if OP == "sum":
            acc += v
        elif OP == "max":
            acc = tl.maximum(acc, v, propagate_nan=tl.PropagateNan.ALL)
        else:
            acc = tl.minimum(acc, v, propagate_nan=tl.PropagateNan.ALL)
    if OP == "sum":
        res = tl.sum(acc, axis=0)
    else:
        if OP == "max":
            res = tl.max(acc, axis=0)
        else:
            res = tl.min(acc, axis=0)
        # the tree reduction may drop a NaN the running max kept; torch's amax propagates it
        nan = tl.max((acc != acc).to(tl.int32), axis=0) > 0
        res = tl.where(nan, float("nan"), res)
    tl.store(out + c, res, mask=cmask)


@triton.jit
def _arg_reduce_rows(x, values, indices, M, R, IS_MIN: tl.constexpr, BLOCK_M: tl.constexpr,
                     BLOCK_R: tl.constexpr):
    """Per row of a contiguous (M, R) array: the max (or min) and its first index."""
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rows < M
    best = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float64)
    best_idx = tl.zeros((BLOCK_M,), dtype=tl.int64)
    for r0 in range(0, R, BLOCK_R):
        cols = r0 + tl.arange(0, BLOCK_R)
        mask = rmask[:, None] & (cols < R)[None, :]
        v = tl.load(x + rows[:, None].to(tl.int64) * R + cols[None, :], mask=mask,
                    other=float("-inf") if not IS_MIN else float("inf")).to(tl.float64)
        if IS_MIN:
            v = -v
        chunk_best = tl.max(v, axis=1)
        chunk_idx = tl.argmax(v, axis=1, tie_break_left=True).to(tl.int64) + r0
        better = chunk_best > best
        best_idx = tl.where(better, chunk_idx, best_idx)
        best = tl.where(better, chunk_best, best)
    if IS_MIN:
        best = -best
    tl.store(values + rows, best.to(values.dtype.element_ty), mask=rmask)
    tl.store(indices + rows, best_idx, mask=rmask)


def _acb(shape: tuple, axes: tuple) -> tuple[int, int, int] | None:
    """(A, C, B) when the kept axes are one contiguous run (or none), else None."""
    reduced = {a % len(shape) for a in axes} if shape else set()
    kept = [d for d in range(len(shape)) if d not in reduced]
    if not kept:
        return 1, 1, math.prod(shape)
    if kept != list(range(kept[0], kept[-1] + 1)):
        return None
    return (math.prod(shape[:kept[0]]), math.prod(shape[kept[0]:kept[-1] + 1]),
            math.prod(shape[kept[-1] + 1:]))


def _reduce(op: str, a: torch.Tensor, axes, keepdim: bool) -> torch.Tensor:
    axes = tuple(sorted({ax % a.ndim for ax in axes})) if a.ndim else ()
    kept_shape = tuple(s for i, s in enumerate(a.shape) if i not in axes)
    keep_shape = tuple(1 if i in axes else s for i, s in enumerate(a.shape))
    if op == "sum" and a.dtype == torch.bool:
        a = cast(a, torch.int64)
    if op != "sum" and a.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"a{op}: the triton backend reduces float tensors, got {a.dtype}")
    if op != "sum" and any(a.shape[i] == 0 for i in axes):
        raise ValueError(f"a{op} over an empty dimension has no identity")
    acb = _acb(tuple(a.shape), axes)
    if acb is None:  # move the kept axes to the front: then they are one run
        kept = [d for d in range(a.ndim) if d not in axes]
        a = a.permute(*kept, *axes)
        acb = (1, math.prod(kept_shape), math.prod(a.shape[len(kept):]))
    x = a.contiguous()
    A, C, B = acb
    out = torch.empty(C, dtype=x.dtype, device=x.device)
    if C > 0:
        if A * B == 0:  # an empty sum
            out.zero_()
        else:
            block_r, block_c = TILES["inner" if B > 1 else "kept"]
            _common.launch(_reduce_acb, (_common.cdiv(C, block_c),), x, out, A, C, B, OP=op,
                           BLOCK_R=block_r, BLOCK_C=block_c)
    return out.reshape(keep_shape if keepdim else kept_shape)


def sum_(a, axes, keepdim):
    return _reduce("sum", a, axes, keepdim)


def amax(a, axes, keepdim):
    return _reduce("max", a, axes, keepdim)


def amin(a, axes, keepdim):
    return _reduce("min", a, axes, keepdim)


def _arg_reduce(which: str):
    def kernel(a, axis, keepdim):
        axis = axis % a.ndim
        if a.shape[axis] == 0:
            raise ValueError(f"{which}_dim: dimension {axis} of shape {tuple(a.shape)} is empty")
        x = a.movedim(axis, -1).contiguous()
        lead = tuple(x.shape[:-1])
        m, r = math.prod(lead), x.shape[-1]
        values = torch.empty(lead, dtype=a.dtype, device=a.device)
        indices = torch.empty(lead, dtype=torch.int64, device=a.device)
        if m:
            block_m, block_r = ROW_TILE
            _common.launch(_arg_reduce_rows, (_common.cdiv(m, block_m),), x, values, indices,
                           m, r, IS_MIN=which == "min", BLOCK_M=block_m, BLOCK_R=block_r)
        if keepdim:
            values, indices = values.unsqueeze(axis), indices.unsqueeze(axis)
        return values, indices
    kernel.__name__ = f"{which}_dim"
    return kernel


KERNELS = {"sum": sum_, "amax": amax, "amin": amin, "max_dim": _arg_reduce("max"),
           "min_dim": _arg_reduce("min")}

_TYPES = (torch.float32, torch.float64, torch.int64)


def compile_cases() -> list:
    cases = []
    for t in _TYPES:
        ptr = _common.POINTER_TYPES[t]
        for op in ("sum", "max", "min") if t != torch.int64 else ("sum",):
            for block_r, block_c in TILES.values():
                meta = dict(OP=op, BLOCK_R=block_r, BLOCK_C=block_c)
                sig = dict(x=ptr, out=ptr, A="i32", C="i32", B="i32",
                           **{k: "constexpr" for k in meta})
                cases.append(_common.CompileCase(_reduce_acb, sig, meta))
        for is_min in (False, True) if t != torch.int64 else ():
            meta = dict(IS_MIN=is_min, BLOCK_M=ROW_TILE[0], BLOCK_R=ROW_TILE[1])
            sig = dict(x=ptr, values=ptr, indices="*i64", M="i32", R="i32",
                       **{k: "constexpr" for k in meta})
            cases.append(_common.CompileCase(_arg_reduce_rows, sig, meta))
    return cases
