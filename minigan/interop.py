"""Moving weights between torch and minigan: state_dicts converted through numpy.

minigan modules use torch's key names and layouts, so conversion is value by value with the
dtype kept (float32 stays float32, num_batches_tracked stays int64). torch is imported only
by ``to_torch_state_dict``; minigan itself never needs it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

import minigan
from minigan.autograd.tensor import Tensor
from minigan.nn.module import IncompatibleKeys, Module


def _torch_to_numpy(key: str, value) -> np.ndarray:
    if not (hasattr(value, "detach") and hasattr(value, "cpu")):
        raise TypeError(f"from_torch_state_dict: value of {key!r} is a {type(value).__name__}, "
                        "not a torch tensor")
    value = value.detach().cpu()
    try:
        return value.numpy()
    except TypeError as e:  # bfloat16 and other dtypes numpy lacks
        raise TypeError(f"from_torch_state_dict: {key!r} has dtype {value.dtype}, which has "
                        f"no numpy equivalent; convert it (e.g. .float()) first") from e


def from_torch_state_dict(torch_state_dict: Mapping, backend: str | None = None
                          ) -> OrderedDict[str, Tensor]:
    """A minigan state_dict (copies, same keys and dtypes) from a torch one."""
    return OrderedDict((key, minigan.tensor(_torch_to_numpy(key, value), backend=backend))
                       for key, value in torch_state_dict.items())


def to_torch_state_dict(state_dict: Mapping[str, Tensor]) -> OrderedDict:
    """A torch state_dict (CPU copies, same keys and dtypes) from a minigan one."""
    import torch

    out = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"to_torch_state_dict: value of {key!r} is a "
                            f"{type(value).__name__}, not a minigan Tensor")
        out[key] = torch.from_numpy(np.array(value.detach().numpy(), copy=True))
    return out


def load_torch_state_dict(module: Module, torch_state_dict: Mapping, strict: bool = True
                          ) -> IncompatibleKeys:
    """Load a torch module's state_dict into the minigan module of the same architecture
    (values take the dtype and backend of the module's own tensors)."""
    return module.load_state_dict(from_torch_state_dict(torch_state_dict), strict)
