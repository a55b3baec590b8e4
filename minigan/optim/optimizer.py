"""The Optimizer base: parameter groups, per-parameter state and torch's state_dict format.

An optimizer holds ``param_groups`` (each a dict: ``params`` plus that group's
hyper-parameters, read afresh at every step so schedulers can change them) and ``state``
(per parameter, created at its first update). ``step()`` runs under ``no_grad`` and hands one
group's arrays to the backend's update kernel (``sgd_step``, ``adam_step``, ...): no
arithmetic happens here or through torch.

``state_dict()`` has torch's layout: ``state`` keyed by integer parameter index (counted
across groups in order), each value a dict of minigan Tensors (``step`` a float32 scalar, as
torch keeps it), and ``param_groups`` with ``params`` as index lists. A torch optimizer's
state_dict, its tensors converted to numpy arrays or minigan Tensors, loads and continues
identically, and the reverse holds too.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minigan.autograd import Tensor, enable_grad, no_grad


def check_hyper(optimizer: str, arg: str, value: Any, what: str, low: float = 0.0,
                below: float | None = None) -> None:
    """Raise unless ``low <= value`` (and ``value < below``): the error names the optimizer,
    the argument and the value, like torch's "Invalid learning rate: -1"."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{optimizer}: {what} {arg} must be a real number, got "
                        f"{type(value).__name__} {value!r}")
    if not (low <= value and (below is None or value < below)):  # NaN fails both
        bound = f">= {low:g}" if below is None else f"in [{low:g}, {below:g})"
        raise ValueError(f"{optimizer}: invalid {what} {arg}={value!r} (must be {bound})")


def _param_list(params: Any, optimizer: str) -> list:
    if isinstance(params, Tensor):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{optimizer}: parameters must be an ordered collection (list, tuple, "
                        f"generator); a set's order changes between runs")
    return list(params)


def _check_param(p: Any, optimizer: str) -> None:
    if not isinstance(p, Tensor):
        raise TypeError(f"{optimizer}: can only optimize minigan Tensors, but one of the "
                        f"params is {type(p).__name__}")
    if p.dtype.kind != "f":
        raise TypeError(f"{optimizer}: can only optimize floating tensors, got {p.dtype}")
    if not p.is_leaf:
        raise ValueError(f"{optimizer}: can't optimize a non-leaf Tensor (shape {p.shape}); "
                         f"optimize the leaf it was computed from")


