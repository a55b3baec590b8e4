"""Optimizer updates (SGD, Adam/AdamW, RMSprop): the CUDA extension's multi-tensor kernels,
one launch per parameter dtype (normally one), taking lists of device pointers.

The arithmetic is torch's single-tensor order (kernels/include/minigan/optim.h). Every array
the kernel touches is contiguous and 16-byte aligned: gradients that are not (broadcast or
strided views, another dtype) are copied; parameters and state that are not (rare) are updated
through a temporary copied back afterwards, so each update lands in the array's own storage.
"""

from __future__ import annotations

from minigan.kernels.cupy import _common
from minigan.kernels.cupy._common import cupy, ptr, stream

ALIGN = 16


def _aligned(a) -> bool:
    return a.flags.c_contiguous and a.data.ptr % ALIGN == 0


def _readable(g, like):
    """The gradient as a contiguous, aligned array of the parameter's shape and dtype."""
    if g.dtype == like.dtype and g.shape == like.shape and _aligned(g):
        return g
    return cupy.ascontiguousarray(cupy.broadcast_to(g, like.shape), dtype=like.dtype)


class _Fields:
    """Writable pointers of one launch's state arrays, and their write-backs."""

    def __init__(self):
        self.write_back = []

    def pointers(self, arrays: list | None, index: list) -> list:
        if arrays is None:
            return [0] * len(index)
        out = []
        for i in index:
            a = arrays[i]
            if a is not None and not _aligned(a):
                tmp = a.copy()  # C order, a fresh (aligned) allocation
                self.write_back.append((a, tmp))
                a = tmp
            out.append(ptr(a))
        return out

    def finish(self) -> None:
        for a, tmp in self.write_back:
            a[...] = tmp


def _groups(params: list) -> list:
    """Indices of the non-empty parameters, by dtype, in order of first appearance."""
    out: dict = {}
    for i, p in enumerate(params):
        _common.check_float("optimizer step", p)
        if p.size:
            out.setdefault(p.dtype, []).append(i)
    return list(out.items())


def sgd_step(params: list, grads: list, momentum_buffers: list, fresh: list, *, lr: float,
             momentum: float, dampening: float, weight_decay: float, nesterov: bool,
             maximize: bool) -> None:
    """SGD with momentum/dampening/Nesterov and L2 weight decay, in place on params and
    momentum_buffers (unused when momentum == 0); ``fresh[i]``: buffer i is new and is set to
    the gradient, as torch's first momentum step."""
    use_momentum = momentum != 0
    for dtype, index in _groups(params):
        fields = _Fields()
        p = fields.pointers(params, index)
        ready_grads = [_readable(grads[i], params[i]) for i in index]
        bufs = fields.pointers(momentum_buffers if use_momentum else None, index)
        flags = [bool(fresh[i]) if use_momentum else False for i in index]
        sizes = [int(params[i].size) for i in index]
        _common.ext().sgd_step(p, [x.data.ptr for x in ready_grads], bufs, flags, sizes,
                               float(lr), float(momentum), float(dampening),
                               float(weight_decay), bool(nesterov), bool(maximize),
                               _common.dtype_name(dtype), stream())
        fields.finish()


def adam_step(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list,
              max_exp_avg_sqs: list, steps: list, *, lr: float, beta1: float, beta2: float,
              eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
              decoupled_weight_decay: bool) -> None:
    """Adam (AdamW with decoupled_weight_decay), optionally AMSGrad, in place; ``steps[i]``
    is parameter i's step count including this update (bias corrections per tensor)."""
    for dtype, index in _groups(params):
        fields = _Fields()
        p = fields.pointers(params, index)
        ready_grads = [_readable(grads[i], params[i]) for i in index]
        m = fields.pointers(exp_avgs, index)
        v = fields.pointers(exp_avg_sqs, index)
        vmax = fields.pointers(max_exp_avg_sqs if amsgrad else None, index)
        sizes = [int(params[i].size) for i in index]
        _common.ext().adam_step(p, [x.data.ptr for x in ready_grads], m, v, vmax, sizes,
                                [int(steps[i]) for i in index], float(lr), float(beta1),
                                float(beta2), float(eps), float(weight_decay), bool(amsgrad),
                                bool(maximize), bool(decoupled_weight_decay),
                                _common.dtype_name(dtype), stream())
        fields.finish()


def rmsprop_step(params: list, grads: list, square_avgs: list, grad_avgs: list,
                 momentum_buffers: list, *, lr: float, alpha: float, eps: float,
                 weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    """RMSprop (optionally centered, with momentum) in place; grad_avgs are unused unless
    centered, momentum_buffers unless momentum > 0."""
    for dtype, index in _groups(params):
        fields = _Fields()
        p = fields.pointers(params, index)
        ready_grads = [_readable(grads[i], params[i]) for i in index]
        sq = fields.pointers(square_avgs, index)
        ga = fields.pointers(grad_avgs if centered else None, index)
        bufs = fields.pointers(momentum_buffers if momentum > 0 else None, index)
        sizes = [int(params[i].size) for i in index]
        _common.ext().rmsprop_step(p, [x.data.ptr for x in ready_grads], sq, ga, bufs, sizes,
                                   float(lr), float(alpha), float(eps), float(weight_decay),
                                   float(momentum), bool(centered), bool(maximize),
                                   _common.dtype_name(dtype), stream())
        fields.finish()


KERNELS = {"sgd_step": sgd_step, "adam_step": adam_step, "rmsprop_step": rmsprop_step}
