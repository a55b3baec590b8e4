"""Lipschitz and gradient regularizers for the discriminator: gradient penalties (second
order: the penalty's gradient w.r.t. D's parameters differentiates D's input gradient),
weight clipping, and the gradient-normalized discriminator wrappers (GN-GAN, GraN-GAN)."""

from __future__ import annotations

from collections.abc import Callable

import minigan
from minigan import functional as F
from minigan.autograd import enable_grad, no_grad
from minigan.autograd.tensor import Tensor
from minigan.losses._common import batch_norms, batch_sq_norms, parameters, require_tensor

PENALTIES = ("wgan-gp", "wgan-lp", "r1", "r2", "dragan", "wgan-div")


def _per_sample_alpha(alpha, ref: Tensor, who: str) -> Tensor:
    """Interpolation weights broadcast over the non-batch dims: (N, 1, ..., 1)."""
    n = ref.shape[0]
    shape = (n,) + (1,) * (ref.ndim - 1)
    if alpha is None:
        return minigan.rand(shape, dtype=ref.dtype, backend=ref.backend)
    if not isinstance(alpha, Tensor):
        return minigan.full(shape, float(alpha), dtype=ref.dtype, backend=ref.backend)
    if alpha.numel() != n:
        raise ValueError(f"{who}: alpha must hold one weight per sample ({n}), got shape "
                         f"{alpha.shape}")
    return alpha.detach().reshape(shape)


def _check_samples(who: str, real: Tensor, fake: Tensor | None) -> None:
    require_tensor(real, who, "real")
    if real.ndim < 1:
        raise ValueError(f"{who}: real must be a batch, got shape {real.shape}")
    if fake is not None:
        require_tensor(fake, who, "fake")
        if fake.shape != real.shape or fake.dtype != real.dtype:
            raise ValueError(f"{who}: fake ({fake.shape}, {fake.dtype}) must match real "
                             f"({real.shape}, {real.dtype})")


def _dragan_perturbed(real: Tensor, scale: float) -> Tensor:
    """Kodali et al.'s perturbation of the data: x + scale * std(x) * U[0, 1)."""
    noise = minigan.rand(real.shape, dtype=real.dtype, backend=real.backend)
    return real + scale * real.detach().std() * noise


def _penalty_points(kind, real, fake, alpha, perturb_scale, who) -> Tensor:
    if kind == "r1":
        return real
    if kind == "r2":
        if fake is None:
            raise ValueError(f"{who}: kind='r2' penalizes D's gradient on fake samples; "
                             "pass fake")
        return fake
    if kind == "dragan" and fake is None:
        fake = _dragan_perturbed(real, perturb_scale)
    if fake is None:
        raise ValueError(f"{who}: kind={kind!r} interpolates real and fake samples; pass fake")
    a = _per_sample_alpha(alpha, real, who)
    return a * real + (1 - a) * fake


def input_gradient(D: Callable, x: Tensor) -> Tensor:
    """d(sum_i D(x)_i)/dx at x (detached from how x was made), keeping the graph so the
    result can be differentiated w.r.t. D's parameters: sample i's gradient is row i."""
    x = x.detach().requires_grad_(True)
    with enable_grad():
        out = D(x)
        (g,) = minigan.grad(out.sum(), [x], create_graph=True)
    return g


