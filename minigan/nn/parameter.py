"""Parameter: the Tensor subclass that a Module registers as learnable state."""

from __future__ import annotations

import minigan
from minigan.autograd.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default; assigning one to a Module attribute
    registers it, so it shows up in ``parameters()`` and ``state_dict()``.

    It shares storage with ``data`` (like ``torch.nn.Parameter``); ops on it return plain
    Tensors.
    """

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = minigan.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: data must be a minigan Tensor, got "
                            f"{type(data).__name__}")
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"Parameter: only floating tensors can require grad, got "
                            f"{data.dtype} (pass requires_grad=False)")
        super().__init__(data.array, data.backend, requires_grad)
        self._version = data._version  # the same storage: writes through either are counted

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
