"""What the CuPy kernel modules share: the cupy import (which may fail: the table is still
importable for the static checks), the compiled CUDA extension, runtime compilation of the
``*.cu`` sources beside this file, launch geometry, dtype checks and activation codes."""

from __future__ import annotations

import functools
import os

import numpy as np
from minigan.kernels import compiled

try:
    import cupy
    IMPORT_ERROR = ""
except ImportError as e:  # cupy is an optional dependency
    cupy = None
    IMPORT_ERROR = f"{e.name or 'cupy'} is not installed"
except Exception as e:  # noqa: BLE001 - an install that fails to initialise (libraries)
    cupy = None
    IMPORT_ERROR = f"cupy failed to import ({type(e).__name__}: {e})"

HERE = os.path.dirname(os.path.abspath(__file__))
FLOAT_TYPES = (np.dtype(np.float32), np.dtype(np.float64))
# The dtypes the backend stores (as the triton backend): kernels compute float16 in float32.
STORED_TYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64),
                np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.uint8), np.dtype(np.bool_))
# C++ names of the element types the templated .cu kernels are instantiated for
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
          np.dtype(np.int64): "long long", np.dtype(np.int32): "int",
          np.dtype(np.uint8): "unsigned char", np.dtype(np.bool_): "bool"}
THREADS = 256
MAX_BLOCKS = 1 << 16  # the kernels loop grid-stride past this many blocks

# act codes as kernels/include/minigan/activation.h (0 none, then ACTIVATIONS' order from 1)
from minigan.kernels.shapes import ACTIVATIONS, act_args  # noqa: E402,F401  (shared)


def options() -> tuple:
    """NVRTC options: C++17 and the shared host/device math headers."""
    return ("-std=c++17", f"-I{compiled.INCLUDE}")


def source(name: str) -> str:
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


@functools.cache
def module(name: str, name_expressions: tuple):
    """The RawModule of ``name`` (a .cu file here), compiled at its first kernel lookup."""
    return cupy.RawModule(code=source(name), options=options(),
                          name_expressions=name_expressions)


def function(name: str, name_expressions: tuple, expression: str):
    return module(name, name_expressions).get_function(expression)


def launch(kernel, total: int, args: tuple) -> None:
    """A 1-D grid-stride launch over ``total`` items on the current stream."""
    blocks = max(1, min(-(-total // THREADS), MAX_BLOCKS))
    kernel((blocks,), (THREADS,), args)


def i64(v) -> np.int64:
    return np.int64(int(v))


def ext():
    """The CUDA extension (checked when the backend is created)."""
    return compiled.CUDA


def stream() -> int:
    return cupy.cuda.get_current_stream().ptr


def ptr(a) -> int:
    return 0 if a is None else a.data.ptr


def dtype_name(dtype) -> str:
    return np.dtype(dtype).name


def check_float(op: str, *arrays) -> np.dtype:
    """The common float32/float64 dtype of the non-None arrays (TypeError otherwise)."""
    dtype = None
    for a in arrays:
        if a is None:
            continue
        if a.dtype not in FLOAT_TYPES:
            raise TypeError(f"{op}: the cupy backend's kernel takes float32 or float64 arrays, "
                            f"got {a.dtype}")
        dtype = a.dtype if dtype is None else np.promote_types(dtype, a.dtype)
    return dtype


def ready(a, dtype):
    """``a`` C-contiguous and of ``dtype`` (a copy only when needed); None stays None."""
    if a is None:
        return None
    if a.dtype != dtype:
        return cupy.ascontiguousarray(a, dtype=dtype)
    return cupy.ascontiguousarray(a)




def stored_dtype(dtype) -> np.dtype:
    d = np.dtype(dtype)
    if d not in STORED_TYPES:
        raise TypeError(f"the cupy backend stores float16, float32, float64, uint8, int32, "
                        f"int64 and bool arrays, not {d}")
    return d
