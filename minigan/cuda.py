"""``torch.cuda``'s names for scripts: ``minigan.cuda.is_available()`` and friends, with the
legacy ``minigan.cuda.FloatTensor`` types. "cuda" is minigan's GPU backend (see
:mod:`minigan.device`)."""

from __future__ import annotations

from minigan import legacy as _legacy
from minigan.backends import get_backend
from minigan.device import cuda_backend, cuda_is_available, device

__all__ = ["is_available", "device_count", "current_device", "get_device_name", "synchronize",
           "manual_seed", "manual_seed_all", "empty_cache", "FloatTensor", "DoubleTensor",
           "HalfTensor", "LongTensor", "IntTensor", "ByteTensor", "BoolTensor"]


def is_available() -> bool:
    return cuda_is_available()


def device_count() -> int:
    return 1 if cuda_is_available() else 0


def current_device() -> int:
    return 0


def get_device_name(dev=None) -> str:
    return get_backend(cuda_backend()).details().get("device", cuda_backend())


def synchronize(dev=None) -> None:
    get_backend(cuda_backend()).synchronize()


def manual_seed(seed: int) -> None:
    """Seeds every backend, as minigan.manual_seed (one seed drives all generators)."""
    import minigan
    minigan.manual_seed(seed)


manual_seed_all = manual_seed


def empty_cache() -> None:
    """Nothing to release: minigan keeps no allocator cache of its own (torch's, used as the
    triton backend's storage, is left as it is)."""


_cuda = device("cuda")
FloatTensor = _legacy.TensorType("FloatTensor", "float32", _cuda)
DoubleTensor = _legacy.TensorType("DoubleTensor", "float64", _cuda)
HalfTensor = _legacy.TensorType("HalfTensor", "float16", _cuda)
LongTensor = _legacy.TensorType("LongTensor", "int64", _cuda)
IntTensor = _legacy.TensorType("IntTensor", "int32", _cuda)
ByteTensor = _legacy.TensorType("ByteTensor", "uint8", _cuda)
BoolTensor = _legacy.TensorType("BoolTensor", "bool", _cuda)
