"""Gradient checks by central finite differences in float64, on minigan alone (no torch).

``gradcheck(fn, inputs)`` compares the vector-Jacobian product ``v^T J`` that minigan's
backward computes (for a fixed random cotangent ``v``, with ``create_graph=False``, so fused
fast paths run) with central differences of ``<fn(x), v>`` in every input element.
``gradgradcheck(fn, inputs)`` applies the same check to the function
``(x, v) -> grad(<fn(x), v>, x, create_graph=True)``: the second-order gradients w.r.t. the
inputs and the cotangent, i.e. the backward of every backward.

Tolerances: the central difference with eps 1e-6 has a truncation error ~eps^2 and a rounding
error ~1e-16 / eps relative to the function's size, so on tiny shapes of O(1) values it is
good to ~1e-9; atol 1e-7 and rtol 1e-6 leave a 30x margin over the worst op seen and are 100x
tighter than torch.autograd.gradcheck's defaults (a derivative 0.01% off is caught).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import minigan

EPS, ATOL, RTOL = 1e-6, 1e-7, 1e-6


def _float_outputs(out) -> list:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, minigan.Tensor) and o.dtype.kind == "f"]


def _leaves(arrays, backend) -> list:
    return [minigan.tensor(a, requires_grad=True, backend=backend) for a in arrays]


def _dot(outs, cotangents) -> float:
    return float(sum(np.sum(o.detach().numpy() * v) for o, v in zip(outs, cotangents)))


def _analytic(fn, arrays, cotangents, backend) -> list[np.ndarray]:
    xs = _leaves(arrays, backend)
    outs = _float_outputs(fn(*xs))
    loss = None
    for o, v in zip(outs, cotangents):
        if o.requires_grad:
            term = (o * minigan.tensor(v, backend=backend)).sum()
            loss = term if loss is None else loss + term
    if loss is None:  # no output depends on the inputs through a graph
        return [np.zeros_like(a) for a in arrays]
    grads = minigan.grad(loss, xs, allow_unused=True)
    return [np.zeros_like(a) if g is None else g.numpy() for a, g in zip(arrays, grads)]


def _numeric(fn, arrays, cotangents, backend) -> list[np.ndarray]:
    """d<fn(x), v>/dx by central differences; inputs are leaves requiring grad, so ``fn``
    may itself differentiate (as gradgradcheck's does)."""
    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            values = []
            for step in (EPS, -EPS):
                shifted = [b.copy() for b in arrays]
                shifted[i][j] += step
                values.append(_dot(_float_outputs(fn(*_leaves(shifted, backend))), cotangents))
            g[j] = (values[0] - values[1]) / (2 * EPS)
        grads.append(g)
    return grads


def _directional(fn, arrays, cotangents, backend, analytic, rng) -> tuple[list, list]:
    """Fast mode: for each input, two random unit directions u; central differences of
    <fn(x), v> along u against <backward's gradient, u>. Two evaluations per direction
    instead of two per element; a wrong derivative shows along a random direction with
    probability 1 (torch.autograd.gradcheck's fast_mode is the same idea)."""
    projected, numeric = [], []  # per input: the two directions' values
    for i, a in enumerate(arrays):
        projected.append(np.zeros(2))
        numeric.append(np.zeros(2))
        for d in range(2):
            u = rng.standard_normal(a.shape)
            u /= max(np.linalg.norm(u), 1e-30)
            values = []
            for step in (EPS, -EPS):
                shifted = [b.copy() for b in arrays]
                shifted[i] = shifted[i] + step * u
                values.append(_dot(_float_outputs(fn(*_leaves(shifted, backend))), cotangents))
            numeric[i][d] = (values[0] - values[1]) / (2 * EPS)
            projected[i][d] = np.sum(analytic[i] * u)
    return projected, numeric


def gradcheck(fn: Callable, inputs: Sequence[np.ndarray], *, backend: str = "numpy",
              seed: int = 0, what: str = "op", fast: bool = False) -> None:
    """Assert minigan's first-order gradients of ``fn`` match central differences (in every
    element, or with ``fast`` along random directions: see ``_directional``)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    rng = np.random.default_rng(seed)
    outs = _float_outputs(fn(*_leaves(arrays, backend)))
    assert outs, f"{what}: no floating output to check"
    cotangents = [rng.standard_normal(o.shape) for o in outs]
    analytic = _analytic(fn, arrays, cotangents, backend)
    if fast:
        analytic, numeric = _directional(fn, arrays, cotangents, backend, analytic, rng)
    else:
        numeric = _numeric(fn, arrays, cotangents, backend)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        bad = ~(np.abs(a - n) <= ATOL + RTOL * np.abs(n))
        if bad.any():
            k = np.unravel_index(np.argmax(np.where(bad, np.abs(a - n), -1)), a.shape)
            raise AssertionError(f"{what}: gradient of input {i} differs from finite "
                                 f"differences in {bad.sum()} of {a.size} elements; worst at "
                                 f"{k}: backward {a[k]!r} vs numeric {n[k]!r}")


def gradgradcheck(fn: Callable, inputs: Sequence[np.ndarray], *, backend: str = "numpy",
                  seed: int = 0, what: str = "op", fast: bool = False) -> None:
    """Assert the second-order gradients of ``fn`` (w.r.t. its inputs and the cotangent of its
    output) match central differences of its first-order gradients."""
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    rng = np.random.default_rng(seed + 1)
    shapes = [o.shape for o in _float_outputs(fn(*_leaves(arrays, backend)))]
    cotangents = [rng.standard_normal(s) for s in shapes]
    n = len(arrays)

    def first_order(*xs_and_vs):
        xs, vs = xs_and_vs[:n], xs_and_vs[n:]
        outs = _float_outputs(fn(*xs))
        terms = [(o * v).sum() for o, v in zip(outs, vs) if o.requires_grad]
        if not terms:
            return tuple(minigan.zeros_like(x) for x in xs)
        grads = minigan.grad(sum(terms[1:], terms[0]), list(xs), create_graph=True,
                             allow_unused=True)
        return tuple(minigan.zeros_like(x) if g is None else g for g, x in zip(grads, xs))

    gradcheck(first_order, arrays + cotangents, backend=backend, seed=seed,
              what=f"{what} (second order)", fast=fast)
