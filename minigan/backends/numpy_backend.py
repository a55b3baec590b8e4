"""The numpy backend: numpy arrays as storage, numpy/BLAS kernels. The CPU reference path."""

from __future__ import annotations

import numpy as np

from minigan.backends import Backend, KernelTable
from minigan.kernels import compiled
from minigan.kernels.numpy import conv, norm, optim, penalty, pool
from minigan.kernels.numpy.activation import sigmoid as _sigmoid


def _softplus(a, beta, threshold):
    z = a * beta
    soft = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, a, soft).astype(a.dtype, copy=False)


def _reduce(fn):
    def kernel(a, axes, keepdim):
        return np.asarray(fn(a, axis=axes, keepdims=keepdim))
    return kernel


def _arg_reduce(fn, argfn):
    def kernel(a, axis, keepdim):
        idx = np.expand_dims(argfn(a, axis=axis), axis)
        values = np.take_along_axis(a, idx, axis=axis)
        if not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        return values.copy(), idx.astype(np.int64)
    return kernel


def _getitem(a, index):
    """Basic indexing as a view, also when every dim is indexed by an integer (numpy would
    return a scalar copy; the trailing Ellipsis makes it a 0-d view, as torch's)."""
    return a[index] if Ellipsis in index else a[index + (Ellipsis,)]


def _slice_backward(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    out[index] = g
    return out


def _index_add(g, axis, index, size):
    shape = list(g.shape[:axis]) + [size] + list(g.shape[axis + index.ndim:])
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, (slice(None),) * axis + (index,), g)
    return out


def _one_hot(index, num_classes, axis, dtype):
    classes = np.arange(num_classes).reshape((-1,) + (1,) * (index.ndim - axis))
    return (np.expand_dims(index, axis) == classes).astype(dtype)


_TABLE = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "neg": np.negative, "pow": np.power,
    "pow_scalar": lambda a, c: np.power(a, a.dtype.type(c)),
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign,
    "tanh": np.tanh, "sigmoid": _sigmoid, "softplus": _softplus,
    "maximum": np.maximum, "minimum": np.minimum,
    "clip": lambda a, lo, hi: np.clip(a, lo, hi),
    "where": np.where,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "logical_and": np.logical_and,
    "sum": _reduce(np.sum), "amax": _reduce(np.amax), "amin": _reduce(np.amin),
    "max_dim": _arg_reduce(np.max, np.argmax), "min_dim": _arg_reduce(np.min, np.argmin),
    "reshape": np.reshape, "permute": np.transpose, "broadcast_to": np.broadcast_to,
    "getitem": _getitem, "slice_backward": _slice_backward,
    "index_select": lambda a, axis, index: np.take(a, index, axis=axis),
    "index_add": _index_add,
    "pad_constant": lambda a, widths, value: np.pad(a, widths, constant_values=value),
    "concat": lambda arrays, axis: np.concatenate(arrays, axis=axis),
    "astype": lambda a, dtype: a.astype(dtype), "one_hot": _one_hot,
    "contiguous": np.ascontiguousarray,
    "matmul": np.matmul,
    "conv2d_forward": conv.conv2d_forward,
    "conv2d_backward_input": conv.conv2d_backward_input,
    "conv2d_backward_weight": conv.conv2d_backward_weight,
    "normalize_forward": norm.normalize_forward, "normalize_backward": norm.normalize_backward,
    "running_stats_update": norm.running_stats_update,
    "channel_affine": norm.channel_affine,
    "channel_affine_backward": norm.channel_affine_backward,
    "norm_forward": norm.norm_forward, "norm_backward": norm.norm_backward,
    "penalty_forward": penalty.penalty_forward, "penalty_backward": penalty.penalty_backward,
    "softmax": norm.softmax, "log_softmax": norm.log_softmax,
    "avg_pool2d_forward": pool.avg_pool2d_forward, "avg_pool2d_backward": pool.avg_pool2d_backward,
    "max_pool2d_forward": pool.max_pool2d_forward,
    "take_hw": pool.take_hw, "scatter_add_hw": pool.scatter_add_hw,
    "sgd_step": optim.sgd_step, "adam_step": optim.adam_step,
    "rmsprop_step": optim.rmsprop_step,
}


class NumpyBackend(Backend):
    name = "numpy"

    def __init__(self):
        self.k = KernelTable(self.name, _TABLE)
        self.rng = np.random.default_rng()

    def details(self) -> dict:
        return {"compiled_cpu_kernels": compiled.CPU is not None}

    def describe(self) -> str:
        return "numpy + C++ kernels" if compiled.CPU is not None else \
            "numpy (the C++ kernels are not built: numpy code only)"

    # storage
    def asarray(self, data, dtype=None):
        if hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor
            data = data.detach().cpu().numpy()
        return np.array(data, dtype=dtype, copy=True)

    def wrap(self, a):
        """Kernel results as arrays (numpy reductions may return scalars)."""
        return a if type(a) is np.ndarray else np.asarray(a)

    def to_numpy(self, a) -> np.ndarray:
        return a

    def dtype(self, a) -> np.dtype:
        return a.dtype

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def full(self, shape, value, dtype):
        return np.full(shape, value, dtype=dtype)

    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def arange(self, start, stop, step, dtype):
        return np.arange(start, stop, step, dtype=dtype)

    def copy(self, a):
        return a.copy()

    def copy_into(self, dst, src) -> None:
        np.copyto(dst, src, casting="unsafe")

    def setitem(self, dst, index, src) -> None:
        dst[index] = src

    def shares_storage(self, a, b) -> bool:
        return np.may_share_memory(a, b)

    # random numbers from the backend's own generator (seeded by minigan.manual_seed)
    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def randn(self, shape, dtype):
        return self.rng.standard_normal(shape, dtype=np.dtype(dtype) if np.dtype(dtype).kind == "f"
                                        and np.dtype(dtype).itemsize >= 4 else np.float64
                                        ).astype(dtype, copy=False)

    def rand(self, shape, dtype):
        return self.rng.random(shape, dtype=np.float64).astype(dtype, copy=False)

    def randint(self, low, high, shape):
        return self.rng.integers(low, high, size=shape, dtype=np.int64)

    def get_rng_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def create() -> NumpyBackend:
    return NumpyBackend()
