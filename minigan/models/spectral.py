"""Spectrally normalized ResNet GANs: SNGAN (Miyato et al. 2018) and SAGAN (Zhang et al. 2019).

SNGAN: the paper's ResNet G and D for 32x32 images (its CIFAR-10 architecture) at width
``ngf``/``ndf``: G is a linear layer to a 4x4 map of 4*ngf channels, one up-sampling residual
block per doubling (BN, ReLU, nearest 2x upsampling, 3x3 conv, BN, ReLU, 3x3 conv; shortcut:
upsampling and a 1x1 conv), then BN, ReLU, a 3x3 conv and tanh. D (2*ndf channels) is the
"optimized" first block (conv, ReLU, conv, 2x2 average pooling; shortcut: pooling then a 1x1
conv), down-sampling residual blocks to 8x8 (ReLU, conv, ReLU, conv, pooling; shortcut: 1x1
conv then pooling), two residual blocks without resampling, ReLU, a sum over positions and a
linear layer. Every weight of D is spectrally normalized (``nn.utils.spectral_norm``: the
power-iteration vectors ``*_u``/``*_v`` are buffers, so checkpoints carry them and a resumed
run is bit-identical). Hinge loss, Adam 2e-4 (0, 0.9), 5 D steps per G step.

SAGAN: the same residual networks with a self-attention block (``nn.SelfAttention``) after
G's 16x16 block and after D's first (16x16) block, spectral norm on every weight of G and of D
(the attention's 1x1 convolutions included), hinge loss and TTUR: Adam with betas (0, 0.9),
G at 1e-4 and D at 4e-4, one D step per G step.
"""

from __future__ import annotations

import math

import minigan
from minigan import nn
from minigan.models.base import GANModel, adversarial_step, register
from minigan.nn import init
from minigan.nn.utils import spectral_norm


def _layer(module, gain: float, sn: bool):
    init.xavier_uniform_(module.weight, gain)
    if module.bias is not None:
        init.zeros_(module.bias)
    return spectral_norm(module) if sn else module


