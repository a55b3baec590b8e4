"""The op set, with torch.nn.functional's names, signatures and defaults.

Each function checks its arguments (errors name the op, the argument and the shapes), then
composes the primitives of minigan.autograd.ops / nn_ops. Nothing here touches a backend
array except to build constant masks and index arrays.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from minigan.autograd import nn_ops as _nn
from minigan.autograd import no_grad
from minigan.autograd import ops as _ops
from minigan.autograd.tensor import Tensor, _norm_dim
from minigan.kernels.shapes import pool_out_size

__all__ = [
    "conv2d", "conv_transpose2d", "linear", "batch_norm", "instance_norm", "layer_norm",
    "group_norm", "relu", "leaky_relu", "elu", "tanh", "sigmoid", "softplus", "logsigmoid",
    "softmax", "log_softmax", "dropout", "pad", "avg_pool2d", "max_pool2d", "interpolate",
    "embedding", "binary_cross_entropy_with_logits", "binary_cross_entropy", "cross_entropy",
    "nll_loss", "mse_loss", "l1_loss", "one_hot",
    # activations
    "hardtanh", "relu6", "hardsigmoid", "hardswish", "selu", "celu", "silu", "mish", "gelu",
    "softsign", "tanhshrink", "softmin", "threshold", "hardshrink", "softshrink", "glu",
    "prelu", "rrelu",
    # dropout
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    # pooling, resampling, shape
    "avg_pool1d", "max_pool1d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_max_pool2d", "pixel_shuffle", "pixel_unshuffle", "upsample", "upsample_nearest",
    "upsample_bilinear",
    # vectors
    "normalize", "cosine_similarity", "pairwise_distance",
    # losses
    "smooth_l1_loss", "huber_loss", "kl_div", "hinge_embedding_loss", "soft_margin_loss",
    "margin_ranking_loss", "cosine_embedding_loss", "triplet_margin_loss", "gaussian_nll_loss",
    "poisson_nll_loss", "multilabel_soft_margin_loss",
]


# --- argument checks ----------------------------------------------------------------------
def _pair(v, op: str, name: str) -> tuple:
    if isinstance(v, numbers.Integral):
        return (int(v), int(v))
    v = tuple(v)
    if len(v) == 1:
        return (int(v[0]), int(v[0]))
    if len(v) != 2 or not all(isinstance(i, numbers.Integral) for i in v):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v}")
    return (int(v[0]), int(v[1]))


def _require_tensor(x, op: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a minigan Tensor, got {type(x).__name__}")
    return x


def _require_float(op: str, **tensors) -> None:
    dtype = None
    for name, t in tensors.items():
        if t is None:
            continue
        _require_tensor(t, op, name)
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be floating point, got {t.dtype}")
        if dtype is None:
            dtype, first = t.dtype, name
        elif t.dtype != dtype:
            raise TypeError(f"{op}: {name} has dtype {t.dtype} but {first} has {dtype}")


def _require_ndim(x: Tensor, ndims: Sequence[int], op: str, name: str, layout: str) -> None:
    if x.ndim not in ndims:
        raise ValueError(f"{op}: {name} must be {layout} ({' or '.join(map(str, ndims))} dims), "
                         f"got shape {x.shape}")


def _positive(v: tuple, op: str, name: str) -> None:
    if any(i <= 0 for i in v):
        raise ValueError(f"{op}: {name} must be positive, got {v}")


def _non_negative(v: tuple, op: str, name: str) -> None:
    if any(i < 0 for i in v):
        raise ValueError(f"{op}: {name} must be non-negative, got {v}")


def _batched(x: Tensor, op: str):
    """torch accepts unbatched (C, H, W) input for 2-D ops: add and later drop the batch dim."""
    _require_ndim(x, (3, 4), op, "input", "(N, C, H, W) or (C, H, W)")
    return (x.unsqueeze(0), True) if x.ndim == 3 else (x, False)


def _legacy_reduction(size_average, reduce, reduction: str, stacklevel: int = 3) -> str:
    """torch's rule for the deprecated ``size_average`` and ``reduce`` arguments: when either is
    given it overrides ``reduction`` (reduce=False -> 'none'; else size_average=False ->
    'sum'; else 'mean'), with torch's warning."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    result = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{result}' instead.", UserWarning, stacklevel=stacklevel)
    return result


def _warn_target_size(op: str, input: Tensor, target: Tensor) -> None:
    """torch's warning for regression losses whose target broadcasts against the input."""
    if target.shape != input.shape:
        warnings.warn(f"{op}: Using a target size ({target.shape}) that is different to the "
                      f"input size ({input.shape}). This will likely lead to incorrect results "
                      f"due to broadcasting. Please ensure they have the same size.",
                      UserWarning, stacklevel=3)


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _const_like(ref: Tensor, array) -> Tensor:
    return Tensor(ref._be.asarray(array), ref._be)


_CONSTANTS: OrderedDict = OrderedDict()


def _cached_array(ref: Tensor, build, *args):
    """``build(*args)``, a host-built constant (an index or interpolation array), on ref's
    backend: built and copied to the device once per arguments rather than on every call;
    least recently used entries go past 256."""
    key = (ref._be.name, build.__name__, *args)
    array = _CONSTANTS.get(key)
    if array is None:
        array = _CONSTANTS[key] = ref._be.asarray(build(*args))
        if len(_CONSTANTS) > 256:
            _CONSTANTS.popitem(last=False)
    else:
        _CONSTANTS.move_to_end(key)
    return array


# --- convolution and linear ---------------------------------------------------------------
def _conv_geometry(op, x, weight, bias, stride, padding, dilation, groups, transposed):
    _require_float(op, input=x, weight=weight, bias=bias)
    _require_ndim(weight, (4,), op, "weight", "(out, in/groups, kH, kW)" if not transposed
                  else "(in, out/groups, kH, kW)")
    stride, dilation = _pair(stride, op, "stride"), _pair(dilation, op, "dilation")
    _positive(stride, op, "stride")
    _positive(dilation, op, "dilation")
    if not isinstance(groups, numbers.Integral) or groups <= 0:
        raise ValueError(f"{op}: groups must be a positive int, got {groups}")
    if isinstance(padding, str):
        padding = padding  # resolved by the caller
    else:
        padding = _pair(padding, op, "padding")
        _non_negative(padding, op, "padding")
    channels = x.shape[1]
    if transposed:
        if channels != weight.shape[0]:
            raise ValueError(f"{op}: input has {channels} channels (shape {x.shape}) but weight "
                             f"of shape {weight.shape} expects {weight.shape[0]}")
        if weight.shape[0] % groups:
            raise ValueError(f"{op}: groups={groups} does not divide the {weight.shape[0]} "
                             f"input channels")
        out_channels = weight.shape[1] * groups
    else:
        if channels != weight.shape[1] * groups:
            raise ValueError(f"{op}: input has {channels} channels (shape {x.shape}) but weight "
                             f"of shape {weight.shape} expects {weight.shape[1] * groups} "
                             f"(groups={groups})")
        if weight.shape[0] % groups:
            raise ValueError(f"{op}: groups={groups} does not divide the {weight.shape[0]} "
                             f"output channels of weight {weight.shape}")
        out_channels = weight.shape[0]
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape}")
    return stride, padding, dilation


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1, *, activation=None) -> Tensor:
    """2-D cross-correlation over (N, C, H, W), weight (out, in/groups, kH, kW).

    ``activation`` (minigan's, not torch's): ``"relu"``, ``"tanh"``, ``"sigmoid"`` or
    ``("leaky_relu", slope)`` with 0 <= slope <= 1; relu and leaky_relu run in the
    convolution kernel's epilogue (one pass less over the output on a GPU), tanh and sigmoid
    after it. The result and its gradients are the same as ``F.<activation>(conv2d(...))``.
    ``nn.Sequential`` uses it for a Conv2d followed by a ReLU or LeakyReLU module."""
    op = "conv2d"
    act = activation_spec(op, activation)
    x, unbatched = _batched(_require_tensor(input, op, "input"), op)
    stride, padding, dilation = _conv_geometry(op, x, weight, bias, stride, padding, dilation,
                                               groups, transposed=False)
    kh, kw = weight.shape[2:]
    if isinstance(padding, str):
        x, padding = _string_padding(x, padding, stride, dilation, (kh, kw), op)
    for i, (size, k) in enumerate(zip(x.shape[2:], (kh, kw))):
        if size + 2 * padding[i] < dilation[i] * (k - 1) + 1:
            raise ValueError(f"{op}: input of spatial size {tuple(x.shape[2:])} with padding "
                             f"{padding} is smaller than the dilated kernel "
                             f"{(dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)}")
    if act is not None and act[0] in CONV_EPILOGUE:
        out = _nn.Conv2dAct.apply(x, weight, bias, stride, padding, dilation, int(groups), act)
    else:
        out = _nn.Conv2d.apply(x, weight, bias, stride, padding, dilation, int(groups))
        if act is not None:
            out = tanh(out) if act[0] == "tanh" else sigmoid(out)
    return out.squeeze(0) if unbatched else out


