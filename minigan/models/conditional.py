"""Class-conditional and latent-code GANs: cGAN (Mirza & Osindero 2014), AC-GAN (Odena et al.
2017) and InfoGAN (Chen et al. 2016).

cGAN and AC-GAN are ``conditional``: ``generate(z, labels)`` takes int64 class labels (N,)
and draws the digit asked for. InfoGAN is unsupervised: its latent holds a 10-way categorical
code and continuous codes besides the noise; ``generate(z, labels=K, codes=C)`` fixes them (see
``InfoGAN``).

Layer names follow the usual torch implementations (``label_emb``, ``model.0.weight``,
``adv_layer``, ``aux_layer``...), so the state_dict of the same architecture written with
torch.nn loads as it is.
"""

from __future__ import annotations

import numpy as np

import minigan
import minigan.functional as F
from minigan import losses as gan_losses
from minigan import nn
from minigan.models.base import GANModel, mean_output, register
from minigan.models.dcgan import dcgan_init


# --- cGAN ---------------------------------------------------------------------------------
class CGANGenerator(nn.Module):
    """(z (N, latent_dim), labels (N,)) -> images (N, channels, img_size, img_size).

    The label's embedding is concatenated to z and fed to an MLP (widths 2, 4, 8, 16 x ngf:
    128 ... 1024 at the default ngf 64) with BatchNorm after every hidden layer but the first,
    LeakyReLU(0.2) and a Tanh output."""

    def __init__(self, latent_dim: int = 100, n_classes: int = 10, channels: int = 1,
                 img_size: int = 32, ngf: int = 64):
        super().__init__()
        self.img_shape = (channels, img_size, img_size)
        self.latent_dim = latent_dim
        self.label_emb = nn.Embedding(n_classes, n_classes)
        layers: list = []
        width = latent_dim + n_classes
        for i, out in enumerate((2 * ngf, 4 * ngf, 8 * ngf, 16 * ngf)):
            layers.append(nn.Linear(width, out))
            if i:
                layers.append(nn.BatchNorm1d(out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            width = out
        layers += [nn.Linear(width, channels * img_size * img_size), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, z, labels):
        z = z.reshape(z.shape[0], -1)
        x = minigan.cat([self.label_emb(labels), z], 1)
        return self.model(x).reshape(z.shape[0], *self.img_shape)


class CGANDiscriminator(nn.Module):
    """(images, labels) -> one logit per image (N,): the flattened image and the label's
    embedding through an MLP of width 8 x ndf (512 at ndf 64) with Dropout(0.4) and
    LeakyReLU(0.2)."""

    def __init__(self, n_classes: int = 10, channels: int = 1, img_size: int = 32,
                 ndf: int = 64, dropout: float = 0.4):
        super().__init__()
        width = 8 * ndf
        self.label_embedding = nn.Embedding(n_classes, n_classes)
        self.model = nn.Sequential(
            nn.Linear(n_classes + channels * img_size * img_size, width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(width, width), nn.Dropout(dropout), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(width, width), nn.Dropout(dropout), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(width, 1))

    def forward(self, x, labels):
        x = minigan.cat([x.reshape(x.shape[0], -1), self.label_embedding(labels)], 1)
        return self.model(x).reshape(-1)


def random_labels(model: GANModel, n: int):
    """n class labels drawn uniformly on the model's backend (int64)."""
    return minigan.randint(0, model.n_classes, (n,), backend=model.backend)


def conditional_adversarial_step(model: GANModel, data) -> dict:
    """``adversarial_step`` for D(x, labels) and G(z, labels): ``cfg.n_critic`` D updates on
    ``cfg.loss`` (+ ``cfg.gp``) with the real batch's labels and uniformly drawn fake labels,
    then one G update on the last fake batch."""
    cfg = model.cfg
    G, D = model.nets["G"], model.nets["D"]
    opt_g, opt_d = model.opts["G"], model.opts["D"]
    loss = gan_losses.get(cfg.loss)
    for k in range(cfg.n_critic):
        batch = data.real(k)
        real, real_y = batch.images, batch.labels
        n = real.shape[0]
        fake_y = random_labels(model, n)
        fake = G(model.latent(n), fake_y)
        d_real, d_fake = D(real, real_y), D(fake.detach(), fake_y)
        loss_d = loss.d_loss(d_real, d_fake)
        if cfg.gp:
            # the penalty's interpolates pair a real and a fake image: take the real labels
            loss_d = loss_d + gan_losses.gradient_penalty(
                lambda x, y=real_y: D(x, y), real, fake.detach(), cfg.gp, cfg.gp_weight)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    d_fake_g = D(fake, fake_y)
    d_real_g = None
    if loss.g_uses_real:
        with minigan.no_grad():
            d_real_g = D(real, real_y)
    loss_g = loss.g_loss(d_fake_g, d_real_g)
    opt_g.zero_grad()
    loss_g.backward(inputs=list(G.parameters()))
    opt_g.step()
    return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
            "D(x)": mean_output(d_real, cfg.loss), "D(G(z))": mean_output(d_fake, cfg.loss)}


@register
class CGAN(GANModel):
    name = "cgan"
    paper = "Mirza & Osindero 2014, Conditional Generative Adversarial Nets"
    summary = "class-conditional MLP G(z, y) and D(x, y) (label embeddings concatenated)"
    # The paper's idea with the MLP and settings of the common torch cgan (Adam 2e-4, beta1
    # 0.5, least-squares loss, batch 64); the paper's SGD with momentum schedule is not used.
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "lsgan", "n_critic": 1,
              "batch_size": 64, "latent_dim": 100}
    options = {"dropout": (0.4, float, "dropout in D's hidden layers")}
    conditional = True

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": CGANGenerator(cfg.latent_dim, self.n_classes, self.channels, cfg.img_size,
                                   cfg.ngf),
                "D": CGANDiscriminator(self.n_classes, self.channels, cfg.img_size, cfg.ndf,
                                       self.option(cfg, "dropout"))}

    def train_step(self, data) -> dict:
        return conditional_adversarial_step(self, data)



