"""Image grids and the loss curve, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageDraw


def make_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> one (H', W', 3) uint8 image, ``nrow`` images per row."""
    n, c, h, w = images.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    pixels = ((np.clip(images, -1, 1) + 1) * 127.5).round().astype(np.uint8)
    if c == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    grid = np.zeros((rows * (h + padding) + padding, nrow * (w + padding) + padding, 3),
                    dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = pixels[i, :3].transpose(1, 2, 0)
    return grid


def save_grid(images: np.ndarray, path: str | os.PathLike, nrow: int | None = None,
              scale: int = 1) -> None:
    img = Image.fromarray(make_grid(images, nrow))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)


def plot_curves(series: dict[str, list[float]], path: str | os.PathLike,
                size: tuple[int, int] = (640, 360)) -> None:
    """Line plot of each named series against its index (e.g. d_loss and g_loss per step)."""
    colors = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
    w, h = size
    margin = 48
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    values = [v for s in series.values() for v in s if math.isfinite(v)]
    if not values:
        img.save(path)
        return
    lo, hi = min(values), max(values)
    hi = hi if hi > lo else lo + 1.0
    n = max(len(s) for s in series.values())
    draw.rectangle([margin, 8, w - 8, h - margin], outline="black")
    for frac in (0.0, 0.5, 1.0):
        y = h - margin - frac * (h - margin - 8)
        draw.text((4, y - 6), f"{lo + frac * (hi - lo):.3g}", fill="black")
    draw.text((margin, h - margin + 8), "0", fill="black")
    draw.text((w - 60, h - margin + 8), f"{n - 1} steps", fill="black")
    for i, (name, s) in enumerate(series.items()):
        color = colors[i % len(colors)]
        pts = [(margin + j * (w - 8 - margin) / max(n - 1, 1),
                h - margin - (v - lo) / (hi - lo) * (h - margin - 8))
               for j, v in enumerate(s) if math.isfinite(v)]
        if len(pts) > 1:
            draw.line(pts, fill=color, width=1)
        draw.text((margin + 8 + 110 * i, h - 20), name, fill=color)
    img.save(path)
