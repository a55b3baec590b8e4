"""LAPGAN (Denton, Chintala, Szlam & Fergus 2015): a Laplacian pyramid of GANs.

The image is built coarse to fine, 8x8 -> 16x16 -> 32x32 (-> 64x64 with ``--img-size 64``).
Level 0 is an unconditional GAN of the 8x8 coarse image. Each higher level k is a conditional
GAN: G_k(z_k, l_k) draws the band-pass residual h_k at its resolution, given the upsampled
coarser image l_k = u(I_{k-1}), and the level's image is I_k = l_k + h_k. D_k judges (residual,
upsampled coarse image) pairs, the two concatenated along the channels.

The pyramid (``downsample``, ``upsample``, ``laplacian_pyramid``): d is a 2x2 average pool and
u a bilinear 2x upsampling (align_corners=False, torch's default; the edges repeat). The paper
blurs with a Gaussian before decimating and expands with the same filter; the average pool is
the smallest such low-pass, and the bilinear expansion is smoother than a nearest one, so the
residuals (what the upper levels must draw) are smaller. Both are linear maps through
minigan.functional, so the pyramid of a real image reconstructs it (``u(d(x)) + h == x``) and
the chain is differentiable.

Training (``LAPGAN.train_step``): every level is trained on its own, as in the paper. Real
pairs come from the real batch's pyramid: level k's real image I_k (the batch average-pooled
to 8 * 2^k), its coarse image d(I_k), the conditioning l_k = u(d(I_k)) and the residual
h_k = I_k - l_k. The fake residual is G_k's, conditioned on the same REAL l_k. Sampling
(``LAPGANGenerator.forward``) chains the levels: I_0 = G_0(z_0), then I_k = u(I_{k-1}) +
G_k(z_k, u(I_{k-1})), each level's image clamped to [-1, 1] (the range of the real coarse
images G_k was trained on).

The networks follow the paper's CIFAR-10 description (dense nets at the 8x8 scale, 1200 units
a layer in G_0 and 600 with dropout in D_0; convolutional nets of 3 (G_k) and 2 (D_k) layers
above it, 128 channels and 5x5 kernels in the authors' code), with the widths tied to the
flags as below:

- G_0: an MLP (the paper's choice for the 8x8 scale, small enough for a dense net to see the
  whole image): z_0 -> 32 ngf BatchNorm ReLU -> 32 ngf BatchNorm ReLU -> channels x 8 x 8,
  Tanh. Deviations: the paper's G_0 has no BatchNorm, a Sigmoid second hidden layer and a
  linear output. Without BatchNorm this MLP collapsed to one or two digits on the default
  data in every trial (class coverage 0.1 - 0.3 after 120 - 1000 steps, widths 256 - 1024);
  with it, all ten classes appear within a few hundred steps. The Tanh keeps the coarse image
  in the real coarse images' range, [-1, 1].
- D_0: an MLP on the flattened 8x8 image: 16 ndf ReLU Dropout, 16 ndf ReLU Dropout, one
  logit (the paper's, with its dropout).
- G_k (k >= 1): three 5x5 convolutions, ngf ReLU, ngf ReLU, channels (linear: a residual is
  signed and unbounded). The input is l_k with one noise plane concatenated as an extra
  channel (the paper's "4th colour plane"); the plane is a linear projection of z_k
  (``noise_proj``, z_k -> size x size), so one latent vector of fixed width drives every level
  (see below).
- D_k (k >= 1): the paper's two convolutions, 5x5 ndf ReLU and 5x5 stride-2 ndf ReLU (both
  padded, "same", to keep the shapes simple), then Dropout and a linear layer to one logit.
  The input is the residual and l_k concatenated (2 x channels; the paper adds them, which the
  first convolution can still learn).

The MLPs are 32 (G) and 16 (D) times the flags while the convolutions are 1x: the convolutions
run at full resolution with no striding in G, so their cost grows with the square of their
width and dominates a step, while the 8x8 MLPs are nearly free and decide the samples' variety.
The preset's ngf = ndf = 16 (512 / 256 hidden units, 16 channels; ngf 37 and ndf 37 give the
paper's MLP widths, ngf 128 its convolutions) takes ~0.4 - 0.5 s a step (batch 32, img_size 32)
on one CPU thread.

The latent: ``latent(n)`` is the base class's standard normal (n, latent_dim), the prior the
evaluator, ``minigan.sample --truncation`` and ``--interpolate`` draw too. G splits it into one
chunk per level (``latent_split``: as equal as possible, the remainder to level 0; 34 + 33 + 33
at the default latent_dim 100 and img_size 32), so G(z) is a deterministic function of one
vector and a latent walk moves every level at once. The paper draws z_0 (100-d) uniformly and
the upper levels' noise planes pixel by pixel; a projected chunk keeps the latent's width fixed
whatever the resolution.

``nets["G"]`` is ``LAPGANGenerator`` (all the level generators, ``levels.0`` ... ; its forward
draws the whole chain, so sampling, the export and ``minigan.sample`` see one G) and
``nets["D"]`` is ``LAPGANDiscriminator`` (the level discriminators). Module names follow the
layout of the usual torch code (``model.0.weight`` ...), so the same architecture written with
torch.nn loads as it is.
"""

