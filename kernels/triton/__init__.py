"""The Triton backend's kernels, one module per family. ``KERNELS`` is their union: the
backend's kernel table. Import this package only after deciding on TRITON_INTERPRET (Triton
reads it when the kernels are decorated)."""

import importlib
import os

# Fused multiply-add contraction on (Triton 3.9 warns that its default will change): the
# kernels are written and checked against torch with it on, as torch's CUDA kernels compile.
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

_NAMES = ("elementwise", "reduce", "index", "matmul", "conv", "norm", "pool", "optim", "random",
          "penalty")
MODULES = [importlib.import_module(f"minigan.kernels.triton.{_name}") for _name in _NAMES]

KERNELS = {}
for _module in MODULES:
    KERNELS.update(getattr(_module, "KERNELS", {}))


def compile_cases() -> list:
    """Every configuration any kernel module can launch (for the sm_90 compile test)."""
    return [case for module in MODULES for case in module.compile_cases()]