class Optimizer:
    """Base class. Subclasses pass their defaults, implement ``_check_group`` (hyper-parameter
    validation) and ``_update(group, params)`` (one group's update through a kernel)."""

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        if isinstance(params, Tensor):
            raise TypeError(f"{self._name}: params should be an iterable of Tensors or dicts, "
                            f"got a single Tensor; wrap it in a list")
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])

    # --- groups --------------------------------------------------------------------------
    def _check_group(self, group: dict[str, Any]) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones take the
        optimizer's defaults), e.g. to unfreeze layers or give a head its own lr."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}: a parameter group needs a 'params' entry")
        group = dict(param_group)
        group["params"] = _param_list(group["params"], self._name)
        for p in group["params"]:
            _check_param(p, self._name)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        ids = [id(p) for p in group["params"]]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self._name}: a parameter appears twice in one parameter group")
        if set(ids) & {id(p) for g in self.param_groups for p in g["params"]}:
            raise ValueError(f"{self._name}: some parameters appear in more than one "
                             f"parameter group")
        self.param_groups.append(group)

    # --- the update ----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``), or replace it with zeros. A new
        zero array rather than an in-place fill: a gradient may share storage elsewhere."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad = None if set_to_none else Tensor(
                    p._be.zeros(p.shape, p.dtype), p._be)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient (others are skipped, as in
        torch). ``closure`` re-evaluates the loss with grad mode on; its result is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            # Every gradient is checked before anything changes: a bad one leaves no trace.
            work = [(group, self._params_with_grad(group, i))
                    for i, group in enumerate(self.param_groups)]
            for group, params in work:
                for same_backend in _by_backend(params):
                    self._update(group, same_backend)
                for p in params:  # written in place: a graph that saved p can no longer
                    p._version[0] += 1  # backward through it (torch's version check)
        return loss

    def _params_with_grad(self, group: dict[str, Any], group_index: int) -> list[Tensor]:
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            self._check_grad(p, group_index)
        return params

    def _update(self, group: dict[str, Any], params: list[Tensor]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _check_grad(self, p: Tensor, group_index: int) -> None:
        g = p.grad
        where = f"{self._name}: a parameter of shape {p.shape} in group {group_index}"
        if not isinstance(g, Tensor):
            raise TypeError(f"{where} has a grad of type {type(g).__name__}, not a Tensor")
        if g.shape != p.shape:
            raise ValueError(f"{where} has a grad of shape {g.shape}")
        if g.dtype != p.dtype:
            raise TypeError(f"{where} has dtype {p.dtype} but its grad has {g.dtype}")
        if g._be is not p._be:
            raise ValueError(f"{where} is on backend {p.backend} but its grad is on "
                             f"{g.backend}")

    def _state_array(self, p: Tensor, key: str):
        """The backend array of ``state[p][key]``, created as zeros on first use (a
        hyper-parameter turned on mid-run, such as amsgrad, starts its state at zero)."""
        state = self.state.setdefault(p, {})
        if key not in state:
            state[key] = Tensor(p._be.zeros(p.shape, p.dtype), p._be)
        return state[key].array

    def _next_step(self, p: Tensor) -> float:
        """Count this update in ``state[p]['step']`` and return the new count."""
        state = self.state.setdefault(p, {})
        state["step"] = state.get("step", 0.0) + 1.0
        return state["step"]

    # --- state_dict ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A snapshot in torch's format: later steps do not change it."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: {k: _export(v, p._be) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict from ``state_dict()`` or from torch (tensors as numpy arrays,
        minigan Tensors or torch CPU tensors). Parameters are matched by position, groups
        take the saved hyper-parameters, and state arrays are copied in the parameter's
        dtype and backend."""
        saved_groups = state_dict["param_groups"]
        self._check_layout(saved_groups)
        by_index = {int(i): p for saved, group in zip(saved_groups, self.param_groups)
                    for i, p in zip(saved["params"], group["params"])}
        groups = [self._restore_group(saved, group)
                  for saved, group in zip(saved_groups, self.param_groups)]
        state = {}
        for key, entries in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(f"{self._name}.load_state_dict: state for parameter {key}, "
                                 f"which no parameter group lists")
            p = by_index[int(key)]
            state[p] = {name: self._import(p, int(key), name, value)
                        for name, value in entries.items() if value is not None}
        self.param_groups, self.state = groups, state

    def _check_layout(self, saved_groups: list) -> None:
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{self._name}.load_state_dict: the state has "
                             f"{len(saved_groups)} parameter groups but the optimizer has "
                             f"{len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if "params" not in saved:
                raise ValueError(f"{self._name}.load_state_dict: parameter group {i} has no "
                                 f"'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{self._name}.load_state_dict: parameter group {i} has "
                                 f"{len(saved['params'])} parameters in the state but "
                                 f"{len(group['params'])} in the optimizer")

    def _restore_group(self, saved: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
        restored = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
        restored["params"] = group["params"]
        for key, value in self.defaults.items():
            restored.setdefault(key, value)
        self._check_group(restored)
        return restored

    def _import(self, p: Tensor, index: int, name: str, value: Any):
        if name == "step":
            return float(value)
        array = value._be.to_numpy(value.array) if isinstance(value, Tensor) else value
        shape = tuple(array.shape) if hasattr(array, "shape") else np.shape(array)
        if shape != p.shape:
            raise ValueError(f"{self._name}.load_state_dict: state {name!r} of parameter "
                             f"{index} has shape {shape} but the parameter has shape "
                             f"{p.shape}")
        return Tensor(p._be.asarray(array, p.dtype), p._be)


def _export(value: Any, backend) -> Any:
    """A state value as torch stores it: arrays as Tensor copies, the step count as a
    float32 scalar Tensor."""
    if isinstance(value, Tensor):
        return Tensor(value._be.copy(value.array), value._be)
    if isinstance(value, float):
        return Tensor(backend.full((), value, np.float32), backend)
    return copy.deepcopy(value)


def _by_backend(params: list[Tensor]) -> list[list[Tensor]]:
    """Split parameters by backend (one kernel call per backend; normally just one)."""
    split: dict[int, list[Tensor]] = {}
    for p in params:
        split.setdefault(id(p._be), []).append(p)
    return list(split.values())
