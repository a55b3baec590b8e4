"""The op set, with torch.nn.functional's names, signatures and defaults.

Each function checks its arguments (errors name the op, the argument and the shapes), then
composes the primitives of minigan.autograd.ops / nn_ops. Nothing here touches a backend
array except to build constant masks and index arrays.
"""

from __future__ import annotations

import math
import numbers
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
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation over (N, C, H, W), weight (out, in/groups, kH, kW)."""
    op = "conv2d"
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
    out = _nn.Conv2d.apply(x, weight, bias, stride, padding, dilation, int(groups))
    return out.squeeze(0) if unbatched else out


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


def _affine(y: Tensor, weight, bias, ndim: int) -> Tensor:
    """y * weight[c] + bias[c] along the channel axis 1."""
    if weight is None and bias is None:
        return y
    return _nn.ChannelAffine.apply(y, weight, bias)


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
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over (N, C, *): batch statistics in training, running ones in eval.
    Training updates the running buffers with the unbiased batch variance, as torch does."""
    op = "batch_norm"
    _require_float(op, input=input, weight=weight, bias=bias, running_mean=running_mean,
                   running_var=running_var)
    _require_ndim(input, (2, 3, 4, 5), op, "input", "(N, C, *)")
    channels = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _check_channel_param(op, name, t, channels)
    ndim = input.ndim
    if training:
        axes = (0,) + tuple(range(2, ndim))
        count = input.numel() // channels
        if count <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                             f"input of shape {input.shape}")
        y, mean, var = _nn.Normalize.apply(input, axes, float(eps))
        if running_mean is not None or running_var is not None:  # in place, one kernel
            input._be.k.running_stats_update(
                None if running_mean is None else running_mean.array,
                None if running_var is None else running_var.array,
                mean.detach().reshape(channels).array, var.detach().reshape(channels).array,
                float(momentum), count / (count - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var are required when "
                             "training=False")
        y = (input - _channel_view(running_mean, ndim)) * \
            (_channel_view(running_var, ndim) + eps) ** -0.5
    return _affine(y, weight, bias, ndim)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalization of each (sample, channel) over its spatial dims."""
    op = "instance_norm"
    _require_float(op, input=input, weight=weight, bias=bias)
    _require_ndim(input, (3, 4, 5), op, "input", "(N, C, *spatial)")
    n, channels = input.shape[:2]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _check_channel_param(op, name, t, channels)
    ndim = input.ndim
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = tuple(range(2, ndim))
    count = input.numel() // (n * channels)
    if count <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element per channel, got input "
                         f"of shape {input.shape}")
    y, mean, var = _nn.Normalize.apply(input, axes, float(eps))
    if running_mean is not None:
        _update_running(running_mean, mean.reshape(n, channels).mean(0), momentum)
    if running_var is not None:
        unbiased = var.reshape(n, channels) * (count / (count - 1))
        _update_running(running_var, unbiased.mean(0), momentum)
    return _affine(y, weight, bias, ndim)


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
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalization over groups of channels (and all spatial dims) per sample."""
    op = "group_norm"
    _require_float(op, input=input, weight=weight, bias=bias)
    _require_ndim(input, (2, 3, 4, 5), op, "input", "(N, C, *)")
    n, channels = input.shape[:2]
    if num_groups <= 0 or channels % num_groups:
        raise ValueError(f"{op}: num_groups={num_groups} must divide the {channels} channels "
                         f"of input {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_channel_param(op, name, t, channels)
    grouped = input.reshape(n, num_groups, -1)
    y, _, _ = _nn.Normalize.apply(grouped, (2,), float(eps))
    return _affine(y.reshape(input.shape), weight, bias, input.ndim)


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


def _resample_array(n_in: int, n_out: int, mode: str, align_corners: bool, scale, dtype: str,
                    transpose: bool) -> np.ndarray:
    m = _resample_matrix(n_in, n_out, mode, align_corners, scale)
    return (m.T if transpose else m).astype(dtype)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, H, W) with 'nearest', 'nearest-exact' or 'bilinear'.

    Each axis is a fixed (out, in) interpolation matrix, so the op is two matmuls:
    linear in the input, and differentiable to any order through matmul.
    """
    op = "interpolate"
    _require_float(op, input=input)
    _require_ndim(input, (4,), op, "input", "(N, C, H, W)")
    if mode not in ("nearest", "nearest-exact", "bilinear"):
        raise ValueError(f"{op}: mode must be 'nearest', 'nearest-exact' or 'bilinear', "
                         f"got {mode!r}")
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported")
    if align_corners is not None and mode != "bilinear":
        raise ValueError(f"{op}: align_corners only applies to mode='bilinear'")
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


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    _require_float("mse_loss", input=input, target=target)
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean") -> Tensor:
    _require_float("l1_loss", input=input, target=target)
    return _reduce((input - target).abs(), reduction, "l1_loss")
