"""RMSprop, optionally centered and with momentum (torch.optim.RMSprop)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minigan.autograd import Tensor
from minigan.optim.optimizer import Optimizer, check_hyper


class RMSprop(Optimizer):
    """torch.optim.RMSprop's update: ``square_avg = alpha * square_avg + (1 - alpha) g^2``,
    divided into the step as ``sqrt(square_avg) + eps`` (centered: the square root of the
    variance estimate ``square_avg - grad_avg^2``). State per parameter: ``step``,
    ``square_avg``, and ``momentum_buffer`` / ``grad_avg`` when those are on."""

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_hyper("RMSprop", "lr", group["lr"], "learning rate")
        check_hyper("RMSprop", "eps", group["eps"], "epsilon")
        check_hyper("RMSprop", "momentum", group["momentum"], "momentum")
        check_hyper("RMSprop", "weight_decay", group["weight_decay"], "weight decay")
        check_hyper("RMSprop", "alpha", group["alpha"], "smoothing constant")

    def _update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        centered, momentum = group["centered"], group["momentum"]
        # State created in torch's key order: step, square_avg, momentum_buffer, grad_avg.
        for p in params:
            self._next_step(p)
        square_avgs = [self._state_array(p, "square_avg") for p in params]
        buffers = [self._state_array(p, "momentum_buffer") if momentum > 0 else None
                   for p in params]
        grad_avgs = [self._state_array(p, "grad_avg") if centered else None for p in params]
        params[0]._be.k.rmsprop_step(
            [p.array for p in params], [p.grad.array for p in params], square_avgs,
            grad_avgs, buffers, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum=momentum, centered=centered,
            maximize=group["maximize"])
