"""Training tricks from the GAN literature, each a small piece that composes with any loss.

- one-sided label smoothing (Salimans et al. 2016): ``one_sided_label_smoothing``
- instance noise with annealing (Sønderby et al. 2017, Arjovsky & Bottou 2017):
  ``InstanceNoise``
- feature matching (Salimans et al. 2016): ``feature_matching_loss``
- historical averaging (Salimans et al. 2016): ``HistoricalAveraging``
- generator EMA (Karras et al. 2018, Yazici et al. 2019): ``EMA``
- the truncation trick (Brock et al. 2019; Karras et al. 2019): ``truncated_noise``,
  ``truncate_latent``
- the image history pool (Shrivastava et al. 2017, Zhu et al. 2017): ``ImagePool``
- unrolled discriminator steps (Metz et al. 2017): ``unrolled_parameters``,
  ``unrolled_g_loss``, ``unrolled_discriminator``
- TTUR (Heusel et al. 2017): ``ttur_optimizers``
- the merged one-step update with stop-gradient: ``merged_step``
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

import minigan
from minigan.autograd import no_grad
from minigan.autograd.tensor import Tensor
from minigan.losses._common import parameters, require_tensor


def one_sided_label_smoothing(smoothing: float = 0.1, loss: str = "nsgan"):
    """Salimans et al. 2016: D's target for real samples becomes 1 - smoothing (fake stays 0),
    which keeps D from growing over-confident. Returns the cross-entropy loss built that way."""
    from minigan.losses import get
    if loss not in ("nsgan", "minimax"):
        raise ValueError(f"one_sided_label_smoothing: applies to the cross-entropy losses "
                         f"'nsgan' and 'minimax', got {loss!r}")
    return get(loss, real_label=1.0 - smoothing)


class InstanceNoise:
    """Sønderby et al. 2017, Arjovsky & Bottou 2017: add N(0, sigma_t^2) noise to every input
    of D (real and fake alike) so the two distributions overlap; sigma_t decays linearly from
    ``std`` to 0 over ``anneal_steps`` calls of ``step()``."""

    def __init__(self, std: float = 0.1, anneal_steps: int = 10_000):
        if std < 0 or anneal_steps <= 0:
            raise ValueError(f"InstanceNoise: needs std >= 0 and anneal_steps > 0, got "
                             f"std={std}, anneal_steps={anneal_steps}")
        self.std, self.anneal_steps, self.t = float(std), int(anneal_steps), 0

    @property
    def sigma(self) -> float:
        return self.std * max(0.0, 1.0 - self.t / self.anneal_steps)

    def __call__(self, x: Tensor) -> Tensor:
        sigma = self.sigma
        return x if sigma == 0 else x + sigma * minigan.randn_like(x)

    def step(self) -> None:
        self.t += 1


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """Salimans et al. 2016: G minimizes ||E f(x) - E f(G(z))||_2^2 over an intermediate layer
    f of D, batch means taken per feature; the real side is a constant target."""
    who = "feature_matching_loss"
    require_tensor(real_features, who, "real_features")
    require_tensor(fake_features, who, "fake_features")
    if real_features.shape[1:] != fake_features.shape[1:]:
        raise ValueError(f"{who}: real_features {real_features.shape} and fake_features "
                         f"{fake_features.shape} differ outside the batch dim")
    diff = real_features.detach().mean(0) - fake_features.mean(0)
    return (diff * diff).sum()


class HistoricalAveraging:
    """Salimans et al. 2016: the penalty weight * sum ||theta - theta_bar||^2, theta_bar the
    mean of the parameter values recorded by ``update()`` (call it after each step). Zero
    until the first update. ``source`` is a Module or an iterable of parameters."""

    def __init__(self, source, weight: float = 1.0):
        self.params = parameters(source)
        self.weight = float(weight)
        self.average: list[Tensor] | None = None
        self.count = 0

    def update(self) -> None:
        with no_grad():
            self.count += 1
            if self.average is None:
                self.average = [p.detach().clone() for p in self.params]
                return
            self.average = [a + (p.detach() - a) / self.count
                            for a, p in zip(self.average, self.params)]

    def penalty(self) -> Tensor:
        if self.average is None:
            return self.params[0].sum() * 0.0
        total = None
        for p, a in zip(self.params, self.average):
            term = ((p - a) ** 2).sum()
            total = term if total is None else total + term
        return self.weight * total


def _copy_value(v):
    return v.detach().clone() if isinstance(v, Tensor) else copy.deepcopy(v)


class EMA:
    """Karras et al. 2018, Yazici et al. 2019: an exponential moving average of G's weights,
    theta_ema <- decay theta_ema + (1 - decay) theta after each G step; buffers (BatchNorm
    statistics) are copied. Sample from a G loaded with ``state_dict()`` (``copy_to``)."""

    def __init__(self, module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA: decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow = {k: _copy_value(v) for k, v in module.state_dict().items()}
        self._param_names = {name for name, _ in module.named_parameters()}

    def update(self, module) -> None:
        params = dict(module.named_parameters())
        with no_grad():
            for name, value in module.state_dict().items():
                if name in self._param_names:
                    p = params[name].detach()
                    self.shadow[name] = self.decay * self.shadow[name] + (1 - self.decay) * p
                else:
                    self.shadow[name] = _copy_value(value)

    def state_dict(self) -> dict:
        return dict(self.shadow)

    def copy_to(self, module) -> None:
        module.load_state_dict({k: _copy_value(v) for k, v in self.shadow.items()})


def truncated_noise(*size, threshold: float = 1.0, dtype=None, backend=None) -> Tensor:
    """Brock et al. 2019 (BigGAN): z ~ N(0, I) with every entry of magnitude above
    ``threshold`` redrawn until none is left: trades variety for fidelity."""
    if threshold <= 0:
        raise ValueError(f"truncated_noise: threshold must be positive, got {threshold}")
    z = minigan.randn(*size, dtype=dtype, backend=backend)
    outside = z.abs() > threshold
    while bool(outside.numpy().any()):
        z = minigan.where(outside, minigan.randn_like(z), z)
        outside = z.abs() > threshold
    return z


def truncate_latent(w: Tensor, w_avg: Tensor, psi: float) -> Tensor:
    """Karras et al. 2019 (StyleGAN): w' = w_avg + psi (w - w_avg); psi < 1 pulls the
    latents toward the average."""
    return w_avg + psi * (w - w_avg)


class ImagePool:
    """Shrivastava et al. 2017 (SimGAN): D sees a history of generated images, not only the
    latest G's; with Zhu et al. 2017 (CycleGAN)'s rule: each image of a queried batch goes
    into the pool while it fills; once full, with probability ``p`` it swaps with a random
    stored image, which is returned in its place. Returns a detached batch."""

    def __init__(self, size: int = 50, p: float = 0.5, seed: int | None = None):
        if size < 0 or not 0.0 <= p <= 1.0:
            raise ValueError(f"ImagePool: needs size >= 0 and p in [0, 1], got size={size}, "
                             f"p={p}")
        self.size, self.p = int(size), float(p)
        self.images: list[Tensor] = []
        self._rng = np.random.default_rng(seed)

    def __call__(self, images: Tensor) -> Tensor:
        require_tensor(images, "ImagePool", "images")
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for i in range(images.shape[0]):
            image = images[i].clone()  # not a view that keeps the whole batch alive
            if len(self.images) < self.size:
                self.images.append(image)
            elif self._rng.random() < self.p:
                j = int(self._rng.integers(self.size))
                self.images[j], image = image, self.images[j]
            out.append(image)
        return minigan.stack(out)


def unrolled_parameters(d_loss_fn: Callable[[list], Tensor], params: Sequence[Tensor],
                        steps: int, lr: float, create_graph: bool = True) -> list:
    """Metz et al. 2017: D's parameters after ``steps`` gradient steps on its loss,
    theta_{k+1} = theta_k - lr grad L_D(theta_k), for G's loss to be computed against.
    ``d_loss_fn(params)`` evaluates D's loss at the given parameters. With
    ``create_graph=True`` G's gradient also flows through the unrolled updates (the paper's
    full gradient, second order); with False, the updates are constants."""
    if steps < 0:
        raise ValueError(f"unrolled_parameters: steps must be >= 0, got {steps}")
    current = list(params)
    for _ in range(steps):
        grads = minigan.grad(d_loss_fn(current), current, create_graph=create_graph,
                             allow_unused=True)
        current = [p if g is None else p - lr * g for p, g in zip(current, grads)]
    return current


def unrolled_g_loss(D, loss, real: Tensor, fake: Tensor, steps: int, lr: float,
                    create_graph: bool = True) -> Tensor:
    """Metz et al. 2017 for a Module D: G's loss against D's parameters after ``steps`` SGD
    steps on ``loss.d_loss`` (``unrolled_parameters`` through ``functional_call``); D itself
    is left unchanged. ``fake`` = G(z) with its graph, so G's gradient flows through the
    unrolled steps when ``create_graph`` (the inner steps see a detached fake otherwise)."""
    from minigan.nn.utils import functional_call

    named = list(D.named_parameters())
    names = [name for name, _ in named]
    inner_fake = fake if create_graph else fake.detach()

    def outputs(params, x):
        return functional_call(D, dict(zip(names, params)), (x,))

    def d_loss_fn(params):
        return loss.d_loss(outputs(params, real), outputs(params, inner_fake))

    unrolled = unrolled_parameters(d_loss_fn, [p for _, p in named], steps, lr, create_graph)
    return loss.g_loss(outputs(unrolled, fake), outputs(unrolled, real))


def _snapshot(module) -> dict:
    return {k: _copy_value(v) for k, v in module.state_dict().items()}


@contextmanager
def unrolled_discriminator(D, optimizer, d_step: Callable[[], object], steps: int
                           ) -> Iterator:
    """Metz et al. 2017 for Modules, without backprop through the unrolling: run
    ``d_step()`` (one D update with ``optimizer``) ``steps`` times, yield D so G's loss is
    computed against the look-ahead D, then restore D's weights and the optimizer state."""
    weights, opt_state = _snapshot(D), copy.deepcopy(optimizer.state_dict())
    try:
        for _ in range(steps):
            d_step()
        yield D
    finally:
        D.load_state_dict(weights)
        optimizer.load_state_dict(opt_state)


