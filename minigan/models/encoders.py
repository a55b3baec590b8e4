"""GANs with an encoder, images -> latents, next to the generator: BiGAN/ALI (Donahue,
Krähenbühl & Darrell 2017; Dumoulin et al. 2017), the adversarial autoencoder (Makhzani et al.
2016) and VAE-GAN (Larsen, Sønderby, Larochelle & Winther 2016).

Each model's encoder is the network ``E``; ``encode(x)`` maps images (N, C, H, W) in [-1, 1]
to latents (N, latent_dim) (VAE-GAN: the posterior's mean), and ``generate(z)`` is G(z) with
the usual N(0, I) prior, so sampling, the evaluator and ``python -m minigan.sample
--reconstruct`` (G(encode(x)) next to x) work for all three. ``exported = ("G", "E")``: the
run's ``generator.safetensors`` holds the encoder too.

Layer names follow the usual torch implementations (``main``, ``model``, ``mu``, ``logvar``,
``infer_x``/``infer_z``/``infer_joint``/``final`` of the ALI discriminators, ``conv``/``fc``),
so the state_dict of the same architecture written with torch.nn loads as it is. Each model
takes images of 32 or 64 pixels with 1 or 3 channels.
"""

from __future__ import annotations

import minigan
import minigan.functional as F
from minigan import losses as gan_losses
from minigan import nn
from minigan.models.base import GANModel, mean_output, register
from minigan.models.dcgan import Generator as DCGANGenerator
from minigan.models.dcgan import dcgan_init


def check_shape(name: str, channels: int, img_size: int) -> int:
    """The number of stride-2 stages between 4x4 and ``img_size`` (3 at 32, 4 at 64); a
    ValueError naming the model, the argument and the value otherwise."""
    if img_size not in (32, 64):
        raise ValueError(f"{name}: img_size must be 32 or 64, got {img_size}")
    if channels not in (1, 3):
        raise ValueError(f"{name}: channels must be 1 or 3, got {channels}")
    return 4 if img_size == 64 else 3


def _adam(model: GANModel, names) -> dict:
    """Adam (cfg.lr; D: cfg.lr_d or cfg.lr; betas (b1, b2)) for each named network."""
    cfg = model.cfg
    return {name: minigan.optim.Adam(model.nets[name].parameters(),
                                     lr=(cfg.lr_d or cfg.lr) if name == "D" else cfg.lr,
                                     betas=(cfg.b1, cfg.b2))
            for name in names}


def _step(loss, nets: dict, opts: dict, names, retain_graph: bool = False) -> None:
    """Zero the named networks' gradients, back-propagate ``loss`` into their parameters only,
    and step their optimizers."""
    params = [p for name in names for p in nets[name].parameters()]
    for name in names:
        opts[name].zero_grad()
    loss.backward(inputs=params, retain_graph=retain_graph)
    for name in names:
        opts[name].step()


class _EncoderModel(GANModel):
    """What the three share: an encoder ``E`` exported with G, shape checks, ``encode``."""

    exported = ("G", "E")

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        check_shape(self.name, channels, cfg.img_size)
        super().__init__(cfg, channels, n_classes)

    def encode(self, x):
        """Latents (N, latent_dim) of images x, in whatever mode E is."""
        return self.nets["E"](x)


