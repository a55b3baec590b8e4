"""The per-sample gradient-norm penalties (kernels/include/minigan/penalty.h's kinds) on the
Triton backend: the row sums and the per-row formulas composed of the elementwise and
reduction kernels (so they launch only configurations those modules list). Signatures and
results match ``minigan.kernels.numpy.penalty``; torch tensors are storage only."""

from minigan.kernels.shapes import penalty_code
from minigan.kernels.triton import elementwise as _elementwise
from minigan.kernels.triton import reduce as _reduce

_EW = _elementwise.KERNELS


def penalty_forward(g2d, kind, center, power):
    """(sq_norms, penalty), each (N,), for g2d (N, D)."""
    code = penalty_code(kind)
    g = g2d.contiguous()
    sq = _reduce.sum_(_EW["mul"](g, g), (1,), False)
    if code == 2:
        return sq, sq.clone()
    if code == 3:
        return sq, _EW["pow_scalar"](sq, 0.5 * float(power))
    gap = _EW["sub"](_EW["sqrt"](sq), float(center))
    if code == 1:
        gap = _EW["clip"](gap, 0.0, None)
    return sq, _EW["mul"](gap, gap)


def penalty_backward(g2d, sq_norms, upstream, kind, center, power):
    """dg[i] = upstream[i] c_i g[i], c_i 0 at a zero norm for the norm kinds."""
    code = penalty_code(kind)
    g = g2d.contiguous()
    up = upstream.reshape(g.shape[0])
    if code == 2:
        coef = _EW["mul"](up, 2.0)
    else:
        zero = _EW["eq"](sq_norms, 0.0)
        safe = _EW["where"](zero, 1.0, sq_norms)
        if code == 3:
            c = _EW["mul"](_EW["pow_scalar"](safe, 0.5 * float(power) - 1.0), float(power))
        else:
            norm = _EW["sqrt"](safe)
            gap = _EW["sub"](norm, float(center))
            if code == 1:
                gap = _EW["clip"](gap, 0.0, None)
            c = _EW["div"](_EW["mul"](gap, 2.0), norm)
        coef = _EW["where"](zero, 0.0, _EW["mul"](up, c))
    return _EW["mul"](coef.reshape(-1, 1), g)


KERNELS = {"penalty_forward": penalty_forward, "penalty_backward": penalty_backward}


def compile_cases() -> list:
    return []  # only the elementwise and reduction kernels' configurations
