"""Elementwise kernels: one generated kernel for every unary, binary and ternary map.

``_elementwise`` is specialised by its ``OP`` constexpr (a string), so each op compiles to
its own straight-line kernel; the wrappers below only choose the op and the layout. Operands
are strided, broadcast views (a broadcast dimension has stride 0) or Python scalars, which
reach the kernel as float64 arguments, never as device tensors. The output is a new
C-contiguous tensor, like a numpy ufunc's.

Layout: the output's shape and every operand's strides are collapsed to at most ``RANK``
dimensions (neighbouring dims merge where every operand is contiguous across them). When
all operands are contiguous in the output's shape (the common case) the kernel takes the
``CONTIG`` path, with flat offsets and no index arithmetic: one read per operand and one
write per element, the copy bandwidth of the tensors involved.

Precision: float32 division and square root are IEEE round-to-nearest (``div_rn``,
``sqrt_rn``), not the GPU's approximate defaults; pow runs in float64 and rounds once.
"""

import numpy as np
import torch
import triton
import triton.language as tl
from minigan.kernels.triton import _common
from minigan.kernels.triton._common import div_rn as _div
from minigan.kernels.triton._common import sqrt_rn as _sqrt
from minigan.kernels.triton._common import tanh as _tanh

BLOCK = 1024
RANK = 4

FLOAT_TYPES = (torch.float32, torch.float64)
INT_TYPES = (torch.int64,)
ALL_TYPES = (torch.float32, torch.float64, torch.int64, torch.bool)
# Storage-only dtypes (torch.tensor keeps them; images arrive as uint8): the kernels compute
# on them in their "opmath" type and cast back, as torch computes float16 in float32.
STORAGE_TYPES = {torch.float16: torch.float32, torch.int32: torch.int64,
                 torch.uint8: torch.int64}
TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64,
                np.dtype(np.int64): torch.int64, np.dtype(np.bool_): torch.bool,
                np.dtype(np.float16): torch.float16, np.dtype(np.int32): torch.int32,
                np.dtype(np.uint8): torch.uint8}


@triton.jit
def _log1p(u):
    """log(1 + u) without losing u's low bits when u is tiny (Goldberg's trick): log(w) is
    the exact log of the rounded w = 1 + u, and u / (w - 1) corrects the rounding."""
    w = 1.0 + u
    safe = tl.where(w == 1.0, 1.0, w - 1.0)
    return tl.where(w == 1.0, u, tl.log(w) * _div(u, safe))


@triton.jit
def _pow(x, y):
    """x ** y in float64 with torch's special cases: y == 0 gives 1; a negative base needs
    an integral exponent (odd ones flip the sign), otherwise NaN."""
    ax = tl.abs(x)
    r = tl.exp(y * tl.log(ax))
    integral = tl.floor(y) == y
    half = y * 0.5
    odd = integral & (tl.floor(half) != half)
    nan = ax * 0.0 + float("nan")
    r = tl.where(x < 0, tl.where(integral, tl.where(odd, -r, r), nan), r)
    return tl.where(y == 0, 1.0, r)