def _conv(cin: int, cout: int, k: int, sn: bool, gain: float = math.sqrt(2)):
    return _layer(nn.Conv2d(cin, cout, k, 1, k // 2), gain, sn)


def _attention(channels: int, sn: bool) -> nn.SelfAttention:
    attn = nn.SelfAttention(channels)
    for conv in (attn.f, attn.g, attn.h):
        _layer(conv, 1.0, sn)
    return attn


def _ups(img_size: int) -> int:
    if img_size not in (32, 64):
        raise ValueError(f"resnet G/D: img_size must be 32 or 64, got {img_size}")
    return int(round(math.log2(img_size))) - 2  # 4x4 -> img_size


class GenBlock(nn.Module):
    """BN, ReLU, upsample, conv3x3, BN, ReLU, conv3x3, plus upsample -> conv1x1 shortcut."""

    def __init__(self, cin: int, cout: int, sn: bool = False):
        super().__init__()
        self.b1 = nn.BatchNorm2d(cin)
        self.c1 = _conv(cin, cout, 3, sn)
        self.b2 = nn.BatchNorm2d(cout)
        self.c2 = _conv(cout, cout, 3, sn)
        self.c_sc = _conv(cin, cout, 1, sn, 1.0)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        h = self.c1(self.up(self.b1(x).relu()))
        h = self.c2(self.b2(h).relu())
        return h + self.c_sc(self.up(x))


class DisBlock(nn.Module):
    """ReLU, conv3x3, ReLU, conv3x3 (then 2x2 average pooling when ``down``), plus a 1x1
    conv shortcut (then pooling) where the shape changes."""

    def __init__(self, cin: int, cout: int, down: bool, sn: bool = True):
        super().__init__()
        self.down = down
        self.c1 = _conv(cin, cout, 3, sn)
        self.c2 = _conv(cout, cout, 3, sn)
        self.learnable_sc = cin != cout or down
        if self.learnable_sc:
            self.c_sc = _conv(cin, cout, 1, sn, 1.0)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        h = self.c2(self.c1(x.relu()).relu())
        sc = x
        if self.learnable_sc:
            sc = self.c_sc(x)
        if self.down:
            h, sc = self.pool(h), self.pool(sc)
        return h + sc


class OptimizedDisBlock(nn.Module):
    """D's first block: conv3x3, ReLU, conv3x3, pooling, plus pooling -> conv1x1 shortcut."""

    def __init__(self, cin: int, cout: int, sn: bool = True):
        super().__init__()
        self.c1 = _conv(cin, cout, 3, sn)
        self.c2 = _conv(cout, cout, 3, sn)
        self.c_sc = _conv(cin, cout, 1, sn, 1.0)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        h = self.pool(self.c2(self.c1(x).relu()))
        return h + self.c_sc(self.pool(x))


class ResNetGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, channels, img_size, img_size) in [-1, 1]; with
    ``sn`` every weight spectrally normalized, with ``attention`` a self-attention block
    after the block whose output is 16x16."""

    def __init__(self, latent_dim: int = 128, ngf: int = 64, channels: int = 3,
                 img_size: int = 32, sn: bool = False, attention: bool = False):
        super().__init__()
        self.width = width = ngf * 4
        self.l1 = _layer(nn.Linear(latent_dim, width * 16), 1.0, sn)
        blocks: list = []
        size = 4
        for _ in range(_ups(img_size)):
            blocks.append(GenBlock(width, width, sn))
            size *= 2
            if attention and size == 16:
                blocks.append(_attention(width, sn))
        self.blocks = nn.Sequential(*blocks)
        self.b_out = nn.BatchNorm2d(width)
        self.c_out = _conv(width, channels, 3, sn, 1.0)

    def forward(self, z):
        z = z.reshape(z.shape[0], -1)
        h = self.l1(z).reshape(z.shape[0], self.width, 4, 4)
        h = self.blocks(h)
        return self.c_out(self.b_out(h).relu()).tanh()


class ResNetDiscriminator(nn.Module):
    """images -> one score per image (N,); spectral norm on every weight; with
    ``attention`` a self-attention block after the first (16x16) block."""

    def __init__(self, ndf: int = 64, channels: int = 3, img_size: int = 32,
                 attention: bool = False):
        super().__init__()
        width = ndf * 2
        blocks: list = [OptimizedDisBlock(channels, width)]
        if attention:
            blocks.append(_attention(width, True))
        for _ in range(_ups(img_size) - 2):  # down to 8x8
            blocks.append(DisBlock(width, width, down=True))
        blocks += [DisBlock(width, width, down=False), DisBlock(width, width, down=False)]
        self.blocks = nn.Sequential(*blocks)
        self.l_out = _layer(nn.Linear(width, 1), 1.0, True)

    def forward(self, x):
        h = self.blocks(x).relu().sum((2, 3))  # global sum pooling
        return self.l_out(h).reshape(-1)


@register
class SNGAN(GANModel):
    name = "sngan"
    paper = "Miyato, Kataoka, Koyama & Yoshida 2018, Spectral Normalization for Generative " \
            "Adversarial Networks"
    summary = "ResNet G and D, spectral norm on every D layer, hinge loss, 5 D steps"
    preset = {"lr": 2e-4, "b1": 0.0, "b2": 0.9, "n_critic": 5, "loss": "hinge",
              "latent_dim": 128, "batch_size": 64}

    points = True

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": ResNetGenerator(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": ResNetDiscriminator(cfg.ndf, self.channels, cfg.img_size)}

    def build_points(self) -> dict:
        """The MLPs, with spectral norm on every linear layer of D."""
        nets = super().build_points()
        for i, layer in enumerate(nets["D"].net):
            if isinstance(layer, nn.Linear):
                nets["D"].net[i] = spectral_norm(layer)
        return nets

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)


@register
class SAGAN(GANModel):
    name = "sagan"
    paper = "Zhang, Goodfellow, Metaxas & Odena 2019, Self-Attention Generative Adversarial " \
            "Networks"
    summary = "ResNet G and D with self-attention at 16x16, spectral norm in both, hinge, TTUR"
    preset = {"lr": 1e-4, "lr_d": 4e-4, "b1": 0.0, "b2": 0.9, "n_critic": 1, "loss": "hinge",
              "latent_dim": 128, "batch_size": 64}

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": ResNetGenerator(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size,
                                     sn=True, attention=True),
                "D": ResNetDiscriminator(cfg.ndf, self.channels, cfg.img_size, attention=True)}

    def make_optimizers(self) -> dict:
        # TTUR: train.py's --lr-d defaults to None (not to the preset), so the preset's D rate
        # is applied here unless --lr-d is given
        cfg = self.cfg
        betas = (cfg.b1, cfg.b2)
        lr_d = cfg.lr_d if cfg.lr_d is not None else self.preset["lr_d"]
        return {"G": minigan.optim.Adam(self.nets["G"].parameters(), lr=cfg.lr, betas=betas),
                "D": minigan.optim.Adam(self.nets["D"].parameters(), lr=lr_d, betas=betas)}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)
