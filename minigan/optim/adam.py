"""Adam and AdamW, with AMSGrad (torch.optim.Adam / torch.optim.AdamW)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minigan.autograd import Tensor
from minigan.optim.optimizer import Optimizer, check_hyper


class Adam(Optimizer):
    """torch.optim.Adam's update, bias-corrected moments with ``eps`` added after the square
    root. ``weight_decay`` is L2 (added to the gradient) unless ``decoupled_weight_decay``,
    which is AdamW. State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq`` and, with
    amsgrad, ``max_exp_avg_sq``."""

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=_pair(betas, type(self).__name__), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        name = self._name
        check_hyper(name, "lr", group["lr"], "learning rate")
        check_hyper(name, "eps", group["eps"], "epsilon")
        group["betas"] = _pair(group["betas"], name)
        for i, beta in enumerate(group["betas"]):
            check_hyper(name, f"betas[{i}]", beta, "beta parameter", below=1.0)
        check_hyper(name, "weight_decay", group["weight_decay"], "weight decay")

    def _update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        amsgrad = group["amsgrad"]
        beta1, beta2 = group["betas"]
        steps = [self._next_step(p) for p in params]  # first: torch's state key order
        params[0]._be.k.adam_step(
            [p.array for p in params], [p.grad.array for p in params],
            [self._state_array(p, "exp_avg") for p in params],
            [self._state_array(p, "exp_avg_sq") for p in params],
            [self._state_array(p, "max_exp_avg_sq") if amsgrad else None for p in params],
            steps, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], amsgrad=amsgrad, maximize=group["maximize"],
            decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``param *= 1 - lr * wd`` before
    the Adam step, instead of adding ``wd * param`` to the gradient. torch's defaults
    (weight_decay=1e-2)."""

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def _check_group(self, group: dict[str, Any]) -> None:
        group["decoupled_weight_decay"] = True  # as torch's AdamW: loaded groups stay AdamW
        super()._check_group(group)


def _pair(betas: Any, optimizer: str) -> tuple:
    """betas as a tuple (a JSON round trip makes it a list)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{optimizer}: betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(betas)