# --- AC-GAN ---------------------------------------------------------------------------------
def _stages(name: str, img_size: int) -> int:
    if img_size not in (32, 64):
        raise ValueError(f"{name}: img_size must be 32 or 64, got {img_size}")
    return 4 if img_size == 64 else 3  # stride-2 stages between 4x4 and img_size


class ACGANGenerator(nn.Module):
    """(z, labels) -> images. The paper's generator scaled to the digits: the class embedding
    concatenated to z, a linear layer to a 4x4 map of 4 x ngf channels (8 x ngf at 64x64),
    then stride-2 4x4 transposed convolutions with BatchNorm and ReLU halving the width, and
    Tanh."""

    def __init__(self, latent_dim: int = 100, n_classes: int = 10, channels: int = 1,
                 img_size: int = 32, ngf: int = 64):
        super().__init__()
        stages = _stages("acgan", img_size)
        self.width = ngf * 2 ** (stages - 1)
        self.latent_dim = latent_dim
        self.label_emb = nn.Embedding(n_classes, n_classes)
        self.l1 = nn.Sequential(nn.Linear(latent_dim + n_classes, self.width * 4 * 4))
        layers: list = [nn.BatchNorm2d(self.width), nn.ReLU(True)]
        width = self.width
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.conv_blocks = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z, labels):
        z = z.reshape(z.shape[0], -1)
        x = self.l1(minigan.cat([self.label_emb(labels), z], 1))
        return self.conv_blocks(x.reshape(z.shape[0], self.width, 4, 4))