# --- BiGAN / ALI ------------------------------------------------------------------------------
class BiGANEncoder(nn.Module):
    """images -> z (N, latent_dim), deterministic: the DCGAN discriminator's body (stride-2
    4x4 convolutions ngf, 2 ngf, ...; BatchNorm but on the first; LeakyReLU(0.2)) ending in a
    4x4 convolution to latent_dim channels on the 4x4 map."""

    def __init__(self, latent_dim: int = 50, ngf: int = 64, channels: int = 1,
                 img_size: int = 32):
        super().__init__()
        stages = check_shape("bigan", channels, img_size)
        layers: list = [nn.Conv2d(channels, ngf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ngf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        layers.append(nn.Conv2d(width, latent_dim, 4, 1, 0))
        self.main = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x):
        return self.main(x).reshape(x.shape[0], -1)


class BiGANDiscriminator(nn.Module):
    """(images, z) -> one logit per pair (N,): ALI's joint discriminator. ``infer_x``: stride-2
    4x4 convolutions (ndf, 2 ndf, ...; BatchNorm but on the first) and a 4x4 convolution to
    8 ndf features; ``infer_z``: two linear layers of 8 ndf; ``infer_joint``: two linear
    layers of 16 ndf on both concatenated; ``final``: the logit. LeakyReLU(0.2) and Dropout
    (ALI's 0.2) after every hidden layer."""

    def __init__(self, latent_dim: int = 50, ndf: int = 64, channels: int = 1,
                 img_size: int = 32, dropout: float = 0.2):
        super().__init__()
        stages = check_shape("bigan", channels, img_size)
        layers: list = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
                        nn.Dropout(dropout)]
        width = ndf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True), nn.Dropout(dropout)]
            width *= 2
        layers += [nn.Conv2d(width, 8 * ndf, 4, 1, 0), nn.LeakyReLU(0.2, True),
                   nn.Dropout(dropout)]
        self.infer_x = nn.Sequential(*layers)
        self.infer_z = nn.Sequential(
            nn.Linear(latent_dim, 8 * ndf), nn.LeakyReLU(0.2, True), nn.Dropout(dropout),
            nn.Linear(8 * ndf, 8 * ndf), nn.LeakyReLU(0.2, True), nn.Dropout(dropout))
        self.infer_joint = nn.Sequential(
            nn.Linear(16 * ndf, 16 * ndf), nn.LeakyReLU(0.2, True), nn.Dropout(dropout),
            nn.Linear(16 * ndf, 16 * ndf), nn.LeakyReLU(0.2, True), nn.Dropout(dropout))
        self.final = nn.Linear(16 * ndf, 1)
        self.apply(dcgan_init)

    def forward(self, x, z):
        hx = self.infer_x(x).reshape(x.shape[0], -1)
        hz = self.infer_z(z.reshape(z.shape[0], -1))
        return self.final(self.infer_joint(minigan.cat([hx, hz], 1))).reshape(-1)


@register
class BiGAN(_EncoderModel):
    """BiGAN/ALI: D tells pairs (x, E(x)) of a real image and its code from pairs (G(z), z) of
    a prior draw and its image. D minimizes ``cfg.loss`` with (x, E(x)) as the real side; G and
    E minimize the same loss with the sides swapped (for nsgan: -log(1 - D(x, E(x))) -
    log D(G(z), z), ALI's non-saturating objective), in one backward pass. G and E have two
    Adam optimizers of the same settings, which is the same update as one Adam over both (Adam
    is per-parameter). ``--n-critic`` D updates per step; ``--gp`` is not used (D reads
    pairs)."""

    name = "bigan"
    paper = "Donahue, Krähenbühl & Darrell 2017, Adversarial Feature Learning; Dumoulin et " \
            "al. 2017, Adversarially Learned Inference"
    summary = "encoder E(x) -> z trained with G against a joint D(x, z) on (x, E(x)) vs " \
              "(G(z), z)"
    # BiGAN's Adam (2e-4, beta1 0.5) and its MNIST latent size (50); the prior is ALI's
    # N(0, I) (BiGAN's is uniform on [-1, 1]); batch 64 as the rest of the zoo (BiGAN: 128,
    # ALI: 100); DCGAN-shaped conv nets as ALI's (BiGAN's MNIST nets are MLPs).
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "nsgan", "n_critic": 1,
              "batch_size": 64, "latent_dim": 50}
    options = {"dropout": (0.2, float, "dropout after each of D's hidden layers (ALI's 0.2)")}

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": DCGANGenerator(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "E": BiGANEncoder(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": BiGANDiscriminator(cfg.latent_dim, cfg.ndf, self.channels, cfg.img_size,
                                        self.option(cfg, "dropout"))}

    def make_optimizers(self) -> dict:
        return _adam(self, ("G", "E", "D"))

    def train_step(self, data) -> dict:
        cfg = self.cfg
        G, E, D = self.nets["G"], self.nets["E"], self.nets["D"]
        loss = gan_losses.get(cfg.loss)
        for k in range(cfg.n_critic):
            real = data.real(k).images
            z = self.latent(real.shape[0])
            fake, code = G(z), E(real)
            d_real, d_fake = D(real, code.detach()), D(fake.detach(), z)
            loss_d = loss.d_loss(d_real, d_fake)
            _step(loss_d, self.nets, self.opts, ("D",))
        # G and E against the D just updated: the sides swapped
        loss_ge = loss.d_loss(D(fake, z), D(real, code))
        _step(loss_ge, self.nets, self.opts, ("G", "E"))
        return {"d_loss": loss_d.detach(), "g_loss": loss_ge.detach(),
                "D(x,E(x))": mean_output(d_real, cfg.loss),
                "D(G(z),z)": mean_output(d_fake, cfg.loss)}


