"""One way to add a GAN: a ``GANModel`` subclass in one file of ``minigan/models/``.

A model says its networks (``build``), its optimizers (``make_optimizers``, Adam for G and D
by default), its latent prior (``latent``) and its training step (``train_step``: which
losses, how many D steps, what the step logs). Everything else (the CLI, the run folder,
checkpoints and resume, sample grids, the generator export, ``minigan.sample`` and
``minigan.evaluate``) works from these for every model, with no per-model code elsewhere.

Registering is decorating the class with ``@register``; ``minigan.models`` imports every
module of the package, so a new file is all it takes. ``preset`` holds the TrainConfig fields
the paper fixes (its learning rates, betas, critic steps, loss); command-line flags still
override each one. ``options`` declares the model's own hyper-parameters (name: (default,
type, help)); they become ``--name`` flags and live in ``cfg.options``.

On the 2-D point datasets (``--data ring8|grid25``) a model with ``points = True`` builds
``build_points()`` instead of ``build()``: by default the MLP G and D of
:mod:`minigan.models.points`, which its ``train_step`` runs unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import minigan
from minigan import nn

MODELS: dict[str, type[GANModel]] = {}


def register(cls: type[GANModel]) -> type[GANModel]:
    if not cls.name:
        raise ValueError(f"{cls.__name__}: a registered model needs a name")
    if cls.name in MODELS and MODELS[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} is registered twice "
                         f"({MODELS[cls.name].__module__} and {cls.__module__})")
    MODELS[cls.name] = cls
    return cls


@dataclass
class Batch:
    """A batch of real data on the model's backend: images (N, C, H, W) in [-1, 1] and, for
    labelled datasets, int64 labels (N,)."""
    images: minigan.Tensor
    labels: minigan.Tensor | None


class GANModel:
    name: str = ""
    paper: str = ""  # "Authors Year, Title"
    summary: str = ""  # one line for --help
    preset: dict = {}  # TrainConfig fields the paper sets; flags override them
    options: dict = {}  # name -> (default, type, help): the model's own flags
    conditional: bool = False  # G (and usually D) take class labels
    # the networks generator.safetensors holds: G's keys unprefixed (as every export before
    # this attribute), each other's under "NAME/" (models with an encoder: ("G", "E"))
    exported: tuple = ("G",)
    points: bool = False  # trains on the 2-D point datasets with build_points()

    def __init__(self, cfg, channels: int, n_classes: int = 0):
        self.cfg, self.channels, self.n_classes = cfg, channels, n_classes
        self.backend = cfg.backend
        if self.conditional and n_classes < 2:
            raise ValueError(f"{self.name}: a class-conditional model needs a labelled dataset "
                             f"(--data {cfg.data} has no labels)")
        from minigan.data import is_points
        self.on_points = is_points(cfg.data)
        if self.on_points and not self.points:
            able = ", ".join(name for name, cls in MODELS.items() if cls.points)
            raise ValueError(f"{self.name}: no version for the 2-D point data of --data "
                             f"{cfg.data} (models that have one: {able})")
        nets = self.build_points() if self.on_points else self.build()
        self.nets: dict[str, nn.Module] = {k: m.to(backend=cfg.backend) for k, m in nets.items()}
        if "G" not in self.nets:
            raise ValueError(f"{self.name}: build() must return a network named 'G'")
        self.opts = self.make_optimizers()

    # --- what a model says ------------------------------------------------------------------
    def build(self) -> dict[str, nn.Module]:  # pragma: no cover - interface
        """The networks by name; 'G' is the generator (sampled, exported, evaluated)."""
        raise NotImplementedError

    def build_points(self) -> dict[str, nn.Module]:
        """The networks for 2-D points (models with ``points = True``): MLPs with three hidden
        ReLU layers of 2 x ngf (G) and 2 x ndf (D) units."""
        from minigan.models.points import PointDiscriminator, PointGenerator
        cfg = self.cfg
        return {"G": PointGenerator(cfg.latent_dim, 2 * cfg.ngf, self.channels),
                "D": PointDiscriminator(2 * cfg.ndf, self.channels)}

    def make_optimizers(self) -> dict:
        """Adam for G and for D (cfg.lr, cfg.lr_d or cfg.lr, betas (b1, b2))."""
        cfg = self.cfg
        opts = {"G": minigan.optim.Adam(self.nets["G"].parameters(), lr=cfg.lr,
                                        betas=(cfg.b1, cfg.b2))}
        if "D" in self.nets:
            opts["D"] = minigan.optim.Adam(self.nets["D"].parameters(), lr=cfg.lr_d or cfg.lr,
                                           betas=(cfg.b1, cfg.b2))
        return opts

    def train_step(self, data) -> dict:  # pragma: no cover - interface
        """One generator update (and its D updates). ``data.real(k)`` is the k-th real batch
        of this step (k < ``cfg.n_critic`` distinct batches), ``data.step`` the step index.
        Returns what the step logs: names to 0-d tensors (or floats); the trainer averages
        them over each log interval. Losses are named ``*loss``; D's mean outputs ``D(...)``."""
        raise NotImplementedError

    def latent(self, n: int) -> minigan.Tensor:
        """n draws of the latent prior (standard normal, (n, latent_dim))."""
        return minigan.randn(n, self.cfg.latent_dim, backend=self.backend)

    def latent_numpy(self, rng, n: int):
        """The same prior drawn on the host from a numpy Generator (fixed sample grids)."""
        return rng.standard_normal((n, self.cfg.latent_dim)).astype("float32")

    def generate(self, z, labels=None):
        """Images from latents (and labels for conditional models), in whatever mode G is."""
        G = self.nets["G"]
        return G(z, labels) if self.conditional else G(z)

    def encode(self, x):
        """Latents (N, latent_dim) of images x (N, C, H, W): models with an encoder network
        define it (minigan.models.encoders); the others raise NotImplementedError."""
        raise NotImplementedError(f"model {self.name!r} has no encoder")

    # state beyond the networks and optimizers (e.g. BEGAN's k_t), JSON-able
    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    @classmethod
    def option(cls, cfg, name: str):
        """A model option's value: the flag's, else its declared default."""
        return cfg.options.get(name, cls.options[name][0])


