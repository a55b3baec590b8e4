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
              scale: int = 1) -> np.ndarray:
    """Write the grid of ``images`` as a PNG (atomically) and return its (H, W, 3) pixels."""
    from minigan.training.checkpoint import atomic_write
    pixels = make_grid(images, nrow)
    img = Image.fromarray(pixels)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    atomic_write(path, lambda f: img.save(f, format="PNG"))
    return pixels


COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]


def plot_curves(steps, panels: list[dict[str, list[float]]],
                path: str | os.PathLike, width: int = 640, panel_height: int = 220) -> None:
    """Line plots against the training step, one panel per dict of named series (e.g. the two
    losses, then D(x) and D(G(z)), then evaluation metrics), stacked on one step axis, written
    atomically as a PNG. ``steps``: one list for every panel, or one list per panel."""
    from minigan.training.checkpoint import atomic_write
    per_panel = steps if steps and isinstance(steps[0], (list, tuple)) else [steps] * len(panels)
    margin, top = 56, 10
    img = Image.new("RGB", (width, panel_height * len(panels) + 24), "white")
    draw = ImageDraw.Draw(img)
    everything = [x for xs in per_panel for x in xs]
    x0, x1 = (min(everything), max(everything)) if everything else (0, 1)
    x1 = x1 if x1 > x0 else x0 + 1
    for p, (series, steps) in enumerate(zip(panels, per_panel)):
        y_top = p * panel_height + top
        y_bottom = (p + 1) * panel_height - 28
        draw.rectangle([margin, y_top, width - 8, y_bottom], outline="black")
        values = [v for s in series.values() for v in s if math.isfinite(v)]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1.0
        for frac in (0.0, 0.5, 1.0):
            y = y_bottom - frac * (y_bottom - y_top)
            draw.text((4, y - 6), f"{lo + frac * (hi - lo):.3g}", fill="black")
        for i, (name, s) in enumerate(series.items()):
            color = COLORS[i % len(COLORS)]
            pts = [(margin + (x - x0) / (x1 - x0) * (width - 8 - margin),
                    y_bottom - (v - lo) / (hi - lo) * (y_bottom - y_top))
                   for x, v in zip(steps, s) if math.isfinite(v)]
            if len(pts) > 1:
                draw.line(pts, fill=color, width=1)
            elif pts:
                draw.point(pts, fill=color)
            draw.text((margin + 8 + 110 * i, y_bottom + 6), name, fill=color)
    y = len(panels) * panel_height
    draw.text((margin - 4, y), f"step {x0}", fill="black")
    draw.text((width - 90, y), f"step {x1}", fill="black")
    atomic_write(path, lambda f: img.save(f, format="PNG"))


def save_scatter(points: np.ndarray, path: str | os.PathLike, centres: np.ndarray | None = None,
                 radius: float = 0.0, title: str = "", size: int = 480) -> np.ndarray:
    """A scatter plot of (N, 2) ``points`` (blue), over ``centres`` drawn as grey circles of
    ``radius`` (e.g. 3 std of a mixture's modes), written atomically as a PNG; returns its
    (H, W, 3) pixels. The square view holds every centre with a margin, and the points up
    to twice that far (points beyond are clipped to the frame)."""
    from minigan.training.checkpoint import atomic_write
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)[:, :2]
    ref = centres if centres is not None and len(centres) else points
    half = float(np.abs(ref).max()) * 1.5 + radius if len(ref) else 1.0
    half = half if math.isfinite(half) and half > 0 else 1.0
    top = 18
    img = Image.new("RGB", (size, size + top), "white")
    draw = ImageDraw.Draw(img)

    def xy(p):
        u = (np.clip(p, -half, half) + half) / (2 * half) * (size - 1)
        return u[..., 0], top + (size - 1) - u[..., 1]

    draw.rectangle([0, top, size - 1, size + top - 1], outline="black")
    if centres is not None:
        r = max(2.0, radius / (2 * half) * size)
        for cx, cy in zip(*xy(np.asarray(centres, dtype=np.float64))):
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(150, 150, 150), width=2)
    finite = np.isfinite(points).all(axis=1)
    for px, py in zip(*xy(points[finite])):
        draw.rectangle([px - 1, py - 1, px + 1, py + 1], fill=COLORS[0])
    draw.text((4, 3), title or f"{int(finite.sum())} samples", fill="black")
    draw.text((size - 70, 3), f"+-{half:.3g}", fill="black")
    atomic_write(path, lambda f: img.save(f, format="PNG"))
    return np.asarray(img)


def save_point_samples(points: np.ndarray, dataset: str, path: str | os.PathLike,
                       note: str = "") -> tuple[np.ndarray, dict]:
    """Samples of a point dataset (``ring8``/``grid25``) drawn over its modes (circles of 3
    std) with the mode-collapse measure in the title; returns the pixels and the measure
    (:func:`minigan.metrics.mixture_quality`)."""
    from minigan.metrics.toy import get_mixture, mixture_quality
    mix = get_mixture(dataset)
    finite = np.isfinite(points).all(axis=1)
    quality = mixture_quality(points[finite], mix) if finite.any() else \
        {"modes": 0, "modes_total": mix.modes, "high_quality": 0.0}
    title = (f"{note}{'  ' if note else ''}modes {quality['modes']}/{quality['modes_total']}  "
             f"high quality {100 * quality['high_quality']:.1f}%  ({len(points)} samples)")
    return save_scatter(points, path, mix.centres, 3 * mix.std, title), quality
