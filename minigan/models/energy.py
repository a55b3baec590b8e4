"""The energy-based GANs, whose discriminator is an auto-encoder and whose "output" is the
reconstruction error of an image: BEGAN (Berthelot et al. 2017) and EBGAN (Zhao et al. 2017).

BEGAN: G and D's decoder share the paper's decoder (a linear layer to an 8x8 map of ``n``
channels, then per scale two 3x3 convolutions with ELUs and a nearest-neighbour 2x upsampling,
then a 3x3 convolution to the image); D's encoder mirrors it (3x3 convolutions with ELUs,
stride-2 convolutions to downsample, channels growing linearly n, 2n, 3n, a linear layer to
the embedding h). The latent and the embedding have the same size (the paper's N_z = N_h),
``--latent-dim``. Energy: L(v) = mean |v - D(v)| (eta = 1); D minimizes L(x) - k_t L(G(z)),
G minimizes L(G(z)), both from the same forward pass (the paper's simultaneous update); k_t
follows the proportional control k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
and the convergence measure M = L(x) + |gamma L(x) - L(G(z))| is logged. k_t is kept as a
0-d tensor on the backend (no host sync per step) and saved in the checkpoint's model state.
One simultaneous update per step: ``--n-critic`` is not used.

EBGAN: the paper's convolutional auto-encoder D (encoder (n)4c2s-(2n)4c2s-(4n)4c2s, decoder
(2n)4c2s-(n)4c2s-(C)4c2s), a DCGAN generator, the energy the per-image mean squared
reconstruction error; D minimizes D(x) + [m - D(G(z))]^+, G minimizes D(G(z)) plus the
pulling-away term on the encoder's embeddings of the fake batch (EBGAN-PT).
"""

from __future__ import annotations

import math

import minigan
from minigan import losses, nn
from minigan.losses import reconstruction_energy
from minigan.models.base import GANModel, register
from minigan.models.dcgan import Generator as DCGANGenerator
from minigan.models.dcgan import dcgan_init

# --- BEGAN ----------------------------------------------------------------------------------


def _began_stages(img_size: int) -> int:
    stages = int(round(math.log2(img_size))) - 3
    if img_size < 16 or 2 ** (stages + 3) != img_size:
        raise ValueError(f"began: img_size must be a power of two >= 16, got {img_size}")
    return stages  # 2x resolution changes between the 8x8 map and the image


class BEGANDecoder(nn.Module):
    """h (N, h) -> images (N, channels, img_size, img_size): the paper's decoder (also G)."""

    def __init__(self, hidden: int = 64, n: int = 64, channels: int = 3, img_size: int = 32):
        super().__init__()
        self.n = n
        self.fc = nn.Linear(hidden, n * 8 * 8)
        layers: list = []
        for _ in range(_began_stages(img_size)):
            layers += [nn.Conv2d(n, n, 3, 1, 1), nn.ELU(), nn.Conv2d(n, n, 3, 1, 1), nn.ELU(),
                       nn.Upsample(scale_factor=2, mode="nearest")]
        layers += [nn.Conv2d(n, n, 3, 1, 1), nn.ELU(), nn.Conv2d(n, n, 3, 1, 1), nn.ELU(),
                   nn.Conv2d(n, channels, 3, 1, 1)]
        self.main = nn.Sequential(*layers)

    def forward(self, h):
        h = h.reshape(h.shape[0], -1)
        return self.main(self.fc(h).reshape(h.shape[0], self.n, 8, 8))


class BEGANEncoder(nn.Module):
    """images -> embeddings (N, h): 3x3 convolutions, stride-2 downsampling, channels n, 2n,
    3n, ..., a linear layer (no activation) to h."""

    def __init__(self, hidden: int = 64, n: int = 64, channels: int = 3, img_size: int = 32):
        super().__init__()
        layers: list = [nn.Conv2d(channels, n, 3, 1, 1), nn.ELU()]
        stages = _began_stages(img_size)
        for i in range(stages):
            width = n * (i + 1)
            layers += [nn.Conv2d(width, width, 3, 1, 1), nn.ELU(),
                       nn.Conv2d(width, width, 3, 1, 1), nn.ELU(),
                       nn.Conv2d(width, width + n, 3, 2, 1), nn.ELU()]
        width = n * (stages + 1)
        layers += [nn.Conv2d(width, width, 3, 1, 1), nn.ELU(),
                   nn.Conv2d(width, width, 3, 1, 1), nn.ELU()]
        self.main = nn.Sequential(*layers)
        self.fc = nn.Linear(width * 8 * 8, hidden)

    def forward(self, x):
        out = self.main(x)
        return self.fc(out.reshape(out.shape[0], -1))


class BEGANDiscriminator(nn.Module):
    """The auto-encoder D: images -> reconstructions."""

    def __init__(self, hidden: int = 64, n: int = 64, channels: int = 3, img_size: int = 32):
        super().__init__()
        self.encoder = BEGANEncoder(hidden, n, channels, img_size)
        self.decoder = BEGANDecoder(hidden, n, channels, img_size)

    def forward(self, x):
        return self.decoder(self.encoder(x))


