"""The f-GAN family (Nowozin et al. 2016, "f-GAN: Training Generative Neural Samplers using
Variational Divergence Minimization"), Table 2 and Table 6.

The discriminator's raw output v passes through the divergence's output activation g_f, so
T(x) = g_f(v) lies in the domain of the Fenchel conjugate f*. The saddle objective is
    F(theta, omega) = E_P[T(x)] - E_Q[f*(T(x))],
which D maximizes (``d_loss = -F``) and G minimizes (``g_loss = -E_Q[f*(T(G(z)))]``, the part
of F that depends on G). ``nonsaturating=True`` is the paper's alternative generator
objective (Section 3.2): G maximizes E_Q[T(G(z))].

f*(g_f(v)) is written in closed form (e.g. f-gan's -log(1 - exp(-softplus(-v))) is
softplus(v)), which is the same function without the cancellation of the literal composition.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from minigan import functional as F
from minigan.autograd.tensor import Tensor
from minigan.losses._common import check_pair, require_tensor
from minigan.losses.adversarial import GANLoss

LOG2 = math.log(2.0)


class Divergence:
    """One row of Nowozin et al.'s tables: g_f and f* composed with g_f."""

    def __init__(self, name: str, activation: Callable, conjugate_of_activation: Callable,
                 formula: str):
        self.name = name
        self.activation = activation
        self.conjugate_of_activation = conjugate_of_activation
        self.formula = formula


DIVERGENCES = {
    "kl": Divergence("kl", lambda v: v, lambda v: (v - 1.0).exp(),
                     "g_f(v) = v, f*(t) = exp(t - 1)"),
    "rkl": Divergence("rkl", lambda v: -(-v).exp(), lambda v: v - 1.0,
                      "g_f(v) = -exp(-v), f*(t) = -1 - log(-t)"),
    "pearson": Divergence("pearson", lambda v: v, lambda v: 0.25 * v * v + v,
                          "g_f(v) = v, f*(t) = t^2 / 4 + t"),
    "hellinger": Divergence("hellinger", lambda v: 1.0 - (-v).exp(), lambda v: v.exp() - 1.0,
                            "g_f(v) = 1 - exp(-v), f*(t) = t / (1 - t)"),
    "js": Divergence("js", lambda v: LOG2 - F.softplus(-v), lambda v: F.softplus(v) - LOG2,
                     "g_f(v) = log 2 - log(1 + exp(-v)), f*(t) = -log(2 - exp(t))"),
    "gan": Divergence("gan", lambda v: -F.softplus(-v), F.softplus,
                      "g_f(v) = -log(1 + exp(-v)), f*(t) = -log(1 - exp(t))"),
}


class FGAN(GANLoss):
    """f-GAN with one of Nowozin et al.'s divergences: D maximizes
    E_P[g_f(v)] - E_Q[f*(g_f(v))]; see the module docstring for G."""

    def __init__(self, divergence: str, nonsaturating: bool = False):
        if divergence not in DIVERGENCES:
            raise ValueError(f"f-gan: unknown divergence {divergence!r}; known: "
                             f"{sorted(DIVERGENCES)}")
        self._div = DIVERGENCES[divergence]
        self.name = "f-gan" if divergence == "gan" else f"f-{divergence}"
        self.nonsaturating = bool(nonsaturating)

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        return self._div.conjugate_of_activation(fake_out).mean() - \
            self._div.activation(real_out).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        if self.nonsaturating:
            return -self._div.activation(fake_out).mean()
        return -self._div.conjugate_of_activation(fake_out).mean()

