"""Spectral normalization (Miyato et al. 2018) with torch.nn.utils.spectral_norm's math and names.

The module keeps ``<name>_orig`` (the Parameter), ``<name>_u`` and ``<name>_v`` (buffers: the
power-iteration vectors). Before each forward a pre-hook sets ``<name>`` = W / sigma with
sigma = u^T W v, after ``n_power_iterations`` updates of u and v in training mode (none in
eval). u and v are constants of the graph, so the gradient reaches W through W / sigma only.
"""

from __future__ import annotations

import minigan
from minigan.autograd import no_grad
from minigan.autograd.tensor import Tensor
from minigan.nn.conv import ConvTranspose2d
from minigan.nn.module import Module
from minigan.nn.parameter import Parameter


def _normalize(v: Tensor, eps: float) -> Tensor:
    """v / max(||v||, eps), F.normalize's formula."""
    return v / v.norm().clamp(min=eps)


class SpectralNorm:
    """The forward pre-hook that recomputes the normalized weight."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12):
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: expected n_power_iterations to be positive, got "
                             f"{n_power_iterations}")
        self.name, self.n_power_iterations, self.dim, self.eps = \
            name, n_power_iterations, dim, eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """(size(dim), rest): dim first, everything else flattened."""
        if self.dim != 0:
            order = [self.dim] + [d for d in range(weight.ndim) if d != self.dim]
            weight = weight.permute(order)
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        matrix = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                w = matrix.detach()
                for _ in range(self.n_power_iterations):
                    v.data = _normalize(w.t() @ u, self.eps)
                    u.data = _normalize(w @ v, self.eps)
            # the buffers' storage is replaced, never written, so u and v are fresh constants
            u, v = u.detach(), v.detach()
        sigma = u @ (matrix @ v)
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Reparametrize ``module.<name>`` as W / sigma(W) (torch.nn.utils.spectral_norm).

    ``dim`` is the output dimension: 1 for ConvTranspose2d (weight (in, out, kH, kW)), else 0.
    u and v start as normalized N(0, 1) samples from the backend's generator.
    """
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            raise RuntimeError(f"spectral_norm: cannot register two spectral_norm hooks on the "
                               f"same parameter {name!r} of {type(module).__name__}")
    weight = module._parameters.get(name)
    if not isinstance(weight, Parameter):
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    if dim is None:
        dim = 1 if isinstance(module, ConvTranspose2d) else 0
    fn = SpectralNorm(name, n_power_iterations, dim, eps)
    with no_grad():
        h, w = fn.reshape_weight_to_matrix(weight).shape
        factory = dict(dtype=weight.dtype, backend=weight.backend)
        u = _normalize(minigan.randn(h, **factory), eps)
        v = _normalize(minigan.randn(w, **factory), eps)
    delattr(module, name)
    module.register_parameter(name + "_orig", weight)
    setattr(module, name, weight.detach())
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo spectral_norm: ``<name>`` becomes a Parameter holding the current W / sigma."""
    for hook_id, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[hook_id]
            return module
    raise ValueError(f"remove_spectral_norm: spectral_norm of {name!r} not found in "
                     f"{type(module).__name__}")
