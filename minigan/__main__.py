"""``python -m minigan``: the version, and for each backend whether it runs here and which
kernels it uses (for numpy: whether pip built the compiled CPU kernels)."""

from __future__ import annotations

import sys

import minigan
from minigan.backends import _BACKEND_MODULES, BackendUnavailableError, get_backend


def main() -> int:
    print(f"minigan {minigan.__version__} (python {sys.version.split()[0]})")
    for name in _BACKEND_MODULES:
        try:
            backend = get_backend(name)
        except BackendUnavailableError as e:
            print(f"  {name:<7} cannot run here: {e}")
            continue
        print(f"  {name:<7} runs: {backend.describe()}")
    print("train: python -m minigan.train --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