CONV_EPILOGUE = ("relu", "leaky_relu")  # fused into the convolution kernel


FUSED_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")


def activation_spec(op: str, activation):
    """None, or the kernels' (name, slope) for an ``activation=`` argument: a name, or
    ("leaky_relu", slope) with 0 <= slope <= 1 (where the output's sign is the input's, which
    the fused backward relies on)."""
    if activation is None:
        return None
    name, slope = (activation, 0.0) if isinstance(activation, str) else tuple(activation)
    if name not in FUSED_ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {', '.join(FUSED_ACTIVATIONS)} (or "
                         f"('leaky_relu', slope)), got {activation!r}")
    if name == "leaky_relu" and not 0.0 <= float(slope) <= 1.0:
        raise ValueError(f"{op}: a fused leaky_relu needs 0 <= slope <= 1, got {slope}")
    return name, float(slope) if name == "leaky_relu" else 0.0


def _string_padding(x, mode, stride, dilation, kernel, op):
    if mode == "valid":
        return x, (0, 0)
    if mode != "same":
        raise ValueError(f"{op}: padding must be 'valid', 'same' or ints, got {mode!r}")
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride})")
    total = [d * (k - 1) for d, k in zip(dilation, kernel)]
    left = [t // 2 for t in total]
    if all(t % 2 == 0 for t in total):
        return x, tuple(left)
    # asymmetric: the extra row/column goes on the right/bottom, as torch does
    x = pad(x, (left[1], total[1] - left[1], left[0], total[0] - left[0]))
    return x, (0, 0)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed convolution: the adjoint of conv2d, weight (in, out/groups, kH, kW)."""
    op = "conv_transpose2d"
    x, unbatched = _batched(_require_tensor(input, op, "input"), op)
    stride, padding, dilation = _conv_geometry(op, x, weight, bias, stride, padding, dilation,
                                               groups, transposed=True)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be ints, got {padding!r}")
    output_padding = _pair(output_padding, op, "output_padding")
    _non_negative(output_padding, op, "output_padding")
    for i in range(2):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than "
                             f"stride {stride} or dilation {dilation}")
    kernel = weight.shape[2:]
    out_hw = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                   + dilation[i] * (kernel[i] - 1) + output_padding[i] + 1 for i in range(2))
    if any(s <= 0 for s in out_hw):
        raise ValueError(f"{op}: the output size {out_hw} for input {x.shape} is not positive")
    out = _nn.Conv2dBackwardInput.apply(x, weight, out_hw, stride, padding, dilation,
                                        int(groups))
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out.squeeze(0) if unbatched else out


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias over the last dim of x; weight (out_features, in_features)."""
    op = "linear"
    _require_float(op, input=input, weight=weight, bias=bias)
    _require_ndim(weight, (2,), op, "weight", "(out_features, in_features)")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"{op}: input has {input.shape[-1] if input.ndim else 0} features "
                         f"(shape {input.shape}) but weight of shape {weight.shape} expects "
                         f"{weight.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    out = _ops.matmul(input, weight.t())
    return out if bias is None else out + bias


# --- normalization ------------------------------------------------------------------------
def _channel_view(t: Tensor, ndim: int) -> Tensor:
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def _affine(y: Tensor, weight, bias, ndim: int, act=None) -> Tensor:
    """act(y * weight[c] + bias[c]) along the channel axis 1."""
    if act is not None:
        return _nn.ChannelAffineAct.apply(y, weight, bias, act)
    if weight is None and bias is None:
        return y
    return _nn.ChannelAffine.apply(y, weight, bias)


def _fused_norm(x: Tensor, layout: tuple, weight, bias, eps: float, act):
    """(out, mean, var) of the fused normalization over ``layout`` (nn_ops.NormAffineAct):
    statistics, normalize, affine map and activation in one kernel; plain Normalize when there
    is nothing to apply after it. mean and var have one entry per statistics group."""
    if weight is None and bias is None and act is None:
        a, s, b = layout[:3]
        y, mean, var = _nn.Normalize.apply(x.reshape(a, s, b), (0, 2), float(eps))
        return y.reshape(x.shape), mean.reshape(s), var.reshape(s)
    out, _, mean, var = _nn.NormAffineAct.apply(x, weight, bias, layout, float(eps), act)
    return out, mean, var


def _check_channel_param(op, name, t, channels):
    if t is not None and t.shape != (channels,):
        raise ValueError(f"{op}: {name} must have shape ({channels},) for an input with "
                         f"{channels} channels, got {t.shape}")


def _update_running(running: Tensor, value: Tensor, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * value, in place on the buffer."""
    with no_grad():
        running.array = ((1 - momentum) * running + momentum * value.detach()).array


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *,
               activation=None) -> Tensor:
    """Batch normalization over (N, C, *): batch statistics in training, running ones in eval.
    Training updates the running buffers with the unbiased batch variance, as torch does.
    ``activation`` (minigan's; as :func:`conv2d`'s) is applied in the affine map's pass."""
    op = "batch_norm"
    act = activation_spec(op, activation)
    _require_float(op, input=input, weight=weight, bias=bias, running_mean=running_mean,
                   running_var=running_var)
    _require_ndim(input, (2, 3, 4, 5), op, "input", "(N, C, *)")
    channels = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _check_channel_param(op, name, t, channels)
    ndim = input.ndim
    if training:
        count = input.numel() // channels
        if count <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                             f"input of shape {input.shape}")
        hw = count // input.shape[0]
        out, mean, var = _fused_norm(input, (input.shape[0], channels, hw, channels, 1, hw),
                                     weight, bias, eps, act)
        if running_mean is not None or running_var is not None:  # in place, one kernel
            input._be.k.running_stats_update(
                None if running_mean is None else running_mean.array,
                None if running_var is None else running_var.array,
                mean.detach().array, var.detach().array, float(momentum), count / (count - 1))
        return out
    if running_mean is None or running_var is None:
        raise ValueError(f"{op}: running_mean and running_var are required when "
                         "training=False")
    y = (input - _channel_view(running_mean, ndim)) * \
        (_channel_view(running_var, ndim) + eps) ** -0.5
    return _affine(y, weight, bias, ndim, act)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5, *, activation=None) -> Tensor:
    """Normalization of each (sample, channel) over its spatial dims. ``activation``
    (minigan's; as :func:`batch_norm`'s) runs in the same kernel."""
    op = "instance_norm"
    act = activation_spec(op, activation)
    _require_float(op, input=input, weight=weight, bias=bias)
    _require_ndim(input, (3, 4, 5), op, "input", "(N, C, *spatial)")
    n, channels = input.shape[:2]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _check_channel_param(op, name, t, channels)
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps,
                          activation=activation)
    count = input.numel() // (n * channels)
    if count <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element per channel, got input "
                         f"of shape {input.shape}")
    out, mean, var = _fused_norm(input, (1, n * channels, count, channels, 1, count), weight,
                                 bias, eps, act)
    if running_mean is not None:
        _update_running(running_mean, mean.reshape(n, channels).mean(0), momentum)
    if running_var is not None:
        unbiased = var.reshape(n, channels) * (count / (count - 1))
        _update_running(running_var, unbiased.mean(0), momentum)
    return out


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalization over the trailing ``normalized_shape`` dims."""
    op = "layer_norm"
    _require_float(op, input=input, weight=weight, bias=bias)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or input.shape[input.ndim - len(shape):] != shape or input.ndim < len(shape):
        raise ValueError(f"{op}: normalized_shape {shape} does not match the trailing dims of "
                         f"input of shape {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"{op}: {name} must have shape {shape}, got {t.shape}")
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    y, _, _ = _nn.Normalize.apply(input, axes, float(eps))
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5, *, activation=None) -> Tensor:
    """Normalization over groups of channels (and all spatial dims) per sample.
    ``activation`` (minigan's; as :func:`batch_norm`'s) runs in the same kernel."""
    op = "group_norm"
    act = activation_spec(op, activation)
    _require_float(op, input=input, weight=weight, bias=bias)
    _require_ndim(input, (2, 3, 4, 5), op, "input", "(N, C, *)")
    n, channels = input.shape[:2]
    if num_groups <= 0 or channels % num_groups:
        raise ValueError(f"{op}: num_groups={num_groups} must divide the {channels} channels "
                         f"of input {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_channel_param(op, name, t, channels)
    hw = input.numel() // (n * channels) if n * channels else 0
    cg = channels // num_groups
    out, _, _ = _fused_norm(input, (1, n * num_groups, cg * hw, num_groups, cg, hw), weight,
                            bias, eps, act)
    return out


# --- activations --------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _ops.Relu.apply(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _ops.LeakyRelu.apply(input, float(negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (exp(x) - 1) otherwise; exp only sees x <= 0 (no overflow, no NaN
    gradients from the unused branch)."""
    negative = alpha * (input.clamp(max=0.0).exp() - 1)
    return _ops.Where.apply(input._be.k.gt(input.array, 0), input, negative)


