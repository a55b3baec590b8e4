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



# --- InfoGAN --------------------------------------------------------------------------------
class InfoGANGenerator(nn.Module):
    """Full latent (N, latent_dim + n_cat + n_cont): noise, one-hot categorical code,
    continuous codes -> images. The paper's MNIST generator at img_size / 4: FC 16 ngf (1024
    at ngf 64) BN ReLU, FC 2 ngf x (img_size/4)^2 BN ReLU, 4x4 stride-2 transposed conv ngf BN
    ReLU, 4x4 stride-2 transposed conv to the image, Tanh."""

    def __init__(self, in_dim: int = 74, channels: int = 1, img_size: int = 32, ngf: int = 64):
        super().__init__()
        if img_size % 4:
            raise ValueError(f"infogan: img_size must be a multiple of 4, got {img_size}")
        self.init_size, self.width = img_size // 4, 2 * ngf
        self.fc = nn.Sequential(
            nn.Linear(in_dim, 16 * ngf), nn.BatchNorm1d(16 * ngf), nn.ReLU(True),
            nn.Linear(16 * ngf, self.width * self.init_size ** 2),
            nn.BatchNorm1d(self.width * self.init_size ** 2), nn.ReLU(True))
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(self.width, ngf, 4, 2, 1), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, channels, 4, 2, 1), nn.Tanh())

    def forward(self, x):
        h = self.fc(x.reshape(x.shape[0], -1))
        return self.conv(h.reshape(x.shape[0], self.width, self.init_size, self.init_size))


