"""torch twins of minigan's models, for benchmarks and parity tests."""

from __future__ import annotations

import torch.nn as tnn


def torch_dcgan(latent_dim, ngf, ndf, channels, img_size):
    """The PyTorch DCGAN example's modules, built with torch.nn."""
    stages = 4 if img_size == 64 else 3
    width = ngf * 2 ** (stages - 1)
    g = [tnn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False), tnn.BatchNorm2d(width),
         tnn.ReLU(True)]
    for _ in range(stages - 1):
        g += [tnn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
              tnn.BatchNorm2d(width // 2), tnn.ReLU(True)]
        width //= 2
    g += [tnn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), tnn.Tanh()]
    d = [tnn.Conv2d(channels, ndf, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2, True)]
    width = ndf
    for _ in range(stages - 1):
        d += [tnn.Conv2d(width, width * 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(width * 2),
              tnn.LeakyReLU(0.2, True)]
        width *= 2
    d += [tnn.Conv2d(width, 1, 4, 1, 0, bias=False)]

    class Wrap(tnn.Module):
        def __init__(self, layers):
            super().__init__()
            self.main = tnn.Sequential(*layers)

    return Wrap(g), Wrap(d)
