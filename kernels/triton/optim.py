"""Optimizer updates (SGD, Adam/AdamW, RMSprop): one multi-tensor launch per parameter group.

Every parameter of a group is updated by ONE kernel launch, as apex's multi_tensor_apply and
torch's fused Adam do. The launch takes pointer tables: an int64 tensor per state field (param,
exp_avg, ...) holding each tensor's ``data_ptr()``, loaded in the kernel and cast to a typed
pointer. Programs map to (tensor, chunk) pairs through a small ``prog`` table (tensor index,
chunk index per program) and ``sizes`` (elements per tensor); program ``i`` updates
``BLOCK`` elements of one tensor, so tensors of any sizes share a launch and no chunk spans
two tensors. Updates land in each tensor's own storage.

Metadata is built on the host once and copied to the device in one transfer, then cached
(LRU), keyed by the data_ptrs and sizes: a training loop re-finds it with a dict lookup. The
gradients' pointer table has its own cache keyed by their data_ptrs (a new gradient array
every step usually reuses the caching allocator's addresses, so it hits as well).

Every tensor the kernel touches is contiguous and 16-byte aligned (the wrappers ensure it:
gradients that are not are copied, parameters and state that are not are updated through a
temporary that is copied back), so the kernel declares the pointers 16-byte aligned and a
full chunk moves in 128-bit vector loads and stores; only a tensor's last, partial chunk
takes the masked path.

Precision follows torch's single-tensor updates (torch/optim/{sgd,adam,rmsprop}.py, see
kernels/numpy/optim.py) operation for operation. Hyper-parameters reach the kernel as float64
(``lr: tl.float64``); values torch derives from them in Python (``1 - beta1``, the bias
corrections, ``1 - lr * weight_decay``) are derived in Python doubles here too, and each is
rounded to the tensor's dtype in the kernel where torch rounds it. float32 division and
square root are IEEE round-to-nearest (``div_rn``, ``sqrt_rn``), not the GPU's approximate
defaults. Parameters with different step counts (Adam's bias correction) are launched per
distinct step; parameters of different dtypes per dtype.
"""

from collections import OrderedDict

import torch
import triton
import triton.language as tl
from minigan.kernels.triton import _common
from minigan.kernels.triton._common import div_rn as _div
from minigan.kernels.triton._common import sqrt_rn as _sqrt

# Elements per program: 16 per thread at the default 4 warps (four 128-bit vectors of float32
# or eight of float64 per field).
BLOCKS = {torch.float32: 2048, torch.float64: 1024}
ALIGN = 16  # bytes: every pointer in a table is a multiple of this
_CACHE_SIZE = 64


# --- device helpers ----------------------------------------------------------------------

@triton.jit
def _ptr(table, t, FP64: tl.constexpr):
    """Tensor t's data pointer from an int64 pointer table, typed and declared aligned."""
    addr = tl.load(table + t)
    if FP64:
        p = addr.to(tl.pointer_type(tl.float64))
    else:
        p = addr.to(tl.pointer_type(tl.float32))
    return tl.multiple_of(p, 16)


@triton.jit
def _s(x, FP64: tl.constexpr):
    """A float64 hyper-parameter rounded to the tensors' dtype (torch's scalar cast)."""
    x = tl.full((), x, tl.float64)  # a Python float under the interpreter, fp64 compiled
    if not FP64:
        x = x.to(tl.float32)
    return x


@triton.jit
def _ld(ptr, offs, rem, MASKED: tl.constexpr):
    if MASKED:
        return tl.load(ptr + offs, mask=offs < rem, other=0.0)
    else:
        return tl.load(ptr + offs)


@triton.jit
def _st(ptr, offs, rem, value, MASKED: tl.constexpr):
    if MASKED:
        tl.store(ptr + offs, value, mask=offs < rem)
    else:
        tl.store(ptr + offs, value)