class InfoGANDiscriminator(nn.Module):
    """images -> (source logit (N,), categorical code logits (N, n_cat), continuous code means
    (N, n_cont)). The shared body is the paper's MNIST discriminator (4x4 stride-2 convs ndf
    and 2 ndf with LeakyReLU(0.1) and BatchNorm, FC 16 ndf BN LeakyReLU); ``adv_layer`` is D's
    output; Q is ``q_layer`` (FC 2 ndf BN LeakyReLU) with ``cat_layer`` and ``cont_layer``."""

    def __init__(self, channels: int = 1, img_size: int = 32, ndf: int = 64, n_cat: int = 10,
                 n_cont: int = 2):
        super().__init__()
        if img_size % 4:
            raise ValueError(f"infogan: img_size must be a multiple of 4, got {img_size}")
        self.conv = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.1, True),
            nn.Conv2d(ndf, 2 * ndf, 4, 2, 1), nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(0.1, True))
        self.fc = nn.Sequential(nn.Linear(2 * ndf * (img_size // 4) ** 2, 16 * ndf),
                                nn.BatchNorm1d(16 * ndf), nn.LeakyReLU(0.1, True))
        self.adv_layer = nn.Linear(16 * ndf, 1)
        self.q_layer = nn.Sequential(nn.Linear(16 * ndf, 2 * ndf), nn.BatchNorm1d(2 * ndf),
                                     nn.LeakyReLU(0.1, True))
        self.cat_layer = nn.Linear(2 * ndf, n_cat)
        self.cont_layer = nn.Linear(2 * ndf, n_cont)

    def body(self, x):
        return self.fc(self.conv(x).reshape(x.shape[0], -1))

    def forward(self, x):
        h = self.body(x)
        q = self.q_layer(h)
        return self.adv_layer(h).reshape(-1), self.cat_layer(q), self.cont_layer(q)


@register
class InfoGAN(GANModel):
    """InfoGAN. ``cfg.latent_dim`` is the noise's size; G's input appends a one-hot
    categorical code (``n_cat`` classes, uniform) and ``n_cont`` continuous codes
    (uniform on [-1, 1]): ``latent(n)`` draws that full latent, (n, latent_dim + n_cat +
    n_cont).

    Setting the codes: ``generate(z, labels=None, codes=None)`` takes either a full latent or
    noise alone, (N, latent_dim) or (N, latent_dim, 1, 1) (what minigan.sample and the
    evaluator pass). ``labels`` (N,) int sets the categorical code and ``codes`` (N, n_cont)
    the continuous ones (a tensor or an array). With noise alone and no ``labels`` the
    categorical code cycles 0, 1, ..., n_cat-1 over the batch (a row per code in an 8- or
    10-wide grid) and the continuous codes are 0, their prior's mean, unless ``codes`` is
    given. ``full_latent(noise, labels, codes)`` builds the full latent itself.
    """

    name = "infogan"
    paper = "Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, InfoGAN: Interpretable " \
            "Representation Learning by Information Maximizing GANs"
    summary = "latent codes (10-way categorical + continuous) recovered by a Q head on D's body"
    preset = {"lr": 1e-3, "lr_d": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "nsgan",
              "n_critic": 1, "batch_size": 64, "latent_dim": 62}
    options = {"n_cat": (10, int, "classes of the categorical code"),
               "n_cont": (2, int, "continuous codes (uniform on [-1, 1])"),
               "info_weight": (1.0, float, "lambda of the mutual-information term "
                               "(categorical code: cross-entropy)"),
               "cont_weight": (0.1, float, "lambda of the continuous codes' term (Gaussian "
                               "log-likelihood with unit variance: half the squared error)")}

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        self.n_cat, self.n_cont = self.option(cfg, "n_cat"), self.option(cfg, "n_cont")
        if self.n_cat < 2 or self.n_cont < 0:
            raise ValueError(f"infogan: --n-cat must be >= 2 and --n-cont >= 0 "
                             f"(got {self.n_cat}, {self.n_cont})")
        super().__init__(cfg, channels, n_classes)

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": InfoGANGenerator(cfg.latent_dim + self.n_cat + self.n_cont, self.channels,
                                      cfg.img_size, cfg.ngf),
                "D": InfoGANDiscriminator(self.channels, cfg.img_size, cfg.ndf, self.n_cat,
                                          self.n_cont)}

    # --- the latent: noise, categorical code, continuous codes --------------------------------
    def _codes(self, n: int):
        cat = minigan.randint(0, self.n_cat, (n,), backend=self.backend)
        cont = minigan.rand(n, self.n_cont, backend=self.backend) * 2 - 1
        return cat, cont

    def full_latent(self, noise, labels=None, codes=None):
        """(N, latent_dim + n_cat + n_cont) from noise (N, latent_dim[, 1, 1]), the
        categorical code ``labels`` (N,) (default: cycling 0..n_cat-1) and the continuous
        ``codes`` (N, n_cont) (default 0)."""
        n = noise.shape[0]
        noise = noise.reshape(n, -1)
        if labels is None:
            labels = minigan.tensor(np.arange(n) % self.n_cat, backend=noise.backend)
        elif not isinstance(labels, minigan.Tensor):
            labels = minigan.tensor(np.asarray(labels, dtype=np.int64), backend=noise.backend)
        if codes is None:
            codes = minigan.zeros(n, self.n_cont, backend=noise.backend)
        elif not isinstance(codes, minigan.Tensor):
            codes = minigan.tensor(np.asarray(codes, dtype=np.float32).reshape(n, self.n_cont),
                                   backend=noise.backend)
        one_hot = F.one_hot(labels, self.n_cat).to(noise.dtype)
        return minigan.cat([noise, one_hot, codes.to(noise.dtype)], 1)

    def latent(self, n: int):
        cat, cont = self._codes(n)
        return self.full_latent(minigan.randn(n, self.cfg.latent_dim, backend=self.backend),
                                cat, cont)

    def latent_numpy(self, rng, n: int):
        """Fixed grids: noise and continuous codes drawn from ``rng``; the categorical code
        cycles through its classes (a column per code in rows of n_cat)."""
        noise = rng.standard_normal((n, self.cfg.latent_dim)).astype("float32")
        one_hot = np.eye(self.n_cat, dtype="float32")[np.arange(n) % self.n_cat]
        cont = rng.uniform(-1, 1, (n, self.n_cont)).astype("float32")
        return np.concatenate([noise, one_hot, cont], 1)

    def generate(self, z, labels=None, codes=None):
        n = z.shape[0]
        flat = z.reshape(n, -1)
        full = self.cfg.latent_dim + self.n_cat + self.n_cont
        if flat.shape[1] == full:
            if labels is not None or codes is not None:
                noise = flat[:, :self.cfg.latent_dim]
                cat = flat[:, self.cfg.latent_dim:self.cfg.latent_dim + self.n_cat]
                if labels is None:
                    labels = minigan.tensor(cat.numpy().argmax(1), backend=z.backend)
                if codes is None:
                    codes = flat[:, self.cfg.latent_dim + self.n_cat:]
                flat = self.full_latent(noise, labels, codes)
        elif flat.shape[1] == self.cfg.latent_dim:
            flat = self.full_latent(flat, labels, codes)
        else:
            raise ValueError(f"infogan: z has {flat.shape[1]} values per sample; expected the "
                             f"noise ({self.cfg.latent_dim}) or the full latent ({full})")
        return self.nets["G"](flat)

    def train_step(self, data) -> dict:
        """D: cfg.loss on real vs fake, plus the information term on the fake batch (trains
        the shared body and Q); G: its adversarial loss plus the same information term
        (trains G to make its codes recoverable). Information term: info_weight x
        cross-entropy of the categorical code + cont_weight x 0.5 x squared error of the
        continuous codes (a unit-variance Gaussian Q)."""
        cfg = self.cfg
        G, D = self.nets["G"], self.nets["D"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        loss = gan_losses.get(cfg.loss)
        w_cat, w_cont = self.option(cfg, "info_weight"), self.option(cfg, "cont_weight")

        def info(cat_logits, cont_mu, cat, cont):
            term = w_cat * F.cross_entropy(cat_logits, cat)
            if self.n_cont:
                term = term + w_cont * 0.5 * ((cont_mu - cont) ** 2).sum(1).mean()
            return term

        for k in range(cfg.n_critic):
            real = data.real(k).images
            n = real.shape[0]
            cat, cont = self._codes(n)
            noise = minigan.randn(n, cfg.latent_dim, backend=self.backend)
            fake = G(self.full_latent(noise, cat, cont))
            d_real = D(real)[0]
            d_fake, q_cat, q_cont = D(fake.detach())
            info_d = info(q_cat, q_cont, cat, cont)
            loss_d = loss.d_loss(d_real, d_fake) + info_d
            if cfg.gp:
                loss_d = loss_d + gan_losses.gradient_penalty(
                    lambda x: D(x)[0], real, fake.detach(), cfg.gp, cfg.gp_weight)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        d_fake_g, q_cat_g, q_cont_g = D(fake)
        d_real_g = None
        if loss.g_uses_real:
            with minigan.no_grad():
                d_real_g = D(real)[0]
        info_g = info(q_cat_g, q_cont_g, cat, cont)
        loss_g = loss.g_loss(d_fake_g, d_real_g) + info_g
        opt_g.zero_grad()
        loss_g.backward(inputs=list(G.parameters()))
        opt_g.step()
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
                "info_loss": info_g.detach(),
                "D(x)": mean_output(d_real, cfg.loss), "D(G(z))": mean_output(d_fake, cfg.loss)}


