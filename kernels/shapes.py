"""Output-size arithmetic shared by every backend's kernels and by the argument checks, and the
decoding of the arguments every backend's kernels take alike (activation specs, penalty kinds,
reduction axes, channel views)."""

import math


def conv_out_size(size: int, k: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def pool_out_size(size: int, k: int, stride: int, pad: int, dilation: int,
                  ceil_mode: bool) -> int:
    """torch's pooling_output_shape: a ceil-mode window must start inside input + left pad."""
    span = size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


# --- argument decoding every backend's kernels share --------------------------------------

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")
"""The activations a kernel applies to its own result (channel_affine, norm_forward); the
codes of kernels/include/minigan/activation.h are 0 for none, then this order from 1."""
CONV_ACTIVATIONS = ("relu", "leaky_relu")  # conv2d_forward's epilogue takes these


def act_args(act, allowed=ACTIVATIONS, op: str = "a fused activation") -> tuple[int, float]:
    """(code, slope) of an activation spec: None or (name, slope), name in ``allowed``."""
    if act is None:
        return 0, 0.0
    name, slope = act
    if name not in allowed:
        raise ValueError(f"{op}: unknown fused activation {name!r}; choose one of "
                         f"{', '.join(allowed)}")
    return ACTIVATIONS.index(name) + 1, float(slope)


PENALTY_KINDS = ("two-sided", "one-sided", "squared", "power")
"""The per-sample gradient-norm penalties of penalty_forward/backward; their codes in
kernels/include/minigan/penalty.h are this order from 0."""


def penalty_code(kind: str) -> int:
    if kind not in PENALTY_KINDS:
        raise ValueError(f"unknown penalty kind {kind!r}; choose one of "
                         f"{', '.join(PENALTY_KINDS)}")
    return PENALTY_KINDS.index(kind)


def channel_rows(shape: tuple) -> tuple[int, int, int]:
    """(N, C, prod(spatial)): an (N, C, *) array viewed along its channel axis, as the
    per-channel affine kernels (channel_affine, its backward) take it."""
    if len(shape) < 2:
        raise ValueError(f"channel affine needs at least 2 dimensions, got shape {shape}")
    return shape[0], shape[1], math.prod(shape[2:])


def reduction_plan(shape: tuple, axes) -> tuple:
    """(stat shape, perm or None, (A, C, B)) for a reduction of ``shape`` over ``axes`` (ints,
    negative allowed): x viewed as (A, C, B) keeps C and reduces A and B; perm, when not None,
    first puts the kept axes in front (they are not one contiguous run)."""
    nd = len(shape)
    if isinstance(axes, int):
        axes = (axes,)
    reduced = sorted({a % nd for a in axes}) if nd else []
    kept = [d for d in range(nd) if d not in reduced]
    stat_shape = tuple(1 if d in reduced else n for d, n in enumerate(shape))
    if not kept:
        return stat_shape, None, (1, 1, math.prod(shape))
    if kept == list(range(kept[0], kept[-1] + 1)):
        return stat_shape, None, (math.prod(shape[:kept[0]]),
                                  math.prod(shape[kept[0]:kept[-1] + 1]),
                                  math.prod(shape[kept[-1] + 1:]))
    return stat_shape, kept + reduced, (1, math.prod(shape[d] for d in kept),
                                        math.prod(shape[d] for d in reduced))
