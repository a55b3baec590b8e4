"""GAN losses, gradient penalties and training tricks, written with minigan ops only.

``get(name, **hyper)`` builds an adversarial loss: an object with ``d_loss(real_out,
fake_out)`` and ``g_loss(fake_out, real_out=None)`` on raw discriminator outputs. Penalties
and Lipschitz wrappers live in ``penalties``; training tricks in ``tricks``.
"""

from __future__ import annotations

import functools
import inspect

from minigan.losses import tricks
from minigan.losses.adversarial import (
    GANLoss,
    Hinge,
    LeastSquares,
    Minimax,
    NonSaturating,
    RelativisticAverage,
    RelativisticAverageHinge,
    RelativisticStandard,
    Wasserstein,
)
from minigan.losses.energy import BEGAN, EBGAN, pulling_away_term, reconstruction_energy
from minigan.losses.fgan import DIVERGENCES, FGAN
from minigan.losses.paired import GANQP, LossSensitive
from minigan.losses.penalties import (
    PENALTIES,
    GradientNormalization,
    PiecewiseGradientNormalization,
    clip_weights,
    gradient_penalty,
    input_gradient,
)

LOSSES = {
    "minimax": Minimax,
    "nsgan": NonSaturating,
    "lsgan": LeastSquares,
    "wgan": Wasserstein,
    "hinge": Hinge,
    "rsgan": RelativisticStandard,
    "ragan": RelativisticAverage,
    "rahinge": RelativisticAverageHinge,
    **{("f-gan" if d == "gan" else f"f-{d}"): functools.partial(FGAN, d) for d in DIVERGENCES},
    "gan-qp": GANQP,
    "ebgan": EBGAN,
    "began": BEGAN,
    "ls-gan": LossSensitive,
}

__all__ = [
    "get", "names", "LOSSES", "GANLoss", "gradient_penalty", "input_gradient", "PENALTIES",
    "clip_weights", "GradientNormalization", "PiecewiseGradientNormalization",
    "reconstruction_energy", "pulling_away_term", "tricks",
]


def names() -> list:
    """The loss names ``get`` knows."""
    return list(LOSSES)


def get(name: str, **hyper) -> GANLoss:
    """The adversarial loss ``name`` with hyper-parameters ``hyper`` (see each class)."""
    if name not in LOSSES:
        raise ValueError(f"losses.get: unknown loss {name!r}; known: {', '.join(LOSSES)}")
    factory = LOSSES[name]
    accepted = [p for p in inspect.signature(factory).parameters if p != "self"]
    unknown = sorted(set(hyper) - set(accepted))
    if unknown:
        raise TypeError(f"losses.get({name!r}): unknown hyper-parameter(s) {unknown}; "
                        f"{name} takes {accepted or 'none'}")
    return factory(**hyper)
