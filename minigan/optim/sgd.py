"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch.optim.SGD)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minigan.autograd import Tensor
from minigan.optim.optimizer import Optimizer, check_hyper


class SGD(Optimizer):
    """torch.optim.SGD's update: with momentum the buffer starts as the first gradient, then
    ``buf = momentum * buf + (1 - dampening) * grad``; Nesterov steps along
    ``grad + momentum * buf``. State: ``momentum_buffer`` per parameter when momentum != 0."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_hyper("SGD", "lr", group["lr"], "learning rate")
        check_hyper("SGD", "momentum", group["momentum"], "momentum")
        check_hyper("SGD", "dampening", group["dampening"], "dampening", low=float("-inf"))
        check_hyper("SGD", "weight_decay", group["weight_decay"], "weight decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True requires momentum > 0 and dampening = 0, "
                             f"got momentum={group['momentum']}, "
                             f"dampening={group['dampening']}")

    def _update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        buffers, fresh = [], []
        for p in params:
            if group["momentum"] != 0:
                fresh.append("momentum_buffer" not in self.state.get(p, {}))
                buffers.append(self._state_array(p, "momentum_buffer"))
            else:
                fresh.append(False)
                buffers.append(None)
        params[0]._be.k.sgd_step(
            [p.array for p in params], [p.grad.array for p in params], buffers, fresh,
            lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"],
            maximize=group["maximize"])