def option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def adversarial_step(model: GANModel, data, g: str = "G", d: str = "D", *, loss=None,
                     clip: float = 0.0, paired: bool = False) -> dict:
    """The alternating step of most GANs: ``cfg.n_critic`` D updates on ``cfg.loss`` (or the
    ``loss`` object given; ``paired`` losses also read the real and fake samples), plus
    ``cfg.gp`` weighted by ``cfg.gp_weight``, with D's weights clipped to ``clip`` after each
    update when it is set (WGAN); then one G update. Logs d_loss, g_loss and D's mean outputs
    on real and fake images (probabilities for the log-likelihood losses)."""
    from minigan import losses as gan_losses
    cfg = model.cfg
    G, D = model.nets[g], model.nets[d]
    opt_g, opt_d = model.opts[g], model.opts[d]
    loss = gan_losses.get(cfg.loss) if loss is None else loss
    for k in range(cfg.n_critic):
        real = data.real(k).images
        fake = G(model.latent(real.shape[0]))
        fake_d = fake.detach()
        d_real, d_fake = D(real), D(fake_d)
        loss_d = loss.d_loss(d_real, d_fake, real=real, fake=fake_d) if paired else \
            loss.d_loss(d_real, d_fake)
        if cfg.gp:  # DRAGAN's points perturb the real data only; the others use the fakes
            points = None if cfg.gp == "dragan" else fake_d
            loss_d = loss_d + gan_losses.gradient_penalty(D, real, points, cfg.gp, cfg.gp_weight)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        if clip:
            gan_losses.clip_weights(D, clip)
    d_fake_g = D(fake)
    d_real_g = None
    if loss.g_uses_real:
        with minigan.no_grad():
            d_real_g = D(real)
    loss_g = loss.g_loss(d_fake_g, d_real_g)
    opt_g.zero_grad()
    # Only G's gradients: the graph through D is pruned to what reaches G, so D's weight
    # gradients (a third of D's backward GEMMs), which the next D step would zero, are never
    # computed.
    loss_g.backward(inputs=list(G.parameters()))
    opt_g.step()
    return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
            "D(x)": mean_output(d_real, cfg.loss), "D(G(z))": mean_output(d_fake, cfg.loss)}


def mean_output(logits, loss: str):
    """Mean D output (a 0-d tensor) as a probability for the log-likelihood losses, raw
    otherwise."""
    out = logits.detach()
    if loss in ("nsgan", "minimax", "rsgan"):
        out = out.sigmoid()
    return out.mean()
