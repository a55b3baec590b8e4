"""Random numbers on the device: random.cu's Philox counters.

A stream is (seed, offset): a draw of n values uses the counters offset .. offset + n - 1 and
advances the offset by n, so the state is two integers that round-trip through a checkpoint
as JSON, and a resumed run on the same device continues the same stream (as the triton
backend's kernels/triton/random.py; the two streams differ). float16 draws are float32
values rounded; other dtypes are float64 values converted.
"""

from __future__ import annotations

import numpy as np
from minigan.kernels.cupy import _common
from minigan.kernels.cupy._common import cupy

SOURCE = "random.cu"
NAME_EXPRESSIONS = ("random_uniform<float>", "random_uniform<double>", "random_normal<float>",
                    "random_normal<double>", "random_int")
_SEED_MOD = 2**64


class Stream:
    """One Philox stream: a 64-bit ``seed`` and the next unused counter."""

    def __init__(self, seed: int):
        self.seed = int(seed) % _SEED_MOD
        self.offset = 0

    def _launch(self, expression: str, out, *extra) -> None:
        n = out.size
        if n:
            kernel = _common.function(SOURCE, NAME_EXPRESSIONS, expression)
            _common.launch(kernel, n, (out, np.int64(n), np.uint64(self.seed),
                                       np.uint64(self.offset % _SEED_MOD), *extra))
            self.offset += n

    def _floats(self, kind: str, shape: tuple, dtype):
        dtype = _common.stored_dtype(dtype)
        compute = dtype if dtype in _common.FLOAT_TYPES else \
            np.dtype(np.float32 if dtype == np.float16 else np.float64)
        out = cupy.empty(shape, dtype=compute)
        self._launch(f"random_{kind}<{_common.CTYPES[compute]}>", out)
        return out if compute == dtype else out.astype(dtype)

    def normal(self, shape: tuple, dtype):
        return self._floats("normal", shape, dtype)

    def uniform(self, shape: tuple, dtype):
        return self._floats("uniform", shape, dtype)

    def integers(self, low: int, high: int, shape: tuple):
        """int64 values in [low, high)."""
        if high <= low:
            raise ValueError(f"randint: high ({high}) must be larger than low ({low})")
        out = cupy.empty(shape, dtype=np.int64)
        self._launch("random_int", out, np.int64(low), np.uint64(high - low))
        return out

    def state(self) -> dict:
        return {"seed": self.seed, "offset": self.offset}

    def set_state(self, state: dict) -> None:
        self.seed, self.offset = int(state["seed"]) % _SEED_MOD, int(state["offset"])