# --- AAE ------------------------------------------------------------------------------------
class AAEEncoder(nn.Module):
    """images -> codes (N, latent_dim): an MLP of width 8 ngf (512 at ngf 64) with LeakyReLU
    (0.2) and BatchNorm on the second layer, then the linear layer ``mu``. With
    ``gaussian=True`` a ``logvar`` layer too, and ``forward`` returns (mu, logvar)."""

    def __init__(self, latent_dim: int = 8, ngf: int = 64, channels: int = 1,
                 img_size: int = 32, gaussian: bool = False):
        super().__init__()
        check_shape("aae", channels, img_size)
        width = 8 * ngf
        self.gaussian = gaussian
        self.model = nn.Sequential(
            nn.Linear(channels * img_size * img_size, width), nn.LeakyReLU(0.2, True),
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.2, True))
        self.mu = nn.Linear(width, latent_dim)
        if gaussian:
            self.logvar = nn.Linear(width, latent_dim)

    def forward(self, x):
        h = self.model(x.reshape(x.shape[0], -1))
        return (self.mu(h), self.logvar(h)) if self.gaussian else self.mu(h)


class AAEDecoder(nn.Module):
    """codes (N, latent_dim) -> images: the encoder's MLP mirrored, Tanh output."""

    def __init__(self, latent_dim: int = 8, ngf: int = 64, channels: int = 1,
                 img_size: int = 32):
        super().__init__()
        check_shape("aae", channels, img_size)
        width = 8 * ngf
        self.img_shape = (channels, img_size, img_size)
        self.model = nn.Sequential(
            nn.Linear(latent_dim, width), nn.LeakyReLU(0.2, True),
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.2, True),
            nn.Linear(width, channels * img_size * img_size), nn.Tanh())

    def forward(self, z):
        z = z.reshape(z.shape[0], -1)
        return self.model(z).reshape(z.shape[0], *self.img_shape)


class AAEDiscriminator(nn.Module):
    """codes -> one logit per code (N,): linear layers of 8 ndf and 4 ndf with LeakyReLU(0.2)."""

    def __init__(self, latent_dim: int = 8, ndf: int = 64):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 8 * ndf), nn.LeakyReLU(0.2, True),
            nn.Linear(8 * ndf, 4 * ndf), nn.LeakyReLU(0.2, True),
            nn.Linear(4 * ndf, 1))

    def forward(self, z):
        return self.model(z.reshape(z.shape[0], -1)).reshape(-1)


