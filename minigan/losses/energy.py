"""Energy-based losses with an auto-encoder discriminator: EBGAN and BEGAN.

Here D's "output" is an energy per sample, the reconstruction error of its auto-encoder:
``reconstruction_energy(x, D(x))``. The losses take those energies where the other losses
take logits.
"""

from __future__ import annotations

import numpy as np

import minigan
from minigan import functional as F
from minigan.autograd.tensor import Tensor
from minigan.losses._common import check_pair, require_tensor
from minigan.losses.adversarial import GANLoss


def reconstruction_energy(x: Tensor, reconstruction: Tensor, power: float = 1.0) -> Tensor:
    """Per-sample mean |x - reconstruction|^power over all non-batch dims: (N,).
    power=1 is BEGAN's L(v) = |v - D(v)| (eta = 1); power=2 is EBGAN's squared error."""
    who = "reconstruction_energy"
    require_tensor(x, who, "x")
    require_tensor(reconstruction, who, "reconstruction")
    if x.shape != reconstruction.shape or x.ndim == 0:
        raise ValueError(f"{who}: x of shape {x.shape} and reconstruction of shape "
                         f"{reconstruction.shape} must be batches of the same shape")
    diff = (x - reconstruction).reshape(x.shape[0], -1)
    err = diff * diff if power == 2 else diff.abs() if power == 1 else diff.abs() ** power
    return err.mean(1)


def pulling_away_term(embeddings: Tensor) -> Tensor:
    """Zhao et al. 2017 (EBGAN), the pulling-away term on a batch of encoder embeddings S:
    f_PT(S) = 1 / (N (N - 1)) sum_{i != j} (S_i . S_j / (||S_i|| ||S_j||))^2."""
    who = "pulling_away_term"
    require_tensor(embeddings, who, "embeddings")
    if embeddings.ndim < 2 or embeddings.shape[0] < 2:
        raise ValueError(f"{who}: embeddings must be a batch (N >= 2, features...), got shape "
                         f"{embeddings.shape}")
    n = embeddings.shape[0]
    flat = embeddings.reshape(n, -1)
    unit = flat / flat.norm(2, dim=1, keepdim=True)
    cosine = unit @ unit.t()
    off_diagonal = minigan.tensor(1.0 - np.eye(n), dtype=flat.dtype, backend=flat.backend)
    return (cosine * cosine * off_diagonal).sum() / (n * (n - 1))


class EBGAN(GANLoss):
    """Zhao et al. 2017, "Energy-based Generative Adversarial Network", on energies D(.):
    D: E[D(x)] + E[relu(m - D(G(z)))];  G: E[D(G(z))] + pt_weight * f_PT(S), the pulling-away
    term added when the encoder's embeddings S of the fake batch are given (paper:
    pt_weight = 0.1; m depends on the energy scale)."""

    name = "ebgan"

    def __init__(self, margin: float = 1.0, pt_weight: float = 0.1):
        if margin <= 0:
            raise ValueError(f"{self.name}: margin must be positive, got {margin}")
        self.margin, self.pt_weight = float(margin), float(pt_weight)

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        return real_out.mean() + F.relu(self.margin - fake_out).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None, *,
               embeddings: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        loss = fake_out.mean()
        if embeddings is not None and self.pt_weight:
            loss = loss + self.pt_weight * pulling_away_term(embeddings)
        return loss


class BEGAN(GANLoss):
    """Berthelot et al. 2017, "BEGAN: Boundary Equilibrium GAN", on energies L(.) (see
    reconstruction_energy): D: L(x) - k_t L(G(z));  G: L(G(z)). Stateful: after each step,
    ``update(real_out, fake_out)`` applies the proportional control
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) and returns the convergence
    measure M_global = L(x) + |gamma L(x) - L(G(z))|."""

    name = "began"

    def __init__(self, gamma: float = 0.5, lambda_k: float = 0.001, k: float = 0.0):
        if not 0.0 <= k <= 1.0:
            raise ValueError(f"{self.name}: k must be in [0, 1], got {k}")
        self.gamma, self.lambda_k, self.k = float(gamma), float(lambda_k), float(k)
        self.measure: float | None = None

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        return real_out.mean() - self.k * fake_out.mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        return fake_out.mean()

    def update(self, real_out: Tensor, fake_out: Tensor) -> float:
        """One step of k_t's control; returns (and stores in ``measure``) M_global."""
        check_pair(f"{self.name}.update", real_out, fake_out)
        real_energy = float(real_out.detach().mean().item())
        fake_energy = float(fake_out.detach().mean().item())
        balance = self.gamma * real_energy - fake_energy
        self.k = min(max(self.k + self.lambda_k * balance, 0.0), 1.0)
        self.measure = real_energy + abs(balance)
        return self.measure