@triton.jit
def _lerp(a, end, w):
    """torch's lerp a + w (end - a), with its second formula end - (end - a)(1 - w) for
    |w| >= 0.5 (exact at w = 1); w is a scalar of a's dtype."""
    diff = end - a
    return tl.where(tl.abs(w) < 0.5, a + w * diff, end - diff * (1.0 - w))


@triton.jit
def _locate(prog, sizes, BLOCK: tl.constexpr):
    """(tensor index, first element, elements left in the tensor) of this program."""
    pid = tl.program_id(0)
    t = tl.load(prog + 2 * pid)
    start = tl.load(prog + 2 * pid + 1) * BLOCK
    rem = tl.load(sizes + t) - start
    return t, start, rem


# --- SGD -----------------------------------------------------------------------------------

@triton.jit
def _sgd_block(p_ptr, g_ptr, b_ptr, fresh, offs, rem, neg_lr, weight_decay, momentum,
               one_minus_dampening, FP64: tl.constexpr, MOMENTUM: tl.constexpr,
               NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr, WD: tl.constexpr,
               MASKED: tl.constexpr):
    p = _ld(p_ptr, offs, rem, MASKED)
    g = _ld(g_ptr, offs, rem, MASKED)
    if MAXIMIZE:
        g = -g
    if WD:
        g = g + _s(weight_decay, FP64) * p
    if MOMENTUM:
        mom = _s(momentum, FP64)
        b = _ld(b_ptr, offs, rem, MASKED)
        # a fresh buffer (the parameter's first momentum step) is the gradient, undamped
        b = tl.where(fresh, g, b * mom + _s(one_minus_dampening, FP64) * g)
        _st(b_ptr, offs, rem, b, MASKED)
        if NESTEROV:
            g = g + mom * b
        else:
            g = b
    p = p + _s(neg_lr, FP64) * g
    _st(p_ptr, offs, rem, p, MASKED)


@triton.jit
def _sgd_kernel(prog, sizes, flags, p_tab, g_tab, b_tab, neg_lr: tl.float64,
                weight_decay: tl.float64, momentum: tl.float64,
                one_minus_dampening: tl.float64, FP64: tl.constexpr, MOMENTUM: tl.constexpr,
                NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr, WD: tl.constexpr,
                BLOCK: tl.constexpr):
    t, start, rem = _locate(prog, sizes, BLOCK)
    p_ptr = _ptr(p_tab, t, FP64) + start
    g_ptr = _ptr(g_tab, t, FP64) + start
    b_ptr = p_ptr
    fresh = False
    if MOMENTUM:
        b_ptr = _ptr(b_tab, t, FP64) + start
        fresh = tl.load(flags + t) != 0
    offs = tl.arange(0, BLOCK)
    if rem >= BLOCK:
        _sgd_block(p_ptr, g_ptr, b_ptr, fresh, offs, rem, neg_lr, weight_decay, momentum,
                   one_minus_dampening, FP64, MOMENTUM, NESTEROV, MAXIMIZE, WD, False)
    else:
        _sgd_block(p_ptr, g_ptr, b_ptr, fresh, offs, rem, neg_lr, weight_decay, momentum,
                   one_minus_dampening, FP64, MOMENTUM, NESTEROV, MAXIMIZE, WD, True)


# --- Adam / AdamW ----------------------------------------------------------------------------

