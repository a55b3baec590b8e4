"""``import minigan.nn.functional as F``: the same module contents as ``minigan.functional``
(torch.nn.functional's names), so a torch script's ``F.relu`` and minigan's are one function.

Every public name of minigan.functional is re-exported here (the very same objects); a name
added there later is found here too (module ``__getattr__``).
"""

from __future__ import annotations

import minigan.functional as _functional
from minigan.functional import *  # noqa: F403 - the point of this module

__all__ = list(_functional.__all__)


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(_functional, name)
    except AttributeError:
        raise AttributeError(f"module 'minigan.nn.functional' (= minigan.functional) has no "
                             f"attribute {name!r}") from None


def __dir__() -> list:
    return sorted(set(globals()) | set(dir(_functional)))
