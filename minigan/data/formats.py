"""Readers for the standard dataset file formats. Each checks what it reads and names the
file and what it expected when something is wrong."""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class DataError(ValueError):
    """A dataset file is missing, corrupt, or not in the expected format."""


def _to_unit_range(images_uint8: np.ndarray) -> np.ndarray:
    return (images_uint8.astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def _resize_all(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) uint8 -> (N, C, size, size) uint8, bilinear via Pillow."""
    if images.shape[1] == size and images.shape[2] == size:
        out = images
    else:
        out = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
                        for im in images])
    return out[:, None] if out.ndim == 3 else out.transpose(0, 3, 1, 2)


# --- the embedded default --------------------------------------------------------------------
def load_digits(img_size: int):
    """scikit-learn's bundled handwritten digits (1797 8x8 images, 10 classes): installs with
    minigan's dependencies, no download."""
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    images = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    return _to_unit_range(_resize_all(images, img_size)), d.target.astype(np.int64)


# --- MNIST / Fashion-MNIST: IDX ----------------------------------------------------------------
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (gzipped or not): magic 0 0 TYPE NDIM, NDIM big-endian int32 sizes, data."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read IDX file ({e.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: corrupt gzip data ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (expected magic 00 00 <type> <ndim>, "
                        f"got {raw[:4].hex(' ')})")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header truncated (needs {header} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX data has {len(raw) - header} bytes but the header "
                        f"{shape} of {dtype} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find(data_dir: Path, stems: list[str]) -> Path:
    for stem in stems:
        for candidate in (data_dir / stem, data_dir / (stem + ".gz")):
            if candidate.is_file():
                return candidate
    raise DataError(f"{data_dir}: none of {', '.join(s + '[.gz]' for s in stems)} found")


def load_mnist(data_dir: str, img_size: int):
    """MNIST or Fashion-MNIST training set (same IDX layout) from ``data_dir``."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    img_path = _find(root, ["train-images-idx3-ubyte", "train-images.idx3-ubyte"])
    lbl_path = _find(root, ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"])
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{img_path}: expected (N, rows, cols) uint8 images, got "
                        f"{images.shape} {images.dtype}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{lbl_path}: expected {len(images)} labels, got shape {labels.shape}")
    return _to_unit_range(_resize_all(images, img_size)), labels.astype(np.int64)


# --- CIFAR-10: python pickle batches, restricted ---------------------------------------------
class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only what CIFAR-10's batches hold: dicts, lists, bytes/str, numpy arrays."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of the "
                                     "CIFAR-10 format")


def _read_cifar_batch(path: Path):
    try:
        with open(path, "rb") as f:
            batch = _RestrictedUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise DataError(f"{path}: cannot read CIFAR-10 batch ({e.strerror})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a dict with b'data' and b'labels', got "
                        f"{type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: expected b'data' as an (N, 3072) uint8 array, got "
                        f"{getattr(data, 'shape', type(data).__name__)}")
    if labels is None or len(labels) != len(data):
        raise DataError(f"{path}: expected {len(data)} labels in b'labels'")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(data_dir: str, img_size: int):
    """The five training batches (data_batch_1..5) from ``data_dir`` or its
    ``cifar-10-batches-py`` subfolder."""
    root = Path(data_dir)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    paths = sorted(root.glob("data_batch_*"))
    if not paths:
        raise DataError(f"{root}: no CIFAR-10 batches (data_batch_1 ... data_batch_5) found")
    parts = [_read_cifar_batch(p) for p in paths]
    images = np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1)  # NHWC for Pillow
    labels = np.concatenate([p[1] for p in parts])
    return _to_unit_range(_resize_all(np.ascontiguousarray(images), img_size)), labels


# --- a folder of images ------------------------------------------------------------------------
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def _center_crop_resize(img: Image.Image, size: int) -> np.ndarray:
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return np.asarray(img.resize((size, size), Image.BICUBIC))


def load_image_folder(data_dir: str, img_size: int) -> np.ndarray:
    """Every image below ``data_dir`` (recursively), center-cropped and resized. RGB unless
    every image is grayscale."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    images = []
    for p in paths:
        try:
            with Image.open(io.BytesIO(p.read_bytes())) as img:
                img.load()
                images.append(img.copy())
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise DataError(f"{p}: cannot decode image ({e})") from None
    gray = all(img.mode in ("L", "1", "I;16", "I") for img in images)
    mode = "L" if gray else "RGB"
    arrays = np.stack([_center_crop_resize(img.convert(mode), img_size) for img in images])
    arrays = arrays[:, None] if gray else arrays.transpose(0, 3, 1, 2)
    return _to_unit_range(arrays)
