"""The digits classifier: minigan's offline feature extractor and judge for 1-channel digits.

A small CNN built with ``minigan.nn`` and trained by minigan
(``python -m minigan.metrics.train_classifier``, seed 0, reproducible) on the embedded digits
(scikit-learn's 8x8 optdigits upscaled to 32x32), with random shifts of up to 2 pixels. Its
weights ship in the package (``minigan/metrics/weights/digits_cnn.safetensors``, 0.36 MB).

Test accuracy on the held-out quarter of the embedded digits (450 images, stratified split,
seed 0): **99.11%** (446 / 450; bench/results/digits-classifier.json), after 30 epochs.

Architecture (input (N, 1, 32, 32) in [-1, 1]): three 3x3 convolutions (16, 32, 64 channels,
padding 1), each followed by ReLU and 2x2 max pooling, a 1024 -> 64 linear layer (the
*features*, taken before its ReLU, times a fixed ``feature_scale`` that gives them unit mean
square over the training images) and a 64 -> 10 linear layer (the *logits*). Other sizes are
resized to 32x32 first: 64x64 by 2x2 average pooling, anything else (28x28 MNIST) bilinearly.

It gives the features FID / KID / precision-recall / density-coverage are computed on, the
logits of the "classifier score" (the Inception Score formula on its logits), and the class
judgements GAN comparisons use: ``classify``, ``class_coverage``, ``mean_confidence``,
``class_accuracy``. It only knows digits drawn like the embedded ones: on MNIST (thinner
strokes, other framing) its accuracy has not been measured, so figures there are relative.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import minigan
import minigan.functional as F
from minigan import nn
from minigan.metrics.scores import MetricError, as_array

WEIGHTS = Path(__file__).with_name("weights") / "digits_cnn.safetensors"
WEIGHTS_FORMAT = "minigan-digits-classifier/1"
INPUT_SIZE = 32


class FeatureError(RuntimeError):
    """A feature extractor cannot be built or cannot take the images given."""


class DigitsNet(nn.Module):
    """The classifier network (see the module docstring)."""

    def __init__(self, width: int = 16, feature_dim: int = 64, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, 3, padding=1)
        self.fc1 = nn.Linear(4 * width * 4 * 4, feature_dim)
        self.fc2 = nn.Linear(feature_dim, num_classes)

    def features(self, x):
        """(N, 1, 32, 32) -> (N, feature_dim): the penultimate layer, before its ReLU."""
        for conv in (self.conv1, self.conv2, self.conv3):
            x = F.max_pool2d(F.relu(conv(x)), 2)
        return self.fc1(x.reshape(x.shape[0], -1))

    def features_and_logits(self, x):
        h = self.features(x)
        return h, self.fc2(F.relu(h))

    def forward(self, x):
        return self.features_and_logits(x)[1]


def to_input_size(x):
    """(N, 1, H, W) tensor -> (N, 1, 32, 32): 2x2 average pooling from 64, bilinear
    otherwise (e.g. MNIST's 28x28)."""
    h, w = x.shape[2:]
    if (h, w) == (INPUT_SIZE, INPUT_SIZE):
        return x
    if h == w and h % INPUT_SIZE == 0:
        return F.avg_pool2d(x, h // INPUT_SIZE)
    return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)


def _digest(arrays: dict[str, np.ndarray], info_json: str) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.require(arrays[name], requirements="C")  # keeps 0-d arrays 0-d
        h.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())
    h.update(info_json.encode())
    return "sha256:" + h.hexdigest()


def save_weights(path: str | Path, net: DigitsNet, info: dict) -> None:
    """The network's weights as safetensors, with ``info`` (architecture, training, accuracy)
    and a checksum in the header, written atomically."""
    from safetensors.numpy import save

    from minigan.training.checkpoint import atomic_write
    arrays = {k: np.require(v.numpy(), requirements="C")
              for k, v in net.state_dict().items()}
    info_json = json.dumps(info, sort_keys=True)
    metadata = {"format": WEIGHTS_FORMAT, "info": info_json,
                "checksum": _digest(arrays, info_json)}
    atomic_write(path, lambda f: f.write(save(arrays, metadata=metadata)))


