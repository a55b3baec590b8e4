"""Losses whose discriminator objective also reads the samples through a distance between
paired real and fake samples: GAN-QP and the loss-sensitive GAN.

Their ``d_loss`` takes the samples as keyword arguments,
``d_loss(real_out, fake_out, real=x_real, fake=x_fake)``: sample i of ``real`` is paired with
sample i of ``fake``, and ``real_out[i]``, ``fake_out[i]`` are D's outputs on them (one value
per sample). The distance is per sample and normalized by the element count (see
``distance``: 'l1' = mean |x_r - x_f|, 'l2' = ||x_r - x_f||_2 / sqrt(n)).
"""

from __future__ import annotations

from minigan import functional as F
from minigan.autograd.tensor import Tensor
from minigan.losses._common import check_pair, per_sample, require_tensor, sample_distance
from minigan.losses.adversarial import GANLoss


class _PairedLoss(GANLoss):
    def _pairs(self, real_out, fake_out, real, fake):
        who = f"{self.name}.d_loss"
        if real is None or fake is None:
            raise ValueError(f"{who}: needs the samples for its distance term: "
                             "d_loss(real_out, fake_out, real=x_real, fake=x_fake)")
        check_pair(who, real_out, fake_out, same_shape=True)
        r, f = per_sample(real_out, who, "real_out"), per_sample(fake_out, who, "fake_out")
        dist = sample_distance(real, fake, self.distance, who)
        if dist.shape != r.shape:
            raise ValueError(f"{who}: {dist.shape[0]} sample pairs but {r.shape[0]} outputs")
        return r, f, dist


class GANQP(_PairedLoss):
    """Su 2018, "GAN-QP: A Novel GAN Framework without Gradient Vanishing and Lipschitz
    Constraint": with paired samples and d = d(x_r, x_f),
    D: E[-(T(x_r) - T(x_f)) + (T(x_r) - T(x_f))^2 / (2 lam d)];  G: E[T(x_r) - T(x_f)].
    The quadratic term replaces a Lipschitz constraint (lam=10 and 'l1' as in the paper)."""

    name = "gan-qp"

    def __init__(self, lam: float = 10.0, distance: str = "l1"):
        if lam <= 0:
            raise ValueError(f"{self.name}: lam must be positive, got {lam}")
        self.lam, self.distance = float(lam), distance

    def d_loss(self, real_out: Tensor, fake_out: Tensor, *, real: Tensor | None = None,
               fake: Tensor | None = None) -> Tensor:
        r, f, dist = self._pairs(real_out, fake_out, real, fake)
        gap = r - f
        return (-gap + gap * gap / (2.0 * self.lam * dist)).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        self._need_real(real_out, fake_out, "g_loss")
        return real_out.mean() - fake_out.mean()


class LossSensitive(_PairedLoss):
    """Qi 2017, "Loss-Sensitive Generative Adversarial Networks on Lipschitz Densities": D's
    output is a loss L(x), low on real data. With paired samples and margin
    Delta(x_r, x_f) = d(x_r, x_f):
    D: E[L(x_r)] + lam E[relu(Delta(x_r, x_f) + L(x_r) - L(x_f))];  G: E[L(G(z))]."""

    name = "ls-gan"

    def __init__(self, lam: float = 1.0, distance: str = "l1"):
        if lam <= 0:
            raise ValueError(f"{self.name}: lam must be positive, got {lam}")
        self.lam, self.distance = float(lam), distance

    def d_loss(self, real_out: Tensor, fake_out: Tensor, *, real: Tensor | None = None,
               fake: Tensor | None = None) -> Tensor:
        r, f, margin = self._pairs(real_out, fake_out, real, fake)
        return r.mean() + self.lam * F.relu(margin + r - f).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        return fake_out.mean()
