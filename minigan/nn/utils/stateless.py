"""functional_call: run a module with some parameters/buffers replaced (torch.func's)."""

from __future__ import annotations

from collections.abc import Mapping

from minigan.autograd.tensor import Tensor
from minigan.nn.module import Module


def _slot(module: Module, name: str) -> tuple[dict, str]:
    """The table (a module's _parameters or _buffers) holding a dotted name, and the key."""
    owner_path, _, key = name.rpartition(".")
    owner = module.get_submodule(owner_path)
    for table in (owner._parameters, owner._buffers):
        if key in table:
            return table, key
    raise KeyError(f"functional_call: {type(module).__name__} has no parameter or buffer "
                   f"{name!r}")


def functional_call(module: Module, parameters_and_buffers: Mapping[str, Tensor], args=(),
                    kwargs: Mapping | None = None):
    """``module(*args, **kwargs)`` with the named tensors standing in for its parameters and
    buffers for this call only. The gradient then flows to the given tensors (any Tensor,
    not only Parameters): what unrolled-GAN steps and per-parameter gradient checks need."""
    if not isinstance(args, tuple):
        args = (args,)
    swapped = []
    try:
        for name, tensor in parameters_and_buffers.items():
            table, key = _slot(module, name)
            swapped.append((table, key, table[key]))
            table[key] = tensor
        return module(*args, **(kwargs or {}))
    finally:
        for table, key, old in reversed(swapped):
            table[key] = old
