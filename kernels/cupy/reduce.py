"""Reductions (cupy's: sum / amax / amin over axes, argmax / argmin for max_dim / min_dim)
and softmax / log_softmax along an axis, as the numpy backend computes them."""

from __future__ import annotations

import numpy as np
from minigan.kernels.cupy._common import cupy


def _axes(a, axes) -> tuple:
    if isinstance(axes, int):
        axes = (axes,)
    return tuple(sorted({ax % a.ndim for ax in axes})) if a.ndim else ()


def _reduce(fn_name: str):
    def kernel(a, axes, keepdim):
        axes = _axes(a, axes)
        if not axes:  # nothing reduced: a copy (sum of bools counts in int64, as numpy)
            return a.astype(np.int64) if fn_name == "sum" and a.dtype == np.bool_ else a.copy()
        return getattr(cupy, fn_name)(a, axis=axes, keepdims=keepdim)
    kernel.__name__ = fn_name
    return kernel


def _arg_reduce(which: str):
    def kernel(a, axis, keepdim):
        axis = axis % a.ndim
        if a.shape[axis] == 0:
            raise ValueError(f"{which}_dim: dimension {axis} of shape {a.shape} is empty")
        first = getattr(cupy, f"arg{which}")(a, axis=axis)  # the first index on ties
        idx = cupy.expand_dims(first, axis)
        values = cupy.take_along_axis(a, idx, axis=axis)
        idx = idx.astype(np.int64, copy=False)
        if not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        return values, idx
    kernel.__name__ = f"{which}_dim"
    return kernel


def softmax(x, axis):
    e = cupy.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - cupy.log(cupy.exp(shifted).sum(axis=axis, keepdims=True))


KERNELS = {"sum": _reduce("sum"), "amax": _reduce("amax"), "amin": _reduce("amin"),
           "max_dim": _arg_reduce("max"), "min_dim": _arg_reduce("min"),
           "softmax": softmax, "log_softmax": log_softmax}