# --- measuring conditioning -----------------------------------------------------------------
def match_codes_to_classes(model: GANModel, n_per_code: int = 200, seed: int = 1):
    """InfoGAN: the class each categorical code draws, by Hungarian matching
    (scipy.optimize.linear_sum_assignment) on the confusion matrix of the digits
    classifier's judgements of ``n_per_code`` samples per code (fixed latents from ``seed``,
    not those of the accuracy measured with the result). Returns (mapping code -> class,
    confusion matrix codes x classes)."""
    from scipy.optimize import linear_sum_assignment

    from minigan.metrics import digits
    from minigan.training.trainer import generate
    k = getattr(model, "n_cat", model.n_classes)
    rng = np.random.default_rng([seed, 13])
    z = minigan.tensor(model.latent_numpy(rng, k * n_per_code), backend=model.backend)
    y = np.repeat(np.arange(k), n_per_code)
    pred = digits.classify(generate(model, z, minigan.tensor(y, backend=model.backend)))
    confusion = np.zeros((k, pred.shape[1]), dtype=np.int64)
    np.add.at(confusion, (y, pred.argmax(1)), 1)
    rows, cols = linear_sum_assignment(-confusion)
    mapping = np.zeros(k, dtype=np.int64)
    mapping[rows] = cols
    return mapping, confusion


def per_class_accuracy(model: GANModel, n_per_class: int = 200, seed: int = 0,
                       labels_to_classes=None) -> dict:
    """The digits classifier's judgement of ``n_per_class`` samples generated for each class
    (fixed latents from ``seed``; G in eval mode): ``{"class_accuracy": overall,
    "per_class": [accuracy of class 0, ...]}``. For InfoGAN, whose categorical code is not a
    class, ``labels_to_classes`` maps each code to the class it is scored against (see
    ``match_codes_to_classes``)."""
    from minigan.metrics import digits
    from minigan.training.trainer import generate
    k = getattr(model, "n_cat", model.n_classes)
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
