"""Batched matmul with numpy's broadcasting of the batch dimensions, as one tiled tl.dot kernel.

``matmul(a, b)`` computes ``c[..., m, n] = sum_k a[..., m, k] b[..., k, n]`` (1-D operands are
promoted as numpy does: a vector a is a row, a vector b a column, the added axis dropped
from the result). The result is a new C-contiguous tensor.

Layout: the kernel takes every operand's strides, so transposed views (autograd passes
``a.mT``) and broadcast batch dimensions (stride 0, through ``expand``) need no copy. The
batch dimensions of a, b and c are collapsed where all three are contiguous across them,
to at most three, which the kernel indexes from its program id; more (rare) are split on the
host into launches over the leading one. Tile offsets are computed in int64, so large
batches and matrices do not overflow; integer arguments stay below 2**31 (int32), checked
on the host (a batch stride that is not is split off as well).

Each program computes one (BLOCK_M, BLOCK_N) tile of one batch entry, walking K in
BLOCK_K steps; every load is masked (partial tiles at any size, K not a multiple of
BLOCK_K). Tiles are visited in groups of GROUP_M rows for L2 reuse. Precision:
``input_precision`` comes from ``_common.dot_precision`` ("ieee" exact float32 products by
default, "tf32" when switched on, "ieee" for float64); float32 accumulates in float32 and
float64 in float64.

Tile sizes come from a small fixed set: powers of two covering M and N (16 up to 128 for tf32,
64 for IEEE float32 and float64, whose dots run on FMA units and float64 MMA), at most
128 x 64 (tf32) or 64 x 64 accumulators (more spills registers at the default 4 warps),
halved while the launch would have too few programs to fill the GPU.

On sm_90 tf32 tiles run on wgmma, which reads both operands K-major from shared memory: an
operand whose K axis has stride 1 (a row-major a; b = w.mT, as in linear layers) is copied
in 16-byte pieces, the other layout in 4-byte pieces.
"""

import torch
import triton
import triton.language as tl
from minigan.kernels.triton import _common

GROUP_M = 8
MAX_TILE = {"tf32": 128, "ieee": 64}  # longest tile side
# most accumulator entries per tile at the default 4 warps: 128 x 128 tf32 spills registers
MAX_AREA = {"tf32": 128 * 64, "ieee": 64 * 64}
BLOCK_K = {torch.float32: 32, torch.float64: 16}
TILES = (16, 32, 64, 128)
MIN_PROGRAMS = 264  # about two programs per SM of an H100/H200
INT32 = 2**31
DTYPES = (torch.float32, torch.float64)