@triton.jit
def _adam_block(p_ptr, g_ptr, m_ptr, v_ptr, vmax_ptr, offs, rem, decay, weight_decay,
                one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bc2_sqrt, eps,
                FP64: tl.constexpr, AMSGRAD: tl.constexpr, MAXIMIZE: tl.constexpr,
                WD: tl.constexpr, MASKED: tl.constexpr):
    p = _ld(p_ptr, offs, rem, MASKED)
    g = _ld(g_ptr, offs, rem, MASKED)
    m = _ld(m_ptr, offs, rem, MASKED)
    v = _ld(v_ptr, offs, rem, MASKED)
    if MAXIMIZE:
        g = -g
    if WD == 2:  # AdamW: decay the weights, not the gradient
        p = p * _s(decay, FP64)
    if WD == 1:
        g = g + _s(weight_decay, FP64) * p
    m = _lerp(m, g, _s(one_minus_beta1, FP64))
    v = v * _s(beta2, FP64) + (_s(one_minus_beta2, FP64) * g) * g  # torch's addcmul order
    second = v
    if AMSGRAD:
        vmax = tl.maximum(_ld(vmax_ptr, offs, rem, MASKED), v,
                          propagate_nan=tl.PropagateNan.ALL)
        _st(vmax_ptr, offs, rem, vmax, MASKED)
        second = vmax
    denom = _div(_sqrt(second), _s(bc2_sqrt, FP64)) + _s(eps, FP64)
    p = p + _div(m * _s(neg_step_size, FP64), denom)  # addcdiv: (value * t1) / t2
    _st(p_ptr, offs, rem, p, MASKED)
    _st(m_ptr, offs, rem, m, MASKED)
    _st(v_ptr, offs, rem, v, MASKED)


@triton.jit
def _adam_kernel(prog, sizes, p_tab, g_tab, m_tab, v_tab, vmax_tab, decay: tl.float64,
                 weight_decay: tl.float64, one_minus_beta1: tl.float64, beta2: tl.float64,
                 one_minus_beta2: tl.float64, neg_step_size: tl.float64,
                 bc2_sqrt: tl.float64, eps: tl.float64, FP64: tl.constexpr,
                 AMSGRAD: tl.constexpr, MAXIMIZE: tl.constexpr, WD: tl.constexpr,
                 BLOCK: tl.constexpr):
    t, start, rem = _locate(prog, sizes, BLOCK)
    p_ptr = _ptr(p_tab, t, FP64) + start
    g_ptr = _ptr(g_tab, t, FP64) + start
    m_ptr = _ptr(m_tab, t, FP64) + start
    v_ptr = _ptr(v_tab, t, FP64) + start
    vmax_ptr = v_ptr
    if AMSGRAD:
        vmax_ptr = _ptr(vmax_tab, t, FP64) + start
    offs = tl.arange(0, BLOCK)
    if rem >= BLOCK:
        _adam_block(p_ptr, g_ptr, m_ptr, v_ptr, vmax_ptr, offs, rem, decay, weight_decay,
                    one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bc2_sqrt, eps,
                    FP64, AMSGRAD, MAXIMIZE, WD, False)
    else:
        _adam_block(p_ptr, g_ptr, m_ptr, v_ptr, vmax_ptr, offs, rem, decay, weight_decay,
                    one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bc2_sqrt, eps,
                    FP64, AMSGRAD, MAXIMIZE, WD, True)


# --- RMSprop -------------------------------------------------------------------------------

@triton.jit
def _rmsprop_block(p_ptr, g_ptr, sq_ptr, ga_ptr, b_ptr, offs, rem, neg_lr, alpha,
                   one_minus_alpha, eps, weight_decay, momentum, FP64: tl.constexpr,
                   CENTERED: tl.constexpr, MOMENTUM: tl.constexpr, MAXIMIZE: tl.constexpr,
                   WD: tl.constexpr, MASKED: tl.constexpr):
    p = _ld(p_ptr, offs, rem, MASKED)
    g = _ld(g_ptr, offs, rem, MASKED)
    sq = _ld(sq_ptr, offs, rem, MASKED)
    if MAXIMIZE:
        g = -g
    if WD:
        g = g + _s(weight_decay, FP64) * p
    w = _s(one_minus_alpha, FP64)
    sq = sq * _s(alpha, FP64) + (w * g) * g
    _st(sq_ptr, offs, rem, sq, MASKED)
    if CENTERED:  # the variance estimate E[g^2] - E[g]^2
        ga = _lerp(_ld(ga_ptr, offs, rem, MASKED), g, w)
        _st(ga_ptr, offs, rem, ga, MASKED)
        avg = _sqrt(sq - ga * ga)
    else:
        avg = _sqrt(sq)
    avg = avg + _s(eps, FP64)
    if MOMENTUM:
        b = _ld(b_ptr, offs, rem, MASKED) * _s(momentum, FP64) + _div(g, avg)
        _st(b_ptr, offs, rem, b, MASKED)
        p = p + _s(neg_lr, FP64) * b
    else:
        p = p + _div(_s(neg_lr, FP64) * g, avg)
    _st(p_ptr, offs, rem, p, MASKED)


