"""torchvision.utils' ``make_grid`` and ``save_image`` for scripts that swap their imports
(``from torchvision.utils import save_image`` -> ``from minigan.utils import save_image``),
with torchvision's conventions: images in [0, 1] unless ``normalize=True`` (min-max, or
``value_range``), ``nrow`` images per row, ``padding`` pixels of ``pad_value`` between them."""

from __future__ import annotations

import math
import os

import numpy as np


def _host(tensor) -> np.ndarray:
    import minigan
    if isinstance(tensor, minigan.Tensor):
        return tensor.detach().numpy().astype(np.float32)
    if isinstance(tensor, (list, tuple)):
        return np.stack([_host(t) for t in tensor])
    return np.asarray(tensor, dtype=np.float32)


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple | None = None, scale_each: bool = False,
              pad_value: float = 0.0):
    """(B, C, H, W) (or (C, H, W), or a list of them) -> one (3 or C, H', W') minigan Tensor on
    the numpy backend."""
    import minigan
    x = _host(tensor)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"make_grid: expects (B, C, H, W) images, got shape {x.shape}")
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    if normalize:
        x = x.copy()

        def norm(a, lo, hi):
            a -= lo
            a /= max(hi - lo, 1e-5)
            np.clip(a, 0, 1, out=a)

        if scale_each:
            for img in x:
                lo, hi = value_range or (img.min(), img.max())
                norm(img, lo, hi)
        else:
            lo, hi = value_range or (x.min(), x.max())
            norm(x, lo, hi)
    b, c, h, w = x.shape
    if b == 1:  # torchvision returns a single image as it is, without padding
        return minigan.tensor(x[0], backend="numpy")
    cols = min(nrow, b)
    rows = int(math.ceil(b / cols))
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding),
                   pad_value, dtype=np.float32)
    for i in range(b):
        r, k = divmod(i, cols)
        y0, x0 = padding + r * (h + padding), padding + k * (w + padding)
        grid[:, y0:y0 + h, x0:x0 + w] = x[i]
    return minigan.tensor(grid, backend="numpy")


def save_image(tensor, fp: str | os.PathLike, nrow: int = 8, padding: int = 2,
               normalize: bool = False, value_range: tuple | None = None,
               scale_each: bool = False, pad_value: float = 0.0, format: str | None = None):
    """Write the grid of ``tensor`` as an image file (PNG unless the name or ``format`` says
    otherwise), values in [0, 1] mapped to 0..255 as torchvision does."""
    from PIL import Image
    grid = make_grid(tensor, nrow, padding, normalize, value_range, scale_each,
                     pad_value).numpy()
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(pixels).save(fp, format=format)