@triton.jit
def _apply(x, y, z, p0, p1, OP: tl.constexpr):
    # binary arithmetic
    if OP == "add":
        r = x + y
    elif OP == "sub":
        r = x - y
    elif OP == "mul":
        r = x * y
    elif OP == "div":
        r = _div(x, y)
    elif OP == "pow":
        r = _pow(x.to(tl.float64), y.to(tl.float64))
    elif OP == "maximum":
        r = tl.maximum(x, y, propagate_nan=tl.PropagateNan.ALL)
    elif OP == "minimum":
        r = tl.minimum(x, y, propagate_nan=tl.PropagateNan.ALL)
    # comparisons and logic
    elif OP == "eq":
        r = x == y
    elif OP == "ne":
        r = x != y
    elif OP == "lt":
        r = x < y
    elif OP == "le":
        r = x <= y
    elif OP == "gt":
        r = x > y
    elif OP == "ge":
        r = x >= y
    elif OP == "logical_and":
        r = (x != 0) & (y != 0)
    elif OP == "where":
        r = tl.where(x != 0, y, z)
    # unary
    elif OP == "neg":
        r = -x
    elif OP == "abs":
        r = tl.abs(x)
    elif OP == "sign":
        r = tl.where(x > 0, 1, tl.where(x < 0, -1, x)).to(x.dtype)
    elif OP == "exp":
        r = tl.exp(x)
    elif OP == "log":
        r = tl.log(x)
    elif OP == "sqrt":
        r = _sqrt(x)
    elif OP == "rsqrt":
        r = _div(1.0, _sqrt(x)).to(x.dtype)
    elif OP == "reciprocal":
        r = _div(1.0, x).to(x.dtype)
    elif OP == "square":
        r = x * x
    elif OP == "cube":
        r = x * x * x
    elif OP == "inv_square":
        r = _div(1.0, x * x).to(x.dtype)
    elif OP == "pow_scalar":
        r = _pow(x.to(tl.float64), p0)
    elif OP == "tanh":
        r = _tanh(x)
    elif OP == "sigmoid":
        e = tl.exp(-tl.abs(x))
        r = tl.where(x >= 0, _div(1.0, 1.0 + e), _div(e, 1.0 + e)).to(x.dtype)
    elif OP == "softplus":
        beta = tl.cast(p0, x.dtype)
        z = x * beta
        soft = _div(tl.maximum(z, 0.0) + _log1p(tl.exp(-tl.abs(z))), beta)
        r = tl.where(z > tl.cast(p1, x.dtype), x, soft.to(x.dtype))
    elif OP == "clip":
        r = tl.minimum(tl.maximum(x, tl.cast(p0, x.dtype), propagate_nan=tl.PropagateNan.ALL),
                       tl.cast(p1, x.dtype), propagate_nan=tl.PropagateNan.ALL)
    elif OP == "clip_lo":
        r = tl.maximum(x, tl.cast(p0, x.dtype), propagate_nan=tl.PropagateNan.ALL)
    elif OP == "clip_hi":
        r = tl.minimum(x, tl.cast(p1, x.dtype), propagate_nan=tl.PropagateNan.ALL)
    elif OP == "to_bool":
        r = x != 0
    else:  # "cast": the store converts
        r = x
    return r


@triton.jit
def _offsets(offs, d1, d2, d3, s0, s1, s2, s3):
    """Offsets of a strided operand at the output's flat (C-order) positions ``offs``."""
    i3 = offs % d3
    rest = offs // d3
    i2 = rest % d2
    rest = rest // d2
    i1 = rest % d1
    i0 = rest // d1
    return i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3


@triton.jit
def _operand(ptr, scalar, offs, mask, d1, d2, d3, s0, s1, s2, s3,
             SCALAR: tl.constexpr, CONTIG: tl.constexpr):
    if SCALAR:
        return scalar
    elif CONTIG:
        return tl.load(ptr + offs, mask=mask)
    else:
        return tl.load(ptr + _offsets(offs, d1, d2, d3, s0, s1, s2, s3), mask=mask)


@triton.jit
def _elementwise(out, a, b, c, sa: tl.float64, sb: tl.float64, p0: tl.float64, p1: tl.float64,
                 n, d1, d2, d3, a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3,
                 OP: tl.constexpr, NIN: tl.constexpr, A_SCALAR: tl.constexpr,
                 B_SCALAR: tl.constexpr, CONTIG: tl.constexpr, BLOCK: tl.constexpr):
    # fp64 scalars as fp64 values (the interpreter would round a bare cast through fp32)
    sa = tl.full((), sa, tl.float64)
    sb = tl.full((), sb, tl.float64)
    p0 = tl.full((), p0, tl.float64)
    p1 = tl.full((), p1, tl.float64)
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = _operand(a, sa, offs, mask, d1, d2, d3, a0, a1, a2, a3, A_SCALAR, CONTIG)
    y = x
    z = x
    if NIN >= 2:
        y = _operand(b, sb, offs, mask, d1, d2, d3, b0, b1, b2, b3, B_SCALAR, CONTIG)
    if NIN >= 3:
        z = _operand(c, sa, offs, mask, d1, d2, d3, c0, c1, c2, c3, False, CONTIG)
    # a scalar operand takes the tensor operand's dtype (torch's rule for Python scalars);
    # where's scalar is its second operand and takes the third's
    if A_SCALAR:
        x = tl.cast(x, y.dtype)
    if B_SCALAR:
        if NIN >= 3:
            y = tl.cast(y, z.dtype)
        else:
            y = tl.cast(y, x.dtype)
    r = _apply(x, y, z, p0, p1, OP)
    tl.store(out + offs, r.to(out.dtype.element_ty), mask=mask)


