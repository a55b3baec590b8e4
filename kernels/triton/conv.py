"""2-D convolution as implicit GEMM: no im2col buffer, the windows are gathered by the loads.

Layout: x is (N, C, H, W), weight is (O, C/groups, kh, kw), as in kernels/numpy/conv.py,
whose signatures and semantics these kernels match.

``_conv_kernel`` computes both the forward convolution and its adjoint with respect to the
input (= conv_transpose2d), as one GEMM per group:

    dst[n, co, P] = sum over taps t and reduction channels ci of
                    src[n, ci, in_pixel(P, t)] * w[t, ci, co]

with M = output pixels (N * rows * cols), N = output channels of the group, K = taps x
reduction channels. Forward: src = x, dst = out, the taps are all kh x kw weight positions
and input row = out_row * stride - pad + r * dilation; the bias is added in the epilogue.
Backward-input (TRANSPOSED): src = g, dst = dx. The windows are decomposed by stride phase:
the dx rows ih with the same ih mod stride form one sub-problem (grid axis 0 enumerates
(group, phase, tile)), and for a phase only the kernel rows r with
(ih + pad - r * dilation) divisible by the stride reach it, an arithmetic progression
r = r0 + t * rs (rs = stride / gcd(stride, dilation)). The g row is then an affine function
of (ih, t), so no multiply ever touches one of the zeros a strided transposed convolution
inserts. Rows (and columns) that no tap reaches are written as 0 (output_padding). When one
window covers the whole input (1x1 g, as a DCGAN generator's first layer) every dx pixel has
exactly one tap: that case runs as a 1x1 transposed convolution into (N, C*kh*kw, 1, 1).

The weight is first copied (a layout copy) to (groups, kh, kw, red, out) so the weight tile
of a K block is contiguous along the output channels (coalesced loads). The K loop comes in
two forms (``TAPS_OUTER``): taps outer and channels inner (a 1-D pixel mask per tap: the
cheap form when there are many channels), or one flattened loop over (tap, channel) pairs
(2-D masks, no padding of each tap's channel count up to BLOCK_K: for 3-channel images).

``_wgrad_kernel`` computes the weight gradient: per group a GEMM with M = output channels,
N = (input channel, tap) and K = N * Ho * Wo (batch and pixels, decomposed per K block).
With few output tiles and a long K (a DCGAN's first layer: one 64 x 48 tile, K = 131072)
K is split over a grid axis; each split writes its partial product and ``_sum_splits``
adds them up in a fixed order (deterministic, no atomics).

The conv kernel can split its K loop the same way (runtime ``SPLIT``, grid axis 1: taps in
the taps-outer form, K blocks in the flattened one; the bias goes into part 0): a 4x4 valid
layer into 1x1 outputs at batch 128 has 2 output tiles and K = 8192.

Block sizes come from small finite sets (``compile_cases`` lists every configuration); the
heuristics prefer big tiles, and smaller ones only when a GPU would otherwise be left with
fewer programs than streaming multiprocessors. Under the interpreter (CPU tensors) every
program runs serially in numpy, so there the biggest tiles and no K split win.
"""

import torch
import triton
import triton.language as tl
from minigan.kernels.shapes import CONV_ACTIVATIONS, conv_out_size
from minigan.kernels.triton import _common

FLOAT_TYPES = (torch.float32, torch.float64)
BLOCK_K = 32
SUM_BLOCK = 1024
# Tile sets: conv (BLOCK_M over pixels, BLOCK_N over output channels); wgrad (BLOCK_M over
# output channels, BLOCK_N over input channels or (channel, tap) pairs). float64 keeps to
# smaller tiles (an fp64 accumulator of 128 x 128 would not fit the registers).
CONV_BM = {torch.float32: (64, 128), torch.float64: (64,)}
CONV_BN = {torch.float32: (16, 32, 64, 128), torch.float64: (16, 32, 64)}
WGRAD_BM = {torch.float32: (16, 64, 128), torch.float64: (16, 64)}
WGRAD_BN = {torch.float32: (16, 64, 128), torch.float64: (16, 64)}
MIN_SPLIT_BLOCKS = 8  # a K split is at least this many BLOCK_K steps long

