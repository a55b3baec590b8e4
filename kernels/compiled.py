"""The compiled CPU kernels of csrc/ (``minigan.kernels._C``), when they were built.

They are optional: ``CPU`` is None where the extension was not built or
``MINIGAN_NO_EXTENSION=1`` is set, and the numpy kernels then run their own numpy code for the
same values (equal up to rounding: the compiled normalization sums in double; tests run both).
A built extension that fails to load says so in a warning rather than passing unnoticed.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("MINIGAN_NO_EXTENSION", "") not in ("", "0"):
        return None
    try:
        from minigan.kernels import _C
    except ModuleNotFoundError:
        return None
    except ImportError as e:  # built, but unloadable (another Python, a missing library)
        warnings.warn(f"minigan: the compiled CPU kernels failed to load ({e}); the numpy "
                      "backend runs its numpy code instead", RuntimeWarning, stacklevel=2)
        return None
    return _C


CPU = _load()