def gradient_penalty(D: Callable, real: Tensor, fake: Tensor | None, kind: str, weight: float,
                     alpha=None, *, center: float = 1.0, p: float = 6.0,
                     perturb_scale: float = 0.5) -> Tensor:
    """A gradient penalty for D's loss, on per-sample gradient norms ||g_i|| over all non-batch
    dims, at points x^ detached from G (add it to d_loss):

    - 'wgan-gp' (Gulrajani et al. 2017): weight * E[(||g|| - center)^2] at
      x^ = alpha x_r + (1 - alpha) x_f, alpha ~ U[0, 1) per sample unless given;
    - 'wgan-lp' (Petzka et al. 2018): weight * E[relu(||g|| - center)^2], same points;
    - 'r1' / 'r2' (Mescheder et al. 2018): weight / 2 * E[||g||^2] at the real / fake samples;
    - 'dragan' (Kodali et al. 2017): weight * E[(||g|| - center)^2] around the data, between
      x_r and a perturbed x_p = x_r + perturb_scale * std(x_r) * U[0, 1) (``fake``, when
      given, is used as x_p);
    - 'wgan-div' (Wu et al. 2018): k * E[||g||^p] with k = ``weight`` (paper: k=2, p=6), at
      the interpolated points.

    ``alpha`` is None (drawn), a float, or a Tensor of one weight per sample.
    """
    who = f"gradient_penalty(kind={kind!r})"
    if kind not in PENALTIES:
        raise ValueError(f"gradient_penalty: unknown kind {kind!r}; known: {list(PENALTIES)}")
    _check_samples(who, real, fake)
    points = _penalty_points(kind, real, fake, alpha, perturb_scale, who)
    g = input_gradient(D, points)
    if kind in ("r1", "r2"):
        return (0.5 * weight) * batch_sq_norms(g).mean()
    if kind == "wgan-div":
        return weight * (batch_sq_norms(g) ** (0.5 * p)).mean()
    gap = batch_norms(g) - center
    if kind == "wgan-lp":
        gap = F.relu(gap)
    return weight * (gap * gap).mean()


def clip_weights(source, clip_value: float = 0.01) -> None:
    """Arjovsky et al. 2017 (WGAN): clamp every parameter to [-c, c] in place, after each
    critic step. ``source`` is a Module or an iterable of parameters."""
    if clip_value <= 0:
        raise ValueError(f"clip_weights: clip_value must be positive, got {clip_value}")
    with no_grad():
        for p in parameters(source):
            p.data = p.detach().clamp(-clip_value, clip_value)


class _NormalizedDiscriminator:
    """Wraps D; parameters(), state_dict(), train() ... are the wrapped D's."""

    def __init__(self, discriminator: Callable):
        self.discriminator = discriminator

    def __getattr__(self, name: str):
        if name == "discriminator":  # not yet set (copy/unpickle): no recursion
            raise AttributeError(name)
        return getattr(self.discriminator, name)

    def _output_and_grad_norm(self, x: Tensor, args, kwargs):
        who = type(self).__name__
        require_tensor(x, who, "x")
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        with enable_grad():
            f = self.discriminator(x, *args, **kwargs)
            if f.ndim == 0 or f.numel() != f.shape[0]:
                raise ValueError(f"{who}: the discriminator must give one output per sample, "
                                 f"got shape {f.shape} for input {x.shape}")
            (g,) = minigan.grad(f.sum(), [x], create_graph=True)
        norm = batch_norms(g).reshape(f.shape)
        return f, norm


class GradientNormalization(_NormalizedDiscriminator):
    """Wu et al. 2021 (GN-GAN): D^(x) = f(x) / (||grad_x f(x)|| + |f(x)|), which is
    piecewise 1-Lipschitz and bounded in [-1, 1]. Use the wrapper as D for both players;
    its output needs second-order gradients through f."""

    def __call__(self, x: Tensor, *args, **kwargs) -> Tensor:
        f, norm = self._output_and_grad_norm(x, args, kwargs)
        return f / (norm + f.abs())


class PiecewiseGradientNormalization(_NormalizedDiscriminator):
    """Bhaskara et al. 2022 (GraN-GAN): D^(x) = K f(x) ||grad_x f(x)|| /
    (||grad_x f(x)||^2 + eps), piecewise K-Lipschitz; ``lipschitz`` is K (1/tau for the
    paper's sigmoid losses)."""

    def __init__(self, discriminator: Callable, eps: float = 1e-4, lipschitz: float = 1.0):
        super().__init__(discriminator)
        if eps <= 0:
            raise ValueError(f"PiecewiseGradientNormalization: eps must be positive, got {eps}")
        self.eps, self.lipschitz = float(eps), float(lipschitz)

    def __call__(self, x: Tensor, *args, **kwargs) -> Tensor:
        f, norm = self._output_and_grad_norm(x, args, kwargs)
        return self.lipschitz * f * norm / (norm * norm + self.eps)