# Tests set these to force a path: None = the heuristic.
FORCE = {"taps_outer": None, "bm": None, "bn": None, "wgrad_bm": None, "wgrad_bn": None,
         "split": None, "conv_split": None}


# --- kernels ------------------------------------------------------------------------------
@triton.jit
def _phase(q, S, P, D, K, SIZE):
    """One stride phase of a transposed convolution along one axis: the dx rows
    ih = q + i * S (i < cnt) are reached by the kernel rows r = r0 + t * rs (t < nt) from the
    g rows i0 + i - t * ts. r0 is the smallest r with (q + P - r * D) divisible by S and rs
    the smallest positive step keeping it so (S / gcd(S, D))."""
    cnt = (SIZE - q + S - 1) // S
    rs = S
    r0 = S  # none yet
    for u in range(0, S):
        r = S - 1 - u  # descending: the last hit is the smallest
        rs = tl.where((r > 0) & ((r * D) % S == 0), r, rs)
        # q + P - r*D = q + P + r*D*(S-1) - r*D*S: the same residue, never negative
        r0 = tl.where((q + P + r * D * (S - 1)) % S == 0, r, r0)
    valid = r0 < S
    nt = tl.where(valid, tl.maximum((K - r0 + rs - 1) // rs, 0), 0)
    i0 = (q + P - r0 * D + S * D) // S - D  # an exact division of a positive number
    ts = (rs * D) // S
    return cnt, i0, ts, r0, rs, nt


@triton.jit
def _conv_kernel(src, w, bias, dst,
                 NB, C_SRC, H_SRC, W_SRC, C_DST, H_DST, W_DST, RED, OUT,
                 KH, KW, SH, SW, PH, PW, DH, DW, HAS_BIAS, SPLIT, PART_STRIDE,
                 act, slope: tl.float64,
                 TRANSPOSED: tl.constexpr, TAPS_OUTER: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                 PRECISION: tl.constexpr):
    num_n = tl.cdiv(OUT, BLOCK_N)
    # grid axis 0: (group [x phase], pixel tile, channel tile), the pixel tiles counted for
    # the largest phase (a single axis: no 65535 limit on groups x phases)
    if TRANSPOSED:
        m_max = NB * tl.cdiv(H_DST, SH) * tl.cdiv(W_DST, SW)
    else:
        m_max = NB * H_DST * W_DST
    tiles = tl.cdiv(m_max, BLOCK_M) * num_n
    pid = tl.program_id(0)
    sp = tl.program_id(1)  # this program's part of the K loop, of SPLIT
    z = pid // tiles
    pid = pid % tiles
    # the geometry of this program's sub-problem, per axis: dst row = o0 + i * os,
    # src row = i0 + i * is_ + t * ts, weight row = r0 + t * rs for taps t < nt
    if TRANSPOSED:
        n_phase = SH * SW
        grp = z // n_phase
        phase = z % n_phase
        qh = phase // SW
        qw = phase % SW
        mh, i0h, tsh, r0h, rsh, nth = _phase(qh, SH, PH, DH, KH, H_DST)
        mw, i0w, tsw, r0w, rsw, ntw = _phase(qw, SW, PW, DW, KW, W_DST)
        tsh = -tsh
        tsw = -tsw
        o0h = qh
        o0w = qw
        osh = SH
        osw = SW
        ish = 1
        isw = 1
    else:
        grp = z
        mh = H_DST
        mw = W_DST
        o0h = 0
        o0w = 0
        osh = 1
        osw = 1
        i0h = -PH
        i0w = -PW
        ish = SH
        isw = SW
        tsh = DH
        tsw = DW
        r0h = 0
        r0w = 0
        rsh = 1
        rsw = 1
        nth = KH
        ntw = KW

    pid_n = pid % num_n
    pid_m = pid // num_n
    pix = mh * mw
    M = NB * pix
    hw_src = H_SRC * W_SRC
    hw_dst = H_DST * W_DST

    m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = m < M
    img = m // tl.maximum(pix, 1)
    rem = m % tl.maximum(pix, 1)
    i = rem // tl.maximum(mw, 1)
    j = rem % tl.maximum(mw, 1)
    srow = i0h + i * ish
    scol = i0w + j * isw
    img64 = img.to(tl.int64)
    src_m = img64 * C_SRC * hw_src + (grp * RED).to(tl.int64) * hw_src + srow * W_SRC + scol
    dst_m = img64 * C_DST * hw_dst + (o0h + i * osh) * W_DST + (o0w + j * osw)

    nn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = nn < OUT
    kk = tl.arange(0, BLOCK_K)
    w_grp = w + (grp * KH * KW).to(tl.int64) * RED * OUT
    taps = nth * ntw
    taps = tl.where(pid_m * BLOCK_M < M, taps, 0)  # a tile past this phase's pixels: no work

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=dst.dtype.element_ty)
    if TAPS_OUTER:
        t_chunk = tl.cdiv(taps, SPLIT)
        t_lo = sp * t_chunk
        for t in range(t_lo, tl.minimum(t_lo + t_chunk, taps)):
            th = t // ntw
            tw = t % ntw
            row = srow + th * tsh
            col = scol + tw * tsw
            ok = m_ok & (row >= 0) & (row < H_SRC) & (col >= 0) & (col < W_SRC)
            a_ptr = src + (src_m + (th * tsh) * W_SRC + tw * tsw)
            w_tap = w_grp + ((r0h + th * rsh) * KW + (r0w + tw * rsw)) * RED * OUT
            for c0 in range(0, RED, BLOCK_K):
                c = c0 + kk
                c_ok = c < RED
                a = tl.load(a_ptr[:, None] + (c.to(tl.int64) * hw_src)[None, :],
                            mask=ok[:, None] & c_ok[None, :], other=0.0)
                b = tl.load(w_tap + (c * OUT)[:, None] + nn[None, :],
                            mask=c_ok[:, None] & n_ok[None, :], other=0.0)
                acc = tl.dot(a, b, acc, input_precision=PRECISION,
                             out_dtype=dst.dtype.element_ty)
    else:
        KT = taps * RED
        k_chunk = tl.cdiv(tl.cdiv(KT, SPLIT), BLOCK_K) * BLOCK_K
        k_lo = sp * k_chunk
        k_hi = tl.minimum(k_lo + k_chunk, KT)
        for k0 in range(k_lo, k_hi, BLOCK_K):
            k = k0 + kk
            k_ok = k < k_hi
            t = k // RED
            c = k % RED
            th = t // tl.maximum(ntw, 1)
            tw = t % tl.maximum(ntw, 1)
            dr = th * tsh
            dc = tw * tsw
            row = srow[:, None] + dr[None, :]
            col = scol[:, None] + dc[None, :]
            ok = (m_ok[:, None] & k_ok[None, :] & (row >= 0) & (row < H_SRC)
                  & (col >= 0) & (col < W_SRC))
            a_k = c.to(tl.int64) * hw_src + dr * W_SRC + dc
            a = tl.load(src + (src_m[:, None] + a_k[None, :]), mask=ok, other=0.0)
            w_k = (((r0h + th * rsh) * KW + (r0w + tw * rsw)) * RED + c) * OUT
            b = tl.load(w_grp + (w_k[:, None] + nn[None, :]),
                        mask=k_ok[:, None] & n_ok[None, :], other=0.0)
            acc = tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=dst.dtype.element_ty)

    chan = grp * OUT + nn
    if (HAS_BIAS != 0) & (sp == 0):  # the bias once, in the first part
        bvec = tl.load(bias + chan, mask=n_ok, other=0.0)
        acc += bvec[None, :].to(acc.dtype)
    # the activation epilogue (act 0: none; the wrapper passes 0 when SPLIT > 1, and
    # _sum_splits applies it to the sum); the forward convolution's only
    if not TRANSPOSED:
        acc = _common.activate(acc, act, slope, False)
    # SPLIT > 1: part sp of the sum goes to dst + sp * PART_STRIDE (added up by _sum_splits)
    out_ptr = (dst + sp.to(tl.int64) * PART_STRIDE
               + (dst_m[:, None] + (chan.to(tl.int64) * hw_dst)[None, :]))
    tl.store(out_ptr, acc.to(dst.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


@triton.jit
def _wgrad_kernel(x, g, dst,
                  NB, C, H, W, O, HO, WO, CG, OG, KH, KW, SH, SW, PH, PW, DH, DW,
                  K_CHUNK, PART_STRIDE,
                  TAPS_OUTER: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_K: tl.constexpr, PRECISION: tl.constexpr):
    T = KH * KW
    if TAPS_OUTER:
        ncols = CG
    else:
        ncols = CG * T
    num_n = tl.cdiv(ncols, BLOCK_N)
    num_mn = tl.cdiv(OG, BLOCK_M) * num_n
    if TAPS_OUTER:
        tiles = num_mn * T
    else:
        tiles = num_mn
    # grid: axis 0 (group, tap, output-channel tile, column tile), axis 1 the K split
    pid = tl.program_id(0)
    split = tl.program_id(1)
    grp = pid // tiles
    pid = pid % tiles
    tap = pid // num_mn
    rest = pid % num_mn
    pid_n = rest % num_n
    pid_m = rest // num_n

    o = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    o_ok = o < OG
    col = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = col < ncols
    hw = H * W
    if TAPS_OUTER:
        r = tap // KW
        s = tap % KW
        c = col
        dr = r * DH
        dc = s * DW
        x_col = c.to(tl.int64) * hw + dr * W + dc
        out_col = c * T + tap
    else:
        c = col // T
        tt = col % T
        dr = (tt // KW) * DH
        dc = (tt % KW) * DW
        x_col = c.to(tl.int64) * hw + dr * W + dc
        out_col = col

    howo = HO * WO
    K = NB * howo
    k_lo = split * K_CHUNK
    k_hi = tl.minimum(k_lo + K_CHUNK, K)
    g_row = (grp * OG + o).to(tl.int64) * howo
    x_grp = x + (grp * CG).to(tl.int64) * hw
    kk = tl.arange(0, BLOCK_K)

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=dst.dtype.element_ty)
    for k0 in range(k_lo, k_hi, BLOCK_K):
        k = k0 + kk
        k_ok = k < k_hi
        img = (k // howo).to(tl.int64)
        p = k % howo
        ih0 = (p // WO) * SH - PH
        iw0 = (p % WO) * SW - PW
        a = tl.load(g + (g_row[:, None] + (img * O * howo + p)[None, :]),
                    mask=o_ok[:, None] & k_ok[None, :], other=0.0)
        x_k = img * C * hw + ih0 * W + iw0
        if TAPS_OUTER:
            ih = ih0 + dr
            iw = iw0 + dc
            ok = k_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            mask = ok[:, None] & col_ok[None, :]
        else:
            ih = ih0[:, None] + dr[None, :]
            iw = iw0[:, None] + dc[None, :]
            mask = (k_ok[:, None] & col_ok[None, :] & (ih >= 0) & (ih < H)
                    & (iw >= 0) & (iw < W))
        b = tl.load(x_grp + (x_k[:, None] + x_col[None, :]), mask=mask, other=0.0)
        acc = tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=dst.dtype.element_ty)

    out = (dst + split.to(tl.int64) * PART_STRIDE
           + ((grp * OG + o).to(tl.int64) * (CG * T))[:, None] + out_col[None, :])
    tl.store(out, acc, mask=o_ok[:, None] & col_ok[None, :])


@triton.jit
def _sum_splits(part, dst, TOTAL, SPLIT, act, slope: tl.float64, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < TOTAL
    ptr = part + offs
    acc = tl.load(ptr, mask=mask, other=0.0)
    for _ in range(1, SPLIT):
        ptr += TOTAL
        acc += tl.load(ptr, mask=mask, other=0.0)
    acc = _common.activate(acc, act, slope, False)
    tl.store(dst + offs, acc, mask=mask)


# --- heuristics ---------------------------------------------------------------------------
_SMS: dict = {}


def _num_sms(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device; 0 under the interpreter (CPU tensors)."""
    if device.type != "cuda":
        return 0
    key = device.index if device.index is not None else torch.cuda.current_device()
    if key not in _SMS:
        _SMS[key] = torch.cuda.get_device_properties(key).multi_processor_count
    return _SMS[key]


def _pick(n: int, choices: tuple) -> int:
    """The smallest choice covering n, else the largest."""
    for c in choices:
        if c >= n:
            return c
    return choices[-1]


def _taps_outer(taps: int, red: int, block: int) -> bool:
    """Taps-outer pads each tap's channel count to ``block``; the flattened loop pads only
    the total. Taps-outer (cheaper index arithmetic) unless it does > 1/8 more work."""
    forced = FORCE["taps_outer"]
    if forced is not None:
        return forced
    return 8 * taps * _common.cdiv(red, block) * block <= 9 * _common.cdiv(red * taps, block) \
        * block


def _conv_tiles(m: int, out: int, z: int, dtype, device) -> tuple:
    bms, bns = CONV_BM[dtype], CONV_BN[dtype]
    bn = _pick(out, bns)
    bm = bms[-1]
    sms = _num_sms(device)
    if sms:  # smaller tiles while a GPU would have fewer programs than SMs
        def programs(bm_, bn_):
            return _common.cdiv(m, bm_) * _common.cdiv(out, bn_) * z
        if programs(bm, bn) < sms:
            bm = bms[0]
        if programs(bm, bn) < sms and bn > 64 and 64 in bns:
            bn = 64
    bm = FORCE["bm"] or bm
    bn = FORCE["bn"] or bn
    assert bm in bms and bn in bns
    return bm, bn


# --- wrappers -----------------------------------------------------------------------------
def _dtype_of(*tensors) -> torch.dtype:
    dtype = None
    for t in tensors:
        if t is None:
            continue
        if t.dtype not in FLOAT_TYPES:
            raise TypeError(f"convolution kernels take float32 or float64 tensors, not {t.dtype}")
        dtype = t.dtype if dtype is None else torch.promote_types(dtype, t.dtype)
    return dtype


def _ready(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` C-contiguous and of ``dtype`` (a copy only when needed)."""
    if t.dtype != dtype:
        out = torch.empty(t.shape, dtype=dtype, device=t.device)
        out.copy_(t)
        return out
    return t.contiguous()


def _dense(in_hw, kernel_hw, out_hw, padding, dilation) -> bool:
    """One window covering the whole unpadded input: the convolution is a plain product."""
    return (tuple(out_hw) == (1, 1) and tuple(in_hw) == tuple(kernel_hw)
            and tuple(padding) == (0, 0) and tuple(dilation) == (1, 1))


def _launch_conv(src, wt, bias, dst, red, out, kh, kw, stride, padding, dilation, groups,
                 transposed, act=None):
    """src (N, C_SRC, H_SRC, W_SRC), wt (groups, kh, kw, red, out), dst (N, C_DST, H, W);
    ``act`` an activation applied to the result before it is stored (None or (name,
    slope), ``_common.activate``)."""
    act, slope = _common.act_args(act, CONV_ACTIVATIONS, "conv2d_forward")
    nb, c_src, h_src, w_src = src.shape
    _, c_dst, h_dst, w_dst = dst.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    if transposed:
        z = groups * sh * sw
        m = nb * _common.cdiv(h_dst, sh) * _common.cdiv(w_dst, sw)
        taps = _common.cdiv(kh, sh) * _common.cdiv(kw, sw)
    else:
        z = groups
        m = nb * h_dst * w_dst
        taps = kh * kw
    bm, bn = _conv_tiles(m, out, z, dst.dtype, dst.device)
    taps_outer = _taps_outer(taps, red, BLOCK_K)
    programs = _common.cdiv(m, bm) * _common.cdiv(out, bn) * z
    # split the K loop when the tiles alone leave a GPU's SMs idle: a long reduction into
    # few outputs (a 4x4 valid layer into 1x1 at batch 128: 2 tiles, K = 8192)
    blocks = taps * _common.cdiv(red, BLOCK_K) if taps_outer else \
        _common.cdiv(taps * red, BLOCK_K)
    sms = _num_sms(dst.device)
    split = 1
    if sms and programs < sms:
        split = min(_common.cdiv(sms, programs), blocks // MIN_SPLIT_BLOCKS)
        if taps_outer:
            split = min(split, taps)
    split = min(max(1, FORCE["conv_split"] or split), 65535)
    numel = dst.numel()
    part = dst if split == 1 else torch.empty((split, numel), dtype=dst.dtype,
                                              device=dst.device)
    _common.launch(_conv_kernel, (programs, split), src, wt, dst if bias is None else bias,
                   part, nb, c_src, h_src, w_src, c_dst, h_dst, w_dst, red, out,
                   kh, kw, sh, sw, ph, pw, dh, dw, 0 if bias is None else 1,
                   split, 0 if split == 1 else numel, act if split == 1 else 0, slope,
                   TRANSPOSED=transposed, TAPS_OUTER=taps_outer, BLOCK_M=bm, BLOCK_N=bn,
                   BLOCK_K=BLOCK_K, PRECISION=_common.dot_precision(dst.dtype))
    if split > 1:
        _common.launch(_sum_splits, (_common.cdiv(numel, SUM_BLOCK),), part, dst, numel,
                       split, act, slope, BLOCK=SUM_BLOCK)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, act=None):
    """conv2d + bias, and ``act`` (None or (name, slope), relu or leaky_relu) applied in the
    epilogue."""
    dtype = _dtype_of(x, weight, bias)
    x, weight = _ready(x, dtype), _ready(weight, dtype)
    bias = None if bias is None else _ready(bias, dtype)
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    ho = conv_out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_out_size(w, kw, stride[1], padding[1], dilation[1])
    out = torch.empty((n, o, ho, wo), dtype=dtype, device=x.device)
    if out.numel() == 0:
        return out
    og = o // groups
    # (G, kh, kw, Cg, Og): the weight tile of a K block is contiguous along Og
    wt = weight.view(groups, og, cg, kh, kw).permute(0, 3, 4, 2, 1).contiguous()
    _launch_conv(x, wt, bias, out, cg, og, kh, kw, tuple(stride), tuple(padding),
                 tuple(dilation), groups, False, act)
    return out


def conv2d_backward_input(g, weight, input_hw, stride, padding, dilation, groups):
    dtype = _dtype_of(g, weight)
    g, weight = _ready(g, dtype), _ready(weight, dtype)
    n, o, ho, wo = g.shape
    _, cg, kh, kw = weight.shape
    c = cg * groups
    og = o // groups
    h, w = input_hw
    dx = torch.empty((n, c, h, w), dtype=dtype, device=g.device)
    if dx.numel() == 0:
        return dx
    if _dense((h, w), (kh, kw), (ho, wo), padding, dilation):
        # every dx pixel is reached by one tap: a 1x1 transposed convolution of
        # (N, O, 1, 1) into (N, C*kh*kw, 1, 1) (no masked-out taps)
        wt = weight.view(groups, 1, 1, og, cg * kh * kw)
        _launch_conv(g, wt, None, dx.view(n, c * kh * kw, 1, 1), og, cg * kh * kw, 1, 1,
                     (1, 1), (0, 0), (1, 1), groups, True)
        return dx
    # (G, kh, kw, Og, Cg): contiguous along Cg, the output channels of this GEMM
    wt = weight.view(groups, og, cg, kh, kw).permute(0, 3, 4, 1, 2).contiguous()
    _launch_conv(g, wt, None, dx, og, cg, kh, kw, tuple(stride), tuple(padding),
                 tuple(dilation), groups, True)
    return dx


def _wgrad_tiles(og: int, cg: int, taps: int, dtype) -> tuple:
    bms, bns = WGRAD_BM[dtype], WGRAD_BN[dtype]
    bm = _pick(og, bms)
    bn_taps, bn_flat = _pick(cg, bns), _pick(cg * taps, bns)
    forced = FORCE["taps_outer"]
    if forced is None:
        work_taps = taps * _common.cdiv(cg, bn_taps) * bn_taps
        work_flat = _common.cdiv(cg * taps, bn_flat) * bn_flat
        taps_outer = 8 * work_taps <= 9 * work_flat
    else:
        taps_outer = forced
    bn = bn_taps if taps_outer else bn_flat
    bm = FORCE["wgrad_bm"] or bm
    bn = FORCE["wgrad_bn"] or bn
    assert bm in bms and bn in bns
    return bm, bn, taps_outer


def conv2d_backward_weight(x, g, kernel_hw, stride, padding, dilation, groups):
    dtype = _dtype_of(x, g)
    x, g = _ready(x, dtype), _ready(g, dtype)
    n, c, h, w = x.shape
    o, ho, wo = g.shape[1:]
    kh, kw = kernel_hw
    cg, og = c // groups, o // groups
    k_total = n * ho * wo
    if o * cg * kh * kw == 0 or k_total == 0:
        return torch.zeros((o, cg, kh, kw), dtype=dtype, device=x.device)
    dw = torch.empty((o, cg, kh, kw), dtype=dtype, device=x.device)
    taps = kh * kw
    bm, bn, taps_outer = _wgrad_tiles(og, cg, taps, dtype)
    ncols = cg if taps_outer else cg * taps
    tiles = _common.cdiv(og, bm) * _common.cdiv(ncols, bn) * (taps if taps_outer else 1)
    # split K when the output tiles alone would leave a GPU's SMs idle
    sms = _num_sms(x.device)
    split = 1
    if sms:
        split = min(_common.cdiv(2 * sms, tiles * groups),
                    _common.cdiv(k_total, BLOCK_K * MIN_SPLIT_BLOCKS))
    split = min(max(1, FORCE["split"] or split), 65535)
    chunk = _common.cdiv(_common.cdiv(k_total, split), BLOCK_K) * BLOCK_K
    split = _common.cdiv(k_total, chunk)
    total = o * cg * taps
    part = dw if split == 1 else torch.empty((split, total), dtype=dtype, device=x.device)
    (sh, sw), (ph, pw), (dh, dwl) = stride, padding, dilation
    _common.launch(_wgrad_kernel, (tiles * groups, split), x, g, part,
                   n, c, h, w, o, ho, wo, cg, og, kh, kw, sh, sw, ph, pw, dh, dwl,
                   chunk, total,
                   TAPS_OUTER=taps_outer, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=BLOCK_K,
                   PRECISION=_common.dot_precision(dtype))
    if split > 1:
        _common.launch(_sum_splits, (_common.cdiv(total, SUM_BLOCK),), part, dw, total, split,
                       0, 0.0, BLOCK=SUM_BLOCK)
    return dw


KERNELS = {
    "conv2d_forward": conv2d_forward,
    "conv2d_backward_input": conv2d_backward_input,
    "conv2d_backward_weight": conv2d_backward_weight,
}


# --- every configuration the wrappers can launch ------------------------------------------
def _signature(kernel, pointers: dict, constexprs: dict) -> dict:
    """Pointer arguments typed from ``pointers`` (name -> dtype), the other runtime
    arguments i32 (the wrappers pass only sizes, geometry and the activation code) unless
    annotated (the leaky slope, ``slope: tl.float64``), constexprs marked."""
    annotated = _common._annotations(kernel)
    sig = {}
    for name in kernel.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name in pointers:
            sig[name] = _common.POINTER_TYPES[pointers[name]]
        else:
            sig[name] = annotated.get(name, "i32")
    return sig


def _precisions(dtype) -> tuple:
    return ("ieee", "tf32") if dtype == torch.float32 else ("ieee",)


def compile_cases() -> list:
    cases = []
    for dtype in FLOAT_TYPES:
        for prec in _precisions(dtype):
            for transposed in (False, True):
                for taps_outer in (False, True):
                    for bm in CONV_BM[dtype]:
                        for bn in CONV_BN[dtype]:
                            meta = dict(TRANSPOSED=transposed, TAPS_OUTER=taps_outer,
                                        BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=BLOCK_K,
                                        PRECISION=prec)
                            ptrs = dict(src=dtype, w=dtype, bias=dtype, dst=dtype)
                            cases.append(_common.CompileCase(
                                _conv_kernel, _signature(_conv_kernel, ptrs, meta), meta))
            for taps_outer in (False, True):
                for bm in WGRAD_BM[dtype]:
                    for bn in WGRAD_BN[dtype]:
                        meta = dict(TAPS_OUTER=taps_outer, BLOCK_M=bm, BLOCK_N=bn,
                                    BLOCK_K=BLOCK_K, PRECISION=prec)
                        ptrs = dict(x=dtype, g=dtype, dst=dtype)
                        cases.append(_common.CompileCase(
                            _wgrad_kernel, _signature(_wgrad_kernel, ptrs, meta), meta))
        meta = dict(BLOCK=SUM_BLOCK)
        cases.append(_common.CompileCase(
            _sum_splits, _signature(_sum_splits, dict(part=dtype, dst=dtype), meta), meta))
    return cases
