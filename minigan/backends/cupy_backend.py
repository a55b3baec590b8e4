"""The CuPy backend: cupy arrays as storage, kernels of kernels/cupy: cupy's array functions,
cuBLAS through cupy.matmul, runtime-compiled CUDA and minigan's CUDA extension for the fused
kernels (no cuDNN). It runs on a CUDA GPU only.

Creating it checks, in order, that cupy imports, that the CUDA driver sees a GPU, and that the
CUDA extension (minigan.kernels._C_cuda) was built; each missing piece raises
BackendUnavailableError with a one-line reason and the alternatives.
"""

from __future__ import annotations

import os

import numpy as np

from minigan.backends import KERNELS, Backend, BackendUnavailableError, KernelTable
from minigan.kernels import compiled

ALTERNATIVES = ("--backend numpy runs anywhere; --backend triton runs on a CUDA GPU (or on the "
                "CPU with TRITON_INTERPRET=1)")


def _import_kernels():
    """(the kernels package, why cupy cannot be used or '')."""
    from minigan.kernels import cupy as kernels
    return kernels, kernels.IMPORT_ERROR


def _device_count(cupy) -> tuple[int, str]:
    """(CUDA devices the driver reports, why none or '')."""
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError, a missing libcuda, ...
        return 0, str(e).strip() or type(e).__name__
    return count, "" if count else "the CUDA driver reports 0 devices"


def unavailable_reason() -> str:
    """Why the backend cannot run here ('' when it can)."""
    kernels, import_error = _import_kernels()
    if import_error:
        return (f"backend 'cupy' needs cupy ({import_error}): pip install 'minigan[cupy]' "
                f"(cupy-cuda13x; 'minigan[cupy-cuda12]' for a CUDA 12 driver); "
                f"{ALTERNATIVES}")
    count, why = _device_count(kernels.cupy)
    if not count:
        return f"backend 'cupy' found no CUDA GPU ({why}); {ALTERNATIVES}"
    if compiled.CUDA is None:
        detail = compiled.why_missing("_C_cuda") or "not built"
        return (f"backend 'cupy' needs minigan's CUDA extension (minigan.kernels._C_cuda: "
                f"{detail}): reinstall with nvcc on PATH, MINIGAN_BUILD_CUDA=1 pip install "
                f"-e . (or pip install --force-reinstall --no-deps minigan); {ALTERNATIVES}")
    return ""


def _host_dtype(array: np.ndarray) -> np.dtype:
    """Stored dtypes are kept; other integers widen to int64 and other floats to float32."""
    from minigan.kernels.cupy._common import STORED_TYPES
    if array.dtype in STORED_TYPES:
        return array.dtype
    return np.dtype(np.int64) if array.dtype.kind in "iu" else np.dtype(np.float32)


class CupyBackend(Backend):
    name = "cupy"
    device = "cuda"

    def __init__(self, kernels):
        from minigan.kernels.cupy import _common, random
        self._cp = kernels.cupy
        self._common = _common
        self._random = random
        # the table's names that the registry lists (a kernel being added elsewhere waits)
        self.k = KernelTable(self.name, {n: f for n, f in kernels.KERNELS.items()
                                         if n in KERNELS})
        self.stream = random.Stream(int.from_bytes(os.urandom(8), "little"))

    def details(self) -> dict:
        cp = self._cp
        dev = cp.cuda.Device()
        props = cp.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        return {"device": name.decode() if isinstance(name, bytes) else str(name),
                "compute_capability": dev.compute_capability, "cupy": cp.__version__,
                "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
                "cuda_extension": compiled.CUDA is not None}

    def describe(self) -> str:
        d = self.details()
        return f"cupy {d['cupy']}, {d['device']}, cuBLAS + minigan's CUDA kernels"

    # --- storage --------------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        cp = self._cp
        if isinstance(data, cp.ndarray):
            target = data.dtype if dtype is None else dtype
            return data.astype(self._common.stored_dtype(target), copy=True)
        if hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor
            data = data.detach().cpu().numpy()
        array = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
        array = np.array(array, dtype=_host_dtype(array), order="C")  # keeps 0-d shapes
        self._common.stored_dtype(array.dtype)  # a clear error for unsupported dtypes
        return cp.asarray(array)

    def wrap(self, a):
        return a if isinstance(a, self._cp.ndarray) else self._cp.asarray(a)

    def to_numpy(self, a) -> np.ndarray:
        return self._cp.asnumpy(a)

    def dtype(self, a) -> np.dtype:
        return a.dtype

    def zeros(self, shape, dtype):
        return self._cp.zeros(tuple(shape), dtype=self._common.stored_dtype(dtype))

    def full(self, shape, value, dtype):
        return self._cp.full(tuple(shape), value, dtype=self._common.stored_dtype(dtype))

    def empty(self, shape, dtype):
        return self._cp.empty(tuple(shape), dtype=self._common.stored_dtype(dtype))

    def arange(self, start, stop, step, dtype):
        return self._cp.arange(start, stop, step, dtype=self._common.stored_dtype(dtype))

    def copy(self, a):
        return a.copy(order="C")

    def copy_into(self, dst, src) -> None:
        self._cp.copyto(dst, src, casting="unsafe")  # a storage copy: cast and broadcast

    def setitem(self, dst, index, src) -> None:
        cp = self._cp

        def device_index(i):
            return cp.asarray(i) if isinstance(i, (list, np.ndarray)) else i
        index = tuple(device_index(i) for i in index) if isinstance(index, tuple) else \
            device_index(index)
        if isinstance(src, np.ndarray):
            src = cp.asarray(src)
        dst[index] = src

    def shares_storage(self, a, b) -> bool:
        """Views of one allocation (torch's storage identity), or overlapping memory."""
        mem_a, mem_b = getattr(a.data, "mem", None), getattr(b.data, "mem", None)
        if mem_a is not None and mem_a is mem_b:
            return True
        return bool(self._cp.may_share_memory(a, b))

    def synchronize(self) -> None:
        self._cp.cuda.get_current_stream().synchronize()

    # --- random numbers -------------------------------------------------------------------
    def seed(self, seed: int) -> None:
        self.stream = self._random.Stream(seed)

    def randn(self, shape, dtype):
        return self.stream.normal(tuple(shape), dtype)

    def rand(self, shape, dtype):
        return self.stream.uniform(tuple(shape), dtype)

    def randint(self, low, high, shape):
        return self.stream.integers(int(low), int(high), tuple(shape))

    def get_rng_state(self) -> dict:
        return self.stream.state()

    def set_rng_state(self, state: dict) -> None:
        self.stream.set_state(state)


def create() -> CupyBackend:
    reason = unavailable_reason()
    if reason:
        raise BackendUnavailableError(reason)
    kernels, _ = _import_kernels()
    return CupyBackend(kernels)