@triton.jit
def _rmsprop_kernel(prog, sizes, p_tab, g_tab, sq_tab, ga_tab, b_tab, neg_lr: tl.float64,
                    alpha: tl.float64, one_minus_alpha: tl.float64, eps: tl.float64,
                    weight_decay: tl.float64, momentum: tl.float64, FP64: tl.constexpr,
                    CENTERED: tl.constexpr, MOMENTUM: tl.constexpr, MAXIMIZE: tl.constexpr,
                    WD: tl.constexpr, BLOCK: tl.constexpr):
    t, start, rem = _locate(prog, sizes, BLOCK)
    p_ptr = _ptr(p_tab, t, FP64) + start
    g_ptr = _ptr(g_tab, t, FP64) + start
    sq_ptr = _ptr(sq_tab, t, FP64) + start
    ga_ptr = sq_ptr
    b_ptr = sq_ptr
    if CENTERED:
        ga_ptr = _ptr(ga_tab, t, FP64) + start
    if MOMENTUM:
        b_ptr = _ptr(b_tab, t, FP64) + start
    offs = tl.arange(0, BLOCK)
    if rem >= BLOCK:
        _rmsprop_block(p_ptr, g_ptr, sq_ptr, ga_ptr, b_ptr, offs, rem, neg_lr, alpha,
                       one_minus_alpha, eps, weight_decay, momentum, FP64, CENTERED, MOMENTUM,
                       MAXIMIZE, WD, False)
    else:
        _rmsprop_block(p_ptr, g_ptr, sq_ptr, ga_ptr, b_ptr, offs, rem, neg_lr, alpha,
                       one_minus_alpha, eps, weight_decay, momentum, FP64, CENTERED, MOMENTUM,
                       MAXIMIZE, WD, True)


# --- host side: tensors, metadata, launch ----------------------------------------------------

_META: "OrderedDict[tuple, tuple]" = OrderedDict()  # static tables + sizes + flags + prog
_GRADS: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()  # gradient pointer tables


def _lru(cache: OrderedDict, key: tuple, build):
    value = cache.get(key)
    if value is None:
        value = cache[key] = build()
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return value


def _ready(x: torch.Tensor) -> bool:
    return x.is_contiguous() and x.data_ptr() % ALIGN == 0


