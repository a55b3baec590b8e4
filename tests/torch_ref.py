"""The one helper for comparing minigan with torch: outputs, gradients, second-order gradients.

``check(minigan_fn, torch_fn, inputs, ...)`` runs both functions on the same values and
compares, in order:
  1. the outputs;
  2. first-order gradients of <output, v> (v a fixed random cotangent) w.r.t. every input
     marked differentiable, computed with ``create_graph=True``;
  3. second-order gradients of a gradient-penalty-shaped scalar, sum_i ||grad_i||^2 weighted
     by random u_i, w.r.t. the same inputs (skipped with ``second_order=False``).
Gradients torch reports as unused count as zeros on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

import minigan

# float64 agrees to rounding; float32 differs in summation order (BLAS blocking, im2col vs
# direct convolution, pairwise vs sequential reductions), so it is compared at ~1e-4.
TOLERANCES = {"float64": (1e-10, 1e-12), "float32": (2e-4, 2e-5)}


def to_numpy(t) -> np.ndarray:
    if isinstance(t, minigan.Tensor):
        return t.detach().numpy()
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy(force=True)
    return np.asarray(t)


def assert_close(actual, expected, dtype: str, what: str, scale: float = 1.0) -> None:
    """|a - e| <= atol * max(1, max finite |e|) + rtol * |e|, elementwise; infinities and
    NaNs must match exactly."""
    rtol, atol = TOLERANCES[dtype]
    rtol, atol = rtol * scale, atol * scale
    a, e = np.asarray(to_numpy(actual), dtype=np.float64), np.asarray(to_numpy(expected),
                                                                      dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch's {e.shape}"
    finite = np.isfinite(e)
    bound = atol * max(1.0, float(np.abs(e[finite]).max(initial=0.0))) + rtol * np.abs(e)
    # a non-finite expected value (a max-pool window wholly in the padding is -inf) must be
    # matched exactly, and must not widen the tolerance of the finite ones
    bound = np.where(finite, bound, 0.0)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - e)
    bad = ~(diff <= bound) & ~(a == e) & ~(np.isnan(a) & np.isnan(e))
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(diff, nan=np.inf), -1)),
                             a.shape)
        raise AssertionError(f"{what}: {bad.sum()} of {a.size} elements differ from torch; "
                             f"worst at {i}: minigan {a[i]!r} vs torch {e[i]!r} "
                             f"(dtype {dtype})")


def _outputs(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _float_outputs(outs) -> list:
    return [i for i, o in enumerate(outs) if (o.dtype.kind == "f" if isinstance(o, minigan.Tensor)
                                              else o.is_floating_point())]


def _weighted_sum(outs, weights, lib):
    total = None
    for o, w in zip(outs, weights):
        term = (o * (minigan.tensor(w, backend=o.backend) if lib == "minigan"
                     else torch.from_numpy(w))).sum()
        total = term if total is None else total + term
    return total


def check(minigan_fn: Callable, torch_fn: Callable, inputs: Sequence[np.ndarray], *,
          backend: str = "numpy", dtype: str = "float64", grad: Sequence[bool] | None = None,
          second_order: bool = True, seed: int = 0, scale: float = 1.0,
          what: str = "op") -> None:
    """Compare ``minigan_fn(*tensors)`` with ``torch_fn(*tensors)`` on the same inputs.

    Floating inputs are cast to ``dtype``; integer inputs pass through unchanged and never
    take gradients. ``grad`` marks which inputs are differentiated (default: all floating).
    ``scale`` loosens tolerances for ops whose arithmetic order differs a lot; say why.
    """
    rng = np.random.default_rng(seed)
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in map(np.asarray, inputs)]
    if grad is None:
        grad = [a.dtype.kind == "f" for a in arrays]
    m_in = [minigan.tensor(a, requires_grad=bool(g), backend=backend)
            for a, g in zip(arrays, grad)]
    t_in = [torch.tensor(a, requires_grad=bool(g)) for a, g in zip(arrays, grad)]
    m_out, t_out = _outputs(minigan_fn(*m_in)), _outputs(torch_fn(*t_in))
    assert len(m_out) == len(t_out), f"{what}: {len(m_out)} outputs vs torch's {len(t_out)}"
    for i, (m, t) in enumerate(zip(m_out, t_out)):
        assert_close(m, t, dtype, f"{what}: output {i}", scale)

    wrt = [i for i, g in enumerate(grad) if g]
    diff_out = [i for i in _float_outputs(t_out) if t_out[i].requires_grad]
    if not wrt or not diff_out:
        return
    cot = [rng.standard_normal(t_out[i].shape).astype(dtype) for i in diff_out]
    m_loss = _weighted_sum([m_out[i] for i in diff_out], cot, "minigan")
    t_loss = _weighted_sum([t_out[i] for i in diff_out], cot, "torch")
    m_g = minigan.grad(m_loss, [m_in[i] for i in wrt], create_graph=second_order,
                       allow_unused=True)
    t_g = torch.autograd.grad(t_loss, [t_in[i] for i in wrt], create_graph=second_order,
                              allow_unused=True)
    for i, m, t in zip(wrt, m_g, t_g):
        expected = np.zeros(arrays[i].shape) if t is None else t
        actual = np.zeros(arrays[i].shape) if m is None else m
        assert_close(actual, expected, dtype, f"{what}: gradient of input {i}", scale)
    if not second_order:
        return

    # A gradient-penalty-shaped scalar: sum_i <u_i, grad_i ** 2>.
    # A gradient minigan reports as unused (None) matched torch's as zero above, so its
    # square has a zero derivative: leave that pair out on both sides.
    pairs = [(m, t) for m, t in zip(m_g, t_g)
             if m is not None and t is not None and t.requires_grad]
    if not pairs:
        return
    us = [rng.random(t.shape).astype(dtype) for _, t in pairs]
    m_pen = _weighted_sum([m * m for m, _ in pairs], us, "minigan")
    t_pen = _weighted_sum([t * t for _, t in pairs], us, "torch")
    # minigan records no graph where a gradient is constant in the inputs (relu's mask);
    # torch may still keep one. Both then mean a zero second derivative.
    m_gg = minigan.grad(m_pen, [m_in[i] for i in wrt], allow_unused=True) \
        if m_pen.requires_grad else [None] * len(wrt)
    t_gg = torch.autograd.grad(t_pen, [t_in[i] for i in wrt], allow_unused=True)
    for i, m, t in zip(wrt, m_gg, t_gg):
        expected = np.zeros(arrays[i].shape) if t is None else t
        actual = np.zeros(arrays[i].shape) if m is None else m
        assert_close(actual, expected, dtype, f"{what}: second-order gradient of input {i}",
                     scale)


def check_module(minigan_module, torch_module, inputs: Sequence[np.ndarray], *,
                 backend: str = "numpy", dtype: str = "float64", grad: Sequence[bool] | None = None,
                 second_order: bool = True, scale: float = 1.0, what: str = "module") -> None:
    """``check`` for a module pair of the same architecture: torch's weights are loaded into
    the minigan module, and every parameter joins the differentiated inputs (through
    functional_call), so outputs, input and parameter gradients and the second-order
    gradients are all compared. Buffers (running statistics) are compared after the call.
    """
    from minigan.interop import load_torch_state_dict
    from minigan.nn.utils import functional_call

    torch_module.to(getattr(torch, dtype))
    minigan_module.to(dtype, backend=backend)
    load_torch_state_dict(minigan_module, torch_module.state_dict())
    names = [name for name, _ in torch_module.named_parameters()]
    params = [p.detach().numpy().copy() for p in torch_module.parameters()]
    n = len(inputs)

    def ours(*tensors):
        return functional_call(minigan_module, dict(zip(names, tensors[n:])), tensors[:n])

    def theirs(*tensors):
        return torch.func.functional_call(torch_module, dict(zip(names, tensors[n:])),
                                          tensors[:n])

    grads = None if grad is None else list(grad) + [True] * len(params)
    check(ours, theirs, list(inputs) + params, backend=backend, dtype=dtype, grad=grads,
          second_order=second_order, scale=scale, what=what)
    ours_buffers = dict(minigan_module.named_buffers())
    for name, buf in torch_module.named_buffers():
        assert_close(ours_buffers[name], buf, dtype, f"{what}: buffer {name}", scale)