@triton.jit
def _matmul_kernel(a, b, c, M, N, K, B1, B2,
                   sa0, sa1, sa2, sam, sak,
                   sb0, sb1, sb2, sbk, sbn,
                   sc0, sc1, sc2, scm, scn,
                   PRECISION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                   BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    tiles = num_m * num_n
    z = pid // tiles
    t = pid % tiles
    # grouped order: GROUP_M row tiles sweep the column tiles together (L2 reuse of b)
    group = GROUP_M * num_n
    first_m = (t // group) * GROUP_M
    group_m = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + (t % group) % group_m
    pid_n = (t % group) // group_m
    # batch entry z -> (z0, z1, z2) over the collapsed batch dims (B0, B1, B2)
    z2 = (z % B2).to(tl.int64)
    z1 = ((z // B2) % B1).to(tl.int64)
    z0 = (z // (B2 * B1)).to(tl.int64)

    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    m_ok = rm < M
    n_ok = rn < N
    rm64 = rm.to(tl.int64)
    rn64 = rn.to(tl.int64)
    rk64 = rk.to(tl.int64)
    a_ptrs = a + (z0 * sa0 + z1 * sa1 + z2 * sa2) + rm64[:, None] * sam + rk64[None, :] * sak
    b_ptrs = b + (z0 * sb0 + z1 * sb1 + z2 * sb2) + rk64[:, None] * sbk + rn64[None, :] * sbn
    # tl.cast, not .to: an integer argument equal to 1 arrives as a constexpr (Triton's
    # specialization), a Python int
    a_step = tl.cast(sak, tl.int64) * BLOCK_K
    b_step = tl.cast(sbk, tl.int64) * BLOCK_K

    if c.dtype.element_ty == tl.float64:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float64)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_ok = rk < K - k * BLOCK_K
        a_tile = tl.load(a_ptrs, mask=m_ok[:, None] & k_ok[None, :], other=0.0)
        b_tile = tl.load(b_ptrs, mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        acc = tl.dot(a_tile, b_tile, acc, input_precision=PRECISION, out_dtype=acc.dtype)
        a_ptrs += a_step
        b_ptrs += b_step

    c_ptrs = c + (z0 * sc0 + z1 * sc1 + z2 * sc2) + rm64[:, None] * scm + rn64[None, :] * scn
    tl.store(c_ptrs, acc.to(c.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


def _collapse(sizes: tuple, strides: list) -> list:
    """Batch dims (size, stride per operand), size-1 dims dropped, neighbours merged where
    every operand is contiguous across them (outer stride == inner stride * inner size)."""
    dims = [(n, [s[i] for s in strides]) for i, n in enumerate(sizes) if n != 1]
    out = []
    for n, st in dims:
        if out and all(o == i * n for o, i in zip(out[-1][1], st)):
            out[-1] = (out[-1][0] * n, st)
        else:
            out.append((n, st))
    return out


def _blocks(M: int, N: int, batch: int, dtype: torch.dtype, precision: str) -> tuple:
    top = MAX_TILE[precision]
    bm, bn = _common.block_for(M, 16, top), _common.block_for(N, 16, top)
    while bm * bn > MAX_AREA[precision] or (
            batch * _common.cdiv(M, bm) * _common.cdiv(N, bn) < MIN_PROGRAMS
            and max(bm, bn) > 32):
        if bm >= bn:
            bm //= 2
        else:
            bn //= 2
    return bm, bn, BLOCK_K[dtype]


def _launch(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> None:
    """c = a @ b for a (*S, M, K), b (*S, K, N), c (*S, M, N) of one batch shape S."""
    S, (M, K), N = tuple(c.shape[:-2]), a.shape[-2:], b.shape[-1]
    ops = (a, b, c)
    batch = _collapse(S, [x.stride()[:-2] for x in ops])
    mats = [s for x in ops for s in x.stride()[-2:]]
    too_big = any(s >= INT32 for _, st in batch for s in st)
    if len(batch) > 3 or too_big:  # split off the leading batch dim (rare)
        for i in range(S[0]):
            _launch(a[i], b[i], c[i])
        return
    if any(v >= INT32 for v in (M, N, K, *mats)):
        raise NotImplementedError(f"matmul: a matrix dimension or stride of 2**31 or more "
                                  f"({(M, K)} @ {(K, N)}, strides {mats})")
    batch = [(1, [0, 0, 0])] * (3 - len(batch)) + batch
    sizes = [n for n, _ in batch]
    z = sizes[0] * sizes[1] * sizes[2]
    precision = _common.dot_precision(c.dtype)
    bm, bn, bk = _blocks(M, N, z, c.dtype, precision)
    grid = (z * _common.cdiv(M, bm) * _common.cdiv(N, bn),)
    if grid[0] >= INT32 and S:  # more programs than a grid holds: split the batch
        for i in range(S[0]):
            _launch(a[i], b[i], c[i])
        return
    (sa, sb, sc) = ([st[j] for _, st in batch] for j in range(3))
    (sam, sak), (sbk, sbn), (scm, scn) = (x.stride()[-2:] for x in ops)
    _common.launch(_matmul_kernel, grid, a, b, c, M, N, K, sizes[1], sizes[2],
                   *sa, sam, sak, *sb, sbk, sbn, *sc, scm, scn,
                   PRECISION=precision, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=GROUP_M)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """numpy.matmul: batched over the leading dims with broadcasting; 1-D operands as a row
    (a) or a column (b) whose added axis is dropped from the result."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype != b.dtype or a.dtype not in DTYPES:
        raise TypeError(f"matmul: the triton backend multiplies float32 or float64 operands "
                        f"of one dtype, got {a.dtype} and {b.dtype}")
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(-1) if b.ndim == 1 else b
    (M, K), (K2, N) = a2.shape[-2:], b2.shape[-2:]
    if K != K2:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                         f"multiplied ({K} != {K2})")
    try:
        S = tuple(torch.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]))
    except RuntimeError:
        raise ValueError(f"matmul: batch shapes of {tuple(a.shape)} and {tuple(b.shape)} do "
                         f"not broadcast") from None
    c = torch.empty(S + (M, N), dtype=a.dtype, device=a.device)
    if c.numel():  # K == 0 still launches: the empty sum is written as zeros
        _launch(a2.expand(S + (M, K)), b2.expand(S + (K, N)), c)
    if b.ndim == 1:
        c = c.squeeze(-1)
    if a.ndim == 1:
        c = c.squeeze(-2 if b.ndim > 1 else -1)
    return c


KERNELS = {"matmul": matmul}


def compile_cases() -> list:
    cases = []
    for dtype, precisions in ((torch.float32, ("ieee", "tf32")), (torch.float64, ("ieee",))):
        ptr = _common.POINTER_TYPES[dtype]
        for precision in precisions:
            tiles = [t for t in TILES if t <= MAX_TILE[precision]]
            for bm in tiles:
                for bn in (t for t in tiles if bm * t <= MAX_AREA[precision]):
                    meta = dict(PRECISION=precision, BLOCK_M=bm, BLOCK_N=bn,
                                BLOCK_K=BLOCK_K[dtype], GROUP_M=GROUP_M)
                    sig = {name: "i32" for name in _matmul_kernel.arg_names}
                    sig.update(a=ptr, b=ptr, c=ptr, **{name: "constexpr" for name in meta})
                    cases.append(_common.CompileCase(_matmul_kernel, sig, meta))
    return cases