from __future__ import annotations

import minigan
import minigan.functional as F
from minigan import losses as gan_losses
from minigan import nn
from minigan.models.base import GANModel, mean_output, register

COARSE = 8  # the resolution of level 0


def pyramid_levels(img_size: int) -> int:
    """The number of pyramid levels from 8x8 to ``img_size`` (3 at 32, 4 at 64)."""
    if img_size not in (32, 64):
        raise ValueError(f"lapgan: --img-size must be 32 or 64 (the pyramid 8 -> 16 -> 32 "
                         f"[-> 64]), got img_size={img_size}")
    return 4 if img_size == 64 else 3


def level_sizes(img_size: int) -> list[int]:
    """The resolution of each level: [8, 16, 32] or [8, 16, 32, 64]."""
    return [COARSE * 2 ** k for k in range(pyramid_levels(img_size))]


def latent_split(latent_dim: int, levels: int) -> list[int]:
    """How many of z's values each level reads: as equal as possible, the remainder to level
    0 (e.g. 100 over 3 levels: 34, 33, 33)."""
    if latent_dim < levels:
        raise ValueError(f"lapgan: --latent-dim must be at least the number of pyramid levels "
                         f"({levels}: one noise value per level), got latent_dim={latent_dim}")
    per, rest = divmod(latent_dim, levels)
    return [per + rest] + [per] * (levels - 1)


# --- the pyramid ----------------------------------------------------------------------------
def downsample(x):
    """d(x): a 2x2 average pool, (N, C, H, W) -> (N, C, H/2, W/2)."""
    return F.avg_pool2d(x, 2)


