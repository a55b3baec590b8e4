"""The compiled CPU kernels of csrc/ (``minigan.kernels._C``), when they were built.

They are optional: ``CPU`` is None where the extension did not build or
``MINIGAN_NO_EXTENSION=1`` is set, and the numpy kernels then run their own numpy code,
which computes the same values (tests run both).
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("MINIGAN_NO_EXTENSION", "") not in ("", "0"):
        return None
    try:
        from minigan.kernels import _C
    except ImportError:
        return None
    return _C


CPU = _load()