# --- layout -------------------------------------------------------------------------------
def _collapse(shape: tuple, strides: list) -> tuple[list, list]:
    """Drop size-1 dims and merge neighbours that every operand walks contiguously."""
    dims = [i for i, s in enumerate(shape) if s != 1]
    sizes = [shape[i] for i in dims]
    strs = [[st[i] for i in dims] for st in strides]
    i = len(sizes) - 2
    while i >= 0:
        if all(st[i] == st[i + 1] * sizes[i + 1] for st in strs):
            sizes[i] *= sizes[i + 1]
            del sizes[i + 1]
            for st in strs:  # the merged dim walks with the inner stride
                del st[i]
        i -= 1
    return sizes, strs


def _padded(sizes: list, strides: list) -> tuple:
    lead = RANK - len(sizes)
    return [1] * lead + sizes, [[0] * lead + st for st in strides]


def _check_float(op: str, t: torch.Tensor) -> None:
    if t.dtype not in FLOAT_TYPES:
        raise TypeError(f"{op}: expects a float32 or float64 tensor, got {t.dtype}")


def _result_dtype(operands) -> torch.dtype:
    """torch's promotion: tensors decide, Python floats make integer tensors float32."""
    tensors = [o for o in operands if isinstance(o, torch.Tensor)]
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype not in FLOAT_TYPES and any(isinstance(o, float) for o in operands):
        dtype = torch.float32
    if dtype == torch.bool and any(isinstance(o, int) and not isinstance(o, bool)
                                   for o in operands):
        dtype = torch.int64
    return dtype