def tanh(input: Tensor) -> Tensor:
    return _ops.Tanh.apply(input)


def sigmoid(input: Tensor) -> Tensor:
    return _ops.Sigmoid.apply(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return _ops.Softplus.apply(input, float(beta), float(threshold))


def _log1p_exp(x: Tensor) -> Tensor:
    """log(1 + exp(x)) without softplus's linear cut-off: torch's log_sigmoid and
    binary_cross_entropy_with_logits have none, and at x = 25 it would drop a 1e-11 term of
    the value and of the gradient."""
    return _ops.Softplus.apply(x, 1.0, math.inf)


def logsigmoid(input: Tensor) -> Tensor:
    return -_log1p_exp(-input)


def _softmax_dim(x: Tensor, dim, op: str) -> int:
    if dim is None:  # torch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return _norm_dim(dim, x.ndim, op)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    return _nn.Softmax.apply(x, _softmax_dim(x, dim, "softmax"))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    return _nn.LogSoftmax.apply(x, _softmax_dim(x, dim, "log_softmax"))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: probability has to be between 0 and 1, got {p}")
    if not training or p == 0:
        return input
    be = input._be
    if p == 1:
        return input * 0
    keep = be.k.ge(be.rand(input.shape, input.dtype), p)
    scale = be.k.mul(be.k.astype(keep, input.dtype), 1.0 / (1.0 - p))
    return input * Tensor(scale, be)


# --- padding, pooling, resampling ---------------------------------------------------------
def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None
        ) -> Tensor:
    """Pad the last len(pad)//2 dims, (left, right) of the last dim first, as torch."""
    op = "pad"
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: pad {pad} must have an even length of at most 2 * {input.ndim} "
                         f"for input of shape {input.shape}")
    k = len(pad) // 2
    widths = [(0, 0)] * (input.ndim - k) + [(pad[2 * i], pad[2 * i + 1])
                                            for i in reversed(range(k))]
    if mode == "constant":
        return _pad_constant(input, widths, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    if value not in (None, 0):
        raise ValueError(f"pad: padding value {value} only applies to mode='constant'")
    _non_negative(pad, op, f"pad (mode={mode!r})")
    out = input
    for axis, (lo, hi) in enumerate(widths):
        if lo == hi == 0:
            continue
        n = input.shape[axis]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ValueError(f"pad: reflect padding {(lo, hi)} must be smaller than the size "
                             f"{n} of dim {axis} (input shape {input.shape})")
        if mode == "circular" and (lo > n or hi > n):
            raise ValueError(f"pad: circular padding {(lo, hi)} must be at most the size {n} "
                             f"of dim {axis} (input shape {input.shape})")
        index = _cached_array(input, _pad_index, mode, n, lo, hi)
        out = _ops.IndexSelect.apply(out, axis, index)
    return out


def _pad_index(mode: str, n: int, lo: int, hi: int) -> np.ndarray:
    """Source positions of a padded axis (all within [0, n))."""
    index = np.arange(-lo, n + hi)
    if mode == "reflect":
        index = np.abs(index)
        index = np.where(index > n - 1, 2 * (n - 1) - index, index)
    elif mode == "replicate":
        index = np.clip(index, 0, n - 1)
    else:
        index = index % n
    return index.astype(np.int64)


def _pad_constant(x: Tensor, widths, value) -> Tensor:
    crop = tuple(slice(max(-lo, 0), x.shape[i] - max(-hi, 0)) for i, (lo, hi) in
                 enumerate(widths))
    # as torch: negative pads may crop a dim to nothing (then padded, or left empty), but
    # not past nothing
    if any(s.start > s.stop for s in crop):
        raise ValueError(f"pad: negative padding {widths} removes more than every element of "
                         f"input of shape {x.shape}")
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        x = x[crop]
    widths = tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths)
    if all(w == (0, 0) for w in widths):
        return x
    return _nn.PadConstant.apply(x, widths, value)


def index_select(input: Tensor, dim: int, index) -> Tensor:
    """Entries of ``input`` along ``dim`` at integer ``index`` (a Tensor or array)."""
    dim = _norm_dim(dim, input.ndim, "index_select")
    idx = index.numpy() if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"index_select: index must be integer, got {idx.dtype}")
    n = input.shape[dim]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"index_select: index out of range for dim {dim} of size {n}")
    idx = input._be.asarray(np.where(idx < 0, idx + n, idx).astype(np.int64))
    return _ops.IndexSelect.apply(input, dim, idx)


