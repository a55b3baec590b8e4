"""The objective family of the GAN zoo: systems that differ from DCGAN mostly in what D and G
optimize (and how D is kept Lipschitz), each a preset over a DCGAN-shaped G and D:

- ``gan`` (Goodfellow et al. 2014): MLP G and D on flattened images;
- ``lsgan`` (Mao et al. 2017): least-squares loss;
- ``wgan`` (Arjovsky et al. 2017): Wasserstein critic, weight clipping, RMSprop;
- ``wgan-gp`` (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty, no batch
  norm in the critic (layer norm, as the paper recommends);
- ``ragan`` (Jolicoeur-Martineau 2019): relativistic average loss;
- ``dragan`` (Kodali et al. 2017): gradient penalty around the data;
- ``wgan-div`` (Wu et al. 2018): Wasserstein divergence penalty k E||g||^p;
- ``fgan`` (Nowozin et al. 2016): the f-divergence family, ``--divergence``;
- ``ls-gan`` (Qi 2017): loss-sensitive GAN, D's loss reads the sample distances.

Models whose penalty is part of the system (wgan-gp, dragan, wgan-div) set ``cfg.gp`` to it
when ``--gp`` is not given (the CLI's ``--gp`` flag does not take the preset as its default).
"""

from __future__ import annotations

import argparse

import minigan
from minigan import losses as gan_losses
from minigan import nn
from minigan.models import dcgan
from minigan.models.base import GANModel, adversarial_step, register


# --- networks ---------------------------------------------------------------------------------
class Critic(nn.Module):
    """DCGAN's discriminator without batch norm (Gulrajani et al. 2017, Section 4: batch norm
    changes the critic's per-sample gradients, so the penalty would be wrong): layer norm over
    (C, H, W) in its place (``norm='layer'``, the paper's recommendation) or no normalization
    (``norm='none'``). Images -> one score per image, shape (N,)."""

    def __init__(self, ndf: int = 64, channels: int = 3, img_size: int = 64,
                 norm: str = "layer"):
        super().__init__()
        if norm not in ("layer", "none"):
            raise ValueError(f"Critic: norm must be 'layer' or 'none', got {norm!r}")
        stages = dcgan._depth(img_size)
        layers = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width, size = ndf, img_size // 2
        for _ in range(stages - 1):
            size //= 2
            layers.append(nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm == "none"))
            if norm == "layer":
                layers.append(nn.LayerNorm([width * 2, size, size]))
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0))
        self.main = nn.Sequential(*layers)
        self.apply(dcgan.dcgan_init)

    def forward(self, x):
        return self.main(x).reshape(-1)