@register
class BEGAN(GANModel):
    name = "began"
    paper = "Berthelot, Schumm & Metz 2017, BEGAN: Boundary Equilibrium Generative " \
            "Adversarial Networks"
    summary = "auto-encoder D with L1 reconstruction energy; k_t equilibrium control, " \
              "convergence measure M"
    preset = {"lr": 1e-4, "b1": 0.5, "b2": 0.999, "batch_size": 16, "latent_dim": 64,
              "n_critic": 1}
    options = {"gamma": (0.5, float, "diversity ratio gamma = E[L(G(z))] / E[L(x)] that k_t "
                                       "steers to"),
               "lambda_k": (0.001, float, "learning rate of the k_t control")}

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        super().__init__(cfg, channels, n_classes)
        self.k = minigan.tensor(0.0, dtype="float32", backend=self.backend)  # k_0 = 0

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": BEGANDecoder(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": BEGANDiscriminator(cfg.latent_dim, cfg.ndf, self.channels, cfg.img_size)}

    def generate(self, z, labels=None):
        # the paper's decoder has no output squashing; images are read in [-1, 1]
        return self.nets["G"](z).clamp(-1.0, 1.0)

    def train_step(self, data) -> dict:
        cfg = self.cfg
        gamma, lambda_k = self.option(cfg, "gamma"), self.option(cfg, "lambda_k")
        G, D = self.nets["G"], self.nets["D"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        real = data.real(0).images
        fake = G(self.latent(real.shape[0]))
        real_energy = reconstruction_energy(real, D(real)).mean()
        fake_energy = reconstruction_energy(fake, D(fake)).mean()
        # the simultaneous update: D's loss into D's parameters, G's into G's, both from the
        # same forward pass (D before its step)
        loss_d = real_energy - self.k * fake_energy
        loss_g = fake_energy
        opt_d.zero_grad()
        opt_g.zero_grad()
        loss_d.backward(inputs=list(D.parameters()), retain_graph=True)
        loss_g.backward(inputs=list(G.parameters()))
        opt_d.step()
        opt_g.step()
        real_e, fake_e = real_energy.detach(), fake_energy.detach()
        balance = gamma * real_e - fake_e
        measure = real_e + balance.abs()
        k_used = self.k
        self.k = (self.k + lambda_k * balance).clamp(0.0, 1.0).detach()
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(), "D(x)": real_e,
                "D(G(z))": fake_e, "k": k_used, "M": measure}

    def extra_state(self) -> dict:
        return {"k": float(self.k.item())}  # a float32 value, exact as a JSON double

    def load_extra_state(self, state: dict) -> None:
        if "k" in state:
            self.k = minigan.tensor(float(state["k"]), dtype="float32", backend=self.backend)


# --- EBGAN ----------------------------------------------------------------------------------


class EBGANDiscriminator(nn.Module):
    """The auto-encoder D: images -> reconstructions; ``encode`` gives the embeddings the
    pulling-away term uses, ``decode`` maps them back."""

    def __init__(self, ndf: int = 64, channels: int = 3, img_size: int = 32):
        super().__init__()
        if img_size not in (32, 64):
            raise ValueError(f"ebgan: img_size must be 32 or 64, got {img_size}")
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1))
        self.decoder = nn.Sequential(
            nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
            nn.ConvTranspose2d(ndf * 4, ndf * 2, 4, 2, 1), nn.BatchNorm2d(ndf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ndf * 2, ndf, 4, 2, 1), nn.BatchNorm2d(ndf), nn.ReLU(True),
            nn.ConvTranspose2d(ndf, channels, 4, 2, 1))
        self.apply(dcgan_init)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, s):
        return self.decoder(s)

    def forward(self, x):
        return self.decoder(self.encoder(x))


@register
class EBGAN(GANModel):
    name = "ebgan"
    paper = "Zhao, Mathieu & LeCun 2017, Energy-based Generative Adversarial Network"
    summary = "auto-encoder D, reconstruction energy with a margin, pulling-away term in G's loss"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "batch_size": 64, "latent_dim": 100,
              "n_critic": 1}
    options = {"margin": (1.0, float, "margin m of D's hinge on fake energies (the energy is "
                                      "the per-pixel mean squared reconstruction error)"),
               "pt_weight": (0.1, float, "weight of the pulling-away term in G's loss "
                                         "(0: plain EBGAN)")}

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": DCGANGenerator(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": EBGANDiscriminator(cfg.ndf, self.channels, cfg.img_size)}

    def train_step(self, data) -> dict:
        cfg = self.cfg
        loss = losses.EBGAN(margin=self.option(cfg, "margin"),
                            pt_weight=self.option(cfg, "pt_weight"))
        G, D = self.nets["G"], self.nets["D"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        for k in range(cfg.n_critic):
            real = data.real(k).images
            fake = G(self.latent(real.shape[0]))
            d_real = reconstruction_energy(real, D(real), power=2)
            detached = fake.detach()
            d_fake = reconstruction_energy(detached, D(detached), power=2)
            loss_d = loss.d_loss(d_real, d_fake)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        embeddings = D.encode(fake)
        g_fake = reconstruction_energy(fake, D.decode(embeddings), power=2)
        loss_g = loss.g_loss(g_fake, embeddings=embeddings)
        opt_g.zero_grad()
        loss_g.backward(inputs=list(G.parameters()))
        opt_g.step()
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
                "D(x)": d_real.detach().mean(), "D(G(z))": d_fake.detach().mean()}
