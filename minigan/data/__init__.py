"""Datasets as float32 NCHW arrays in [-1, 1], and a seeded batch iterator.

``load(name, data_dir, img_size)`` returns a ``Dataset`` (images, labels, a description).
Names: ``digits`` (the default: scikit-learn's bundled 8x8 handwritten digits, no download),
``mnist`` and ``fashion-mnist`` (IDX files, gzipped or not), ``cifar10`` (the python pickle
batches, read through a restricted unpickler), ``folder`` (any tree of PNG/JPEG images).
Nothing a user loads can execute code.

Two synthetic 2-D datasets serve the mode-collapse experiments: ``ring8`` (8 Gaussians on a
circle of radius 2, std 0.02) and ``grid25`` (25 Gaussians on {-4, -2, 0, 2, 4}^2, std 0.05),
the mixtures of :mod:`minigan.metrics.toy`. Their ``images`` are (N, 2) points (not scaled to
[-1, 1]) and their labels the index of each point's mode; models with an MLP version train on
them (``GANModel.points``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minigan.data.formats import (
    DataError,
    load_cifar10,
    load_digits,
    load_image_folder,
    load_mnist,
)

__all__ = ["Dataset", "DataError", "load", "BatchIterator", "DATASETS", "POINT_DATASETS",
           "is_points"]

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "folder", "ring8", "grid25")
POINT_DATASETS = ("ring8", "grid25")
POINTS_PER_DATASET = 100_000  # drawn once from seed 0: an "epoch" of 1,562 batches of 64


def is_points(name: str) -> bool:
    """Whether the dataset ``name`` holds 2-D points rather than images."""
    return name in POINT_DATASETS


@dataclass
class Dataset:
    images: np.ndarray  # (N, C, H, W) float32 in [-1, 1]; (N, 2) for the point datasets
    labels: np.ndarray | None  # (N,) int64, or None for unlabelled folders
    name: str
    num_classes: int = 0

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        """Image channels; the point dimension (2) for the point datasets."""
        return self.images.shape[1]

    @property
    def points(self) -> bool:
        return self.images.ndim == 2


def load(name: str = "digits", data_dir: str | None = None, img_size: int = 32) -> Dataset:
    """Load a dataset resized to ``img_size`` x ``img_size`` and scaled to [-1, 1] (the point
    datasets ignore ``img_size`` and ``data_dir``)."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if is_points(name):
        from minigan.metrics.toy import MIXTURES
        mix = MIXTURES[name]
        rng = np.random.default_rng(0)
        labels = rng.integers(0, mix.modes, POINTS_PER_DATASET)
        points = mix.centres[labels] + mix.std * rng.standard_normal((len(labels), 2))
        return Dataset(points.astype(np.float32), labels.astype(np.int64), name, mix.modes)
    if img_size < 4:
        raise DataError(f"img_size must be at least 4, got {img_size}")
    if name == "digits":
        images, labels = load_digits(img_size)
        return Dataset(images, labels, name, 10)
    if data_dir is None:
        raise DataError(f"dataset {name!r} needs --data-dir (the folder holding its files)")
    if name in ("mnist", "fashion-mnist"):
        images, labels = load_mnist(data_dir, img_size)
        return Dataset(images, labels, name, 10)
    if name == "cifar10":
        images, labels = load_cifar10(data_dir, img_size)
        return Dataset(images, labels, name, 10)
    return Dataset(load_image_folder(data_dir, img_size), None, name, 0)


class BatchIterator:
    """Shuffled mini-batches over a dataset, reproducible from a seed and resumable.

    The order of epoch e is a permutation drawn from ``default_rng([seed, e])``, so the batch
    at any (epoch, position) is known without replaying the earlier ones: a resumed run sees
    exactly the batches an uninterrupted run would.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0,
                 drop_last: bool = True):
        if batch_size <= 0:
            raise DataError(f"batch_size must be positive, got {batch_size}")
        if drop_last and batch_size > len(dataset):
            raise DataError(f"batch_size {batch_size} is larger than the dataset "
                            f"({len(dataset)} images)")
        self.dataset, self.batch_size, self.seed, self.drop_last = (dataset, batch_size, seed,
                                                                    drop_last)
        self._order: tuple[int, np.ndarray] | None = None  # the last epoch's permutation

    @property
    def batches_per_epoch(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The batch a run sees at global step ``step`` (0-based)."""
        epoch, pos = divmod(step, self.batches_per_epoch)
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch])
                           .permutation(len(self.dataset)))
        order = self._order[1]
        idx = order[pos * self.batch_size:(pos + 1) * self.batch_size]
        labels = None if self.dataset.labels is None else self.dataset.labels[idx]
        return self.dataset.images[idx], labels

    def __iter__(self):
        for step in range(self.batches_per_epoch):
            yield self.batch(step)