def load_weights(path: str | Path | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, info) of a digits classifier weights file; ``FeatureError`` naming the file
    and the problem when it is missing, unreadable, of another format or corrupt."""
    from safetensors import safe_open
    path = Path(path) if path is not None else WEIGHTS
    if not path.is_file():
        raise FeatureError(f"{path}: the digits classifier weights are missing (reinstall "
                           f"minigan, or run python -m minigan.metrics.train_classifier)")
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as e:  # noqa: BLE001 - safetensors raises its own errors and OSError
        raise FeatureError(f"{path}: not a readable safetensors file ({e})") from None
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise FeatureError(f"{path}: format {metadata.get('format')!r}, not a digits "
                           f"classifier ({WEIGHTS_FORMAT})")
    info_json = metadata.get("info", "")
    if metadata.get("checksum") != _digest(arrays, info_json):
        raise FeatureError(f"{path}: checksum mismatch: the weights file is corrupt")
    return arrays, json.loads(info_json)


class DigitsClassifier:
    """The trained network on a backend, batched over numpy arrays or minigan tensors.

    ``name`` and ``fingerprint`` (the weights' checksum) identify it in cached statistics;
    ``feature_dim`` and ``num_classes`` give the output sizes.
    """

    name = "digits"

    def __init__(self, path: str | Path | None = None, backend: str = "numpy"):
        arrays, info = load_weights(path)
        arch = info.get("architecture", {})
        self.net = DigitsNet(**arch)
        try:
            self.net.load_state_dict(arrays)
        except RuntimeError as e:
            raise FeatureError(f"{path or WEIGHTS}: weights do not fit the network ({e})") \
                from None
        self.net = self.net.to(backend=backend).eval()
        self.backend = backend
        self.info = info
        self.fingerprint = _digest(arrays, json.dumps(info, sort_keys=True))[7:23]
        self.feature_scale = float(info.get("feature_scale", 1.0))
        self.feature_dim = self.net.fc1.out_features
        self.num_classes = self.net.fc2.out_features

    def check_images(self, shape: tuple) -> None:
        if len(shape) != 4:
            raise FeatureError(f"digits features: images must be (N, 1, H, W), got shape "
                               f"{tuple(shape)}")
        if shape[1] != 1:
            raise FeatureError(f"digits features: the digits classifier reads 1-channel images "
                               f"and these have {shape[1]} channels (use --features inception "
                               f"for colour data)")
        if min(shape[2:]) < 8:
            raise FeatureError(f"digits features: images of {shape[2]}x{shape[3]} are too "
                               f"small (at least 8x8)")

    def _batch(self, images):
        """A tensor on this backend from a numpy batch or a tensor (moved if needed)."""
        if isinstance(images, minigan.Tensor):
            x = images.detach()
            if x.backend != self.backend:
                x = minigan.tensor(x.numpy(), backend=self.backend)
            return x.float() if x.dtype != minigan.float32 else x
        return minigan.tensor(np.asarray(images, dtype=np.float32), backend=self.backend)

    def features_and_logits_batch(self, images) -> tuple[np.ndarray, np.ndarray]:
        """One batch, (N, 1, H, W) in [-1, 1] -> (features (N, D), logits (N, 10)), float32."""
        self.check_images(tuple(images.shape))
        with minigan.no_grad():
            h, logits = self.net.features_and_logits(to_input_size(self._batch(images)))
        return h.numpy() * np.float32(self.feature_scale), logits.numpy()

    def features_and_logits(self, images, batch_size: int = 500,
                            progress: bool = False, desc: str = "features"):
        """All of ``images`` in batches of ``batch_size``, with an optional tqdm bar."""
        from tqdm import tqdm
        self.check_images(tuple(images.shape))
        n = images.shape[0]
        feats, logits = [], []
        with tqdm(total=n, disable=not progress, desc=desc, unit="img", leave=False,
                  dynamic_ncols=True) as bar:
            for i in range(0, n, batch_size):
                h, z = self.features_and_logits_batch(images[i:i + batch_size])
                feats.append(h)
                logits.append(z)
                bar.update(len(h))
        return np.concatenate(feats), np.concatenate(logits)

    def classify(self, images, batch_size: int = 500) -> np.ndarray:
        """(N, 10) class probabilities of (N, 1, H, W) images in [-1, 1]."""
        from scipy.special import softmax
        return softmax(self.features_and_logits(images, batch_size)[1].astype(np.float64),
                       axis=1)


_LOADED: dict[tuple, DigitsClassifier] = {}


def load_classifier(backend: str = "numpy", path: str | Path | None = None) -> DigitsClassifier:
    """The shipped digits classifier on ``backend`` (loaded once per process and backend)."""
    key = (backend, str(path or WEIGHTS))
    if key not in _LOADED:
        _LOADED[key] = DigitsClassifier(path, backend)
    return _LOADED[key]


def classify(images, backend: str = "numpy", batch_size: int = 500) -> np.ndarray:
    """(N, 10) class probabilities of (N, 1, H, W) digit images in [-1, 1] from the shipped
    classifier."""
    return load_classifier(backend).classify(images, batch_size)


# --- judgements on class probabilities ------------------------------------------------------
def _probs(probs, metric: str) -> np.ndarray:
    p = as_array(probs, "class probabilities", metric)
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise MetricError(f"{metric}: expects (N, classes) probabilities (rows summing to 1); "
                          f"pass softmax(logits), e.g. from classify(images)")
    return p


def class_histogram(probs) -> np.ndarray:
    """Share of the samples assigned (argmax) to each class."""
    p = _probs(probs, "class_histogram")
    return np.bincount(p.argmax(axis=1), minlength=p.shape[1]) / len(p)


def class_coverage(probs, min_fraction: float = 0.01) -> float:
    """Share of the classes that are the argmax of at least ``min_fraction`` of the samples
    (1.0: every digit is drawn; 0.1: one digit only, a collapse)."""
    p = _probs(probs, "class_coverage")
    return float((class_histogram(p) >= min_fraction).mean())


def mean_confidence(probs) -> float:
    """Mean over samples of the top class probability (how recognisable the samples are)."""
    return float(_probs(probs, "mean_confidence").max(axis=1).mean())


def class_accuracy(probs, labels) -> float:
    """Share of samples classified as the class they were generated for (conditional GANs)."""
    p = _probs(probs, "class_accuracy")
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(p):
        raise MetricError(f"class_accuracy: {len(p)} samples but {len(y)} labels")
    return float((p.argmax(axis=1) == y).mean())