def _readable(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The gradient itself, or a contiguous, aligned copy (broadcast or strided views,
    unaligned offsets)."""
    if g.dtype != like.dtype:
        raise TypeError(f"optimizer step: a {like.dtype} parameter has a {g.dtype} gradient")
    if _ready(g):
        return g
    return torch.empty(like.shape, dtype=like.dtype, device=like.device).copy_(g)


def _writable(x: torch.Tensor, write_back: list) -> torch.Tensor:
    """x itself, or (rarely: a strided or unaligned view) a contiguous temporary that is
    copied back into x after the launch."""
    if _ready(x):
        return x
    tmp = torch.empty(x.shape, dtype=x.dtype, device=x.device).copy_(x)
    write_back.append((x, tmp))
    return tmp


def _prepare(fields: list, grads: list, index: list) -> tuple:
    """The group's tensors ready for a launch: (writable fields per tensor, gradients,
    write-backs). ``fields`` are lists (param first, then state) over all parameters;
    ``index`` the parameters of this launch (non-empty ones only)."""
    write_back = []
    ready_fields = [[_writable(f[i], write_back) for i in index] for f in fields]
    ready_grads = [_readable(grads[i], fields[0][i]) for i in index]
    return ready_fields, ready_grads, write_back


def _tables(fields: list, grads: list, flags: list, block: int) -> tuple:
    """Device metadata: (prog, sizes, flags, field tables..., grad table, programs)."""
    device = fields[0][0].device
    sizes = tuple(t.numel() for t in fields[0])
    static = tuple(tuple(t.data_ptr() for t in f) for f in fields)

    def build():
        prog = []
        for t, n in enumerate(sizes):
            for c in range(_common.cdiv(n, block)):
                prog += (t, c)
        host = [a for row in static for a in row] + list(sizes) + list(flags) + prog
        buf = torch.tensor(host, dtype=torch.int64, device=device)  # one host->device copy
        n, views, at = len(sizes), [], 0
        for _ in range(len(static) + 2):  # field tables, sizes, flags
            views.append(buf[at:at + n])
            at += n
        return (buf[at:], *views), len(prog) // 2

    (prog, *rest), programs = _lru(_META, (device, block, static, sizes, tuple(flags)), build)
    tabs, sizes_dev, flags_dev = rest[:-2], rest[-2], rest[-1]
    gkey = (device, tuple(g.data_ptr() for g in grads))
    gtab = _lru(_GRADS, gkey, lambda: torch.tensor(gkey[1], dtype=torch.int64, device=device))
    return prog, sizes_dev, flags_dev, list(tabs), gtab, programs


def _groups(params: list, extra_keys=None) -> list:
    """Indices of the non-empty parameters, split by dtype (and an extra per-parameter key:
    Adam's step count), in order of first appearance."""
    out: dict = {}
    for i, p in enumerate(params):
        if p.dtype not in BLOCKS:
            raise TypeError(f"optimizer step: the triton backend updates float32 and float64 "
                            f"parameters, not {p.dtype}")
        if p.numel() == 0:
            continue
        key = (p.dtype, None if extra_keys is None else extra_keys[i])
        out.setdefault(key, []).append(i)
    return list(out.items())


def _run(kernel, fields: list, grads: list, index: list, flags: list, scalars: tuple,
         with_flags: bool = False, **constexprs) -> None:
    """Launch ``kernel`` over the parameters ``index``: fields[0] are the parameters; a
    missing field (None) is passed as a dummy table the kernel never reads."""
    dtype = fields[0][index[0]].dtype
    block = BLOCKS[dtype]
    present = [f for f in fields if f is not None]
    ready, ready_grads, write_back = _prepare(present, grads, index)
    prog, sizes, flags_dev, tabs, gtab, programs = _tables(ready, ready_grads, flags, block)
    it = iter(tabs)
    field_tabs = [next(it) if f is not None else sizes for f in fields]
    head = (prog, sizes, flags_dev) if with_flags else (prog, sizes)
    args = (*head, field_tabs[0], gtab, *field_tabs[1:], *scalars)
    _common.launch(kernel, (programs,), *args, FP64=dtype == torch.float64, BLOCK=block,
                   **constexprs)
    for x, tmp in write_back:
        x.copy_(tmp)


# --- the kernel-table entries -------------------------------------------------------------

def sgd_step(params: list, grads: list, momentum_buffers: list, fresh: list, *, lr: float,
             momentum: float, dampening: float, weight_decay: float, nesterov: bool,
             maximize: bool) -> None:
    """SGD with momentum/dampening/Nesterov and L2 weight decay, in place on params and
    momentum_buffers (entries unused when momentum == 0); ``fresh[i]``: buffer i is new and
    is set to the gradient. One launch per dtype (normally one)."""
    use_momentum = momentum != 0
    scalars = (-lr, weight_decay, momentum, 1 - dampening)
    for _, index in _groups(params):
        flags = [int(bool(fresh[i])) if use_momentum else 0 for i in index]
        _run(_sgd_kernel, [params, momentum_buffers if use_momentum else None], grads, index,
             flags, scalars, with_flags=True, MOMENTUM=use_momentum,
             NESTEROV=bool(nesterov) and use_momentum, MAXIMIZE=bool(maximize),
             WD=weight_decay != 0)


def adam_step(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list,
              max_exp_avg_sqs: list, steps: list, *, lr: float, beta1: float, beta2: float,
              eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
              decoupled_weight_decay: bool) -> None:
    """Adam (AdamW with decoupled_weight_decay), optionally AMSGrad, in place on params and
    the moments. ``steps[i]``: parameter i's step count including this update. One launch
    per distinct step count (normally one)."""
    wd_mode = 0 if weight_decay == 0 else (2 if decoupled_weight_decay else 1)
    fields = [params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs if amsgrad else None]
    for (_, step), index in _groups(params, steps):
        # torch's Python-double scalars (torch/optim/adam.py, _single_tensor_adam)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        scalars = (1 - lr * weight_decay, weight_decay, 1 - beta1, beta2, 1 - beta2,
                   -step_size, bias_correction2 ** 0.5, eps)
        _run(_adam_kernel, fields, grads, index, [0] * len(index), scalars,
             AMSGRAD=bool(amsgrad), MAXIMIZE=bool(maximize), WD=wd_mode)


