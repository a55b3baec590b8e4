"""The compiled kernels of csrc/, when they were built.

- ``CPU``: ``minigan.kernels._C`` (csrc/cpu), or None where it was not built or
  ``MINIGAN_NO_EXTENSION=1`` is set; the numpy kernels then run their own numpy code for the
  same values (equal up to rounding: the compiled kernels sum in double; tests run both).
- ``CUDA``: ``minigan.kernels._C_cuda`` (csrc/cuda), or None where pip found no nvcc. It
  imports on any machine (the CUDA runtime is linked statically; the driver is opened at the
  first call), so its presence says nothing about a GPU: ``CUDA.device_count()`` does.

A built module that fails to load says so in a warning rather than passing unnoticed; importing
minigan never fails because of either.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

INCLUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
"""The shared host/device math headers (include/minigan/*.h), for runtime compilation."""

_WHY: dict[str, str] = {}


def _load(name: str, what: str, instead: str) -> ModuleType | None:
    if os.environ.get("MINIGAN_NO_EXTENSION", "") not in ("", "0"):
        _WHY[name] = "MINIGAN_NO_EXTENSION is set"
        return None
    try:
        return importlib.import_module(f"minigan.kernels.{name}")
    except ModuleNotFoundError:
        _WHY[name] = "not built (pip found no compiler for it when minigan was installed)"
        return None
    except ImportError as e:  # built, but unloadable (another Python, a missing library)
        _WHY[name] = f"built but failed to load: {e}"
        warnings.warn(f"minigan: {what} failed to load ({e}); {instead}", RuntimeWarning,
                      stacklevel=2)
        return None


def why_missing(name: str) -> str:
    """Why ``_C`` or ``_C_cuda`` is None here (empty when it loaded)."""
    return _WHY.get(name, "")


CPU = _load("_C", "the compiled CPU kernels", "the numpy backend runs its numpy code instead")
CUDA = _load("_C_cuda", "the compiled CUDA kernels", "the cupy backend cannot run")