def run(op: str, operands: list, out_dtype: torch.dtype | None = None,
        params: tuple = (0.0, 0.0), compute_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Launch ``op`` over ``operands`` (tensors or Python scalars; at most one scalar, and
    not the third operand). Tensor operands are first brought to ``compute_dtype`` (default:
    their promoted dtype) by the cast kernel, so the op kernel sees one input dtype."""
    compute = compute_dtype or _result_dtype(operands)
    if op == "where":
        compute = _result_dtype(operands[1:]) if any(
            isinstance(o, torch.Tensor) for o in operands[1:]) else torch.float32
    if compute in STORAGE_TYPES:  # compute in the opmath type, store in the storage type
        result = run(op, operands, STORAGE_TYPES.get(out_dtype, out_dtype), params,
                     STORAGE_TYPES[compute])
        return result if result.dtype == (out_dtype or compute) else \
            cast(result, out_dtype or compute)
    operands = [cast(o, compute) if isinstance(o, torch.Tensor) and o.dtype != compute
                and not (op == "where" and i == 0) else o for i, o in enumerate(operands)]
    tensors = [o for o in operands if isinstance(o, torch.Tensor)]
    shape = torch.broadcast_shapes(*(t.shape for t in tensors))
    out = torch.empty(shape, dtype=out_dtype or compute, device=tensors[0].device)
    return _launch(op, operands, out, params)


def _launch(op: str, operands: list, out: torch.Tensor, params: tuple) -> torch.Tensor:
    n = out.numel()
    if n == 0:
        return out
    shape = tuple(out.shape)
    scalars = [not isinstance(o, torch.Tensor) for o in operands]
    views = [o.expand(shape) if isinstance(o, torch.Tensor) else None for o in operands]
    contig = all(v is None or v.is_contiguous() for v in views)
    sizes, strides = [1] * RANK, [[0] * RANK for _ in operands]
    if not contig:
        tensor_strides = [list(v.stride()) for v in views if v is not None]
        sizes, collapsed = _collapse(shape, tensor_strides)
        if len(sizes) > RANK:  # rare: more than RANK non-mergeable dims, copy to contiguous
            views = [v if v is None else v.contiguous() for v in views]
            contig = True
            sizes, strides = [1] * RANK, [[0] * RANK for _ in operands]
        else:
            it = iter(collapsed)
            strides = [[0] * len(sizes) if v is None else next(it) for v in views]
            sizes, strides = _padded(sizes, strides)
    ptrs = [out if v is None else v for v in views] + [out] * (3 - len(views))
    svals = [float(o) if s else 0.0 for o, s in zip(operands, scalars)] + [0.0] * 3
    strides = strides + [[0] * RANK] * (3 - len(strides))
    flags = scalars + [False] * 3
    args = [out, *ptrs, svals[0], svals[1], float(params[0]), float(params[1]), n,
            *sizes[1:], *strides[0], *strides[1], *strides[2]]
    _common.launch(_elementwise, (_common.cdiv(n, BLOCK),), *args, OP=op, NIN=len(operands),
                   A_SCALAR=flags[0], B_SCALAR=flags[1], CONTIG=contig, BLOCK=BLOCK)
    return out


def cast(a: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Dtype conversion in a kernel (float -> int truncates, anything -> bool is != 0)."""
    dtype = _torch_dtype(dtype)
    out = torch.empty(a.shape, dtype=dtype, device=a.device)
    return _launch("to_bool" if dtype == torch.bool else "cast", [a], out, (0.0, 0.0))


def _torch_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if np.dtype(dtype) not in TORCH_DTYPES:
        raise TypeError(f"astype: the triton backend stores float16, float32, float64, uint8, "
                        f"int32, int64 and bool tensors, not {np.dtype(dtype)}")
    return TORCH_DTYPES[np.dtype(dtype)]


# --- the table entries --------------------------------------------------------------------
def _binary(op):
    def kernel(a, b):
        if op == "div" and _result_dtype([a, b]) not in FLOAT_TYPES:
            return run(op, [a, b], compute_dtype=torch.float32)
        return run(op, [a, b])
    kernel.__name__ = op
    return kernel


def _compare(op):
    def kernel(a, b):
        return run(op, [a, b], out_dtype=torch.bool)
    kernel.__name__ = op
    return kernel


def _unary(op, floats_only=True):
    def kernel(a):
        if floats_only:
            _check_float(op, a)
        return run(op, [a])
    kernel.__name__ = op
    return kernel


def pow_scalar(a, c):
    _check_float("pow_scalar", a)
    special = {2.0: "square", 3.0: "cube", 0.5: "sqrt", -0.5: "rsqrt", -1.0: "reciprocal",
               -2.0: "inv_square", 1.0: "cast"}
    return run(special.get(float(c), "pow_scalar"), [a], params=(float(c), 0.0))


def softplus(a, beta, threshold):
    _check_float("softplus", a)
    return run("softplus", [a], params=(float(beta), float(threshold)))


def clip(a, lo, hi):
    if lo is None and hi is None:
        return run("cast", [a])
    op = "clip" if lo is not None and hi is not None else ("clip_lo" if lo is not None
                                                            else "clip_hi")
    params = (0.0 if lo is None else float(lo), 0.0 if hi is None else float(hi))
    return run(op, [a], params=params)


def where(cond, a, b):
    if not isinstance(cond, torch.Tensor):
        raise TypeError("where: the condition must be a tensor")
    if cond.dtype != torch.bool:
        cond = cast(cond, torch.bool)
    if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
        raise TypeError("where: at least one of a and b must be a tensor")
    # the kernel's third operand cannot be a scalar: a scalar b becomes the second operand
    # of the swapped selection where(!cond) -- done by selecting with a negated condition
    if not isinstance(b, torch.Tensor):
        cond = run("eq", [cond, False], out_dtype=torch.bool)
        a, b = b, a
    return run("where", [cond, a, b])


def astype(a, dtype):
    dtype = _torch_dtype(dtype)
    return a.clone() if a.dtype == dtype else cast(a, dtype)


KERNELS = {
    "add": _binary("add"), "sub": _binary("sub"), "mul": _binary("mul"), "div": _binary("div"),
    "pow": _binary("pow"), "maximum": _binary("maximum"), "minimum": _binary("minimum"),
    "neg": _unary("neg", False), "abs": _unary("abs", False), "sign": _unary("sign", False),
    "exp": _unary("exp"), "log": _unary("log"), "sqrt": _unary("sqrt"),
    "tanh": _unary("tanh"), "sigmoid": _unary("sigmoid"),
    "pow_scalar": pow_scalar, "softplus": softplus, "clip": clip, "where": where,
    "eq": _compare("eq"), "ne": _compare("ne"), "lt": _compare("lt"), "le": _compare("le"),
    "gt": _compare("gt"), "ge": _compare("ge"), "logical_and": _compare("logical_and"),
    "astype": astype,
}


# --- every configuration the wrappers can launch ------------------------------------------
_BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
_COMPARE = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and")
_UNARY_FLOAT = ("exp", "log", "sqrt", "rsqrt", "reciprocal", "square", "cube", "inv_square",
                "pow_scalar", "tanh", "sigmoid", "softplus", "clip", "clip_lo", "clip_hi")
_UNARY_ANY = ("neg", "abs", "sign")


def _case(op, in_types, out_type, nin, a_scalar, b_scalar, contig):
    sig = {"out": _common.POINTER_TYPES[out_type]}
    dummy = _common.POINTER_TYPES[out_type]
    for i, name in enumerate("abc"):
        sig[name] = _common.POINTER_TYPES[in_types[i]] if i < len(in_types) and \
            in_types[i] is not None else dummy
    sig.update(sa="fp64", sb="fp64", p0="fp64", p1="fp64", n="i32", d1="i32", d2="i32",
               d3="i32")
    for p in "abc":
        for i in range(RANK):
            sig[f"{p}{i}"] = "i32"
    meta = dict(OP=op, NIN=nin, A_SCALAR=a_scalar, B_SCALAR=b_scalar, CONTIG=contig,
                BLOCK=BLOCK)
    sig.update({k: "constexpr" for k in meta})
    return _common.CompileCase(_elementwise, sig, meta)


def compile_cases() -> list:
    cases = []
    for contig in (True, False):
        for t in FLOAT_TYPES + INT_TYPES:
            for op in _BINARY:
                if t in INT_TYPES and op in ("div", "pow"):
                    continue
                for sa, sb in ((False, False), (True, False), (False, True)):
                    ins = [None if sa else t, None if sb else t]
                    cases.append(_case(op, ins, t, 2, sa, sb, contig))
            for op in _UNARY_ANY:
                cases.append(_case(op, [t], t, 1, False, False, contig))
        for t in ALL_TYPES:
            for op in _COMPARE:
                for sa, sb in ((False, False), (False, True)):
                    ins = [t, None if sb else t]
                    cases.append(_case(op, ins, torch.bool, 2, sa, sb, contig))
            for src in ALL_TYPES + tuple(STORAGE_TYPES):
                op = "to_bool" if t == torch.bool else "cast"
                cases.append(_case(op, [src], t, 1, False, False, contig))
            if t != torch.bool:
                for sb in (False, True):
                    ins = [torch.bool, None if sb else t, t]
                    cases.append(_case("where", ins, t, 3, False, sb, contig))
        for t in STORAGE_TYPES:  # casts into the storage-only types
            for src in ALL_TYPES + tuple(STORAGE_TYPES):
                cases.append(_case("cast", [src], t, 1, False, False, contig))
        for t in FLOAT_TYPES:
            for op in _UNARY_FLOAT:
                cases.append(_case(op, [t], t, 1, False, False, contig))
    return cases