def rmsprop_step(params: list, grads: list, square_avgs: list, grad_avgs: list,
                 momentum_buffers: list, *, lr: float, alpha: float, eps: float,
                 weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    """RMSprop (optionally centered, with momentum) in place on params and state; grad_avgs
    are unused unless centered, momentum_buffers unless momentum > 0."""
    use_momentum = momentum > 0
    fields = [params, square_avgs, grad_avgs if centered else None,
              momentum_buffers if use_momentum else None]
    scalars = (-lr, alpha, 1 - alpha, eps, weight_decay, momentum)
    for _, index in _groups(params):
        _run(_rmsprop_kernel, fields, grads, index, [0] * len(index), scalars,
             CENTERED=bool(centered), MOMENTUM=use_momentum, MAXIMIZE=bool(maximize),
             WD=weight_decay != 0)


KERNELS = {"sgd_step": sgd_step, "adam_step": adam_step, "rmsprop_step": rmsprop_step}


def _case(kernel, **constexprs) -> _common.CompileCase:
    """Every runtime argument is an int64 table or an annotated float64 scalar."""
    annotated = _common._annotations(kernel)
    sig = {name: "constexpr" if name in constexprs else annotated.get(name, "*i64")
           for name in kernel.arg_names}
    return _common.CompileCase(kernel, sig, constexprs)


def compile_cases() -> list:
    cases = []
    for dtype, block in BLOCKS.items():
        common = dict(FP64=dtype == torch.float64, BLOCK=block)
        for maximize in (False, True):
            for wd in (False, True):
                for mom, nesterov in ((False, False), (True, False), (True, True)):
                    cases.append(_case(_sgd_kernel, MOMENTUM=mom, NESTEROV=nesterov,
                                       MAXIMIZE=maximize, WD=wd, **common))
                for centered in (False, True):
                    for mom in (False, True):
                        cases.append(_case(_rmsprop_kernel, CENTERED=centered, MOMENTUM=mom,
                                           MAXIMIZE=maximize, WD=wd, **common))
            for amsgrad in (False, True):
                for wd_mode in (0, 1, 2):
                    cases.append(_case(_adam_kernel, AMSGRAD=amsgrad, MAXIMIZE=maximize,
                                       WD=wd_mode, **common))
    return cases
