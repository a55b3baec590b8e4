"""The per-sample gradient-norm penalties of WGAN-GP, WGAN-LP, DRAGAN, R1/R2 and WGAN-div,
on numpy (kernels/include/minigan/penalty.h's kinds): one compiled call each way where the
extension has them, numpy code otherwise.

g2d is (N, D), one sample's gradient per row; sq_norms[i] = sum_j g[i, j]^2 and the penalty
of row i is, by kind:

  "two-sided" (WGAN-GP, DRAGAN)  (||g|| - center)^2
  "one-sided" (WGAN-LP)          relu(||g|| - center)^2
  "squared"   (R1, R2)           ||g||^2
  "power"     (WGAN-div)         ||g||^power = sq_norm^(power / 2)

The numpy code computes them with the operations of the composite formulas (the square norm
as a sum of products, the norm as its square root), so the values are those of
``Tensor.norm`` and ``(g * g).sum(1)``.
"""

from __future__ import annotations

import numpy as np
from minigan.kernels import compiled
from minigan.kernels.shapes import penalty_code


def _compiled(name: str, *arrays) -> bool:
    return hasattr(compiled.CPU, name) and arrays[0].dtype in (np.float32, np.float64) and \
        all(a.dtype == arrays[0].dtype for a in arrays)


def penalty_forward(g2d, kind, center, power):
    """(sq_norms, penalty), each (N,), for g2d (N, D)."""
    code = penalty_code(kind)
    g = np.ascontiguousarray(g2d)
    if _compiled("penalty_forward", g):
        sq = np.empty(g.shape[0], dtype=g.dtype)
        pen = np.empty_like(sq)
        compiled.CPU.penalty_forward(g, sq, pen, code, float(center), float(power))
        return sq, pen
    sq = np.sum(g * g, axis=(1,))
    t = sq.dtype.type
    if code == 2:
        return sq, sq.copy()
    if code == 3:
        return sq, np.power(sq, t(0.5 * power))
    gap = np.sqrt(sq) - t(center)
    if code == 1:
        gap = np.clip(gap, 0, None)
    return sq, gap * gap


def coefficient(sq, code: int, center: float, power: float) -> np.ndarray:
    """c_i with d penalty_i / d g_i = c_i g_i; 0 at a zero norm for the norm kinds (torch's
    norm backward there)."""
    t = sq.dtype.type
    zero = sq == 0
    if code == 2:
        return np.full_like(sq, 2)
    safe = np.where(zero, t(1), sq)
    if code == 3:
        return np.where(zero, t(0), t(power) * np.power(safe, t(0.5 * power - 1)))
    norm = np.sqrt(safe)
    gap = norm - t(center)
    if code == 1:
        gap = np.clip(gap, 0, None)
    return np.where(zero, t(0), t(2) * gap / norm)


def penalty_backward(g2d, sq_norms, upstream, kind, center, power):
    """dg[i] = upstream[i] * c_i * g[i]: the gradient of sum_i upstream[i] penalty_i."""
    code = penalty_code(kind)
    g = np.ascontiguousarray(g2d)
    up = np.ascontiguousarray(upstream).astype(g.dtype, copy=False).reshape(g.shape[0])
    sq = np.ascontiguousarray(sq_norms)
    if _compiled("penalty_backward", g, sq, up):
        dg = np.empty_like(g)
        compiled.CPU.penalty_backward(g, sq, up, dg, code, float(center), float(power))
        return dg
    return (up * coefficient(sq, code, center, power))[:, None] * g