class MLPGenerator(nn.Module):
    """Goodfellow et al.'s MNIST generator: two ReLU hidden layers (1200 units in the paper;
    here ``hidden``), Tanh output (the data is in [-1, 1]; the paper's sigmoid was for [0, 1])
    reshaped to images."""

    def __init__(self, latent_dim: int = 100, hidden: int = 1024, channels: int = 1,
                 img_size: int = 32):
        super().__init__()
        self.image_shape = (channels, img_size, img_size)
        self.main = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, hidden), nn.ReLU(True),
            nn.Linear(hidden, channels * img_size * img_size), nn.Tanh())

    def forward(self, z):
        n = z.shape[0]
        return self.main(z.reshape(n, z.numel() // n)).reshape(n, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Goodfellow et al.'s MNIST discriminator on flattened images: two hidden layers with
    dropout. The paper's maxout units are replaced by LeakyReLU(0.2) (same width, no pieces).
    Images -> one logit per image, shape (N,)."""

    def __init__(self, hidden: int = 256, channels: int = 1, img_size: int = 32,
                 dropout: float = 0.5):
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(channels * img_size * img_size, hidden), nn.LeakyReLU(0.2, True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2, True), nn.Dropout(dropout),
            nn.Linear(hidden, 1))

    def forward(self, x):
        n = x.shape[0]
        return self.main(x.reshape(n, x.numel() // n)).reshape(-1)


class _DCGANNets(GANModel):
    """DCGAN's G and D (with batch norm) at the run's widths."""

    points = True

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": dcgan.Generator(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": dcgan.Discriminator(cfg.ndf, self.channels, cfg.img_size)}


def _choice(*allowed):
    def parse(value: str) -> str:
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(allowed)}")
        return value
    parse.__name__ = "choice"
    return parse


class _CriticNets(GANModel):
    """DCGAN's G and the batch-norm-free critic; the system's own penalty unless --gp says."""

    points = True

    options = {"critic_norm": ("layer", _choice("layer", "none"),
                               "normalization in the critic: layer (LayerNorm over C, H, W) "
                               "or none; never batch norm (it breaks the per-sample penalty)")}

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        if cfg.gp is None:
            cfg.gp = self.preset["gp"]
        super().__init__(cfg, channels, n_classes)

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": dcgan.Generator(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": Critic(cfg.ndf, self.channels, cfg.img_size,
                            self.option(cfg, "critic_norm"))}


# --- the models -------------------------------------------------------------------------------
@register
class WGANGP(_CriticNets):
    name = "wgan-gp"
    paper = "Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, Improved Training of " \
            "Wasserstein GANs"
    summary = "Wasserstein critic with a gradient penalty (lambda 10), layer norm instead of " \
              "batch norm in the critic; Adam 1e-4 (0, 0.9), 5 critic steps"
    preset = {"lr": 1e-4, "b1": 0.0, "b2": 0.9, "loss": "wgan", "gp": "wgan-gp",
              "gp_weight": 10.0, "n_critic": 5}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)


@register
class LSGAN(_DCGANNets):
    name = "lsgan"
    paper = "Mao, Li, Xie, Lau, Wang & Smolley 2017, Least Squares Generative Adversarial " \
            "Networks"
    summary = "least-squares loss (a=0, b=1, c=1) on DCGAN's G and D; Adam 2e-4, beta1 0.5"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "lsgan", "n_critic": 1}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)


@register
class WGAN(_DCGANNets):
    name = "wgan"
    paper = "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN"
    summary = "Wasserstein critic with weight clipping (0.01), RMSprop 5e-5, 5 critic steps"
    preset = {"lr": 5e-5, "loss": "wgan", "n_critic": 5}
    options = {"clip_value": (0.01, float, "the critic's weights are clamped to [-c, c] "
                              "after each critic update")}

    def make_optimizers(self) -> dict:
        """RMSprop (no momentum: the paper found momentum-based optimizers unstable); --lr for
        G, --lr-d (else --lr) for the critic; --b1/--b2 are unused."""
        cfg = self.cfg
        return {"G": minigan.optim.RMSprop(self.nets["G"].parameters(), lr=cfg.lr),
                "D": minigan.optim.RMSprop(self.nets["D"].parameters(),
                                           lr=cfg.lr_d or cfg.lr)}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data, clip=self.option(self.cfg, "clip_value"))


@register
class GAN(GANModel):
    name = "gan"
    paper = "Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville & Bengio " \
            "2014, Generative Adversarial Nets"
    summary = "MLP G and D on flattened images (LeakyReLU + dropout in place of maxout), " \
              "non-saturating loss (--loss minimax for the minimax game)"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "nsgan", "n_critic": 1}
    points = True
    options = {"dropout": (0.5, float, "dropout after each hidden layer of D")}

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": MLPGenerator(cfg.latent_dim, cfg.ngf * 16, self.channels, cfg.img_size),
                "D": MLPDiscriminator(cfg.ndf * 4, self.channels, cfg.img_size,
                                      self.option(cfg, "dropout"))}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)


@register
class RaGAN(_DCGANNets):
    name = "ragan"
    paper = "Jolicoeur-Martineau 2019, The relativistic discriminator: a key element missing " \
            "from standard GAN"
    summary = "relativistic average loss (RaSGAN) on DCGAN's G and D; Adam 2e-4 (0.5, 0.999)"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "ragan", "n_critic": 1}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)


@register
class DRAGAN(_CriticNets):
    name = "dragan"
    paper = "Kodali, Abernethy, Hays & Kira 2017, On Convergence and Stability of GANs"
    summary = "non-saturating loss with a gradient penalty around perturbed real data " \
              "(lambda 10); batch-norm-free D"
    preset = {"lr": 1e-4, "b1": 0.5, "b2": 0.9, "loss": "nsgan", "gp": "dragan",
              "gp_weight": 10.0, "n_critic": 1}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)  # its DRAGAN points perturb the real data only


@register
class WGANDiv(_CriticNets):
    name = "wgan-div"
    paper = "Wu, Huang, Thoma, Acharya & Van Gool 2018, Wasserstein Divergence for GANs"
    summary = "Wasserstein critic with the divergence penalty k E||grad||^p (k 2, p 6); " \
              "Adam 2e-4 (0.5, 0.999), 5 critic steps"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "wgan", "gp": "wgan-div",
              "gp_weight": 2.0, "n_critic": 5}

    def train_step(self, data) -> dict:
        return adversarial_step(self, data)


@register
class FGANModel(_DCGANNets):
    name = "fgan"
    paper = "Nowozin, Cseke & Tomioka 2016, f-GAN: Training Generative Neural Samplers using " \
            "Variational Divergence Minimization"
    summary = "variational f-divergence minimization (--divergence kl|rkl|pearson|hellinger|" \
              "js|gan) on DCGAN's G and D"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "f-js", "n_critic": 1}
    options = {
        "divergence": ("js", _choice(*gan_losses.fgan.DIVERGENCES),
                       "the f-divergence (Nowozin et al. Table 2); it sets --loss to f-NAME"),
        "saturating": (0, int, "1: G minimizes -E[f*(T(G(z)))], the saddle objective; 0: the "
                       "paper's alternative G objective, maximize E[T(G(z))] (Section 3.2)")}

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        div = self.option(cfg, "divergence")
        cfg.loss = "f-gan" if div == "gan" else f"f-{div}"
        super().__init__(cfg, channels, n_classes)
        self.loss = gan_losses.FGAN(div, nonsaturating=not self.option(cfg, "saturating"))

    def train_step(self, data) -> dict:
        return adversarial_step(self, data, loss=self.loss)


@register
class LossSensitiveGAN(_DCGANNets):
    name = "ls-gan"
    paper = "Qi 2017, Loss-Sensitive Generative Adversarial Networks on Lipschitz Densities"
    summary = "D learns a loss L(x), lower on real data by a margin of the sample distance; " \
              "G minimizes L(G(z)); DCGAN's G and D"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "ls-gan", "n_critic": 1}
    options = {"lam": (1.0, float, "weight of the margin hinge term in D's loss"),
               "distance": ("l1", _choice("l1", "l2"), "the margin Delta(x_r, x_f)")}

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        cfg.loss = "ls-gan"
        super().__init__(cfg, channels, n_classes)
        self.loss = gan_losses.LossSensitive(self.option(cfg, "lam"),
                                             self.option(cfg, "distance"))

    def train_step(self, data) -> dict:
        return adversarial_step(self, data, loss=self.loss, paired=True)
