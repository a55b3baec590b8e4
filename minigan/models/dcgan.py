"""DCGAN (Radford et al. 2016): all-convolutional G and D, BatchNorm in both, no pooling and no
hidden fully-connected layers; ReLU + Tanh in G, LeakyReLU(0.2) in D; weights ~ N(0, 0.02).

The layer order and names match the PyTorch DCGAN example (``main.0.weight``, ...), so the
state_dict of the same architecture in torch loads as it is.
"""

from __future__ import annotations

from minigan import nn
from minigan.models.base import GANModel, adversarial_step, register
from minigan.nn import init


def _depth(img_size: int) -> int:
    if img_size not in (32, 64):
        raise ValueError(f"dcgan: img_size must be 32 or 64, got {img_size}")
    return 4 if img_size == 64 else 3  # number of stride-2 stages


class Generator(nn.Module):
    """z (N, latent_dim, 1, 1) -> images (N, channels, img_size, img_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, ngf: int = 64, channels: int = 3,
                 img_size: int = 64):
        super().__init__()
        stages = _depth(img_size)
        width = ngf * 2 ** (stages - 1)
        layers = [nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
                  nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.latent_dim = latent_dim
        self.apply(dcgan_init)

    def forward(self, z):
        if z.ndim == 2:
            z = z.reshape(z.shape[0], z.shape[1], 1, 1)
        return self.main(z)


class Discriminator(nn.Module):
    """images -> one logit per image, shape (N,)."""

    def __init__(self, ndf: int = 64, channels: int = 3, img_size: int = 64):
        super().__init__()
        stages = _depth(img_size)
        layers = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x):
        return self.main(x).reshape(-1)


def dcgan_init(module: nn.Module) -> None:
    """The paper's init: conv weights ~ N(0, 0.02); BatchNorm gamma ~ N(1, 0.02), beta = 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        init.normal_(module.weight, 1.0, 0.02)
        init.zeros_(module.bias)


@register
class DCGAN(GANModel):
    name = "dcgan"
    paper = "Radford, Metz & Chintala 2016, Unsupervised Representation Learning with Deep " \
            "Convolutional GANs"
    summary = "all-convolutional G and D with BatchNorm; Adam 2e-4, beta1 0.5"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "nsgan", "n_critic": 1}
    points = True

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": Generator(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": Discriminator(cfg.ndf, self.channels, cfg.img_size)}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)