@register
class AAE(_EncoderModel):
    """The adversarial autoencoder. Each step has the paper's two phases on the step's batch:

    1. reconstruction: E and the decoder G minimize the pixel reconstruction error of
       G(E(x)) (``--recon-loss``: mean squared error, the default, or mean absolute error);
    2. regularization: D tells prior draws z ~ N(0, I) (its real side) from codes E(x)
       (``--n-critic`` updates on ``cfg.loss``), then E, as the generator, fools D
       (``cfg.loss``'s generator objective on D(E(x)); for nsgan -log D(E(x))).

    ``--posterior deterministic`` (the default) is the paper's deterministic encoder; ``gaussian``
    its Gaussian posterior (E gives a mean and a log-variance and codes are sampled with the
    reparameterization; ``encode`` returns the mean). Logs recon_loss, d_loss, g_loss (E's
    adversarial loss) and D's mean outputs on prior draws and on codes."""

    name = "aae"
    paper = "Makhzani, Shlens, Jaitly, Goodfellow & Frey 2016, Adversarial Autoencoders"
    summary = "autoencoder whose codes a discriminator on codes pushes to the N(0, I) prior"
    # Adam 2e-4, beta1 0.5 and the MLP widths of the common torch implementation; the paper
    # trains with SGD and momentum. A small code, as the paper's MNIST experiments.
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "nsgan", "n_critic": 1,
              "batch_size": 64, "latent_dim": 8}
    options = {"recon_loss": ("mse", str, "the reconstruction error: mse (mean squared) or l1 "
                              "(mean absolute), per pixel"),
               "posterior": ("deterministic", str, "the encoder: deterministic, or gaussian "
                             "(mean and log-variance, codes sampled)")}

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        for name, allowed in (("recon_loss", ("mse", "l1")),
                              ("posterior", ("deterministic", "gaussian"))):
            value = self.option(cfg, name)
            if value not in allowed:
                raise ValueError(f"aae: --{name.replace('_', '-')} must be "
                                 f"{' or '.join(allowed)}, got {value!r}")
        super().__init__(cfg, channels, n_classes)

    def build(self) -> dict:
        cfg = self.cfg
        gaussian = self.option(cfg, "posterior") == "gaussian"
        return {"G": AAEDecoder(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "E": AAEEncoder(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size,
                                gaussian),
                "D": AAEDiscriminator(cfg.latent_dim, cfg.ndf)}

    def make_optimizers(self) -> dict:
        return _adam(self, ("G", "E", "D"))

    def encode(self, x):
        out = self.nets["E"](x)
        return out[0] if isinstance(out, tuple) else out

    def codes(self, x):
        """E's codes of x as trained: the deterministic code, or a draw of the Gaussian
        posterior."""
        out = self.nets["E"](x)
        if not isinstance(out, tuple):
            return out
        mu, logvar = out
        return mu + (0.5 * logvar).exp() * minigan.randn(*mu.shape, dtype=mu.dtype,
                                                          backend=mu.backend)

    def recon_error(self, recon, x):
        """The per-pixel reconstruction error (a 0-d mean)."""
        diff = recon - x
        return (diff * diff).mean() if self.option(self.cfg, "recon_loss") == "mse" else \
            diff.abs().mean()

    def train_step(self, data) -> dict:
        cfg = self.cfg
        G, D = self.nets["G"], self.nets["D"]
        loss = gan_losses.get(cfg.loss)
        # 1. reconstruction: E and G
        real = data.real(0).images
        recon_loss = self.recon_error(G(self.codes(real)), real)
        _step(recon_loss, self.nets, self.opts, ("E", "G"))
        # 2. regularization: D on prior draws (real) vs codes (fake), then E against D
        for k in range(cfg.n_critic):
            x = data.real(k).images
            code = self.codes(x)
            prior = self.latent(x.shape[0])
            d_prior, d_code = D(prior), D(code.detach())
            loss_d = loss.d_loss(d_prior, d_code)
            _step(loss_d, self.nets, self.opts, ("D",))
        d_prior_e = None
        if loss.g_uses_real:
            with minigan.no_grad():
                d_prior_e = D(prior)
        loss_e = loss.g_loss(D(code), d_prior_e)
        _step(loss_e, self.nets, self.opts, ("E",))
        return {"recon_loss": recon_loss.detach(), "d_loss": loss_d.detach(),
                "g_loss": loss_e.detach(), "D(z)": mean_output(d_prior, cfg.loss),
                "D(E(x))": mean_output(d_code, cfg.loss)}


# --- VAE-GAN --------------------------------------------------------------------------------
def _down(cin: int, cout: int) -> list:
    """5x5 stride-2 convolution, BatchNorm, ReLU (the paper's "5x5 conv. down, BNorm, ReLU")."""
    return [nn.Conv2d(cin, cout, 5, 2, 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class VAEGANEncoder(nn.Module):
    """images -> (mu, logvar), each (N, latent_dim). The paper's encoder at width ngf (64 in
    the paper): 5x5 stride-2 convolutions ngf, 2 ngf, 4 ngf with BatchNorm and ReLU, a linear
    layer of 32 ngf (2048) with BatchNorm and ReLU, then the linear heads ``mu`` and
    ``logvar``."""

    def __init__(self, latent_dim: int = 128, ngf: int = 64, channels: int = 1,
                 img_size: int = 32):
        super().__init__()
        check_shape("vaegan", channels, img_size)
        self.main = nn.Sequential(*_down(channels, ngf), *_down(ngf, 2 * ngf),
                                  *_down(2 * ngf, 4 * ngf))
        side = img_size // 8
        self.fc = nn.Sequential(nn.Linear(4 * ngf * side * side, 32 * ngf, bias=False),
                                nn.BatchNorm1d(32 * ngf), nn.ReLU(True))
        self.mu = nn.Linear(32 * ngf, latent_dim)
        self.logvar = nn.Linear(32 * ngf, latent_dim)
        self.apply(dcgan_init)

    def forward(self, x):
        h = self.fc(self.main(x).reshape(x.shape[0], -1))
        return self.mu(h), self.logvar(h)


class VAEGANDecoder(nn.Module):
    """z -> images: the paper's decoder at width ngf: a linear layer to a 4 ngf x (img_size/8)^2
    map (8x8x256 at 64 px) with BatchNorm and ReLU, 5x5 stride-2 transposed convolutions 4 ngf,
    2 ngf, ngf/2 (256, 128, 32) with BatchNorm and ReLU, a 5x5 convolution to the image, Tanh."""

    def __init__(self, latent_dim: int = 128, ngf: int = 64, channels: int = 1,
                 img_size: int = 32):
        super().__init__()
        check_shape("vaegan", channels, img_size)
        self.side, self.width = img_size // 8, 4 * ngf
        self.fc = nn.Sequential(nn.Linear(latent_dim, self.width * self.side ** 2, bias=False),
                                nn.BatchNorm1d(self.width * self.side ** 2), nn.ReLU(True))
        layers: list = []
        width = self.width
        for out in (4 * ngf, 2 * ngf, max(1, ngf // 2)):
            layers += [nn.ConvTranspose2d(width, out, 5, 2, 2, output_padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU(True)]
            width = out
        layers += [nn.Conv2d(width, channels, 5, 1, 2), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z):
        h = self.fc(z.reshape(z.shape[0], -1))
        return self.main(h.reshape(z.shape[0], self.width, self.side, self.side))


class VAEGANDiscriminator(nn.Module):
    """images -> one logit per image (N,). The paper's discriminator at width ndf: a 5x5
    convolution ndf/2 (32) with ReLU, 5x5 stride-2 convolutions 2 ndf, 4 ndf, 4 ndf (128, 256,
    256) with BatchNorm and ReLU, a linear layer of 8 ndf (512) with BatchNorm and ReLU, the
    logit. ``features_and_logits`` also returns Dis_l: the fourth convolution's output (before
    its BatchNorm), the layer of the authors' code."""

    FEATURE_INDEX = 8  # conv.8: the fourth convolution

    def __init__(self, ndf: int = 64, channels: int = 1, img_size: int = 32):
        super().__init__()
        check_shape("vaegan", channels, img_size)
        first = max(1, ndf // 2)
        self.conv = nn.Sequential(nn.Conv2d(channels, first, 5, 1, 2), nn.ReLU(True),
                                  *_down(first, 2 * ndf), *_down(2 * ndf, 4 * ndf),
                                  *_down(4 * ndf, 4 * ndf))
        side = img_size // 8
        self.fc = nn.Sequential(nn.Linear(4 * ndf * side * side, 8 * ndf, bias=False),
                                nn.BatchNorm1d(8 * ndf), nn.ReLU(True), nn.Linear(8 * ndf, 1))
        self.apply(dcgan_init)

    def features_and_logits(self, x):
        """(Dis_l(x) (N, 4 ndf, img_size/8, img_size/8), logits (N,))."""
        h, features = x, None
        for i, layer in enumerate(self.conv):
            h = layer(h)
            if i == self.FEATURE_INDEX:
                features = h
        return features, self.fc(h.reshape(x.shape[0], -1)).reshape(-1)

    def forward(self, x):
        return self.features_and_logits(x)[1]


def kl_prior(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per image, summed over the latent, batch mean."""
    return (-0.5 * (1.0 + logvar - mu * mu - logvar.exp())).sum(1).mean()


def feature_nll(features_real, features_recon):
    """-log N(Dis_l(x) | Dis_l(x~), I) per image without its constant: half the squared
    distance of the feature maps, summed over them, batch mean."""
    diff = (features_real - features_recon).reshape(features_real.shape[0], -1)
    return 0.5 * (diff * diff).sum(1).mean()


@register
class VAEGAN(_EncoderModel):
    """VAE-GAN, the paper's Algorithm 1. One forward pass per step: mu, logvar = E(x),
    z = mu + exp(logvar / 2) eps, x~ = G(z), x_p = G(z_p) with z_p ~ N(0, I), and D on x, x~,
    x_p. Then, all from that pass (the simultaneous update):

    - E minimizes L_prior + L_llike: the KL to the prior plus the Gaussian negative
      log-likelihood of Dis_l(x) around Dis_l(x~) (``kl_prior``, ``feature_nll``);
    - G minimizes gamma L_llike plus its GAN loss on x~ and x_p (the GAN loss reaches G, not
      E: the paper's "limiting error signals");
    - D minimizes the cross-entropy of telling x from x~ and from x_p (maximizes L_GAN =
      log D(x) + log(1 - D(x~)) + log(1 - D(x_p))).

    G's GAN loss is ``--loss``: minimax is the paper's literal rule (G descends -L_GAN, i.e.
    log(1 - D(.)) on x~ and x_p, which saturates); nsgan (the preset) is the non-saturating
    -log D(.) on both, the usual practice. Logs kl_loss, llike_loss, d_loss, g_loss (G's GAN
    term) and D's mean outputs on x, x~ and x_p."""

    name = "vaegan"
    paper = "Larsen, Sønderby, Larochelle & Winther 2016, Autoencoding beyond pixels using a " \
            "learned similarity metric"
    summary = "VAE whose reconstruction error is measured in a GAN discriminator's features"
    # The paper's RMSProp, learning rate 3e-4, batch 64 (b1/b2 are not used); latent 128 as
    # the authors' code.
    preset = {"lr": 3e-4, "loss": "nsgan", "n_critic": 1, "batch_size": 64, "latent_dim": 128}
    # gamma: the paper leaves it a tuning weight; the authors' CelebA run (64 px, 8x8x256
    # features) used 1e-5. On the 32-px digits at the zoo's CPU budgets 1e-5 leaves G to its
    # GAN term alone: still gray images after 127 steps (ngf/ndf 16: FID 31, reconstruction
    # MSE 0.51), against FID 3.2 and MSE 0.34 after 181 steps at 1e-2 in the same 150 s.
    options = {"gamma": (1e-2, float, "weight gamma of the feature reconstruction term in G's "
                         "loss against its GAN loss (the authors' CelebA run: 1e-5)")}

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        if cfg.loss not in ("nsgan", "minimax"):
            raise ValueError(f"vaegan: --loss must be nsgan or minimax (the paper's "
                             f"cross-entropy GAN loss), got {cfg.loss!r}")
        super().__init__(cfg, channels, n_classes)

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": VAEGANDecoder(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "E": VAEGANEncoder(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": VAEGANDiscriminator(cfg.ndf, self.channels, cfg.img_size)}

    def make_optimizers(self) -> dict:
        """RMSprop (the paper's) for E, G and D: cfg.lr, D cfg.lr_d or cfg.lr."""
        cfg = self.cfg
        return {name: minigan.optim.RMSprop(self.nets[name].parameters(),
                                            lr=(cfg.lr_d or cfg.lr) if name == "D" else cfg.lr)
                for name in ("G", "E", "D")}

    def encode(self, x):
        return self.nets["E"](x)[0]

    def losses(self, x, z_prior, eps=None):
        """The step's terms from one forward pass: (kl, llike, gan_g, gan_d, d_real,
        d_recon, d_prior) (the last three: D's logits). ``eps`` (N, latent_dim), the
        reparameterization's noise, is drawn when not given."""
        E, G, D = self.nets["E"], self.nets["G"], self.nets["D"]
        loss = gan_losses.get(self.cfg.loss)
        mu, logvar = E(x)
        if eps is None:
            eps = minigan.randn(*mu.shape, dtype=mu.dtype, backend=mu.backend)
        z = mu + (0.5 * logvar).exp() * eps
        f_real, d_real = D.features_and_logits(x)
        f_recon, d_recon = D.features_and_logits(G(z))
        d_prior = D(G(z_prior))
        kl, llike = kl_prior(mu, logvar), feature_nll(f_real, f_recon)
        gan_g = loss.g_loss(d_recon) + loss.g_loss(d_prior)
        gan_d = loss.d_loss(d_real, d_recon) + F.softplus(d_prior).mean()
        return kl, llike, gan_g, gan_d, d_real, d_recon, d_prior

    def backward(self, x, z_prior, eps=None) -> tuple:
        """The step's gradients, each network's from its own loss and all from one forward
        pass (``losses``): E's of L_prior + L_llike, G's of gamma L_llike + its GAN loss, D's
        of its cross-entropy. Returns the terms of ``losses``."""
        terms = self.losses(x, z_prior, eps)
        kl, llike, gan_g, gan_d = terms[:4]
        objective = {"E": kl + llike, "G": self.option(self.cfg, "gamma") * llike + gan_g,
                     "D": gan_d}
        for name in ("E", "G", "D"):
            self.opts[name].zero_grad()
            objective[name].backward(inputs=list(self.nets[name].parameters()),
                                     retain_graph=name != "D")
        return terms

    def train_step(self, data) -> dict:
        cfg = self.cfg
        x = data.real(0).images
        kl, llike, gan_g, gan_d, d_real, d_recon, d_prior = self.backward(
            x, self.latent(x.shape[0]))
        for name in ("E", "G", "D"):  # every gradient was taken before any step
            self.opts[name].step()
        return {"kl_loss": kl.detach(), "llike_loss": llike.detach(),
                "d_loss": gan_d.detach(), "g_loss": gan_g.detach(),
                "D(x)": mean_output(d_real, cfg.loss),
                "D(G(E(x)))": mean_output(d_recon, cfg.loss),
                "D(G(z))": mean_output(d_prior, cfg.loss)}
