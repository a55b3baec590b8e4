"""Argument checks and per-sample helpers shared by the losses, penalties and tricks."""

from __future__ import annotations

from minigan.autograd.tensor import Tensor


def require_tensor(x, who: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: {name} must be a minigan Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: {name} must be floating point, got {x.dtype}")
    return x


def check_pair(who: str, real_out, fake_out, same_shape: bool = False) -> None:
    """Both outputs are floating Tensors of one dtype; relativistic and paired losses also
    need the same shape (sample i of real_out is compared with sample i of fake_out)."""
    require_tensor(real_out, who, "real_out")
    require_tensor(fake_out, who, "fake_out")
    if real_out.dtype != fake_out.dtype:
        raise TypeError(f"{who}: real_out has dtype {real_out.dtype} but fake_out has "
                        f"{fake_out.dtype}")
    if same_shape and real_out.shape != fake_out.shape:
        raise ValueError(f"{who}: real_out of shape {real_out.shape} and fake_out of shape "
                         f"{fake_out.shape} must have the same shape (paired samples)")


def per_sample(out: Tensor, who: str, name: str) -> Tensor:
    """A (N,), (N, 1) or (N, 1, 1, 1) discriminator output as a (N,) vector."""
    if out.ndim == 0 or out.numel() != out.shape[0]:
        raise ValueError(f"{who}: {name} must hold one value per sample ((N,) or (N, 1)), "
                         f"got shape {out.shape}")
    return out.reshape(out.shape[0])


def sample_distance(a: Tensor, b: Tensor, kind: str, who: str) -> Tensor:
    """Per-sample distance between paired batches, normalized by the number of elements so
    its scale does not grow with the image size: 'l1' = mean |a - b|, 'l2' = ||a - b||_2 /
    sqrt(n)."""
    require_tensor(a, who, "real")
    require_tensor(b, who, "fake")
    if a.shape != b.shape or a.ndim == 0:
        raise ValueError(f"{who}: real of shape {a.shape} and fake of shape {b.shape} must be "
                         "paired batches of the same shape")
    diff = (a - b).reshape(a.shape[0], -1)
    if kind == "l1":
        return diff.abs().mean(1)
    if kind == "l2":
        return diff.norm(2, dim=1) / diff.shape[1] ** 0.5
    raise ValueError(f"{who}: distance must be 'l1' or 'l2', got {kind!r}")


def batch_norms(grad: Tensor) -> Tensor:
    """The Euclidean norm of each sample's gradient, over all non-batch dims: (N,)."""
    return grad.reshape(grad.shape[0], -1).norm(2, dim=1)


def parameters(source) -> list:
    """The parameters of a Module (anything with ``parameters()``) or of an iterable."""
    return list(source.parameters() if hasattr(source, "parameters") else source)
