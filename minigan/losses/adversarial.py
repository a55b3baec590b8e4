"""Adversarial losses on raw discriminator outputs (logits).

Every loss is an object with ``d_loss(real_out, fake_out)`` (minimized by D) and
``g_loss(fake_out, real_out=None)`` (minimized by G); ``real_out`` is only read by the
relativistic losses. Means run over every element, so (N,) and (N, 1) outputs give the same.
"""

from __future__ import annotations

import inspect

from minigan import functional as F
from minigan.autograd.tensor import Tensor
from minigan.losses._common import check_pair, require_tensor


class GANLoss:
    """Base of the adversarial losses: a name, hyper-parameters, and the two objectives."""

    name = ""
    g_uses_real = False  # relativistic losses read D(x_r) in the generator objective too

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define d_loss")

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define g_loss")

    def hyper(self) -> dict:
        """The constructor's arguments, as currently set."""
        names = inspect.signature(type(self).__init__).parameters
        return {k: getattr(self, k) for k in names if k != "self" and hasattr(self, k)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper().items())
        return f"losses.get({self.name!r}{', ' if args else ''}{args})"

    def _need_real(self, real_out, fake_out, op: str) -> None:
        if real_out is None:
            raise ValueError(f"{self.name}.{op}: this loss compares real and fake outputs; "
                             "call g_loss(fake_out, real_out)")
        check_pair(f"{self.name}.{op}", real_out, fake_out, same_shape=False)


def _bce_real(real_out: Tensor, label: float) -> Tensor:
    """Cross-entropy of sigmoid(real_out) against the target ``label`` (1, or 1 - smoothing)."""
    loss = F.softplus(-real_out)
    if label != 1.0:
        loss = label * loss + (1.0 - label) * F.softplus(real_out)
    return loss.mean()


class Minimax(GANLoss):
    """Goodfellow et al. 2014 (MMGAN), D(x) = sigmoid(logit):
    D: -E[log D(x)] - E[log(1 - D(G(z)))];  G: E[log(1 - D(G(z)))] (saturating).

    ``real_label`` < 1 is one-sided label smoothing (Salimans et al. 2016): the real target
    becomes e.g. 0.9 while the fake target stays 0.
    """

    name = "minimax"

    def __init__(self, real_label: float = 1.0):
        if not 0.0 < real_label <= 1.0:
            raise ValueError(f"{self.name}: real_label must be in (0, 1], got {real_label}")
        self.real_label = float(real_label)

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        return _bce_real(real_out, self.real_label) + F.softplus(fake_out).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        return -F.softplus(fake_out).mean()


class NonSaturating(Minimax):
    """Goodfellow et al. 2014, the non-saturating generator: G minimizes -E[log D(G(z))];
    D as in minimax (with optional one-sided label smoothing)."""

    name = "nsgan"

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        return F.softplus(-fake_out).mean()


class LeastSquares(GANLoss):
    """Mao et al. 2017 (LSGAN): D: 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2];
    G: 1/2 E[(D(G(z)) - c)^2]. Defaults a=0, b=1, c=1; the paper's Pearson chi^2 choice is
    a=-1, b=1, c=0."""

    name = "lsgan"

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0):
        self.a, self.b, self.c = float(a), float(b), float(c)

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        return 0.5 * ((real_out - self.b) ** 2).mean() + 0.5 * ((fake_out - self.a) ** 2).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        return 0.5 * ((fake_out - self.c) ** 2).mean()


class Wasserstein(GANLoss):
    """Arjovsky et al. 2017 (WGAN), critic outputs: D: E[D(G(z))] - E[D(x)]; G: -E[D(G(z))].
    Needs a Lipschitz constraint: weight clipping, a gradient penalty, or normalization."""

    name = "wgan"

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        return fake_out.mean() - real_out.mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        return -fake_out.mean()


class Hinge(GANLoss):
    """Lim & Ye 2017, Miyato et al. 2018 (SNGAN): D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];
    G: -E[D(G(z))]."""

    name = "hinge"

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        return F.relu(1.0 - real_out).mean() + F.relu(1.0 + fake_out).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        require_tensor(fake_out, f"{self.name}.g_loss", "fake_out")
        return -fake_out.mean()


class RelativisticStandard(GANLoss):
    """Jolicoeur-Martineau 2018 (RSGAN), on paired samples:
    D: -E[log sigmoid(C(x_r) - C(x_f))];  G: -E[log sigmoid(C(x_f) - C(x_r))]."""

    name = "rsgan"
    g_uses_real = True

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out, same_shape=True)
        return F.softplus(fake_out - real_out).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        self._need_real(real_out, fake_out, "g_loss")
        check_pair(f"{self.name}.g_loss", real_out, fake_out, same_shape=True)
        return F.softplus(real_out - fake_out).mean()


def _relativistic_average(real_out: Tensor, fake_out: Tensor):
    """C(x_r) - E[C(x_f)] and C(x_f) - E[C(x_r)]."""
    return real_out - fake_out.mean(), fake_out - real_out.mean()


class RelativisticAverage(GANLoss):
    """Jolicoeur-Martineau 2018 (RaGAN), with D~(x_r) = C(x_r) - E[C(x_f)] and
    D~(x_f) = C(x_f) - E[C(x_r)]:
    D: -E[log sigmoid(D~(x_r))] - E[log(1 - sigmoid(D~(x_f)))];  G: the same with the roles
    of real and fake swapped."""

    name = "ragan"
    g_uses_real = True

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        rel_real, rel_fake = _relativistic_average(real_out, fake_out)
        return F.softplus(-rel_real).mean() + F.softplus(rel_fake).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        self._need_real(real_out, fake_out, "g_loss")
        rel_real, rel_fake = _relativistic_average(real_out, fake_out)
        return F.softplus(-rel_fake).mean() + F.softplus(rel_real).mean()


class RelativisticAverageHinge(GANLoss):
    """Jolicoeur-Martineau 2018 (RaHinge): D: E[relu(1 - D~(x_r))] + E[relu(1 + D~(x_f))];
    G: E[relu(1 - D~(x_f))] + E[relu(1 + D~(x_r))], with D~ as in ragan."""

    name = "rahinge"
    g_uses_real = True

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        check_pair(f"{self.name}.d_loss", real_out, fake_out)
        rel_real, rel_fake = _relativistic_average(real_out, fake_out)
        return F.relu(1.0 - rel_real).mean() + F.relu(1.0 + rel_fake).mean()

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        self._need_real(real_out, fake_out, "g_loss")
        rel_real, rel_fake = _relativistic_average(real_out, fake_out)
        return F.relu(1.0 - rel_fake).mean() + F.relu(1.0 + rel_real).mean()

