"""torch's devices mapped onto minigan's backends: ``cpu`` is the numpy backend, ``cuda`` the GPU
backend (triton, or cupy where triton cannot run and cupy can; ``MINIGAN_CUDA_BACKEND`` names
one). A torch script's ``.to(device)``, ``.cuda()`` and ``torch.device(...)`` then choose where
minigan's kernels run.
"""

from __future__ import annotations

import functools
import os

from minigan.backends import BackendUnavailableError, get_backend

CPU_BACKEND = "numpy"
_BACKEND_NAMES = ("numpy", "triton", "cupy")


def cuda_backend() -> str:
    return os.environ.get("MINIGAN_CUDA_BACKEND") or _default_cuda_backend()


@functools.cache
def _default_cuda_backend() -> str:
    """triton, unless it cannot run here and cupy can (then its own error stays triton's)."""
    for name in ("triton", "cupy"):
        try:
            get_backend(name)
        except BackendUnavailableError:
            continue
        return name
    return "triton"


class device:  # noqa: N801 - torch's name
    """``device('cuda')``, ``device('cuda:0')``, ``device('cpu')``, ``device('cuda', 0)``; a
    backend name (``device('triton')``) is also understood."""

    __slots__ = ("type", "index")

    def __init__(self, spec, index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string such as 'cuda' or 'cpu', got "
                            f"{type(spec).__name__}")
        name, _, idx = spec.partition(":")
        if name in _BACKEND_NAMES:
            name = "cpu" if name == CPU_BACKEND else "cuda"
        if name not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device {spec!r}; minigan knows 'cpu' (the numpy "
                             f"backend) and 'cuda' (the GPU backend, {cuda_backend()})")
        if idx:
            if not idx.isdigit():
                raise ValueError(f"device: invalid device index in {spec!r}")
            if index is not None and int(idx) != index:
                raise ValueError(f"device: two different indices in device({spec!r}, {index})")
            index = int(idx)
        if name == "cuda" and index not in (None, 0):
            raise ValueError(f"device: minigan drives one GPU (cuda:0), got {spec!r}"
                             + (f" index {index}" if index is not None and not idx else ""))
        self.type, self.index = name, index

    @property
    def backend(self) -> str:
        """The minigan backend this device stands for."""
        return CPU_BACKEND if self.type == "cpu" else cuda_backend()

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{extra})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (TypeError, ValueError):
                return False
        return isinstance(other, device) and (self.type, self.index or 0) == \
            (other.type, other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))


def is_device_like(x) -> bool:
    if isinstance(x, device):
        return True
    return isinstance(x, str) and x.partition(":")[0] in ("cpu", "cuda", *_BACKEND_NAMES)


def backend_for(spec) -> str:
    """The backend name of a device, device string or backend name."""
    if isinstance(spec, str) and spec in _BACKEND_NAMES:
        return spec
    return device(spec).backend


def parse_to(args, dtype, backend, dev, who: str):
    """``(dtype, backend)`` of torch's ``.to(...)`` forms (``to(device)``, ``to(dtype)``,
    ``to(device, dtype)``, ``to(tensor)``) plus the ``dtype=``, ``backend=``, ``device=``
    keywords, for Tensor.to and Module.to."""
    import numpy as np

    from minigan.autograd.tensor import Tensor
    for a in args:
        if a is None:
            continue
        if isinstance(a, Tensor):
            dtype, backend = a.dtype, a.backend
        elif is_device_like(a):
            backend = backend_for(a)
        else:
            try:
                dtype = np.dtype(a)
            except TypeError:
                raise TypeError(f"{who}: {a!r} is neither a device ('cpu', 'cuda'), a dtype nor "
                                f"a tensor") from None
    if dev is not None:
        backend = backend_for(dev)
    return dtype, backend


def device_of(backend_name: str) -> device:
    return device("cpu" if backend_name == CPU_BACKEND else "cuda", None if backend_name ==
                  CPU_BACKEND else 0)


def cuda_is_available() -> bool:
    """Whether the GPU backend runs on a CUDA GPU here (its interpreter on the CPU does not
    count, though ``.cuda()`` still reaches it when ``TRITON_INTERPRET=1`` is set)."""
    try:
        return get_backend(cuda_backend()).device == "cuda"
    except Exception:  # noqa: BLE001 - any reason it cannot load means no
        return False
