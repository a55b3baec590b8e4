"""InceptionV3 as the FID literature uses it, built with minigan.nn.

This is the network of pytorch-fid and torch-fidelity: torchvision's InceptionV3 layout with
the blocks changed to match the 2015 TensorFlow graph (``inception-2015-12-05``) that FID,
KID and IS were defined with:

- the average pools inside Mixed_5b/5c/5d (A blocks), Mixed_6b..6e (C blocks) and Mixed_7b
  (the first E block) leave the zero padding out of the mean (``count_include_pad=False``);
- Mixed_7c (the second E block) pools with a 3x3 max pool instead of an average;
- ``fc`` has 1008 outputs (the TF graph's 1001 classes padded), the logits of the Inception
  Score; the 2048-d features (``pool3``) are the global average pool before it.

Input: (N, C, H, W) images with C = 3 or C = 1 (grayscale, repeated to three channels), in
[-1, 1] by default or in any ``value_range`` (``(0, 1)`` is pytorch-fid's own convention); they
are resized to 299x299 with bilinear interpolation, ``align_corners=False``, as pytorch-fid
does (torch-fidelity uses a TF1-compatible resize instead, which differs slightly for inputs
that are not 299x299), then mapped to [-1, 1].

Weights come from a file the user gives: the pytorch-fid release
``pt_inception-2015-12-05-6726825d.pth`` (read with torch, ``weights_only=True``), or a
safetensors file converted from it (no torch needed to read it)::

    python -m minigan.metrics.inception convert pt_inception-2015-12-05-6726825d.pth \\
        inception-2015-12-05.safetensors

Library use::

    model = load_inception("inception-2015-12-05.safetensors", backend="numpy")
    feats, logits = inception_features(model, images, batch_size=50, logits=True)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

import minigan
from minigan import functional as F
from minigan import nn
from minigan.autograd import no_grad
from minigan.autograd.tensor import Tensor

FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   + FID_WEIGHTS_NAME)
SAFETENSORS_FORMAT = "minigan-inception-v3-fid"
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008

__all__ = [
    "FID_WEIGHTS_NAME", "FID_WEIGHTS_URL", "InceptionV3", "InceptionWeightsError",
    "avg_pool2d_exclude_pad", "convert_weights", "inception_features", "load_inception",
    "read_inception_weights",
]


class InceptionWeightsError(ValueError):
    """A missing, unreadable or mismatched Inception weights file (one-line message that names
    the file and the problem)."""


# --- the blocks ----------------------------------------------------------------------------
def avg_pool2d_exclude_pad(x: Tensor, kernel_size: int = 3, stride: int = 1,
                           padding: int = 1) -> Tensor:
    """3x3 average pool whose border windows average only the pixels inside the image
    (torch's ``count_include_pad=False``), the pool of the FID blocks."""
    return F.avg_pool2d(x, kernel_size, stride=stride, padding=padding, count_include_pad=False)


class BasicConv2d(nn.Module):
    """Conv2d without bias, BatchNorm2d (eps=1e-3), ReLU; keys ``conv.weight`` and ``bn.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 **factory):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False, **factory)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001, **factory)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _cat(branches: list[Tensor]) -> Tensor:
    return minigan.cat(branches, dim=1)


class FIDInceptionA(nn.Module):
    """Mixed_5b/5c/5d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool (padding excluded)-1x1."""

    def __init__(self, in_channels: int, pool_features: int, **factory):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1, **factory)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1, **factory)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2, **factory)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1, **factory)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1, **factory)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1, **factory)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1, **factory)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(avg_pool2d_exclude_pad(x))
        return _cat([self.branch1x1(x), b5, b3, bp])


class InceptionB(nn.Module):
    """Mixed_6a (grid reduction 35 -> 17): 3x3/2 | 1x1-3x3-3x3/2 | max pool 3x3/2."""

    def __init__(self, in_channels: int, **factory):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2, **factory)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1, **factory)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1, **factory)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2, **factory)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return _cat([b3, bd, F.max_pool2d(x, 3, stride=2)])


class FIDInceptionC(nn.Module):
    """Mixed_6b..6e: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg pool (padding excluded)-1x1."""

    def __init__(self, in_channels: int, channels_7x7: int, **factory):
        super().__init__()
        c7 = channels_7x7
        row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1),
                                                                   padding=(3, 0))
        self.branch1x1 = BasicConv2d(in_channels, 192, 1, **factory)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1, **factory)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row, **factory)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col, **factory)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1, **factory)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col, **factory)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row, **factory)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col, **factory)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row, **factory)
        self.branch_pool = BasicConv2d(in_channels, 192, 1, **factory)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        bp = self.branch_pool(avg_pool2d_exclude_pad(x))
        return _cat([self.branch1x1(x), b7, bd, bp])


class InceptionD(nn.Module):
    """Mixed_7a (grid reduction 17 -> 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool 3x3/2."""

    def __init__(self, in_channels: int, **factory):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1, **factory)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2, **factory)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1, **factory)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3), **factory)
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0), **factory)
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2, **factory)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return _cat([b3, b7, F.max_pool2d(x, 3, stride=2)])


class FIDInceptionE(nn.Module):
    """Mixed_7b (``pool='avg'``, padding excluded) and Mixed_7c (``pool='max'``):
    1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool 3x3/1-1x1."""

    def __init__(self, in_channels: int, pool: str = "avg", **factory):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"FIDInceptionE: pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        row, col = dict(kernel_size=(1, 3), padding=(0, 1)), dict(kernel_size=(3, 1),
                                                                   padding=(1, 0))
        self.branch1x1 = BasicConv2d(in_channels, 320, 1, **factory)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1, **factory)
        self.branch3x3_2a = BasicConv2d(384, 384, **row, **factory)
        self.branch3x3_2b = BasicConv2d(384, 384, **col, **factory)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1, **factory)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1, **factory)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, **row, **factory)
        self.branch3x3dbl_3b = BasicConv2d(384, 384, **col, **factory)
        self.branch_pool = BasicConv2d(in_channels, 192, 1, **factory)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = _cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)])
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = _cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)])
        pooled = avg_pool2d_exclude_pad(x) if self.pool == "avg" \
            else F.max_pool2d(x, 3, stride=1, padding=1)
        return _cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)])

    def extra_repr(self) -> str:
        return f"pool={self.pool!r}"


# --- the network ---------------------------------------------------------------------------
def _check_value_range(value_range) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"InceptionV3: value_range must be a pair (low, high), got "
                         f"{value_range!r}") from None
    if not hi > lo:
        raise ValueError(f"InceptionV3: value_range must have low < high, got {value_range!r}")
    return lo, hi


class InceptionV3(nn.Module):
    """The FID InceptionV3. ``forward(x)`` gives the (N, 2048) pool3 features of images
    ``x`` (N, 1 or 3, H, W) with values in ``value_range``; ``forward(x, return_logits=True)``
    gives ``(features, logits)`` with the (N, 1008) logits. The state_dict keys are those of
    the pytorch-fid weights file (``Conv2d_1a_3x3.conv.weight``, ..., ``fc.bias``).

    Built in eval mode (BatchNorm uses the file's running statistics); use ``load_inception``
    to get one with the weights loaded.
    """

    def __init__(self, value_range=(-1.0, 1.0), *, dtype=None, backend=None):
        super().__init__()
        self.value_range = _check_value_range(value_range)
        f = dict(dtype=dtype, backend=backend)
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2, **f)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3, **f)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1, **f)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1, **f)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3, **f)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32, **f)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64, **f)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64, **f)
        self.Mixed_6a = InceptionB(288, **f)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128, **f)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160, **f)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160, **f)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192, **f)
        self.Mixed_7a = InceptionD(768, **f)
        self.Mixed_7b = FIDInceptionE(1280, pool="avg", **f)
        self.Mixed_7c = FIDInceptionE(2048, pool="max", **f)
        self.fc = nn.Linear(FEATURE_DIM, NUM_LOGITS, **f)
        self.eval()

    def preprocess(self, x: Tensor) -> Tensor:
        """(N, 1 or 3, H, W) in ``value_range`` -> (N, 3, 299, 299) in [-1, 1]: bilinear
        resize (align_corners=False), then the affine map of the range, then grayscale
        repeated to three channels."""
        if not isinstance(x, Tensor):
            raise TypeError(f"InceptionV3: expected a minigan Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"InceptionV3: expected images (N, 3, H, W) or grayscale "
                             f"(N, 1, H, W), got shape {x.shape}")
        if x.dtype.kind != "f":
            raise TypeError(f"InceptionV3: expected floating images (values in "
                            f"{list(self.value_range)}), got dtype {x.dtype}; convert uint8 "
                            "images to float first")
        if x.shape[2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                              align_corners=False)
        lo, hi = self.value_range
        if (lo, hi) != (-1.0, 1.0):
            scale = 2.0 / (hi - lo)
            x = x * scale + (-1.0 - lo * scale)
        if x.shape[1] == 1:
            x = x.expand(x.shape[0], 3, INPUT_SIZE, INPUT_SIZE)
        return x

    def features(self, x: Tensor) -> Tensor:
        """The (N, 2048) pool3 features of already preprocessed (N, 3, 299, 299) input."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, "Mixed_" + name)(x)
        return x.mean(dim=(2, 3))

    def logits(self, features: Tensor, bias: bool = True) -> Tensor:
        """The (N, 1008) logits of pool3 features; ``bias=False`` gives torch-fidelity's
        ``logits_unbiased`` (features @ fc.weight^T), the input of its Inception Score."""
        return F.linear(features, self.fc.weight, self.fc.bias if bias else None)

    def forward(self, x: Tensor, return_logits: bool = False):
        feats = self.features(self.preprocess(x))
        return (feats, self.logits(feats)) if return_logits else feats

    def extra_repr(self) -> str:
        return f"value_range={self.value_range}"


# --- weights ---------------------------------------------------------------------------------
def _missing_weights_message() -> str:
    return (f"InceptionV3 needs its weights file: download {FID_WEIGHTS_URL} (pytorch-fid's "
            "port of the 2015 TensorFlow Inception graph), save it anywhere (for example "
            f"~/.cache/minigan/{FID_WEIGHTS_NAME}) and pass its path: --inception-weights PATH "
            "on the command line, load_inception(PATH) in Python; without torch installed, "
            "convert it once where torch is: python -m minigan.metrics.inception convert "
            f"{FID_WEIGHTS_NAME} inception-2015-12-05.safetensors")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _few(items: list, n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise InceptionWeightsError(
            f"{path}: reading a torch .pth file needs torch (pip install torch); or convert it "
            "to safetensors once where torch is installed: python -m minigan.metrics.inception "
            "convert IN.pth OUT.safetensors") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises pickle, zip and its own errors
        raise InceptionWeightsError(f"{path}: not a torch weights file that loads with "
                                    f"weights_only=True ({_one_line(e)})") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise InceptionWeightsError(f"{path}: holds a {type(obj).__name__}, not a state_dict "
                                    "(a mapping of names to tensors)")
    arrays = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise InceptionWeightsError(f"{path}: entry {key!r} is a {type(value).__name__}, "
                                        "not a tensor: not a state_dict")
        value = value.detach().cpu()
        if value.is_floating_point() and value.dtype not in (torch.float32, torch.float64):
            value = value.float()  # float16/bfloat16 have no (or no exact) numpy twin
        arrays[str(key)] = value.numpy()
    return arrays


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors import safe_open
    except ImportError:  # pragma: no cover - a dependency of minigan
        raise InceptionWeightsError(f"{path}: reading it needs the safetensors package "
                                    "(pip install safetensors)") from None
    try:
        with safe_open(str(path), framework="np") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as e:  # noqa: BLE001 - safetensors raises its own and OS errors
        raise InceptionWeightsError(f"{path}: not a readable safetensors file "
                                    f"({_one_line(e)})") from None


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a .pth (torch) or .safetensors file, told apart by their first bytes
    (a safetensors file opens with an 8-byte header length and then '{')."""
    if not path.exists():
        raise InceptionWeightsError(f"{path}: no such file ({_missing_weights_message()})")
    if path.is_dir():
        raise InceptionWeightsError(f"{path}: is a directory, not a weights file")
    with open(path, "rb") as f:
        head = f.read(9)
    if not head:
        raise InceptionWeightsError(f"{path}: empty file (0 bytes), not a weights file")
    if head[8:9] == b"{" or (path.suffix == ".safetensors" and head[:2] != b"PK"):
        return _read_safetensors(path)
    return _read_torch(path)


def _check_arrays(path: Path, arrays: Mapping[str, np.ndarray],
                  expected: Mapping[str, tuple]) -> OrderedDict[str, np.ndarray]:
    """``arrays`` in the order of ``expected`` if keys and shapes fit; otherwise one
    InceptionWeightsError naming the file and what is wrong. ``num_batches_tracked`` may be
    absent (older torch saved none; eval mode never reads it)."""
    optional = {k for k in expected if k.endswith(".num_batches_tracked")}
    missing = [k for k in expected if k not in arrays and k not in optional]
    unexpected = [k for k in arrays if k not in expected]
    wrong = [f"{k} {tuple(np.shape(v))} (expected {expected[k]})" for k, v in arrays.items()
             if k in expected and tuple(np.shape(v)) != tuple(expected[k])]
    bad_dtype = [f"{k} {np.asarray(v).dtype}" for k, v in arrays.items()
                 if k in expected and k not in optional and np.asarray(v).dtype.kind != "f"]
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(expected) - len(optional)} keys missing "
                        f"({_few(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_few(unexpected)})")
    if wrong:
        problems.append(f"{len(wrong)} wrong shapes ({_few(wrong)})")
    if bad_dtype:
        problems.append(f"{len(bad_dtype)} non-floating weights ({_few(bad_dtype)})")
    if problems:
        hint = ""
        if tuple(np.shape(arrays.get("fc.weight", ()))) == (1000, FEATURE_DIM):
            hint = (" (torchvision's ImageNet InceptionV3 has 1000 classes; FID uses the 2015 "
                    f"TensorFlow graph's weights, {FID_WEIGHTS_URL})")
        raise InceptionWeightsError(f"{path}: not the FID InceptionV3 weights "
                                    f"({FID_WEIGHTS_NAME} or its conversion): "
                                    + "; ".join(problems) + hint)
    out = OrderedDict()
    for key in expected:
        if key in arrays:
            out[key] = np.asarray(arrays[key])
        else:  # a num_batches_tracked the file leaves out
            out[key] = np.zeros((), dtype=np.int64)
    return out


def _shapes(model: nn.Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def read_inception_weights(path: str | os.PathLike) -> OrderedDict[str, np.ndarray]:
    """The state_dict arrays (numpy, the file's dtypes) of an FID Inception weights file:
    pytorch-fid's ``.pth`` (torch.load with ``weights_only=True``; needs torch) or its
    safetensors conversion. Raises InceptionWeightsError naming the file and the problem
    (no such file, unreadable, missing or unexpected keys, wrong shapes)."""
    if path is None:
        raise InceptionWeightsError(_missing_weights_message())
    path = Path(path).expanduser()
    return _check_arrays(path, _read_arrays(path), _shapes(InceptionV3()))


def load_inception(path: str | os.PathLike | None, backend: str | None = None, dtype=None,
                   value_range=(-1.0, 1.0)) -> InceptionV3:
    """The FID InceptionV3 in eval mode with the weights of ``path`` (see
    ``read_inception_weights``), on ``backend`` (default: minigan's default backend) in
    ``dtype`` (default: minigan's default dtype, float32), for images in ``value_range``
    ((-1, 1), a generator's tanh output, by default; (0, 1) is pytorch-fid's convention).

    Its parameters do not require gradients (it is a fixed feature extractor; gradients
    still flow to input images that require them). ``path=None`` raises
    InceptionWeightsError saying what to download and which flag to pass.
    """
    if path is None:
        raise InceptionWeightsError(_missing_weights_message())
    path = Path(path).expanduser()
    arrays = _read_arrays(path)  # file errors first, before building the network
    model = InceptionV3(value_range, dtype=dtype, backend=backend)
    model.load_state_dict(_check_arrays(path, arrays, _shapes(model)))
    return model.eval().requires_grad_(False)


# --- batched feature extraction -------------------------------------------------------------
def _split(images, batch_size: int):
    """(batches, total or None) from an (N, C, H, W) array/Tensor or an iterable of them."""
    if isinstance(images, (np.ndarray, Tensor)):
        n = images.shape[0] if images.ndim else 0
        return (images[i:i + batch_size] for i in range(0, n, batch_size)), n

    def chunks():
        for batch in images:
            for i in range(0, batch.shape[0], batch_size):
                yield batch[i:i + batch_size]
    return chunks(), (len(images) if isinstance(images, (list, tuple)) else None)


def _as_input(batch, backend: str, dtype) -> Tensor:
    if isinstance(batch, Tensor):
        if batch.dtype.kind != "f":
            raise TypeError(f"inception_features: images must be floating (dtype {batch.dtype}"
                            " given); scale uint8 images to the model's value_range first")
        return batch.detach().to(dtype, backend=backend)
    array = np.asarray(batch)
    if array.dtype.kind != "f":
        raise TypeError(f"inception_features: images must be floating (dtype {array.dtype} "
                        "given); scale uint8 images to the model's value_range first")
    return minigan.tensor(array, dtype=dtype, backend=backend)


def inception_features(model: InceptionV3, images, batch_size: int = 50, logits: bool = False,
                       progress: bool = False, desc: str = "inception features"):
    """The (N, 2048) pool3 features of ``images`` (and, with ``logits=True``, the (N, 1008)
    logits as a second array), as numpy arrays in the model's dtype.

    ``images``: an (N, 1 or 3, H, W) numpy array or minigan Tensor with values in the model's
    ``value_range``, or an iterable of such batches (a generator's outputs, say). They run
    through ``model`` ``batch_size`` at a time on the model's backend, without building a
    graph; ``progress=True`` shows a tqdm bar.
    """
    if not isinstance(model, InceptionV3):
        raise TypeError(f"inception_features: model must be an InceptionV3 (load_inception), "
                        f"got {type(model).__name__}")
    if int(batch_size) < 1:
        raise ValueError(f"inception_features: batch_size must be >= 1, got {batch_size}")
    ref = model.fc.weight
    batches, total = _split(images, int(batch_size))
    feats, logs = [], []
    from tqdm import tqdm

    with no_grad(), tqdm(total=total, disable=not progress, desc=desc, unit="img") as bar:
        for batch in batches:
            f = model.features(model.preprocess(_as_input(batch, ref.backend, ref.dtype)))
            feats.append(f.numpy())
            if logits:
                logs.append(model.logits(f).numpy())
            bar.update(feats[-1].shape[0])
    empty = np.zeros((0, FEATURE_DIM), dtype=ref.dtype)
    out = np.concatenate(feats) if feats else empty
    if not logits:
        return out
    return out, (np.concatenate(logs) if logs else np.zeros((0, NUM_LOGITS), dtype=ref.dtype))


# --- the converter ------------------------------------------------------------------------
def convert_weights(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """Write the weights of ``src`` (pytorch-fid's .pth, checked against the network) to the
    safetensors file ``dst`` (written to a temporary file and renamed); the number of
    tensors written."""
    src_path, dst_path = Path(src).expanduser(), Path(dst).expanduser()
    arrays = read_inception_weights(src_path)
    from safetensors.numpy import save

    tensors = {k: np.require(v, requirements="C") for k, v in arrays.items()}  # keeps 0-d
    metadata = {"format": SAFETENSORS_FORMAT, "source": src_path.name, "url": FID_WEIGHTS_URL}
    tmp = dst_path.with_name(dst_path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(save(tensors, metadata=metadata))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst_path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InceptionWeightsError(f"{dst_path}: cannot write it ({_one_line(e)})") from None
    return len(tensors)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minigan.metrics.inception",
        description="The FID InceptionV3's weights: convert pytorch-fid's .pth "
                    f"({FID_WEIGHTS_URL}) to safetensors, which minigan reads without torch.")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="IN.pth -> OUT.safetensors (needs torch to read IN)")
    conv.add_argument("src", metavar="IN.pth")
    conv.add_argument("dst", metavar="OUT.safetensors")
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        n = convert_weights(args.src, args.dst)
    except InceptionWeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}: {n} tensors from {args.src}; use it with "
          f"--inception-weights {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
