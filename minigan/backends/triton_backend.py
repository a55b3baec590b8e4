"""The Triton backend: torch tensors as storage, Triton kernels for every operation.

torch serves only as the storage layer here: allocation, views, layout copies and host
transfers. Every arithmetic operation of the kernel table is a Triton kernel of
kernels/triton/. On a machine with a CUDA GPU the kernels compile for it; with
``TRITON_INTERPRET=1`` set (before minigan loads the backend) Triton's interpreter runs the
same kernels on CPU tensors, one program at a time in numpy: slow, for tests and tiny runs.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from minigan.backends import Backend, BackendUnavailableError, KernelTable

try:
    import torch
    import triton
except ImportError as e:  # pragma: no cover - depends on the install
    raise BackendUnavailableError(
        f"backend 'triton' needs torch and triton ({e.name} is not installed): "
        f"pip install 'minigan[triton]'") from None

NO_GPU = ("backend 'triton' found no CUDA GPU. TRITON_INTERPRET=1 runs the same Triton "
          "kernels on the CPU (slowly; for tests and tiny runs), and --backend numpy runs "
          "anywhere")


def interpreter_enabled() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _device() -> str:
    if interpreter_enabled():
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    raise BackendUnavailableError(NO_GPU)


# numpy dtype <-> torch dtype, for the dtypes the kernels take
_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64,
             np.dtype(np.int64): torch.int64, np.dtype(np.bool_): torch.bool,
             np.dtype(np.float16): torch.float16, np.dtype(np.int32): torch.int32,
             np.dtype(np.uint8): torch.uint8}
_TO_NUMPY = {v: k for k, v in _TO_TORCH.items()}


def torch_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    d = np.dtype(dtype)
    if d not in _TO_TORCH:
        raise TypeError(f"the triton backend stores float16, float32, float64, uint8, int32, "
                        f"int64 and bool tensors, not {d}")
    return _TO_TORCH[d]


def _host_dtype(array: np.ndarray) -> np.dtype:
    """Stored dtypes are kept; other integers widen to int64 and other floats to float32."""
    if array.dtype in _TO_TORCH:
        return array.dtype
    return np.dtype(np.int64) if array.dtype.kind in "iu" else np.dtype(np.float32)


def _interpreter_without_overflow_checks() -> None:
    """The interpreter checks every int32 add and multiply for overflow (half its run time in
    the convolution kernels); compiled kernels do not (the check is a debug-mode assert), so
    the interpreter is made to run them as compiled. MINIGAN_TRITON_SANITIZE=1 keeps it."""
    if os.environ.get("MINIGAN_TRITON_SANITIZE", "0") not in ("", "0"):
        return
    import dataclasses

    from triton.runtime import interpreter
    builder = getattr(interpreter, "interpreter_builder", None)
    options = getattr(builder, "options", None)
    if options is not None and hasattr(options, "sanitize_overflow"):
        builder.options = dataclasses.replace(options, sanitize_overflow=False)


class TritonBackend(Backend):
    name = "triton"

    def __init__(self):
        self.device = _device()
        self.interpreter = self.device == "cpu"
        if self.interpreter:
            _interpreter_without_overflow_checks()
            # the interpreter computes masked-off lanes too (log(0) there is discarded)
            warnings.filterwarnings("ignore", category=RuntimeWarning,
                                    module="triton.runtime.interpreter")
        # Kernels are imported only now: TRITON_INTERPRET is read when they are decorated.
        from minigan.kernels.triton import KERNELS, random
        self._random = random
        self.k = KernelTable(self.name, KERNELS)
        self.stream = random.Stream(int.from_bytes(os.urandom(4), "little"))

    def details(self) -> dict:
        from minigan.kernels.triton import _common
        return {"device": torch.cuda.get_device_name() if self.device == "cuda" else "cpu",
                "triton": triton.__version__, "torch": torch.__version__,
                "interpreter": self.interpreter,
                "precision": "tf32" if _common.tf32_enabled() else "ieee"}

    def describe(self) -> str:
        d = self.details()
        where = "interpreter on the CPU" if self.interpreter else d["device"]
        return f"triton {d['triton']}, {where}, {d['precision']}"

    # --- precision ------------------------------------------------------------------------
    def set_tf32(self, enabled: bool) -> None:
        """float32 matmuls and convolutions in TF32 (10-bit mantissa products, as torch's
        cuDNN default) instead of IEEE float32."""
        from minigan.kernels.triton import _common
        _common.set_tf32(enabled)

    # --- storage --------------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        if isinstance(data, torch.Tensor):
            src = data.detach()
            target = src.dtype if dtype is None else torch_dtype(dtype)
            if target != src.dtype:  # a host-side conversion of host data
                src = torch.from_numpy(src.cpu().numpy().astype(_TO_NUMPY[target]))
            return src.to(self.device, copy=True)
        array = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
        array = np.array(array, dtype=_host_dtype(array), order="C")  # keeps 0-d shapes
        torch_dtype(array.dtype)  # a clear error for unsupported dtypes
        return torch.from_numpy(array).to(self.device)

    def wrap(self, a):
        return a

    def to_numpy(self, a) -> np.ndarray:
        return a.detach().cpu().numpy()

    def dtype(self, a) -> np.dtype:
        return _TO_NUMPY[a.dtype]

    def zeros(self, shape, dtype):
        return torch.zeros(tuple(shape), dtype=torch_dtype(dtype), device=self.device)

    def full(self, shape, value, dtype):
        return torch.full(tuple(shape), value, dtype=torch_dtype(dtype), device=self.device)

    def empty(self, shape, dtype):
        return torch.empty(tuple(shape), dtype=torch_dtype(dtype), device=self.device)

    def arange(self, start, stop, step, dtype):
        return self.asarray(np.arange(start, stop, step, dtype=np.dtype(dtype)))

    def copy(self, a):
        return a.clone(memory_format=torch.contiguous_format)

    def copy_into(self, dst, src) -> None:
        dst.copy_(src)  # a storage copy (torch casts and broadcasts; no arithmetic)

    def setitem(self, dst, index, src) -> None:
        if isinstance(index, tuple):
            index = tuple(torch.as_tensor(i, device=dst.device)
                          if isinstance(i, (list, np.ndarray)) else i for i in index)
        elif isinstance(index, (list, np.ndarray)):
            index = torch.as_tensor(index, device=dst.device)
        dst[index] = src

    def shares_storage(self, a, b) -> bool:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()

    def synchronize(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()

    # --- random numbers -------------------------------------------------------------------
    def seed(self, seed: int) -> None:
        self.stream = self._random.Stream(seed)

    def randn(self, shape, dtype):
        return self.stream.draw("normal", tuple(shape), torch_dtype(dtype), self.device)

    def rand(self, shape, dtype):
        return self.stream.draw("uniform", tuple(shape), torch_dtype(dtype), self.device)

    def randint(self, low, high, shape):
        if high <= low:
            raise ValueError(f"randint: high ({high}) must be larger than low ({low})")
        return self.stream.draw("int", tuple(shape), torch.int64, self.device, int(low),
                                int(high - low))

    def get_rng_state(self) -> dict:
        return self.stream.state()

    def set_rng_state(self, state: dict) -> None:
        self.stream.set_state(state)


def create() -> TritonBackend:
    return TritonBackend()
