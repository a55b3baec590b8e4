"""Optimizer update kernels on numpy: SGD, Adam/AdamW, RMSprop, in place on a list of tensors.

Each kernel takes lists (one entry per parameter of a group) so a GPU backend can update every
tensor in one multi-tensor launch; here it is a loop. The arithmetic is torch's single-tensor
update (torch/optim/{sgd,adam,rmsprop}.py) operation for operation: the same formulas in the
same order, scalars rounded to the array's dtype where torch rounds them, and Python-double
bias corrections. float64 trajectories therefore match torch to rounding. float32 differs by
about an ulp per operation: torch's vectorized CPU loops fuse multiply-adds (one rounding where
numpy rounds twice) and its float32 sqrt is not correctly rounded.

Gradients are read, never written (they may be read-only broadcast views). Parameters and
state arrays are updated in place, so Tensors holding them see the new values.

With the compiled extension (csrc/cpu/multi_tensor.cpp) each step is one call for all the
tensors, the same per-element operations in one pass over each element (the numpy loop makes
about ten), when every array is float32 or float64 of one dtype and every array written is
C-contiguous; the numpy loop runs otherwise. Adam and RMSprop take that path only where the
extension's loops are vectorized (``OPTIMIZERS_VECTORIZED``: built with -fno-math-errno, see
csrc/cpu/multi_tensor.cpp); scalar, they are slower than numpy's vectorized passes.
"""

from __future__ import annotations

import numpy as np
from minigan.kernels import compiled


def _compiled_grads(written: list, grads: list, sqrt: bool = False) -> list | None:
    """The gradients as C-contiguous arrays when the extension can run this step: every array
    in ``written`` (None entries are unused state) a writeable C-contiguous float32/float64
    array of one dtype, every gradient of that dtype; with ``sqrt`` (Adam, RMSprop), the
    extension's loops vectorized. None otherwise."""
    if compiled.CPU is None or not written:
        return None
    if sqrt and not getattr(compiled.CPU, "OPTIMIZERS_VECTORIZED", False):
        return None
    dtype = written[0].dtype
    if dtype not in (np.float32, np.float64):
        return None
    for a in written:
        if a is not None and (not isinstance(a, np.ndarray) or a.dtype != dtype
                              or not a.flags.c_contiguous or not a.flags.writeable):
            return None
    if any(not isinstance(g, np.ndarray) or g.dtype != dtype for g in grads):
        return None
    return [np.ascontiguousarray(g) for g in grads]