def _pool_args(op, x, kernel_size, stride, padding, dilation):
    kernel = _pair(kernel_size, op, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _pair(stride, op, "stride")
    padding, dilation = _pair(padding, op, "padding"), _pair(dilation, op, "dilation")
    _positive(kernel, op, "kernel_size")
    _positive(stride, op, "stride")
    _positive(dilation, op, "dilation")
    _non_negative(padding, op, "padding")
    for i in range(2):
        if padding[i] > kernel[i] // 2:
            raise ValueError(f"{op}: padding {padding} should be at most half of kernel_size "
                             f"{kernel}")
    return kernel, stride, padding, dilation


def _check_pool_out(op, x, out_hw, kernel, padding):
    if any(o <= 0 for o in out_hw):
        raise ValueError(f"{op}: input of shape {x.shape} is too small for kernel_size {kernel} "
                         f"with padding {padding} (output size {out_hw})")


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    op = "avg_pool2d"
    x, unbatched = _batched(_require_tensor(input, op, "input"), op)
    _require_float(op, input=x)
    kernel, stride, padding, _ = _pool_args(op, x, kernel_size, stride, padding, 1)
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
    out_hw = tuple(pool_out_size(x.shape[2 + i], kernel[i], stride[i], padding[i], 1,
                                 ceil_mode) for i in range(2))
    _check_pool_out(op, x, out_hw, kernel, padding)
    out = _nn.AvgPool2d.apply(x, kernel, stride, padding, bool(ceil_mode),
                              bool(count_include_pad), divisor_override)
    return out.squeeze(0) if unbatched else out


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    op = "max_pool2d"
    x, unbatched = _batched(_require_tensor(input, op, "input"), op)
    _require_float(op, input=x)
    kernel, stride, padding, dilation = _pool_args(op, x, kernel_size, stride, padding, dilation)
    out_hw = tuple(pool_out_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i],
                                 ceil_mode) for i in range(2))
    _check_pool_out(op, x, out_hw, kernel, padding)
    out, indices = _nn.MaxPool2d.apply(x, kernel, stride, padding, dilation, bool(ceil_mode))
    if unbatched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return (out, indices) if return_indices else out


def _resample_matrix(n_in: int, n_out: int, mode: str, align_corners, scale) -> np.ndarray:
    """(n_out, n_in) matrix mapping one axis, with torch's source-index arithmetic."""
    m = np.zeros((n_out, n_in))
    dst = np.arange(n_out)
    # torch copies an axis whose size does not change, whatever scale_factor says (except
    # for nearest-exact), and 'nearest' doubles an axis by dst // 2, not by the scale
    if n_out == n_in and mode != "nearest-exact":
        return np.eye(n_in)
    if mode == "nearest" and n_out == 2 * n_in:
        m[dst, dst // 2] = 1.0
        return m
    if mode == "bicubic":
        return _bicubic_matrix(n_in, n_out, align_corners, scale)
    if mode in ("nearest", "nearest-exact"):
        ratio = np.float32(n_in) / np.float32(n_out) if scale is None \
            else np.float32(1.0 / scale)
        offset = np.float32(0.5 if mode == "nearest-exact" else 0.0)
        src = np.floor((dst.astype(np.float32) + offset) * ratio).astype(np.int64)
        m[dst, np.minimum(src, n_in - 1)] = 1.0
        return m
    if align_corners:
        ratio = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = dst * ratio
    else:
        ratio = n_in / n_out if scale is None else 1.0 / scale
        src = np.maximum(ratio * (dst + 0.5) - 0.5, 0.0)
    lo = np.floor(src).astype(np.int64)
    lo = np.minimum(lo, n_in - 1)
    hi = np.where(lo < n_in - 1, lo + 1, lo)
    frac = src - lo
    np.add.at(m, (dst, lo), 1.0 - frac)
    np.add.at(m, (dst, hi), frac)
    return m


def _bicubic_matrix(n_in: int, n_out: int, align_corners, scale) -> np.ndarray:
    """torch's bicubic weights (Keys' cubic convolution, A = -0.75) over the 4 source
    positions around each output position; positions past an edge read the edge."""
    m = np.zeros((n_out, n_in))
    dst = np.arange(n_out)
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:  # unlike bilinear, a source position before the first pixel is not clamped to 0
        src = (n_in / n_out if scale is None else 1.0 / scale) * (dst + 0.5) - 0.5
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - lo, 0.0, 1.0)
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    for j, w in enumerate((far(t + 1), near(t), near(1 - t), far(2 - t))):
        np.add.at(m, (dst, np.clip(lo - 1 + j, 0, n_in - 1)), w)
    return m


def _resample_array(n_in: int, n_out: int, mode: str, align_corners: bool, scale, dtype: str,
                    transpose: bool) -> np.ndarray:
    m = _resample_matrix(n_in, n_out, mode, align_corners, scale)
    return (m.T if transpose else m).astype(dtype)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, H, W) with 'nearest', 'nearest-exact', 'bilinear', 'bicubic' or 'area'.

    Each axis is a fixed (out, in) interpolation matrix, so the op is two matmuls:
    linear in the input, and differentiable to any order through matmul. 'area' is
    adaptive_avg_pool2d to the output size, as in torch.
    """
    op = "interpolate"
    _require_float(op, input=input)
    _require_ndim(input, (4,), op, "input", "(N, C, H, W)")
    if mode not in ("nearest", "nearest-exact", "bilinear", "bicubic", "area"):
        raise ValueError(f"{op}: mode must be 'nearest', 'nearest-exact', 'bilinear', "
                         f"'bicubic' or 'area', got {mode!r}")
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported")
    if align_corners is not None and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"{op}: align_corners only applies to mode='bilinear' or 'bicubic'")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    in_hw = input.shape[2:]
    scales = [None, None]
    if size is not None:
        out_hw = _pair(size, op, "size")
    else:
        factors = (scale_factor,) * 2 if isinstance(scale_factor, numbers.Number) \
            else tuple(scale_factor)
        if len(factors) != 2 or any(f <= 0 for f in factors):
            raise ValueError(f"{op}: scale_factor must be positive (one or two values), "
                             f"got {scale_factor}")
        out_hw = tuple(int(math.floor(n * f)) for n, f in zip(in_hw, factors))
        if not recompute_scale_factor:
            scales = list(factors)
    _positive(out_hw, op, "output size")
    if mode == "area":
        return adaptive_avg_pool2d(input, out_hw)
    rows, cols = (Tensor(_cached_array(input, _resample_array, in_hw[i], out_hw[i], mode,
                                       bool(align_corners), scales[i], str(input.dtype), i == 1),
                         input._be) for i in range(2))
    return _ops.matmul(_ops.matmul(rows, input), cols)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at the integer indices ``input``."""
    op = "embedding"
    _require_ndim(weight, (2,), op, "weight", "(num_embeddings, embedding_dim)")
    if sparse:
        raise ValueError(f"{op}: sparse gradients are not supported; use sparse=False")
    idx = input.numpy() if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: input must hold integer indices, got {idx.dtype}")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        raise IndexError(f"{op}: index out of range for {num} embeddings "
                         f"(got min {idx.min()}, max {idx.max()})")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"{op}: padding_idx {padding_idx} is out of range for {num} rows")
        padding_idx %= num
    if max_norm is not None:
        _renorm_rows(weight, np.unique(idx), max_norm, norm_type)
    out = _ops.IndexSelect.apply(weight, 0, weight._be.asarray(idx.astype(np.int64)))
    grad_scale = np.ones(idx.shape)
    if padding_idx is not None:
        grad_scale[idx == padding_idx] = 0.0
    if scale_grad_by_freq:
        counts = np.bincount(idx.ravel(), minlength=num)
        grad_scale = grad_scale / counts[idx]
    if padding_idx is not None or scale_grad_by_freq:
        # same values, gradient scaled per looked-up row
        s = _const_like(weight, grad_scale[..., None].astype(weight.dtype))
        out = out * s + out.detach() * (1 - s)
    return out


def _renorm_rows(weight: Tensor, rows: np.ndarray, max_norm: float, norm_type: float) -> None:
    """torch's embedding_renorm_: rows whose norm exceeds max_norm are scaled down in place."""
    w = weight._be.to_numpy(weight.array).copy()
    norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
    scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    w[rows] *= scale[:, None].astype(w.dtype)
    weight.array = weight._be.asarray(w)