class ACGANDiscriminator(nn.Module):
    """images -> (source logit (N,), class logits (N, n_classes)). Stride-2 4x4 convolutions
    (ndf, 2 ndf, 4 ndf...) each with LeakyReLU(0.2), Dropout and (but the first) BatchNorm,
    then two linear heads on the shared features: ``adv_layer`` (real or fake) and
    ``aux_layer`` (the class)."""

    def __init__(self, n_classes: int = 10, channels: int = 1, img_size: int = 32,
                 ndf: int = 64, dropout: float = 0.25):
        super().__init__()
        stages = _stages("acgan", img_size)
        layers: list = []
        width_in, width = channels, ndf
        for i in range(stages):
            layers += [nn.Conv2d(width_in, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
                       nn.Dropout(dropout)]
            if i:
                layers.append(nn.BatchNorm2d(width))
            width_in, width = width, width * 2
        self.conv_blocks = nn.Sequential(*layers)
        features = width_in * 4 * 4
        self.adv_layer = nn.Linear(features, 1)
        self.aux_layer = nn.Linear(features, n_classes)
        self.apply(dcgan_init)

    def forward(self, x):
        h = self.conv_blocks(x).reshape(x.shape[0], -1)
        return self.adv_layer(h).reshape(-1), self.aux_layer(h)


@register
class ACGAN(GANModel):
    name = "acgan"
    paper = "Odena, Olah & Shlens 2017, Conditional Image Synthesis with Auxiliary Classifier " \
            "GANs"
    summary = "class-conditional conv G; D with a real/fake head and an auxiliary class head"
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "nsgan", "n_critic": 1,
              "batch_size": 64, "latent_dim": 100}
    options = {"aux_weight": (1.0, float, "weight of the auxiliary classifier's cross-entropy "
                              "(in D's and G's losses)"),
               "dropout": (0.25, float, "dropout after each of D's convolutions")}
    conditional = True

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": ACGANGenerator(cfg.latent_dim, self.n_classes, self.channels,
                                    cfg.img_size, cfg.ngf),
                "D": ACGANDiscriminator(self.n_classes, self.channels, cfg.img_size, cfg.ndf,
                                        self.option(cfg, "dropout"))}

    def train_step(self, data) -> dict:
        """D: the source loss (cfg.loss) + aux_weight x the class cross-entropy on real
        images (their labels) and on fake ones (the labels they were drawn for); G: its
        source loss + aux_weight x the cross-entropy of its samples' classes."""
        cfg = self.cfg
        G, D = self.nets["G"], self.nets["D"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        loss = gan_losses.get(cfg.loss)
        w = self.option(cfg, "aux_weight")
        for k in range(cfg.n_critic):
            batch = data.real(k)
            real, real_y = batch.images, batch.labels
            fake_y = random_labels(self, real.shape[0])
            fake = G(self.latent(real.shape[0]), fake_y)
            (d_real, c_real), (d_fake, c_fake) = D(real), D(fake.detach())
            aux_d = F.cross_entropy(c_real, real_y) + F.cross_entropy(c_fake, fake_y)
            loss_d = loss.d_loss(d_real, d_fake) + w * aux_d
            if cfg.gp:
                loss_d = loss_d + gan_losses.gradient_penalty(
                    lambda x: D(x)[0], real, fake.detach(), cfg.gp, cfg.gp_weight)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        d_fake_g, c_fake_g = D(fake)
        d_real_g = None
        if loss.g_uses_real:
            with minigan.no_grad():
                d_real_g = D(real)[0]
        aux_g = F.cross_entropy(c_fake_g, fake_y)
        loss_g = loss.g_loss(d_fake_g, d_real_g) + w * aux_g
        opt_g.zero_grad()
        loss_g.backward(inputs=list(G.parameters()))
        opt_g.step()
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
                "d_aux_loss": aux_d.detach(), "g_aux_loss": aux_g.detach(),
                "D(x)": mean_output(d_real, cfg.loss), "D(G(z))": mean_output(d_fake, cfg.loss)}


# --- measuring conditioning -----------------------------------------------------------------
def per_class_accuracy(model: GANModel, n_per_class: int = 200, seed: int = 0,
                       labels_to_classes=None) -> dict:
    """The digits classifier's judgement of ``n_per_class`` samples generated for each class
    (fixed latents from ``seed``; G in eval mode): ``{"class_accuracy": overall,
    "per_class": [accuracy of class 0, ...]}``. For InfoGAN, whose categorical code is not a
    class, ``labels_to_classes`` maps each code to the class it is scored against (see
    ``match_codes_to_classes``)."""
    from minigan.metrics import digits
    from minigan.training.trainer import generate
    k = model.n_classes or 10
    rng = np.random.default_rng([seed, 11])
    z = minigan.tensor(model.latent_numpy(rng, k * n_per_class), backend=model.backend)
    y = np.repeat(np.arange(k), n_per_class)
    images = generate(model, z, minigan.tensor(y, backend=model.backend))
    probs = digits.classify(images)
    target = y if labels_to_classes is None else np.asarray(labels_to_classes)[y]
    hits = probs.argmax(axis=1) == target
    return {"class_accuracy": float(hits.mean()),
            "per_class": [round(float(hits[y == c].mean()), 4) for c in range(k)],
            "coverage": digits.class_coverage(probs),
            "confidence": digits.mean_confidence(probs)}
