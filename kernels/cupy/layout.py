"""Layout and indexing: views and copies through cupy (reshape, permute, basic indexing,
padding, concatenation, take), and index.cu's kernels for the scatter-add along an axis and
one-hot."""

from __future__ import annotations

import math

import numpy as np
from minigan.kernels.cupy import _common
from minigan.kernels.cupy._common import cupy

SOURCE = "index.cu"
INDEX_ADD_TYPES = (np.dtype(np.float32), np.dtype(np.float64))
ONE_HOT_TYPES = tuple(_common.CTYPES)
NAME_EXPRESSIONS = tuple(f"index_add<{_common.CTYPES[t]}>" for t in INDEX_ADD_TYPES) + \
    tuple(f"one_hot<{_common.CTYPES[t]}>" for t in ONE_HOT_TYPES)


def _kernel(name: str, dtype):
    return _common.function(SOURCE, NAME_EXPRESSIONS, f"{name}<{_common.CTYPES[dtype]}>")


def _flat_index(index):
    if index.dtype != np.int64:
        raise TypeError(f"index arrays must be int64, got {index.dtype}")
    return cupy.ascontiguousarray(index).reshape(-1)


def getitem(a, index):
    """Basic indexing as a view (a trailing Ellipsis keeps an all-integer index a 0-d view)."""
    return a[index] if Ellipsis in index else a[index + (Ellipsis,)]


def slice_backward(g, index, shape):
    out = cupy.zeros(shape, dtype=g.dtype)
    out[index] = g
    return out


def index_select(a, axis, index):
    return cupy.take(a, index, axis=axis)


def index_add(g, axis, index, size):
    """Zeros with ``size`` entries along ``axis``, g scatter-added there at ``index``."""
    if g.dtype not in INDEX_ADD_TYPES:
        raise TypeError(f"index_add: the cupy backend scatter-adds float32 or float64, got "
                        f"{g.dtype}")
    flat = _flat_index(index)
    shape = tuple(g.shape[:axis]) + (size,) + tuple(g.shape[axis + index.ndim:])
    out = cupy.zeros(shape, dtype=g.dtype)
    n = g.size
    if n and out.size:
        q = math.prod(shape[axis + 1:])
        _common.launch(_kernel("index_add", g.dtype), n,
                       (cupy.ascontiguousarray(g), flat, out, _common.i64(n),
                        _common.i64(flat.size), _common.i64(size), _common.i64(q)))
    return out


def one_hot(index, num_classes, axis, dtype):
    dtype = _common.stored_dtype(dtype)
    kernel_dtype = dtype if dtype in ONE_HOT_TYPES else np.dtype(np.float32)
    flat = _flat_index(index)
    shape = tuple(index.shape[:axis]) + (num_classes,) + tuple(index.shape[axis:])
    out = cupy.empty(shape, dtype=kernel_dtype)
    n = out.size
    if n:
        q = math.prod(index.shape[axis:])
        _common.launch(_kernel("one_hot", kernel_dtype), n,
                       (flat, out, _common.i64(n), _common.i64(num_classes), _common.i64(q)))
    return out if kernel_dtype == dtype else out.astype(dtype)


def pad_constant(a, widths, value):
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, widths))
    out = cupy.full(shape, value, dtype=a.dtype)
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, widths))] = a
    return out


KERNELS = {
    "reshape": lambda a, shape: cupy.reshape(a, shape),
    "permute": lambda a, axes: cupy.transpose(a, axes),
    "broadcast_to": lambda a, shape: cupy.broadcast_to(a, shape),
    "getitem": getitem, "slice_backward": slice_backward,
    "index_select": index_select, "index_add": index_add, "one_hot": one_hot,
    "pad_constant": pad_constant,
    "concat": lambda arrays, axis: cupy.concatenate(list(arrays), axis=axis),
    "contiguous": lambda a: cupy.ascontiguousarray(a),
}
