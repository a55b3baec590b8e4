"""Normalization over a set of axes, the per-channel affine map, and softmax, as Triton kernels.

Signatures and results match ``minigan.kernels.numpy.norm``. Torch tensors are storage only:
the wrappers allocate, view, permute and make contiguous; every arithmetic operation runs in a
``@triton.jit`` kernel below.

Layout. A normalization over ``axes`` views x as (A, C, B): C is the run of kept axes
(channels), A and B the reduced axes before and after it (batch norm of NCHW: A=N, C=channels,
B=H*W; layer norm over the trailing axes: A=1, C=rows, B=row length; instance and group norm:
A=1). When the kept axes are not one run, x is permuted (one layout copy) so they come first.
A kernel program works on tiles of BA x BC x BB elements of that view, always TILE elements
(2048 float32, 1024 float64: 8 KiB), from one of two shape families:

  "rows" (1, TILE/BB, BB): BC whole channels of one a, contiguous in memory when B <= BB;
  "cols" (BA, BC, BB) with BA = min(128, TILE/BB): up to 128 values of a for few channels, so
         that a whole batch-norm channel fits one tile (float32: N <= 128 with H*W <= 16).

BB is the power of four (at most TILE, 1024 for "cols") that covers B. A channel block of BC
channels has T = ceil(A/BA) * ceil(B/BB) tiles; ``_norm_plan`` takes the family with fewer
tile visits (a fused plan visits each tile once, a split plan twice), preferring "rows" on ties.

Passes (one pass = reading or writing the tensor's size once from memory):

  normalize_forward, fused (T == 1, the channel block fits one tile): read x, write y: 2 passes.
    Mean and centred second moment are computed from the tile in registers (two-pass quality).
  normalize_forward, split (T > 1): ``_norm_fwd_stats`` reads x once and writes per-program
    partial (count, mean, centred M2) triples, merged tile by tile with Chan's formula;
    ``_norm_fwd_apply`` merges the partials of its channels (S per channel, tiny and in L2),
    reads x and writes y, walking the programs in reverse so the tiles read last by the stats
    kernel, still in L2, are read first: 3 passes at most (read, read, write).
  normalize_backward, fused: read g, y, write dx: 3 passes; split: ``_norm_bwd_stats`` reads g
    and y once for the per-channel sums of g and g*y, ``_norm_bwd_apply`` reads g, y and writes
    dx: 5 passes at most.
  channel_affine: read y, write out: 2 passes (``_affine_fwd``).
  channel_affine_backward: one pass over g (and y when the weight gradient is asked), writing
    g*w when asked, with per-channel partial sums; ``_sum_partials`` adds the partials (S per
    channel, a few KB) when a channel is split across programs.
  softmax, log_softmax: rows of at most TILE: read x, write y: 2 passes; longer rows: an online
    (running max, rescaled sum) pass over the row, then a pass that writes y; the first chunk
    stays in registers between the two.

Numerics: float32 accumulates in float32 (tree reductions inside a tile, Chan merging across
tiles), float64 in float64; ``eps`` arrives as float64 and is cast to the compute dtype; the
inverse standard deviation is ``1 / sqrt_rn(var + eps)``. Masked lanes never compute inf or
NaN (the interpreter runs the kernels in numpy under the tests' errstate).

Limits: tensors of up to 2**30 elements (int32 offsets); float32 and float64.
"""

import math

import torch
import triton
import triton.language as tl
from minigan.kernels.shapes import channel_rows, reduction_plan
from minigan.kernels.triton import _common
from minigan.kernels.triton import elementwise as _elementwise

# ---------------------------------------------------------------------------------------------
# tile plans

# elements per program tile (8 KiB): 16 float32 (8 float64) per thread of the default 4 warps,
# which keeps the fused kernels near 128 registers (4 programs per SM, 32 KiB loads in flight)
_TILE = {torch.float32: 2048, torch.float64: 1024}
_COLS_MAX_BB = 1024  # the "cols" family's longest b block
_COLS_MAX_BA = 128  # and its most values of a
_TARGET_PROGRAMS = 1024  # a split reduction aims at about this many programs (132 SMs)
_COMBINE_BLOCK = 1024  # _sum_partials' block
_MAX_NUMEL = 2**30  # int32 offsets, masked lanes included


def _p4(n: int) -> int:
    """The smallest power of four >= n."""
    p = 1
    while p < n:
        p *= 4
    return p


def _bb_values(limit: int) -> list[int]:
    """Powers of four below ``limit``, then ``limit`` itself: the BB values a plan can pick."""
    out, p = [], 1
    while p < limit:
        out.append(p)
        p *= 4
    return out + [limit]


def _rows_cfg(B: int, dtype) -> tuple[int, int, int]:
    tile = _TILE[dtype]
    bb = min(_p4(B), tile)
    return 1, tile // bb, bb