# --- losses -------------------------------------------------------------------------------
def _check_same_shape(op, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{op}: target shape {target.shape} must match input shape "
                         f"{input.shape}")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """-[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], computed stably from the logits."""
    op = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _require_float(op, input=input, target=target, weight=weight, pos_weight=pos_weight)
    _check_same_shape(op, input, target)
    log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * target
    loss = (1 - target) * input + log_weight * _log1p_exp(-input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, op)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """BCE on probabilities; each log is clamped at -100 as torch does."""
    op = "binary_cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _require_float(op, input=input, target=target, weight=weight)
    _check_same_shape(op, input, target)
    if input.numel():  # two scalars come to the host, not the input
        be, axes = input._be, tuple(range(input.ndim))
        lo = be.to_numpy(be.wrap(be.k.amin(input.array, axes, False)))
        hi = be.to_numpy(be.wrap(be.k.amax(input.array, axes, False)))
        if lo < 0 or hi > 1:
            raise ValueError(f"{op}: all elements of input should be between 0 and 1")
    loss = _nn.BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, op)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    idx = tensor.numpy()
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects integer class indices, got {idx.dtype}")
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes})")
    be = tensor._be
    return Tensor(be.k.one_hot(tensor.array, num_classes, idx.ndim, np.dtype(np.int64)), be)


def _class_targets(op, input, target, ignore_index):
    """Validate integer class targets; returns (targets with ignored -> 0, kept mask)."""
    if input.ndim < 1:
        raise ValueError(f"{op}: input must have at least 1 dim, got shape {input.shape}")
    t = target.numpy() if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {t.dtype}")
    expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if t.shape != expected:
        raise ValueError(f"{op}: target of shape {t.shape} does not match input of shape "
                         f"{input.shape} (expected {expected})")
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= classes))
    if bad.any():
        raise IndexError(f"{op}: target {int(t[bad].flat[0])} is out of bounds for {classes} "
                         "classes")
    return np.where(keep, t, 0), keep, classes


def _mean_over_kept(total: Tensor, weight_sum: float, any_kept: bool) -> Tensor:
    """total / weight_sum for 'mean' over class targets. With every target ignored, torch's
    value is 0 / 0 = nan but its gradient is 0 (no target contributes): adding nan keeps
    that gradient, where dividing by 0 would send inf * 0 = nan back."""
    return total / weight_sum if any_kept else total + float("nan")


