"""Lipschitz and gradient regularizers for the discriminator: gradient penalties (second
order: the penalty's gradient w.r.t. D's parameters differentiates D's input gradient),
weight clipping, and the gradient-normalized discriminator wrappers (GN-GAN, GraN-GAN)."""

from __future__ import annotations

from collections.abc import Callable

import minigan
from minigan.autograd import enable_grad, is_grad_enabled, no_grad
from minigan.autograd.function import Function
from minigan.autograd.ops import Where
from minigan.autograd.tensor import Tensor
from minigan.losses._common import batch_norms, parameters, require_tensor

PENALTIES = ("wgan-gp", "wgan-lp", "r1", "r2", "dragan", "wgan-div")

# each penalty's per-sample function of the gradient norm (the kernels' kinds)
PENALTY_KINDS = {"wgan-gp": "two-sided", "dragan": "two-sided", "wgan-lp": "one-sided",
                 "r1": "squared", "r2": "squared", "wgan-div": "power"}


class GradientNormPenalty(Function):
    """Per-sample penalties of the rows of g2d (N, D), one kernel: "two-sided"
    (||g|| - center)^2, "one-sided" relu(||g|| - center)^2, "squared" ||g||^2 or "power"
    ||g||^power. Its gradient is c_i g_i per row: the fused ``penalty_backward`` kernel when
    no graph is being built (D's parameter gradients of a gradient penalty), the composite
    formula, which differentiates again, when one is."""

    @staticmethod
    def forward(ctx, g2d, kind, center, power):
        ctx.save_for_backward(g2d)
        ctx.params = (kind, float(center), float(power))
        ctx.sq, penalty = ctx.k.penalty_forward(g2d.array, *ctx.params)
        return penalty

    @staticmethod
    def backward(ctx, up):
        (g,) = ctx.saved_tensors
        if not is_grad_enabled():
            dg = ctx.k.penalty_backward(g.array, ctx.sq, up.array, *ctx.params)
            return Tensor(dg, ctx.backend), None, None, None
        kind, center, power = ctx.params
        k = ctx.k
        sq = (g * g).sum(1)
        if kind == "squared":
            coef = up * 2.0
        else:
            zero = k.eq(sq.array, 0)  # the masked branch carries no gradient (Norm2's rule)
            safe = Where.apply(zero, sq * 0 + 1, sq)
            if kind == "power":
                coef = Where.apply(zero, sq * 0, up * power * safe ** (0.5 * power - 1))
            else:
                norm = safe.sqrt()
                gap = norm - center
                if kind == "one-sided":
                    gap = gap.relu()
                coef = Where.apply(zero, sq * 0, up * 2.0 * gap / norm)
        return coef.reshape(-1, 1) * g, None, None, None


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
    per_sample = GradientNormPenalty.apply(g.reshape(g.shape[0], -1), PENALTY_KINDS[kind],
                                           center, p)
    if kind in ("r1", "r2"):
        return (0.5 * weight) * per_sample.mean()
    return weight * per_sample.mean()


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