def upsample(x):
    """u(x): bilinear 2x upsampling (align_corners=False), (N, C, H, W) -> (N, C, 2H, 2W)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def laplacian_pyramid(images, levels: int):
    """The pyramid of a batch (N, C, 8 * 2^(levels-1), ...): ``(coarse, pairs)`` with
    ``coarse`` the 8x8 image (level 0's real sample) and ``pairs`` a list, for levels 1 ...
    levels-1, of ``(residual, conditioning)``: the level's image minus ``upsample`` of its
    ``downsample``, and that upsampled coarse image. Each level's image is the sum of its pair
    (exactly what ``reconstruct`` adds back)."""
    side = images.shape[-1]
    if images.ndim != 4 or side != COARSE * 2 ** (levels - 1) or images.shape[-2] != side:
        raise ValueError(f"lapgan: laplacian_pyramid of {levels} levels needs (N, C, "
                         f"{COARSE * 2 ** (levels - 1)}, {COARSE * 2 ** (levels - 1)}) images, "
                         f"got shape {tuple(images.shape)}")
    gaussian = [images]  # the image at each resolution, finest first
    for _ in range(levels - 1):
        gaussian.append(downsample(gaussian[-1]))
    gaussian.reverse()  # coarsest first: gaussian[k] is level k's real image
    pairs = []
    for k in range(1, levels):
        cond = upsample(gaussian[k - 1])
        pairs.append((gaussian[k] - cond, cond))
    return gaussian[0], pairs


def reconstruct(coarse, residuals):
    """The image from its pyramid: I_0 = coarse, I_k = u(I_{k-1}) + h_k."""
    image = coarse
    for h in residuals:
        image = upsample(image) + h
    return image


# --- level 0: the coarse 8x8 GAN --------------------------------------------------------------
class CoarseGenerator(nn.Module):
    """z_0 (N, nz) -> 8x8 images (N, channels, 8, 8) in [-1, 1]: Linear 32 ngf BatchNorm ReLU,
    Linear 32 ngf BatchNorm ReLU, Linear channels x 64, Tanh."""

    def __init__(self, nz: int = 34, channels: int = 1, ngf: int = 16):
        super().__init__()
        self.channels = channels
        hidden = 32 * ngf
        self.model = nn.Sequential(
            nn.Linear(nz, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Linear(hidden, channels * COARSE * COARSE), nn.Tanh())

    def forward(self, z):
        z = z.reshape(z.shape[0], -1)
        return self.model(z).reshape(z.shape[0], self.channels, COARSE, COARSE)


class CoarseDiscriminator(nn.Module):
    """8x8 images -> one logit each (N,): Linear 16 ndf ReLU Dropout, Linear 16 ndf ReLU
    Dropout, Linear 1. ``cond`` is accepted and ignored (level 0 is unconditional)."""

    def __init__(self, channels: int = 1, ndf: int = 16, dropout: float = 0.5):
        super().__init__()
        hidden = 16 * ndf
        self.model = nn.Sequential(
            nn.Linear(channels * COARSE * COARSE, hidden), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(hidden, 1))

    def forward(self, x, cond=None):
        return self.model(x.reshape(x.shape[0], -1)).reshape(-1)


# --- levels >= 1: the conditional residual GANs ------------------------------------------------
class ResidualGenerator(nn.Module):
    """(z_k (N, nz), l_k (N, channels, size, size)) -> the residual h_k (N, channels, size,
    size). z_k is projected to one noise plane (``noise_proj``), concatenated to l_k as an
    extra channel, then 5x5 convolutions ngf ReLU, ngf ReLU, channels (no squashing)."""

    def __init__(self, nz: int = 33, channels: int = 1, size: int = 16, ngf: int = 16):
        super().__init__()
        self.size = size
        width = ngf
        self.noise_proj = nn.Linear(nz, size * size)
        self.model = nn.Sequential(
            nn.Conv2d(channels + 1, width, 5, 1, 2), nn.ReLU(True),
            nn.Conv2d(width, width, 5, 1, 2), nn.ReLU(True),
            nn.Conv2d(width, channels, 5, 1, 2))

    def forward(self, z, cond):
        n = cond.shape[0]
        plane = self.noise_proj(z.reshape(n, -1)).reshape(n, 1, self.size, self.size)
        return self.model(minigan.cat([cond, plane], 1))


class ResidualDiscriminator(nn.Module):
    """(residual h (N, channels, size, size), l (the upsampled coarse image, same shape)) ->
    one logit each (N,): [h, l] concatenated along the channels, 5x5 convolution ndf ReLU,
    5x5 stride-2 convolution ndf ReLU, Dropout, Linear 1."""

    def __init__(self, channels: int = 1, size: int = 16, ndf: int = 16, dropout: float = 0.5):
        super().__init__()
        width = ndf
        self.model = nn.Sequential(
            nn.Conv2d(2 * channels, width, 5, 1, 2), nn.ReLU(True),
            nn.Conv2d(width, width, 5, 2, 2), nn.ReLU(True))
        self.adv_layer = nn.Sequential(nn.Dropout(dropout),
                                       nn.Linear(width * (size // 2) ** 2, 1))

    def forward(self, x, cond):
        h = self.model(minigan.cat([x, cond], 1))
        return self.adv_layer(h.reshape(x.shape[0], -1)).reshape(-1)


# --- the containers -------------------------------------------------------------------------
class LAPGANGenerator(nn.Module):
    """All the level generators (``levels.0`` the coarse one); ``forward(z)`` draws the whole
    chain. z is (N, latent_dim) or (N, latent_dim, 1, 1), split per level by
    ``latent_split``."""

    def __init__(self, latent_dim: int = 100, channels: int = 1, img_size: int = 32,
                 ngf: int = 16):
        super().__init__()
        self.sizes = level_sizes(img_size)
        self.latent_dim = latent_dim
        self.splits = latent_split(latent_dim, len(self.sizes))
        self.levels = nn.ModuleList(
            [CoarseGenerator(self.splits[0], channels, ngf)]
            + [ResidualGenerator(self.splits[k], channels, size, ngf)
               for k, size in enumerate(self.sizes) if k])

    def split(self, z) -> list:
        """z's chunk for each level."""
        n = z.shape[0]
        flat = z.reshape(n, -1)
        if flat.shape[1] != self.latent_dim:
            raise ValueError(f"lapgan: z has {flat.shape[1]} values per sample; G expects "
                             f"latent_dim={self.latent_dim}")
        chunks, start = [], 0
        for width in self.splits:
            chunks.append(flat[:, start:start + width])
            start += width
        return chunks

    def pyramid(self, z) -> list:
        """The image of every level of the chain, coarsest first: [(N, C, 8, 8), (N, C, 16,
        16), ...]; each clamped to [-1, 1]."""
        chunks = self.split(z)
        image = self.levels[0](chunks[0])
        images = [image]
        for level, z_k in zip(list(self.levels)[1:], chunks[1:]):
            cond = upsample(image)
            image = (cond + level(z_k, cond)).clamp(-1.0, 1.0)
            images.append(image)
        return images

    def forward(self, z):
        return self.pyramid(z)[-1]


class LAPGANDiscriminator(nn.Module):
    """All the level discriminators (``levels.0`` the coarse one); ``forward(level, x,
    cond)`` runs one."""

    def __init__(self, channels: int = 1, img_size: int = 32, ndf: int = 16,
                 dropout: float = 0.5):
        super().__init__()
        sizes = level_sizes(img_size)
        self.levels = nn.ModuleList(
            [CoarseDiscriminator(channels, ndf, dropout)]
            + [ResidualDiscriminator(channels, size, ndf, dropout)
               for k, size in enumerate(sizes) if k])

    def forward(self, level: int, x, cond=None):
        return self.levels[level](x, cond)


@register
class LAPGAN(GANModel):
    name = "lapgan"
    paper = "Denton, Chintala, Szlam & Fergus 2015, Deep Generative Image Models using a " \
            "Laplacian Pyramid of Adversarial Networks"
    summary = "Laplacian pyramid of GANs 8 -> 16 -> 32 (-> 64): an MLP GAN for the coarse " \
              "image, conditional conv GANs for each level's residual"
    # The paper trains with SGD (lr 0.02 decayed per epoch, momentum 0.5 rising to 0.8) and
    # early stopping on a validation log-likelihood; minigan's optimizers are Adam, and
    # Adam 2e-4 / beta1 0.5 (Radford et al. 2016) is the setting known to train small GANs
    # stably without a schedule or a validation set. The paper does not give its batch size;
    # 32 gives twice the steps of 64 in the same CPU time, and the coarse MLP GAN, which
    # decides the samples' variety, needs steps more than it needs large batches (all ten
    # digits within ~3 minutes on one thread). latent_dim 100 is the paper's z_0 size, here
    # shared out over the levels. ngf/ndf 16: see the module docstring.
    preset = {"lr": 2e-4, "b1": 0.5, "b2": 0.999, "loss": "nsgan", "n_critic": 1,
              "batch_size": 32, "latent_dim": 100, "ngf": 16, "ndf": 16}
    options = {"dropout": (0.5, float, "dropout before each discriminator's last layer(s) "
                           "(the paper's D nets use dropout)")}

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        self.sizes = level_sizes(cfg.img_size)  # the img_size refusal, before any net is built
        super().__init__(cfg, channels, n_classes)

    def build(self) -> dict:
        cfg = self.cfg
        return {"G": LAPGANGenerator(cfg.latent_dim, self.channels, cfg.img_size, cfg.ngf),
                "D": LAPGANDiscriminator(self.channels, cfg.img_size, cfg.ndf,
                                         self.option(cfg, "dropout"))}

    # The default make_optimizers (one Adam over all of G's parameters, one over D's) is one
    # Adam per level, as the paper has one optimizer per level: the levels share no parameter,
    # each level's loss reaches only its own parameters, and Adam's update is elementwise, so
    # one step on the sum of the levels' losses is each level's own Adam step on its own loss
    # (test_step_equals_per_level_adams checks it).

    def train_step(self, data) -> dict:
        """Every level on its own pairs: ``cfg.n_critic`` D updates (each on a real batch's
        pyramid and fresh fake residuals conditioned on its real coarse images; ``cfg.loss``,
        plus ``cfg.gp`` when set), then one G update on the last batch. The levels' losses
        are summed for the one backward pass per network (equivalent to separate updates, see
        above). Logs each level's d_loss/g_loss and D outputs (``d_loss/8``, ``D(x)/16``...)
        and their means over the levels as ``d_loss``, ``g_loss``, ``D(x)``, ``D(G(z))``."""
        cfg = self.cfg
        G, D = self.nets["G"], self.nets["D"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        loss = gan_losses.get(cfg.loss)
        levels = len(self.sizes)
        for k in range(cfg.n_critic):
            real = data.real(k).images
            coarse, pairs = laplacian_pyramid(real, levels)
            reals = [coarse] + [h for h, _ in pairs]  # what each D sees as real
            conds = [None] + [c for _, c in pairs]  # each level's (real) conditioning
            chunks = G.split(self.latent(real.shape[0]))
            fakes = [G.levels[0](chunks[0])] + [G.levels[i](chunks[i], conds[i])
                                                for i in range(1, levels)]
            d_losses, d_reals, d_fakes = [], [], []
            for i in range(levels):
                Di, cond = D.levels[i], conds[i]
                fake = fakes[i].detach()
                d_real, d_fake = Di(reals[i], cond), Di(fake, cond)
                loss_d = loss.d_loss(d_real, d_fake)
                if cfg.gp:  # DRAGAN perturbs the real samples only; the others use the fakes
                    loss_d = loss_d + gan_losses.gradient_penalty(
                        lambda x, D_=Di, c=cond: D_(x, c), reals[i],
                        None if cfg.gp == "dragan" else fake, cfg.gp, cfg.gp_weight)
                d_losses.append(loss_d)
                d_reals.append(d_real)
                d_fakes.append(d_fake)
            opt_d.zero_grad()
            sum(d_losses[1:], d_losses[0]).backward()
            opt_d.step()
        g_losses = []
        for i in range(levels):
            d_real_g = None
            if loss.g_uses_real:
                with minigan.no_grad():
                    d_real_g = D.levels[i](reals[i], conds[i])
            g_losses.append(loss.g_loss(D.levels[i](fakes[i], conds[i]), d_real_g))
        opt_g.zero_grad()
        sum(g_losses[1:], g_losses[0]).backward(inputs=list(G.parameters()))
        opt_g.step()
        logs: dict = {}
        per_level = {"d_loss": [x.detach() for x in d_losses],
                     "g_loss": [x.detach() for x in g_losses],
                     "D(x)": [mean_output(x, cfg.loss) for x in d_reals],
                     "D(G(z))": [mean_output(x, cfg.loss) for x in d_fakes]}
        for key, values in per_level.items():
            logs[key] = sum(values[1:], values[0]) / levels
        for key, values in per_level.items():
            for size, v in zip(self.sizes, values):
                logs[f"{key}/{size}"] = v
        return logs
