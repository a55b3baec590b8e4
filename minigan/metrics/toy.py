"""The 2-D toy mixtures of the mode-collapse literature and their measure.

- ``RING8``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02 (unrolled GAN,
  Metz et al. 2017; VEEGAN, Srivastava et al. 2017).
- ``GRID25``: 25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN; PacGAN, Lin et
  al. 2018).

``mixture_quality(samples, mixture)``: a sample is *high quality* if it lies within 3 standard
deviations of its nearest mode; a mode is *covered* if at least ``min_fraction`` of the samples
(default 1%, e.g. 20 of 2,000) are high-quality samples nearest to it. It also reports the
reverse KL divergence between the modes' share of the high-quality samples and the uniform
mixture weights (PacGAN's third figure) and the mean distance to the nearest mode.
``bench/bench_ring.py`` measures the ring with the same convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minigan.metrics.scores import MetricError, as_array


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic 2-D Gaussians."""

    name: str
    centres: np.ndarray  # (modes, 2)
    std: float

    @property
    def modes(self) -> int:
        return len(self.centres)

    def sample(self, n: int, rng: np.random.Generator | int | None = 0,
               dtype=np.float32) -> np.ndarray:
        """(n, 2) samples; ``rng`` a numpy Generator or a seed."""
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        modes = rng.integers(0, self.modes, n)
        return (self.centres[modes] + self.std * rng.standard_normal((n, 2))).astype(dtype)


def _ring(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    angle = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def _grid(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    ticks = spacing * (np.arange(side) - (side - 1) / 2)
    return np.array([(x, y) for x in ticks for y in ticks], dtype=np.float64)


RING8 = Mixture("ring8", _ring(), 0.02)
GRID25 = Mixture("grid25", _grid(), 0.05)
MIXTURES = {m.name: m for m in (RING8, GRID25)}


def get_mixture(mixture: str | Mixture) -> Mixture:
    if isinstance(mixture, Mixture):
        return mixture
    if mixture not in MIXTURES:
        raise MetricError(f"mixture_quality: unknown mixture {mixture!r}; choose one of "
                          f"{', '.join(MIXTURES)}")
    return MIXTURES[mixture]


def mixture_quality(samples, mixture: str | Mixture = "ring8", n_std: float = 3.0,
                    min_fraction: float = 0.01) -> dict:
    """Mode coverage and sample quality of (N, 2) samples for a toy mixture.

    Returns ``modes`` (covered modes), ``modes_total``, ``high_quality`` (share of samples
    within ``n_std`` standard deviations of their nearest mode, in [0, 1]), ``reverse_kl``
    (KL(q || uniform) of the covered-mode histogram q of the high-quality samples; ``inf``
    without any), and ``mean_dist`` (mean distance to the nearest mode).
    """
    mix = get_mixture(mixture)
    x = as_array(samples, "samples", "mixture_quality")
    if x.shape[1] != 2:
        raise MetricError(f"mixture_quality: samples must be (N, 2) points, got {x.shape}")
    if len(x) == 0:
        raise MetricError("mixture_quality: no samples")
    dist = np.linalg.norm(x[:, None, :] - mix.centres[None], axis=2)
    nearest, d = dist.argmin(axis=1), dist.min(axis=1)
    good = d <= n_std * mix.std
    counts = np.bincount(nearest[good], minlength=mix.modes)
    covered = int((counts >= min_fraction * len(x)).sum())
    if counts.sum():
        q = counts / counts.sum()
        nz = q > 0
        reverse_kl = float((q[nz] * np.log(q[nz] * mix.modes)).sum())
    else:
        reverse_kl = float("inf")
    return {"modes": covered, "modes_total": mix.modes, "high_quality": float(good.mean()),
            "reverse_kl": reverse_kl, "mean_dist": float(d.mean())}