def _cols_cfg(B: int, dtype) -> tuple[int, int, int]:
    tile = _TILE[dtype]
    bb = min(_p4(B), _COLS_MAX_BB)
    ba = min(_COLS_MAX_BA, tile // bb)
    return ba, tile // (ba * bb), bb


def _norm_configs(dtype) -> list[tuple[int, int, int]]:
    """Every (BA, BC, BB) a normalization or affine-backward plan can launch with."""
    tile = _TILE[dtype]
    cfgs = {_rows_cfg(bb, dtype) for bb in _bb_values(tile)}
    cfgs |= {_cols_cfg(bb, dtype) for bb in _bb_values(_COLS_MAX_BB)}
    return sorted(cfgs)


def _rows2d_configs(dtype) -> list[tuple[int, int]]:
    """Every (rows, BB) of channel_affine's 2-D tiles: BB covers B, rows fill the tile."""
    tile = _TILE[dtype]
    return [(tile // bb, bb) for bb in _bb_values(tile)]


def _softmax_configs(dtype) -> list[tuple[int, int]]:
    """Every (BL, BB) of softmax's tiles: one of them covers its axis (L or B), the other
    fills the tile."""
    tile = _TILE[dtype]
    return sorted({(v, tile // v) for v in _bb_values(tile)}
                  | {(tile // v, v) for v in _bb_values(tile)})


def _tiles(cfg, A: int, C: int, B: int) -> tuple[int, int, int]:
    """(channel blocks, tiles per channel block, b tiles) of a (BA, BC, BB) tiling."""
    ba, bc, bb = cfg
    tb = _common.cdiv(B, bb)
    return _common.cdiv(C, bc), _common.cdiv(A, ba) * tb, tb


def _norm_plan(A: int, C: int, B: int, dtype, passes: bool = True) -> tuple:
    """The (BA, BC, BB) with the fewest tile visits: n_cb * T, twice when T > 1 and the plan
    is split (stats, then apply); on a tie, fewer tiles per channel block (fewer partials),
    then "rows" (contiguous tiles)."""
    best = None
    for cfg in (_rows_cfg(B, dtype), _cols_cfg(B, dtype)):
        n_cb, t, _ = _tiles(cfg, A, C, B)
        key = (n_cb * t * (2 if passes and t > 1 else 1), t)
        if best is None or key < best[0]:
            best = (key, cfg)
    return best[1]


def _split(t: int, n_cb: int) -> tuple[int, int]:
    """(S programs per channel block, TPP tiles per program) for a split reduction."""
    s = min(t, max(1, _common.cdiv(_TARGET_PROGRAMS, n_cb)))
    tpp = _common.cdiv(t, s)
    return _common.cdiv(t, tpp), tpp


# ---------------------------------------------------------------------------------------------
# kernels: shared pieces


@triton.jit
def _tile(t, cb, A, C, B, TB, BA: tl.constexpr, BC: tl.constexpr, BB: tl.constexpr):
    """Offsets, mask and element count (per valid channel) of tile t of channel block cb."""
    ta = t // TB
    tb = t - ta * TB
    a = ta * BA + tl.arange(0, BA)
    c = cb * BC + tl.arange(0, BC)
    b = tb * BB + tl.arange(0, BB)
    offs = a[:, None, None] * (C * B) + c[None, :, None] * B + b[None, None, :]
    mask = (a < A)[:, None, None] & (c < C)[None, :, None] & (b < B)[None, None, :]
    n = tl.minimum(A - ta * BA, BA) * tl.minimum(B - tb * BB, BB)
    return offs, mask, n


@triton.jit
def _sum_ab(v):
    """[BA, BC, BB] -> [BC]: the sum over the reduced axes."""
    return tl.sum(tl.sum(v, axis=2), axis=0)


@triton.jit
def _bcast(v):
    """[BC] -> [1, BC, 1]."""
    return v[None, :, None]


@triton.jit
def _moments(x, mask, cnt):
    """Per-channel mean and centred second moment of a tile: the corrected two-pass algorithm
    (the sum of the deviations from the first mean corrects the mean, and M2 for it), so a
    float32 mean far from zero keeps its accuracy. M2 is clamped at 0 (a constant channel
    can round the correction just past the sum of squares)."""
    mean0 = _sum_ab(x) / cnt
    d = tl.where(mask, x - _bcast(mean0), 0.0)
    s1 = _sum_ab(d)
    return mean0 + s1 / cnt, tl.maximum(_sum_ab(d * d) - s1 * s1 / cnt, 0.0)


@triton.jit
def _only_if(mask, flag):
    """mask where the scalar ``flag`` holds, else all False (written with where: the
    interpreter broadcasts a scalar boolean in ``mask & flag`` as int32, not a mask)."""
    return tl.where(flag, mask, False)


@triton.jit
def _invstd(var, cm, eps):
    # channels past C get 1 under the square root so that no lane divides by zero;
    # sqrt_rn (float32) and float64 sqrt are correctly rounded
    v = tl.where(cm, var + eps, 1.0)
    if v.dtype == tl.float32:
        r = tl.sqrt_rn(v)
    else:
        r = tl.sqrt(v)
    return 1.0 / r


# ---------------------------------------------------------------------------------------------
# normalize_forward


@triton.jit
def _norm_fwd_stats(x_ptr, y_ptr, part_ptr, mean_ptr, var_ptr, A, C, B, TB, T, TPP, S,
                    eps: tl.float64, BA: tl.constexpr, BC: tl.constexpr, BB: tl.constexpr):
    """Program (cb, s): channels [cb*BC, cb*BC + BC), tiles [s*TPP, s*TPP + TPP).

    T == 1 (fused): the one tile is the whole channel block: mean, centred variance, y, from
    registers (reads x once, writes y once). Otherwise: (count, mean, M2) of the program's
    tiles, merged tile by tile (Chan et al.), stored as partial s (reads x once).
    """
    dt = x_ptr.dtype.element_ty
    pid = tl.program_id(0)
    cb = pid // S
    s = pid - cb * S
    c = cb * BC + tl.arange(0, BC)
    cm = c < C
    t0 = s * TPP
    t1 = tl.minimum(t0 + TPP, T)
    offs, mask, n = _tile(t0, cb, A, C, B, TB, BA, BC, BB)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    cnt = tl.cast(n, dt)
    mean, m2 = _moments(x, mask, cnt)
    if T == 1:
        var = m2 / cnt
        inv = _invstd(var, cm, tl.full([], eps, dt))
        y = tl.where(mask, x - _bcast(mean), 0.0) * _bcast(inv)
        tl.store(y_ptr + offs, y, mask=mask)
        tl.store(mean_ptr + c, mean, mask=cm)
        tl.store(var_ptr + c, var, mask=cm)
    else:
        for t in range(t0 + 1, t1):
            offs_t, mask_t, n_t = _tile(t, cb, A, C, B, TB, BA, BC, BB)
            xt = tl.load(x_ptr + offs_t, mask=mask_t, other=0.0)
            cnt_t = tl.cast(n_t, dt)
            mean_t, m2_t = _moments(xt, mask_t, cnt_t)
            total = cnt + cnt_t
            delta = mean_t - mean
            frac = cnt_t / total
            mean = mean + delta * frac
            m2 = m2 + m2_t + delta * delta * (cnt * frac)
            cnt = total
        p = part_ptr + s * C + c
        tl.store(p, tl.zeros([BC], dtype=dt) + cnt, mask=cm)
        tl.store(p + S * C, mean, mask=cm)
        tl.store(p + 2 * S * C, m2, mask=cm)


@triton.jit
def _norm_fwd_apply(x_ptr, y_ptr, part_ptr, mean_ptr, var_ptr, A, C, B, TB, T, TPP, S,
                    eps: tl.float64, BA: tl.constexpr, BC: tl.constexpr, BB: tl.constexpr):
    """Merge the S partials of the program's channels (two passes over them: mean, then the
    centred M2), then y = (x - mean) * invstd over the same tiles as stats program (cb, s):
    reads x once, writes y once. Programs run in reverse order (L2 reuse); s == 0 writes the
    channel's mean and variance."""
    dt = x_ptr.dtype.element_ty
    pid = tl.num_programs(0) - 1 - tl.program_id(0)
    cb = pid // S
    s = pid - cb * S
    c = cb * BC + tl.arange(0, BC)
    cm = c < C
    SC = S * C
    p = part_ptr + c
    # mean = ref + sum n_j (mean_j - ref) / N with ref the first partial's mean: deviations
    # keep a float32 mean far from zero accurate
    total = tl.load(p, mask=cm, other=1.0)
    ref = tl.load(p + SC, mask=cm, other=0.0)
    wsum = tl.zeros([BC], dtype=dt)
    for j in range(1, S):
        n_j = tl.load(p + j * C, mask=cm, other=1.0)
        total += n_j
        wsum += n_j * (tl.load(p + SC + j * C, mask=cm, other=0.0) - ref)
    mean = ref + wsum / total
    m2 = tl.zeros([BC], dtype=dt)
    for j in range(0, S):
        n_j = tl.load(p + j * C, mask=cm, other=1.0)
        dm = tl.load(p + SC + j * C, mask=cm, other=0.0) - mean
        m2 += tl.load(p + 2 * SC + j * C, mask=cm, other=0.0) + n_j * dm * dm
    var = m2 / total
    inv = _invstd(var, cm, tl.full([], eps, dt))
    first = _only_if(cm, s == 0)
    tl.store(mean_ptr + c, mean, mask=first)
    tl.store(var_ptr + c, var, mask=first)
    t0 = s * TPP
    for t in range(t0, tl.minimum(t0 + TPP, T)):
        offs, mask, n = _tile(t, cb, A, C, B, TB, BA, BC, BB)
        x = tl.load(x_ptr + offs, mask=mask, other=0.0)
        tl.store(y_ptr + offs, (x - _bcast(mean)) * _bcast(inv), mask=mask)


# ---------------------------------------------------------------------------------------------
# normalize_backward: dx = invstd * (g - mean(g) - y * mean(g * y))


@triton.jit
def _norm_bwd_stats(g_ptr, y_ptr, var_ptr, dx_ptr, part_ptr, A, C, B, TB, T, TPP, S,
                    eps: tl.float64, BA: tl.constexpr, BC: tl.constexpr, BB: tl.constexpr):
    """Sums of g and g*y per channel over the program's tiles (reads g and y once), stored as
    partial s; T == 1 (fused): dx from the tile in registers (reads g, y once, writes dx)."""
    dt = y_ptr.dtype.element_ty
    pid = tl.program_id(0)
    cb = pid // S
    s = pid - cb * S
    c = cb * BC + tl.arange(0, BC)
    cm = c < C
    t0 = s * TPP
    t1 = tl.minimum(t0 + TPP, T)
    offs, mask, n = _tile(t0, cb, A, C, B, TB, BA, BC, BB)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0)
    y = tl.load(y_ptr + offs, mask=mask, other=0.0)
    sg = _sum_ab(g)
    sgy = _sum_ab(g * y)
    if T == 1:
        cnt = tl.cast(n, dt)
        inv = _invstd(tl.load(var_ptr + c, mask=cm, other=1.0), cm, tl.full([], eps, dt))
        dx = _bcast(inv) * (g - _bcast(sg / cnt) - y * _bcast(sgy / cnt))
        tl.store(dx_ptr + offs, dx, mask=mask)
    else:
        for t in range(t0 + 1, t1):
            offs_t, mask_t, n_t = _tile(t, cb, A, C, B, TB, BA, BC, BB)
            gt = tl.load(g_ptr + offs_t, mask=mask_t, other=0.0)
            yt = tl.load(y_ptr + offs_t, mask=mask_t, other=0.0)
            sg += _sum_ab(gt)
            sgy += _sum_ab(gt * yt)
        p = part_ptr + s * C + c
        tl.store(p, sg, mask=cm)
        tl.store(p + S * C, sgy, mask=cm)


@triton.jit
def _norm_bwd_apply(g_ptr, y_ptr, var_ptr, dx_ptr, part_ptr, A, C, B, TB, T, TPP, S,
                    eps: tl.float64, BA: tl.constexpr, BC: tl.constexpr, BB: tl.constexpr):
    """Add the S partial sums of the program's channels, then dx over the same tiles as stats
    program (cb, s): reads g and y once, writes dx once; reverse program order (L2 reuse)."""
    dt = y_ptr.dtype.element_ty
    pid = tl.num_programs(0) - 1 - tl.program_id(0)
    cb = pid // S
    s = pid - cb * S
    c = cb * BC + tl.arange(0, BC)
    cm = c < C
    SC = S * C
    p = part_ptr + c
    sg = tl.zeros([BC], dtype=dt)
    sgy = tl.zeros([BC], dtype=dt)
    for j in range(0, S):
        sg += tl.load(p + j * C, mask=cm, other=0.0)
        sgy += tl.load(p + SC + j * C, mask=cm, other=0.0)
    cnt = tl.cast(A * B, dt)
    mg = _bcast(sg / cnt)
    mgy = _bcast(sgy / cnt)
    inv = _bcast(_invstd(tl.load(var_ptr + c, mask=cm, other=1.0), cm, tl.full([], eps, dt)))
    t0 = s * TPP
    for t in range(t0, tl.minimum(t0 + TPP, T)):
        offs, mask, n = _tile(t, cb, A, C, B, TB, BA, BC, BB)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0)
        y = tl.load(y_ptr + offs, mask=mask, other=0.0)
        tl.store(dx_ptr + offs, inv * (g - mg - y * mgy), mask=mask)


# ---------------------------------------------------------------------------------------------
# channel_affine and its backward


@triton.jit
def _affine_fwd(y_ptr, w_ptr, b_ptr, out_ptr, R, C, B, NBB, has_w, has_b, act,
                slope: tl.float64, BR: tl.constexpr, BB: tl.constexpr):
    """out = act(y * w[c] + b[c]) on y viewed as (R = A*C rows, B): reads y once, writes out
    once. A missing weight is 1 and a missing bias 0 (masked loads, no memory traffic); ``act``
    the activation code (0: none; ``_common.activate``)."""
    pid = tl.program_id(0)
    rb = pid // NBB
    bb = pid - rb * NBB
    r = rb * BR + tl.arange(0, BR)
    b = bb * BB + tl.arange(0, BB)
    rm = r < R
    c = r % C
    w = tl.load(w_ptr + c, mask=_only_if(rm, has_w != 0), other=1.0)
    bias = tl.load(b_ptr + c, mask=_only_if(rm, has_b != 0), other=0.0)
    offs = r[:, None] * B + b[None, :]
    mask = rm[:, None] & (b < B)[None, :]
    v = tl.load(y_ptr + offs, mask=mask, other=0.0)
    out = _common.activate(v * w[:, None] + bias[:, None], act, slope, True)
    tl.store(out_ptr + offs, out, mask=mask)


@triton.jit
def _affine_bwd(g_ptr, y_ptr, w_ptr, gy_ptr, part_ptr, A, C, B, TB, T, TPP, S,
                has_w, need_y, need_w,
                BA: tl.constexpr, BC: tl.constexpr, BB: tl.constexpr):
    """Over the program's tiles: gy = g * w[c] (when asked), and partial sums of g*y (reads y
    only when asked, else the sums are 0) and of g per channel: reads g (and y) once, writes
    gy once. Both partial rows are always written, so _sum_partials never reads garbage."""
    dt = g_ptr.dtype.element_ty
    pid = tl.program_id(0)
    cb = pid // S
    s = pid - cb * S
    c = cb * BC + tl.arange(0, BC)
    cm = c < C
    w = _bcast(tl.load(w_ptr + c, mask=_only_if(cm, has_w != 0), other=1.0))
    sw = tl.zeros([BC], dtype=dt)
    sb = tl.zeros([BC], dtype=dt)
    t0 = s * TPP
    for t in range(t0, tl.minimum(t0 + TPP, T)):
        offs, mask, n = _tile(t, cb, A, C, B, TB, BA, BC, BB)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0)
        tl.store(gy_ptr + offs, g * w, mask=_only_if(mask, need_y != 0))
        y = tl.load(y_ptr + offs, mask=_only_if(mask, need_w != 0), other=0.0)
        sw += _sum_ab(g * y)
        sb += _sum_ab(g)
    p = part_ptr + s * C + c
    tl.store(p, sw, mask=cm)
    tl.store(p + S * C, sb, mask=cm)


@triton.jit
def _sum_partials(part_ptr, out_ptr, S, C, BLOCK: tl.constexpr):
    """out[k, c] = sum over s of part[k, s, c], k in {0, 1}: (2, S, C) -> (2, C)."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = i < 2 * C
    k = i // C
    base = part_ptr + k * (S * C) + (i - k * C)
    acc = tl.load(base, mask=m, other=0.0)
    for j in range(1, S):
        acc += tl.load(base + j * C, mask=m, other=0.0)
    tl.store(out_ptr + i, acc, mask=m)


# ---------------------------------------------------------------------------------------------
# softmax and log_softmax


@triton.jit
def _softmax_out(x, mx, ssum, log_flag):
    if log_flag != 0:
        y = x - (mx + tl.log(ssum))[None, :]
    else:
        y = tl.exp(x - mx[None, :]) / ssum[None, :]
    return y


@triton.jit
def _softmax(x_ptr, y_ptr, L, NB, sA, sL, sB, NBB, log_flag,
             BL: tl.constexpr, BB: tl.constexpr):
    """Softmax (log_flag 0) or log_softmax (1) along l of x[a*sA + l*sL + b*sB], l < L, b < NB.

    Program (a, b block): tile [BL, BB]. The first chunk of l stays in registers; further
    chunks update a running max and rescaled sum (online softmax), then are read again to be
    written. L <= BL: reads x once, writes y once.
    """
    pid = tl.program_id(0)
    a = pid // NBB
    bblk = pid - a * NBB
    b = bblk * BB + tl.arange(0, BB)
    bm = b < NB
    l = tl.arange(0, BL)
    base = x_ptr + a * sA + b[None, :] * sB
    obase = y_ptr + a * sA + b[None, :] * sB
    mask0 = (l < L)[:, None] & bm[None, :]
    x0 = tl.load(base + l[:, None] * sL, mask=mask0, other=-float("inf"))
    # columns past NB hold only -inf: give them max 0 and sum 1, so no lane computes inf - inf
    mx = tl.where(bm, tl.max(x0, axis=0), 0.0)
    ssum = tl.sum(tl.exp(x0 - mx[None, :]), axis=0)
    for l0 in range(BL, L, BL):
        li = l0 + l
        mk = (li < L)[:, None] & bm[None, :]
        xk = tl.load(base + li[:, None] * sL, mask=mk, other=-float("inf"))
        mnew = tl.maximum(mx, tl.where(bm, tl.max(xk, axis=0), 0.0))
        ssum = ssum * tl.exp(mx - mnew) + tl.sum(tl.exp(xk - mnew[None, :]), axis=0)
        mx = mnew
    ssum = tl.where(bm, ssum, 1.0)
    tl.store(obase + l[:, None] * sL, _softmax_out(x0, mx, ssum, log_flag), mask=mask0)
    for l0 in range(BL, L, BL):
        li = l0 + l
        mk = (li < L)[:, None] & bm[None, :]
        xk = tl.load(base + li[:, None] * sL, mask=mk, other=-float("inf"))
        tl.store(obase + li[:, None] * sL, _softmax_out(xk, mx, ssum, log_flag), mask=mk)


# ---------------------------------------------------------------------------------------------
# wrappers


def _check(x: torch.Tensor, what: str) -> None:
    if x.dtype not in _TILE:
        raise TypeError(f"{what}: Triton kernels take float32 or float64, not {x.dtype}")
    if x.numel() > _MAX_NUMEL:
        raise ValueError(f"{what}: {x.numel()} elements is more than the int32 offsets allow")


def _like(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """t as a contiguous tensor of ref's dtype and device (a layout or dtype copy if needed)."""
    if t.dtype == ref.dtype and t.device == ref.device:
        return t.contiguous()
    out = torch.empty(t.shape, dtype=ref.dtype, device=ref.device)
    out.copy_(t)
    return out




def _to_acb(x: torch.Tensor, perm) -> torch.Tensor:
    return (x if perm is None else x.permute(perm)).contiguous()


def _from_acb(y: torch.Tensor, perm) -> torch.Tensor:
    if perm is None:
        return y
    inverse = [0] * len(perm)
    for i, d in enumerate(perm):
        inverse[d] = i
    return y.permute(inverse).contiguous()


def _norm_args(A: int, C: int, B: int, dtype):
    cfg = _norm_plan(A, C, B, dtype)
    n_cb, t, tb = _tiles(cfg, A, C, B)
    s, tpp = (1, 1) if t == 1 else _split(t, n_cb)
    return cfg, n_cb, t, tb, s, tpp


def normalize_forward(x, axes, eps):
    """(y, mean, var): y = (x - mean) / sqrt(var + eps), biased var, over ``axes``; mean and
    var keep the reduced axes as size 1."""
    _check(x, "normalize_forward")
    stat_shape, perm, (A, C, B) = reduction_plan(tuple(x.shape), axes)
    xa = _to_acb(x, perm)
    y = torch.empty_like(xa)
    mean = torch.empty(C, dtype=x.dtype, device=x.device)
    var = torch.empty(C, dtype=x.dtype, device=x.device)
    if A * B == 0 or C == 0:  # an empty reduction: NaN statistics, as numpy and torch give
        nan = torch.full((C,), math.nan, dtype=x.dtype, device=x.device)
        return _from_acb(y, perm), nan.view(stat_shape), nan.clone().view(stat_shape)
    (ba, bc, bb), n_cb, t, tb, s, tpp = _norm_args(A, C, B, x.dtype)
    cx = dict(BA=ba, BC=bc, BB=bb)
    eps = float(eps)
    if t == 1:  # fused: reads x, writes y
        _common.launch(_norm_fwd_stats, (n_cb,), xa, y, mean, mean, var,
                       A, C, B, tb, t, tpp, s, eps, **cx)
    else:  # split: stats reads x; apply reads x, writes y
        part = torch.empty((3, s, C), dtype=x.dtype, device=x.device)
        args = (xa, y, part, mean, var, A, C, B, tb, t, tpp, s, eps)
        _common.launch(_norm_fwd_stats, (n_cb * s,), *args, **cx)
        _common.launch(_norm_fwd_apply, (n_cb * s,), *args, **cx)
    return _from_acb(y, perm), mean.view(stat_shape), var.view(stat_shape)


def normalize_backward(g, y, var, axes, eps):
    """dx = invstd * (g - mean(g) - y * mean(g * y)) over ``axes``, for y = normalize(x)."""
    _check(y, "normalize_backward")
    stat_shape, perm, (A, C, B) = reduction_plan(tuple(y.shape), axes)
    ya = _to_acb(y, perm)
    ga = _to_acb(_like(g, y), perm)
    va = _like(var, y).reshape(-1)
    dx = torch.empty_like(ya)
    if dx.numel() == 0:
        return _from_acb(dx, perm)
    (ba, bc, bb), n_cb, t, tb, s, tpp = _norm_args(A, C, B, y.dtype)
    cx = dict(BA=ba, BC=bc, BB=bb)
    eps = float(eps)
    if t == 1:  # fused: reads g and y, writes dx
        _common.launch(_norm_bwd_stats, (n_cb,), ga, ya, va, dx, va,
                       A, C, B, tb, t, tpp, s, eps, **cx)
    else:  # split: stats reads g and y; apply reads g and y, writes dx
        part = torch.empty((2, s, C), dtype=y.dtype, device=y.device)
        args = (ga, ya, va, dx, part, A, C, B, tb, t, tpp, s, eps)
        _common.launch(_norm_bwd_stats, (n_cb * s,), *args, **cx)
        _common.launch(_norm_bwd_apply, (n_cb * s,), *args, **cx)
    return _from_acb(dx, perm)


def channel_affine(y, weight, bias, act=None):
    """act(y * weight[c] + bias[c]) along axis 1 (weight or bias may be None; ``act`` None or
    (name, slope), fused into the same pass)."""
    _check(y, "channel_affine")
    A, C, B = channel_rows(tuple(y.shape))
    ya = y.contiguous()
    out = torch.empty_like(ya)
    if out.numel() == 0:
        return out
    w = ya if weight is None else _like(weight, ya)
    b = ya if bias is None else _like(bias, ya)
    tile = _TILE[y.dtype]
    bb = min(_p4(B), tile)
    br = tile // bb
    nbb = _common.cdiv(B, bb)
    code, slope = _common.act_args(act, op="channel_affine")
    _common.launch(_affine_fwd, (_common.cdiv(A * C, br) * nbb,), ya, w, b, out,
                   A * C, C, B, nbb, int(weight is not None), int(bias is not None), code,
                   slope, BR=br, BB=bb)
    return out


def channel_affine_backward(g, y, weight, need_y, need_w, need_b):
    """(g * weight[c], sum of g * y per c, sum of g per c), None where not needed."""
    _check(y, "channel_affine_backward")
    A, C, B = channel_rows(tuple(y.shape))
    ya = y.contiguous()
    ga = _like(g, ya)
    if not (need_y or need_w or need_b):
        return None, None, None
    gy = torch.empty_like(ya) if need_y else None
    if ya.numel() == 0:
        sums = torch.zeros((2, C), dtype=y.dtype, device=y.device)
        return gy, sums[0] if need_w else None, sums[1] if need_b else None
    cfg = _norm_plan(A, C, B, y.dtype, passes=False)
    n_cb, t, tb = _tiles(cfg, A, C, B)
    # with enough channel blocks (or one tile each) S = 1: each program writes its channels'
    # sums directly and no _sum_partials launch follows
    s, tpp = _split(t, n_cb)
    part = torch.empty((2, s, C), dtype=y.dtype, device=y.device)
    w = ga if weight is None else _like(weight, ya)
    _common.launch(_affine_bwd, (n_cb * s,), ga, ya, w, ga if gy is None else gy, part,
                   A, C, B, tb, t, tpp, s, int(weight is not None), int(bool(need_y)),
                   int(bool(need_w)), BA=cfg[0], BC=cfg[1], BB=cfg[2])
    if s == 1:
        sums = part[:, 0]
    elif need_w or need_b:
        sums = torch.empty((2, C), dtype=y.dtype, device=y.device)
        _common.launch(_sum_partials, (_common.cdiv(2 * C, _COMBINE_BLOCK),), part, sums,
                       s, C, BLOCK=_COMBINE_BLOCK)
    return gy, sums[0] if need_w else None, sums[1] if need_b else None


# ---------------------------------------------------------------------------------------------
# the fused batch / instance / group norm: normalize_forward and channel_affine (with its
# activation) composed on the layout's two views, (A, S, B) for the statistics and (N, C, HW)
# for the affine map; the backward the activation's gradient (elementwise kernels), then
# channel_affine_backward, then normalize_backward. Same launch configurations as those.


def _norm_views(layout, numel: int) -> tuple[tuple, tuple]:
    a, s, b, g, cg, hw = (int(v) for v in layout)
    c = g * cg
    return (a, s, b), (numel // (c * hw) if c * hw else 0, c, hw)


def norm_forward(x, layout, weight, bias, eps, act=None):
    """(out, y, mean, var): statistics per group s of x viewed as (A, S, B), y normalized,
    out = act(y * w[p] + b[p]) (p = (s % G) Cg + b // HW; out is y when weight, bias and act
    are all None); mean and var of shape (S,)."""
    _check(x, "norm_forward")
    stats, rows = _norm_views(layout, x.numel())
    xa = x.contiguous()
    y, mean, var = normalize_forward(xa.view(stats), (0, 2), eps)
    y = y.view(x.shape)
    s = stats[1]
    if weight is None and bias is None and act is None:
        return y, y, mean.view(s), var.view(s)
    out = channel_affine(y.view(rows), weight, bias, act)
    return out.view(x.shape), y, mean.view(s), var.view(s)


def _activation_backward(g, out, act):
    """g times d act / d v from out = act(v): activation_grad's products, in elementwise
    kernels."""
    if act is None:
        return g
    name, slope = act
    ew = _elementwise.KERNELS
    if name in ("relu", "leaky_relu"):
        positive = ew["astype"](ew["gt"](out, 0), g.dtype)
        factor = positive if name == "relu" else ew["maximum"](positive, float(slope))
        return ew["mul"](g, factor)
    if name == "tanh":
        return ew["mul"](g, ew["sub"](1.0, ew["mul"](out, out)))
    if name == "sigmoid":
        return ew["mul"](ew["mul"](g, out), ew["sub"](1.0, out))
    raise ValueError(f"norm_backward: unknown fused activation {name!r}")


def norm_backward(g, out, y, var, weight, layout, eps, act, need_x, need_w, need_b):
    """(dx, dw, db) from g, the gradient of norm_forward's out, each None unless asked."""
    _check(y, "norm_backward")
    if not (need_x or need_w or need_b):
        return None, None, None
    stats, rows = _norm_views(layout, y.numel())
    ya = y.contiguous()
    dz = _activation_backward(_like(g, ya), out, act)
    dy = dw = db = None
    if need_w or need_b or (need_x and weight is not None):
        dy, dw, db = channel_affine_backward(dz.view(rows), ya.view(rows), weight,
                                             need_x and weight is not None, need_w, need_b)
    dx = None
    if need_x:
        dy = dz if dy is None else dy
        dx = normalize_backward(dy.reshape(stats), ya.view(stats), var, (0, 2),
                                eps).view(y.shape)
    return dx, dw, db


def _softmax_launch(x, axis, log_flag: int, what: str):
    _check(x, what)
    xa = x.contiguous()
    y = torch.empty_like(xa)
    if y.numel() == 0:
        return y
    shape = tuple(xa.shape) or (1,)
    axis = axis % len(shape)
    A, L, B = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
    tile = _TILE[x.dtype]
    if B == 1:  # rows: "b" runs over the A rows (stride L), l is contiguous
        bl = min(_p4(L), tile)
        bb = tile // bl
        n_a, nb, sa, sl, sb = 1, A, 0, 1, L
    else:  # along a middle axis: b is contiguous, l has stride B
        bb = min(_p4(B), tile)
        bl = tile // bb
        n_a, nb, sa, sl, sb = A, B, L * B, B, 1
    nbb = _common.cdiv(nb, bb)
    _common.launch(_softmax, (n_a * nbb,), xa, y, L, nb, sa, sl, sb, nbb, log_flag,
                   BL=bl, BB=bb)
    return y


def softmax(x, axis):
    """exp(x - max) / sum(exp(x - max)) along ``axis``."""
    return _softmax_launch(x, axis, 0, "softmax")


def log_softmax(x, axis):
    """(x - max) - log(sum(exp(x - max))) along ``axis``."""
    return _softmax_launch(x, axis, 1, "log_softmax")


@triton.jit
def _running_stats(rm, rv, mean, var, n, momentum: tl.float64, correction: tl.float64,
                   HAS_MEAN: tl.constexpr, HAS_VAR: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    m = tl.full((), momentum, tl.float64)
    if HAS_MEAN:
        r = tl.load(rm + offs, mask=mask)
        x = tl.load(mean + offs, mask=mask)
        tl.store(rm + offs, (1.0 - m).to(r.dtype) * r + m.to(r.dtype) * x, mask=mask)
    if HAS_VAR:
        r = tl.load(rv + offs, mask=mask)
        v = tl.load(var + offs, mask=mask) * tl.full((), correction, tl.float64).to(r.dtype)
        tl.store(rv + offs, (1.0 - m).to(r.dtype) * r + m.to(r.dtype) * v, mask=mask)


RUNNING_BLOCK = 1024


def running_stats_update(running_mean, running_var, mean, var, momentum, correction):
    """Both running statistics of a batch norm in one launch, in place."""
    pairs = [(r, v) for r, v in ((running_mean, mean), (running_var, var)) if r is not None]
    if not pairs:
        return
    for r, v in pairs:
        if not r.is_contiguous():
            raise ValueError("running_stats_update: running buffers must be contiguous, got "
                             f"strides {r.stride()} for shape {tuple(r.shape)}")
        _check(r, "running_stats_update")
        if v.numel() != r.numel() or v.dtype != r.dtype:
            raise ValueError(f"running_stats_update: statistics of shape {tuple(v.shape)} "
                             f"({v.dtype}) for a buffer of shape {tuple(r.shape)} ({r.dtype})")
    dummy = pairs[0][0]
    rm = dummy if running_mean is None else running_mean
    rv = dummy if running_var is None else running_var
    mu = dummy if running_mean is None else mean.contiguous()
    va = dummy if running_var is None else var.contiguous()
    n = dummy.numel()
    _common.launch(_running_stats, (_common.cdiv(n, RUNNING_BLOCK),), rm, rv, mu, va, n,
                   float(momentum), float(correction), HAS_MEAN=running_mean is not None,
                   HAS_VAR=running_var is not None, BLOCK=RUNNING_BLOCK)


KERNELS = {
    "running_stats_update": running_stats_update,
    "normalize_forward": normalize_forward,
    "normalize_backward": normalize_backward,
    "channel_affine": channel_affine,
    "channel_affine_backward": channel_affine_backward,
    "norm_forward": norm_forward,
    "norm_backward": norm_backward,
    "softmax": softmax,
    "log_softmax": log_softmax,
}


# ---------------------------------------------------------------------------------------------
# every configuration the wrappers can launch


def _signature(kernel, dtype, constexprs: dict) -> dict:
    """Pointers (``*_ptr``) of ``dtype``, ``eps`` and ``slope`` float64, every other runtime
    argument i32
    (the wrappers keep them below 2**31), constexprs as such."""
    sig = {}
    for name in kernel.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name.endswith("_ptr"):
            sig[name] = _common.POINTER_TYPES[dtype]
        elif name in ("eps", "slope"):
            sig[name] = "fp64"
        else:
            sig[name] = "i32"
    return sig


def compile_cases() -> list:
    cases = []
    for dtype in (torch.float32, torch.float64):
        ptr = _common.POINTER_TYPES[dtype]
        for has_mean, has_var in ((True, True), (True, False), (False, True)):
            cx = dict(HAS_MEAN=has_mean, HAS_VAR=has_var, BLOCK=RUNNING_BLOCK)
            sig = dict(rm=ptr, rv=ptr, mean=ptr, var=ptr, n="i32", momentum="fp64",
                       correction="fp64", **{k: "constexpr" for k in cx})
            cases.append(_common.CompileCase(_running_stats, sig, cx))
        for ba, bc, bb in _norm_configs(dtype):
            cx = dict(BA=ba, BC=bc, BB=bb)
            for kernel in (_norm_fwd_stats, _norm_fwd_apply, _norm_bwd_stats, _norm_bwd_apply,
                           _affine_bwd):
                cases.append(_common.CompileCase(kernel, _signature(kernel, dtype, cx), cx))
        for br, bb in _rows2d_configs(dtype):
            cx = dict(BR=br, BB=bb)
            cases.append(_common.CompileCase(_affine_fwd, _signature(_affine_fwd, dtype, cx), cx))
        for bl, bb in _softmax_configs(dtype):
            cx = dict(BL=bl, BB=bb)
            cases.append(_common.CompileCase(_softmax, _signature(_softmax, dtype, cx), cx))
        cx = dict(BLOCK=_COMBINE_BLOCK)
        cases.append(_common.CompileCase(_sum_partials, _signature(_sum_partials, dtype, cx), cx))
    return cases