def ttur_optimizers(G, D, g_lr: float = 1e-4, d_lr: float = 4e-4, optimizer=None,
                    **optimizer_kwargs) -> tuple:
    """Heusel et al. 2017 (TTUR): G and D on separate learning rates (D faster), with which
    they prove convergence to a local Nash equilibrium. Defaults: Adam with betas (0, 0.9),
    as in SAGAN. Returns (g_optimizer, d_optimizer)."""
    if optimizer is None:
        from minigan.optim import Adam as optimizer
        optimizer_kwargs.setdefault("betas", (0.0, 0.9))
    return (optimizer(G.parameters(), lr=g_lr, **optimizer_kwargs),
            optimizer(D.parameters(), lr=d_lr, **optimizer_kwargs))


def merged_step(G, D, loss, g_optimizer, d_optimizer, real: Tensor, z: Tensor) -> tuple:
    """One simultaneous update of both players from one forward pass: fake = G(z) and
    D(cat(real, fake)) once; D's loss is back-propagated into D's parameters only and G's
    loss into G's only (each player's gradient stops at the other's parameters; G's loss sees
    real_out as a constant). Returns the two losses (detached)."""
    fake = G(z)
    out = D(minigan.cat([real, fake]))
    n = real.shape[0]
    real_out, fake_out = out[:n], out[n:]
    d_loss = loss.d_loss(real_out, fake_out)
    g_loss = loss.g_loss(fake_out, real_out.detach())
    d_params, g_params = parameters(D), parameters(G)
    d_optimizer.zero_grad()
    g_optimizer.zero_grad()
    d_loss.backward(inputs=d_params, retain_graph=True)
    g_loss.backward(inputs=g_params)
    d_optimizer.step()
    g_optimizer.step()
    return d_loss.detach(), g_loss.detach()
