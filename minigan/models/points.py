"""MLP networks for the 2-D point datasets (``--data ring8|grid25``), the setting of the
mode-collapse experiments: the unrolled GAN's ring (Metz et al. 2017), WGAN-GP's toy datasets
(Gulrajani et al. 2017) and PacGAN's grid (Lin et al. 2018).

Both networks have three hidden layers of ReLU units, the shape of Gulrajani et al.'s toy
networks (their width is 512; here it is ``2 x --ngf`` / ``2 x --ndf``, 128 at the defaults,
which is ample for 2-D mixtures and keeps a CPU step around a millisecond). G's output is
linear: the points are not squashed into [-1, 1]. A model opts in with ``points = True``
(:class:`minigan.models.base.GANModel`) and may replace these in ``build_points``.
"""

from __future__ import annotations

from minigan import nn


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class PointGenerator(nn.Module):
    """z (N, latent_dim) -> points (N, dim)."""

    def __init__(self, latent_dim: int = 100, hidden: int = 128, dim: int = 2, depth: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _mlp([latent_dim] + [hidden] * depth + [dim])

    def forward(self, z):
        return self.net(z.reshape(z.shape[0], -1))


class PointDiscriminator(nn.Module):
    """points (N, dim) -> one logit (or critic value) per point, (N,)."""

    def __init__(self, hidden: int = 128, dim: int = 2, depth: int = 3, out: int = 1):
        super().__init__()
        self.net = _mlp([dim] + [hidden] * depth + [out])
        self.out = out

    def forward(self, x):
        y = self.net(x.reshape(x.shape[0], -1))
        return y.reshape(-1) if self.out == 1 else y