def nll_loss(input: Tensor, target, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """-w[t] * input[t] per element; 'mean' divides by the summed weights of kept targets."""
    op = "nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _require_float(op, input=input, weight=weight)
    t, keep, classes = _class_targets(op, input, target, ignore_index)
    if weight is not None and weight.shape != (classes,):
        raise ValueError(f"{op}: weight must have shape ({classes},), got {weight.shape}")
    x = input if input.ndim > 1 else input.unsqueeze(0)
    t_b = t if input.ndim > 1 else t[None]
    k = input._be.k
    onehot = Tensor(k.one_hot(input._be.asarray(t_b), classes, 1, input.dtype), input._be)
    w = np.ones(classes) if weight is None else weight.detach().numpy().astype(np.float64)
    w_t = w[t] * keep
    w_t_tensor = _const_like(input, np.asarray(w_t, dtype=input.dtype))
    picked = (x * onehot).sum(1)
    if input.ndim == 1:
        picked = picked.squeeze(0)
    loss = -picked * w_t_tensor
    if reduction == "mean":
        return _mean_over_kept(loss.sum(), float(w_t.sum()), bool(keep.any()))
    return _reduce(loss, reduction, op)


def cross_entropy(input: Tensor, target, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dim, then nll_loss (class indices) or the soft-target sum
    (class probabilities, same shape as input), with torch's label smoothing."""
    op = "cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _require_float(op, input=input, weight=weight)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 1 if input.ndim > 1 else 0
    classes = input.shape[class_dim]
    logp = log_softmax(input, class_dim)
    w_view = None
    if weight is not None:
        if weight.shape != (classes,):
            raise ValueError(f"{op}: weight must have shape ({classes},), got {weight.shape}")
        w_view = weight.reshape((classes,) + (1,) * (input.ndim - class_dim - 1))
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        _check_same_shape(op, input, target)
        soft = target if label_smoothing == 0 else \
            target * (1 - label_smoothing) + label_smoothing / classes
        term = logp * soft if w_view is None else logp * soft * w_view
        loss = -term.sum(class_dim)
        if reduction == "mean":
            return loss.sum() / max(input.numel() // classes, 1)
        return _reduce(loss, reduction, op)
    t, keep, _ = _class_targets(op, input, target, ignore_index)  # errors name cross_entropy
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return nll
    smooth = -(logp if w_view is None else logp * w_view).sum(class_dim)
    smooth = smooth * _const_like(input, keep.astype(input.dtype))
    if reduction == "mean":
        w = np.ones(classes) if weight is None else weight.detach().numpy()
        smooth = _mean_over_kept(smooth.sum(), float(w[t][keep].sum()), bool(keep.any()))
    else:
        smooth = _reduce(smooth, reduction, op)
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / classes)


def _weighted_reduce(loss: Tensor, weight: Tensor | None, reduction: str, op: str,
                     shape: tuple, mean_over_weights: bool = True) -> Tensor:
    """torch's optional per-element weight of mse_loss/l1_loss/huber_loss (of the input's
    shape): 'mean' divides by the summed weights (mse, l1) or by the element count
    (huber_loss), as torch does."""
    if weight is None:
        return _reduce(loss, reduction, op)
    if weight.shape != shape:
        raise ValueError(f"{op}: weight of shape {weight.shape} must have the input's shape "
                         f"{shape}")
    loss = loss * weight
    if reduction == "mean" and mean_over_weights:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction, op)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """(input - target)^2, target broadcast against input (with torch's warning)."""
    op = "mse_loss"
    _require_float(op, input=input, target=target, weight=weight)
    _warn_target_size(op, input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    diff = input - target
    return _weighted_reduce(diff * diff, weight, reduction, op, input.shape)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """|input - target|, target broadcast against input (with torch's warning)."""
    op = "l1_loss"
    _require_float(op, input=input, target=target, weight=weight)
    _warn_target_size(op, input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _weighted_reduce((input - target).abs(), weight, reduction, op,
                            input.shape)


# --- more of torch.nn.functional: activations ---------------------------------------------
# Everything below is composed of the ops above; masks and constants come from comparisons
# (no gradient), values and gradients from differentiable ops, so every order stays exact.
def _select(op: str, cond: Tensor, a, b) -> Tensor:
    """cond ? a : b, differentiable in a and b; python scalars take the tensor's dtype."""
    ref = a if isinstance(a, Tensor) else b
    return _ops.Where.apply(cond.array, ref._lift(a, op), ref._lift(b, op))


def _inside(x: Tensor, lo: float, hi: float) -> Tensor:
    """lo < x < hi as a boolean tensor."""
    return (x > lo) & (x < hi)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val); as torch, the gradient is 0 at the two bounds too."""
    if max_val < min_val:
        raise ValueError(f"hardtanh: max_val ({max_val}) must not be smaller than min_val "
                         f"({min_val})")
    _require_float("hardtanh", input=input)
    return _select("hardtanh", _inside(input, min_val, max_val), input,
                   input.detach().clamp(min_val, max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    return relu6(input + 3.0) / 6.0


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    return input * hardsigmoid(input)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _SELU_SCALE * elu(input, _SELU_ALPHA)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1)) = alpha * elu(x / alpha)."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return alpha * elu(input / alpha, 1.0)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return input * sigmoid(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(log(1 + exp(x))), with no softplus cut-off (as torch)."""
    return input * _log1p_exp(input).tanh()


# Exact GELU needs the normal CDF, which no kernel computes: it is composed of polynomials
# and exp. For |x| <= 2 sqrt(2) (z = |x| / sqrt(2) <= 2), erf(z) / z is its Taylor series in
# z^2 (terms below 1e-17); beyond, erfc(z) = exp(-z^2) q(z) with q(z) = exp(z^2) erfc(z)
# interpolated by Chebyshev polynomials on [2, 6] (relative error ~1e-14); past z = 6
# erfc(z) < 3e-17 and q is held at q(6). Values and derivatives agree with torch to ~1e-13.
_SQRT2 = math.sqrt(2.0)
_ERF_SPLIT = 2.0
_ERFC_TAIL = (2.0, 6.0)


def _erf_taylor() -> list:
    """Coefficients c_n of erf(z) / z = sum c_n w^n, w = z^2, to n = 30."""
    return [2.0 / math.sqrt(math.pi) * (-1.0) ** n / (math.factorial(n) * (2 * n + 1))
            for n in range(31)]


_CACHE_ERFC: list = []


def _erfc_chebyshev() -> np.ndarray:
    if not _CACHE_ERFC:
        from numpy.polynomial import chebyshev
        a, b = _ERFC_TAIL

        def q(t):
            z = (np.asarray(t) + 1.0) * (b - a) / 2 + a
            return np.array([math.exp(v * v) * math.erfc(v) for v in np.ravel(z)])
        _CACHE_ERFC.append(chebyshev.chebinterpolate(q, 24))
    return _CACHE_ERFC[0]


def _normal_cdf(x: Tensor) -> Tensor:
    """Phi(x) = (1 + erf(x / sqrt(2))) / 2, differentiable to any order."""
    limit = _ERF_SPLIT * _SQRT2
    # near 0: Phi = 1/2 + x / (2 sqrt 2) * P(x^2 / 2)
    xs = x.clamp(-limit, limit)
    w = xs * xs * 0.5
    coeffs = _erf_taylor()
    poly = w * 0.0 + coeffs[-1]
    for c in reversed(coeffs[:-1]):
        poly = poly * w + c
    central = 0.5 + xs * poly * (0.5 / _SQRT2)
    # tails: Phi(-|x|) = exp(-z^2) q(z) / 2, z = |x| / sqrt 2, q by Clenshaw's recurrence
    a, b = _ERFC_TAIL
    z = (x.abs() / _SQRT2).clamp(a, b)
    t = (z - a) * (2.0 / (b - a)) - 1.0
    cheb, t2 = _erfc_chebyshev(), t * 2.0
    b1, b2 = t * 0.0 + float(cheb[-1]), None  # b_n, b_(n+1) = 0
    for c in reversed(cheb[1:-1]):
        nxt = t2 * b1 + float(c)
        b1, b2 = (nxt if b2 is None else nxt - b2), b1
    q = t * b1 - b2 + float(cheb[0])
    lower = 0.5 * (-(z * z)).exp() * q
    tail = _select("gelu", x < 0, lower, 1.0 - lower)
    return _select("gelu", _inside(x, -limit, limit), central, tail)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x); approximate='tanh' is 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    The exact form is ~100 elementwise ops (no erf kernel): prefer 'tanh' where speed counts."""
    _require_float("gelu", input=input)
    if approximate == "tanh":
        inner = (input + 0.044715 * input * input * input) * math.sqrt(2.0 / math.pi)
        return 0.5 * input * (1.0 + inner.tanh())
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return input * _normal_cdf(input)


def softsign(input: Tensor) -> Tensor:
    return input / (1.0 + input.abs())


def tanhshrink(input: Tensor) -> Tensor:
    return input - input.tanh()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    return softmax(-input, dim, dtype=dtype)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    _require_float("threshold", input=input)
    return _select("threshold", input > threshold, input, float(value))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    _require_float("hardshrink", input=input)
    return _select("hardshrink", _inside(input, -lambd, lambd), 0.0, input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    _require_float("softshrink", input=input)
    shrunk = _select("softshrink", input > 0, input - lambd, input + lambd)
    return _select("softshrink", _inside(input, -lambd, lambd), 0.0, shrunk)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b) for the two halves a, b of ``input`` along ``dim``."""
    if input.ndim == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    d = _norm_dim(dim, input.ndim, "glu")
    if input.shape[d] % 2:
        raise ValueError(f"glu: halving dimension must be even, but dimension {d} of input "
                         f"of shape {input.shape} is size {input.shape[d]}")
    a, b = input.chunk(2, d)
    return a * sigmoid(b)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x; weight has 1 element or one per channel (dim 1)."""
    op = "prelu"
    _require_float(op, input=input, weight=weight)
    if weight.ndim > 1:
        raise ValueError(f"{op}: weight must be a scalar or 1-D tensor, got shape {weight.shape}")
    channels = input.shape[1] if input.ndim > 1 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(f"{op}: weight of shape {weight.shape} has {weight.numel()} elements; "
                         f"expected 1 or the {channels} channels of input {input.shape}")
    w = weight.reshape(()) if weight.numel() == 1 else \
        weight.reshape((channels,) + (1,) * (input.ndim - 2))
    return _select(op, input > 0, input, w * input)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """leaky_relu with slope (lower + upper) / 2 in eval; in training each non-positive
    element takes its own slope drawn uniformly from [lower, upper) (the backend's generator)."""
    _require_float("rrelu", input=input)
    if lower > upper:
        raise ValueError(f"rrelu: lower ({lower}) must not be greater than upper ({upper})")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    be = input._be
    slope = Tensor(be.rand(input.shape, input.dtype), be) * (upper - lower) + lower
    return _select("rrelu", input > 0, input, input * slope)


# --- dropout variants ---------------------------------------------------------------------
def _check_p(op: str, p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def _bernoulli_keep(x: Tensor, shape: tuple, p: float) -> Tensor:
    """A constant 0/1 tensor of ``shape``: 1 with probability 1 - p."""
    be = x._be
    return Tensor(be.k.astype(be.k.ge(be.rand(shape, x.dtype), p), x.dtype), be)


def _feature_shape(x: Tensor) -> tuple:
    return x.shape[:2] + (1,) * (x.ndim - 2)


def _feature_dropout(op: str, x: Tensor, p: float, training: bool, alpha: bool,
                     feature: bool = True) -> Tensor:
    """Dropout with one draw per (sample, channel) when ``feature``, else per element."""
    _check_p(op, p)
    _require_float(op, input=x)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    shape = _feature_shape(x) if feature else x.shape
    keep = _bernoulli_keep(x, shape, p)
    if not alpha:
        return x * (keep * (1.0 / (1.0 - p)))
    # torch's alpha dropout: dropped units go to SELU's negative saturation, then an affine
    # map restores zero mean and unit variance
    sat = 1.7580993408473766
    a = 1.0 / math.sqrt((sat * sat * p + 1) * (1 - p))
    return x * (keep * a) + ((keep - 1.0) * (sat * a) + sat * a * p)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) input with probability p."""
    _require_tensor(input, "dropout1d", "input")
    _require_ndim(input, (2, 3), "dropout1d", "input", "(N, C, L) or (C, L)")
    x = input.unsqueeze(0) if input.ndim == 2 else input
    out = _feature_dropout("dropout1d", x, p, training, False)
    return out.squeeze(0) if input.ndim == 2 else out


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels (feature maps) with probability p. As torch, 3-D input is taken as
    (N, C, L) (with torch's warning), and other ranks than 3 and 4 warn."""
    _require_tensor(input, "dropout2d", "input")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated and will result in an error in a future release. To retain "
                      "the behavior and silence this warning, please use dropout instead. Note "
                      "that dropout2d exists to provide channel-wise dropout on inputs with 2 "
                      "spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 3D or 4D inputs).", UserWarning, stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim. This behavior will change in "
                      "a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout "
                      "behavior, please switch to using dropout1d instead.", UserWarning,
                      stacklevel=2)
    if input.ndim < 2:
        raise ValueError(f"dropout2d: input must have a channel dim, got shape {input.shape}")
    return _feature_dropout("dropout2d", input, p, training, False)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability p."""
    _require_tensor(input, "dropout3d", "input")
    _require_ndim(input, (4, 5), "dropout3d", "input", "(N, C, D, H, W) or (C, D, H, W)")
    x = input.unsqueeze(0) if input.ndim == 4 else input
    out = _feature_dropout("dropout3d", x, p, training, False)
    return out.squeeze(0) if input.ndim == 4 else out


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's self-normalization (mean 0, variance 1)."""
    _require_tensor(input, "alpha_dropout", "input")
    return _feature_dropout("alpha_dropout", input, p, training, True, feature=False)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """alpha_dropout of whole channels."""
    _require_tensor(input, "feature_alpha_dropout", "input")
    _require_ndim(input, tuple(range(2, 9)), "feature_alpha_dropout", "input", "(N, C, *)")
    return _feature_dropout("feature_alpha_dropout", input, p, training, True)


# --- pooling: 1-d and adaptive ------------------------------------------------------------
def _single(v, op: str, name: str) -> int:
    if isinstance(v, numbers.Integral):
        return int(v)
    v = tuple(v)
    if len(v) != 1 or not isinstance(v[0], numbers.Integral):
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple of ints, got {v}")
    return int(v[0])


def _as_2d(op: str, input: Tensor):
    """(N, C, L) or (C, L) as (N, C, 1, L), and a function undoing it."""
    _require_tensor(input, op, "input")
    _require_ndim(input, (2, 3), op, "input", "(N, C, L) or (C, L)")
    return input.unsqueeze(-2), (lambda t: t.squeeze(-2))


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    op = "avg_pool1d"
    x, back = _as_2d(op, input)
    k = _single(kernel_size, op, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _single(stride, op, "stride")
    return back(avg_pool2d(x, (1, k), (1, s), (0, _single(padding, op, "padding")), ceil_mode,
                           count_include_pad))


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    op = "max_pool1d"
    x, back = _as_2d(op, input)
    k = _single(kernel_size, op, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _single(stride, op, "stride")
    out = max_pool2d(x, (1, k), (1, s), (0, _single(padding, op, "padding")),
                     (1, _single(dilation, op, "dilation")), ceil_mode, return_indices)
    if return_indices:
        return back(out[0]), back(out[1])
    return back(out)


def _adaptive_sizes(op: str, output_size, in_sizes: tuple) -> tuple:
    """torch's output_size: an int, or one entry per axis where None keeps the input's size."""
    n = len(in_sizes)
    sizes = (output_size,) * n if output_size is None or isinstance(output_size, numbers.Integral) \
        else tuple(output_size)
    if len(sizes) != n:
        raise ValueError(f"{op}: output_size must be an int or {n} values, got {output_size}")
    out = tuple(int(i) if s is None else s for s, i in zip(sizes, in_sizes))
    if not all(isinstance(s, numbers.Integral) and s > 0 for s in out):
        raise ValueError(f"{op}: output_size must be positive ints (or None), got {output_size}")
    return tuple(int(s) for s in out)


def _adaptive_windows(n_in: int, n_out: int) -> list:
    """torch's adaptive windows [floor(i n_in / n_out), ceil((i + 1) n_in / n_out))."""
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive_avg_array(n_in: int, n_out: int, dtype: str, transpose: bool) -> np.ndarray:
    m = np.zeros((n_out, n_in))
    for i, (lo, hi) in enumerate(_adaptive_windows(n_in, n_out)):
        m[i, lo:hi] = 1.0 / (hi - lo)
    return (m.T if transpose else m).astype(dtype)


def _adaptive_matrix(x: Tensor, n_in: int, n_out: int, transpose: bool) -> Tensor:
    return Tensor(_cached_array(x, _adaptive_avg_array, n_in, n_out, str(x.dtype), transpose),
                  x._be)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average over torch's adaptive windows. The windows of the two axes are independent, so
    the op is two matmuls with fixed averaging matrices (like interpolate)."""
    op = "adaptive_avg_pool2d"
    x, unbatched = _batched(_require_tensor(input, op, "input"), op)
    _require_float(op, input=x)
    (oh, ow), (h, w) = _adaptive_sizes(op, output_size, x.shape[2:]), x.shape[2:]
    if h == 0 or w == 0:
        raise ValueError(f"{op}: input of shape {input.shape} has an empty spatial dim")
    out = x
    if oh != h:
        out = _ops.matmul(_adaptive_matrix(x, h, oh, False), out)
    if ow != w:
        out = _ops.matmul(out, _adaptive_matrix(x, w, ow, True))
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    op = "adaptive_avg_pool1d"
    _require_tensor(input, op, "input")
    _require_ndim(input, (2, 3), op, "input", "(N, C, L) or (C, L)")
    _require_float(op, input=input)
    (out_l,) = _adaptive_sizes(op, output_size, input.shape[-1:])
    if out_l == input.shape[-1]:
        return input
    return _ops.matmul(input, _adaptive_matrix(input, input.shape[-1], out_l, True))


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False) -> Tensor:
    """Max over torch's adaptive windows: one max_pool2d when the sizes divide, else the max
    of each window row band, then of each column band (the max over a rectangle is
    separable). return_indices is not supported."""
    op = "adaptive_max_pool2d"
    if return_indices:
        raise ValueError(f"{op}: return_indices=True is not supported")
    x, unbatched = _batched(_require_tensor(input, op, "input"), op)
    _require_float(op, input=x)
    (oh, ow), (h, w) = _adaptive_sizes(op, output_size, x.shape[2:]), x.shape[2:]
    if h == 0 or w == 0:
        raise ValueError(f"{op}: input of shape {input.shape} has an empty spatial dim")
    if h % oh == 0 and w % ow == 0:
        out = max_pool2d(x, (h // oh, w // ow))
    else:
        out = x
        for axis, (n_in, n_out) in ((2, (h, oh)), (3, (w, ow))):
            if n_in == n_out:
                continue
            index = [slice(None)] * 4
            bands = []
            for lo, hi in _adaptive_windows(n_in, n_out):
                index[axis] = slice(lo, hi)
                bands.append(out[tuple(index)].amax(axis, keepdim=True))
            out = _ops.Cat.apply(*bands, dim=axis)
    return out.squeeze(0) if unbatched else out


# --- shape --------------------------------------------------------------------------------
def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""
    op = "pixel_shuffle"
    _require_tensor(input, op, "input")
    r = int(upscale_factor)
    if input.ndim < 3 or r <= 0 or input.shape[-3] % (r * r):
        raise ValueError(f"{op}: input of shape {input.shape} must have >= 3 dims and a channel "
                         f"count divisible by upscale_factor^2 = {r * r}")
    *lead, c, h, w = input.shape
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W)."""
    op = "pixel_unshuffle"
    _require_tensor(input, op, "input")
    r = int(downscale_factor)
    if input.ndim < 3 or r <= 0 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(f"{op}: input of shape {input.shape} must have >= 3 dims and height "
                         f"and width divisible by downscale_factor = {r}")
    *lead, c, h, w = input.shape
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


# --- distances and normalization of vectors ----------------------------------------------
def _vector_norm(x: Tensor, p: float, dim, keepdim: bool, op: str) -> Tensor:
    if p == 2:
        return x.norm(2, dim, keepdim)
    if p == math.inf:
        return x.abs().amax(dim, keepdim)
    if p == -math.inf:
        return x.abs().amin(dim, keepdim)
    if p <= 0:
        raise ValueError(f"{op}: p must be positive or +-inf, got {p}")
    return x.norm(p, dim, keepdim)


def normalize(input: Tensor, p: float = 2.0, dim=1, eps: float = 1e-12, out=None) -> Tensor:
    """x / max(||x||_p, eps) along ``dim``."""
    if out is not None:
        raise ValueError("normalize: out= is not supported (minigan never writes into a tensor)")
    _require_float("normalize", input=input)
    return input / _vector_norm(input, p, dim, True, "normalize").clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """<x1, x2> / (max(||x1||, eps) max(||x2||, eps)) along ``dim`` (broadcast first)."""
    op = "cosine_similarity"
    _require_float(op, x1=x1, x2=x2)
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"{op}: x1 of shape {x1.shape} and x2 of shape {x2.shape} do not "
                         "broadcast") from None
    x1, x2 = x1.expand(shape), x2.expand(shape)
    n1 = x1.norm(2, dim, True).clamp(min=eps)
    n2 = x2.norm(2, dim, True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim."""
    _require_float("pairwise_distance", x1=x1, x2=x2)
    return _vector_norm(x1 - x2 + eps, p, -1, keepdim, "pairwise_distance")


# --- more losses --------------------------------------------------------------------------
def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - beta / 2 elsewhere (d = input - target)."""
    op = "smooth_l1_loss"
    _require_float(op, input=input, target=target)
    _warn_target_size(op, input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"{op}: beta must be non-negative, got {beta}")
    d = input - target
    if beta == 0:
        return _reduce(d.abs(), reduction, op)
    ad = d.abs()
    loss = _select(op, ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction, op)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, delta (|d| - delta / 2) elsewhere."""
    op = "huber_loss"
    _require_float(op, input=input, target=target, weight=weight)
    _warn_target_size(op, input, target)
    if delta <= 0:
        raise ValueError(f"{op}: delta must be positive, got {delta}")
    d = input - target
    ad = d.abs()
    loss = _select(op, ad < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    return _weighted_reduce(loss, weight, reduction, op, input.shape, mean_over_weights=False)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """target (log target - input) pointwise (0 where target is 0), input being
    log-probabilities. 'batchmean' divides the sum by the batch size; 'mean' (torch's
    default, with its warning) by the number of elements."""
    op = "kl_div"
    _require_float(op, input=input, target=target)
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'batchmean', 'sum' or 'none', got "
                         f"{reduction!r}")
    if size_average is not None or reduce is not None:
        inner = _legacy_reduction(size_average, reduce, reduction)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                          "the support size.'batchmean' divides only by the batch size, and "
                          "aligns with the KL div math definition.'mean' will be changed to "
                          "behave the same as 'batchmean' in the next major release.",
                          UserWarning, stacklevel=2)
        inner = "sum" if reduction == "batchmean" else reduction
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(t, t): 0 where t == 0, nan where t < 0 (log of a negative), as torch
        safe = _select(op, target == 0, 1.0, target)
        loss = target * safe.log() - target * input
    out = _reduce(loss, inner, op)
    if reduction == "batchmean" and input.ndim != 0:
        out = out / input.shape[0]
    return out


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """x where target is 1, max(0, margin - x) where target is -1 (targets other than +-1
    add both terms, as torch)."""
    op = "hinge_embedding_loss"
    _require_float(op, input=input)
    _require_tensor(target, op, "target")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    margin_term = _select(op, target != 1, (margin - input).clamp(min=0.0), 0.0)
    self_term = _select(op, target != -1, input, 0.0)
    return _reduce(margin_term + self_term, reduction, op)


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target * input))."""
    op = "soft_margin_loss"
    _require_float(op, input=input, target=target)
    _check_same_shape(op, input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce(_log1p_exp(-(target * input)), reduction, op)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target (input1 - input2) + margin)."""
    op = "margin_ranking_loss"
    _require_float(op, input1=input1, input2=input2, target=target)
    if not input1.ndim == input2.ndim == target.ndim:
        raise ValueError(f"{op}: input1 {input1.shape}, input2 {input2.shape} and target "
                         f"{target.shape} must have the same number of dims")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0.0), reduction, op)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1; cos
    over the last dim with torch's 1e-12 in each squared norm."""
    op = "cosine_embedding_loss"
    _require_float(op, input1=input1, input2=input2)
    _require_tensor(target, op, "target")
    if input1.shape != input2.shape or input1.ndim not in (1, 2) or \
            target.shape != input1.shape[:-1]:
        raise ValueError(f"{op}: expects input1 and input2 of one shape (N, D) or (D,) and "
                         f"target (N,) or (); got {input1.shape}, {input2.shape}, "
                         f"{target.shape}")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    d = input1.ndim - 1
    prod = (input1 * input2).sum(d)
    mag = (((input1 * input1).sum(d) + 1e-12) * ((input2 * input2).sum(d) + 1e-12)).sqrt()
    cos = prod / mag
    pos = _select(op, target == 1, 1.0 - cos, 0.0)
    neg = _select(op, target == -1, (cos - margin).clamp(min=0.0), 0.0)
    return _reduce(pos + neg, reduction, op)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)), d the pairwise p-distance (swap: the smaller of
    d(a, n) and d(p, n))."""
    op = "triplet_margin_loss"
    _require_float(op, anchor=anchor, positive=positive, negative=negative)
    if not anchor.ndim == positive.ndim == negative.ndim or anchor.ndim not in (1, 2):
        raise ValueError(f"{op}: anchor {anchor.shape}, positive {positive.shape} and negative "
                         f"{negative.shape} must all be (N, D) or (D,)")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = _ops.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp(min=0.0), reduction, op)


def _host_min(t: Tensor) -> float:
    """The smallest element, read on the host (one scalar comes back)."""
    be = t._be
    return float(be.to_numpy(be.wrap(be.k.amin(t.array, tuple(range(t.ndim)), False))))


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """0.5 (log var + (input - target)^2 / var) [+ 0.5 log 2 pi]; ``var`` is clamped at eps
    for the value only (its gradient passes unclamped), as torch does under no_grad."""
    op = "gaussian_nll_loss"
    _require_float(op, input=input, target=target)
    if isinstance(var, numbers.Real):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries")
        var = input.detach() * 0.0 + float(var)
    _require_float(op, input=input, var=var)
    if var.numel() and _host_min(var) < 0:
        raise ValueError(f"{op}: var has negative entry/entries")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"{op}: var of shape {var.shape} is of incorrect size for input "
                             f"of shape {input.shape}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    var = var + (var.detach().clamp(min=eps) - var.detach())
    diff = input - target
    loss = 0.5 * (var.log() + diff * diff / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, op)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """exp(input) - target * input (log_input), else input - target * log(input + eps);
    ``full`` adds Stirling's term where target > 1."""
    op = "poisson_nll_loss"
    _require_float(op, input=input, target=target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        big = target > 1
        t = _select(op, big, target, 2.0)  # the masked branch stays finite, so does its gradient
        stirling = t * t.log() - t + 0.5 * (t * (2 * math.pi)).log()
        loss = loss + _select(op, big, stirling, 0.0)
    return _reduce(loss, reduction, op)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """Binary cross entropy on logits per class, averaged over the classes (last dim)."""
    op = "multilabel_soft_margin_loss"
    _require_float(op, input=input, target=target, weight=weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    classes = input.shape[-1] if input.ndim else 1
    return _reduce(loss.sum(input.ndim - 1 if input.ndim else None) / classes, reduction, op)


# --- deprecated aliases torch keeps -------------------------------------------------------
def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