def _lerp_(a: np.ndarray, end: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """a <- a + weight * (end - a), with torch's second formula for weight >= 0.5, which is
    exact at weight 1 (Adam with beta1 = 0 keeps exp_avg == grad). ``scratch``: an array
    of a's shape to overwrite."""
    w = a.dtype.type(weight)
    diff = np.subtract(end, a, out=scratch)
    if abs(w) < 0.5:
        diff *= w
        a += diff
    else:
        diff *= a.dtype.type(1) - w
        np.subtract(end, diff, out=a)


def _effective_grad(param, grad, weight_decay: float, maximize: bool) -> np.ndarray:
    """-grad when maximizing, plus L2 weight decay (grad + weight_decay * param). A new array
    whenever it differs from ``grad``, which stays untouched."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + param.dtype.type(weight_decay) * param
    return grad


def _sgd_one(param, grad, buf, fresh, lr, momentum, dampening, weight_decay, nesterov,
             maximize) -> None:
    s = param.dtype.type
    grad = _effective_grad(param, grad, weight_decay, maximize)
    if momentum != 0:
        if fresh:  # torch's first momentum step: the buffer is the gradient, undamped
            np.copyto(buf, grad)
        else:
            buf *= s(momentum)
            buf += s(1 - dampening) * grad
        grad = grad + s(momentum) * buf if nesterov else buf
    param += s(-lr) * grad


def sgd_step(params: list, grads: list, momentum_buffers: list, fresh: list, *, lr: float,
             momentum: float, dampening: float, weight_decay: float, nesterov: bool,
             maximize: bool) -> None:
    """SGD with momentum/dampening/Nesterov and L2 weight decay, in place on params and
    momentum_buffers (entries unused when momentum == 0). ``fresh[i]``: buffer i is new and
    is set to the gradient, as torch does on a parameter's first momentum step."""
    contiguous = _compiled_grads([*params, *(momentum_buffers if momentum != 0 else [])],
                                 grads)
    if contiguous is not None:
        compiled.CPU.sgd_step(params, contiguous,
                              momentum_buffers if momentum != 0 else [None] * len(params),
                              [bool(f) for f in fresh], lr, momentum, dampening, weight_decay,
                              nesterov, maximize)
        return
    for param, grad, buf, new in zip(params, grads, momentum_buffers, fresh):
        _sgd_one(param, grad, buf, new, lr, momentum, dampening, weight_decay, nesterov,
                 maximize)


def _adam_one(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, amsgrad, maximize, decoupled_weight_decay) -> None:
    s = param.dtype.type
    if decoupled_weight_decay and weight_decay != 0:  # AdamW: decay the weights, not the grad
        param *= s(1 - lr * weight_decay)
        weight_decay = 0
    grad = _effective_grad(param, grad, weight_decay, maximize)
    # One scratch array serves every temporary (fewer large allocations: ~25% faster).
    scratch = np.empty_like(param)
    _lerp_(exp_avg, grad, 1 - beta1, scratch)
    exp_avg_sq *= s(beta2)
    np.multiply(grad, s(1 - beta2), out=scratch)  # torch's addcmul: (value * t1) * t2
    scratch *= grad
    exp_avg_sq += scratch
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr / bias_correction1
    second = exp_avg_sq
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    denom = np.sqrt(second)
    denom /= s(bias_correction2 ** 0.5)
    denom += s(eps)
    update = np.multiply(exp_avg, s(-step_size), out=scratch)  # addcdiv: (value * t1) / t2
    update /= denom
    param += update


def adam_step(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list,
              max_exp_avg_sqs: list, steps: list, *, lr: float, beta1: float, beta2: float,
              eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
              decoupled_weight_decay: bool) -> None:
    """Adam (AdamW with decoupled_weight_decay), optionally AMSGrad, in place on params and
    the moment arrays. ``steps[i]`` is parameter i's step count including this update (1 on
    the first); max_exp_avg_sqs entries are unused unless amsgrad."""
    maxes = max_exp_avg_sqs if amsgrad else [None] * len(params)
    contiguous = _compiled_grads([*params, *exp_avgs, *exp_avg_sqs, *maxes], grads, sqrt=True)
    if contiguous is not None:
        compiled.CPU.adam_step(params, contiguous, exp_avgs, exp_avg_sqs, maxes, steps, lr,
                               beta1, beta2, eps, weight_decay, amsgrad, maximize,
                               decoupled_weight_decay)
        return
    for i, param in enumerate(params):
        _adam_one(param, grads[i], exp_avgs[i], exp_avg_sqs[i], max_exp_avg_sqs[i], steps[i],
                  lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                  decoupled_weight_decay)


def _rmsprop_one(param, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay,
                 momentum, centered, maximize) -> None:
    s = param.dtype.type
    grad = _effective_grad(param, grad, weight_decay, maximize)
    square_avg *= s(alpha)
    square_avg += s(1 - alpha) * grad * grad
    if centered:  # the variance estimate E[g^2] - E[g]^2 instead of the raw second moment
        _lerp_(grad_avg, grad, 1 - alpha, np.empty_like(param))
        avg = square_avg - grad_avg * grad_avg
        np.sqrt(avg, out=avg)
    else:
        avg = np.sqrt(square_avg)
    avg += s(eps)
    if momentum > 0:
        buf *= s(momentum)
        buf += grad / avg
        param += s(-lr) * buf
    else:
        param += s(-lr) * grad / avg


def rmsprop_step(params: list, grads: list, square_avgs: list, grad_avgs: list,
                 momentum_buffers: list, *, lr: float, alpha: float, eps: float,
                 weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    """RMSprop (optionally centered, with momentum) in place on params and state arrays;
    grad_avgs entries are unused unless centered, momentum_buffers unless momentum > 0."""
    averages = grad_avgs if centered else [None] * len(params)
    buffers = momentum_buffers if momentum > 0 else [None] * len(params)
    contiguous = _compiled_grads([*params, *square_avgs, *averages, *buffers], grads,
                                 sqrt=True)
    if contiguous is not None:
        compiled.CPU.rmsprop_step(params, contiguous, square_avgs, averages, buffers, lr,
                                  alpha, eps, weight_decay, momentum, centered, maximize)
        return
    for i, param in enumerate(params):
        _rmsprop_one(param, grads[i], square_avgs[i], grad_avgs[i], momentum_buffers[i], lr,
                     alpha, eps, weight_decay, momentum, centered, maximize)
