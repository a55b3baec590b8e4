"""``python -m minigan``: the version, for each backend whether it runs here and which kernels it
uses, and which of csrc/'s compiled modules pip built (the CPU kernels, the CUDA kernels)."""

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
    from minigan.kernels import compiled
    for name, module, what in (("_C", compiled.CPU, "CPU kernels"),
                               ("_C_cuda", compiled.CUDA, "CUDA kernels")):
        state = "built" if module is not None else compiled.why_missing(name)
        if name == "_C_cuda" and module is not None:
            d = module.details()
            state += (f" for {d.get('built_archs', '?')}; {d.get('device_count', 0)} device(s) "
                      "here" + (f" ({d['error']})" if d.get("error") else ""))
        print(f"  minigan.kernels.{name:<8} ({what}): {state}")
    print("train: python -m minigan.train --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
