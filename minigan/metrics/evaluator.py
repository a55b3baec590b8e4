"""Evaluating a generator against a dataset: features, cached real statistics, the metrics.

``Evaluator(dataset, data_dir, img_size, features="digits", n=2000, metrics=("fid", "kid"))``
computes (or reads from the cache) the real data's features once; ``.evaluate(G)`` then draws
``n`` samples from ``G`` with fixed latents, computes their features and returns the metrics as a
flat dict. It draws its latents from its own numpy generator and runs G in eval mode under
``no_grad`` (BatchNorm reads its running statistics and updates nothing), so calling it during
training changes neither the weights nor minigan's random state.

Feature extractors share one small interface: ``name``, ``fingerprint`` (identifies the
weights), ``feature_dim``, ``num_classes``, ``check_images(shape)`` and
``features_and_logits_batch(images) -> (features, logits)`` (numpy arrays) for a batch given as
a numpy array or a tensor of the extractor's backend. ``digits`` is the shipped classifier
(:mod:`minigan.metrics.digits`); ``inception`` is the FID InceptionV3 of
:mod:`minigan.metrics.inception` from a weights file the user gives (:class:`InceptionExtractor`;
its cache entries are keyed by the file's SHA-256).

Real statistics are cached per (dataset, the data's files, feature extractor and its weights,
number of images, image size) in ``$MINIGAN_CACHE`` (default ``~/.cache/minigan``), under
``real-features/``: one checksummed ``.npz`` each (no pickles), written atomically, checked on
read (checksum, key, shapes, finite values) and recomputed, with a warning, when it fails.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import minigan
from minigan.metrics.digits import FeatureError, load_classifier
from minigan.metrics.scores import (
    MetricError,
    density_coverage,
    feature_stats,
    few_samples_warning,
    fid_from_stats,
    inception_score,
    kid,
    precision_recall,
)

METRICS = ("fid", "kid", "is", "pr", "dc", "classes", "accuracy", "modes")
METRIC_HELP = {
    "fid": "Frechet distance (lower is better)",
    "kid": "kernel distance, unbiased MMD^2, mean and std over subsets (lower is better)",
    "is": "Inception Score, or the classifier score on the digits classifier's logits",
    "pr": "precision and recall, k=3 (Kynkaanniemi et al.)",
    "dc": "density and coverage, k=5 (Naeem et al.)",
    "classes": "class coverage and mean confidence of the classifier's argmax",
    "accuracy": "class-conditional models (cgan, acgan): the classifier's accuracy on samples of "
                "each requested class; infogan: on each categorical code after matching codes "
                "to classes",
    "modes": "point datasets (ring8, grid25): modes covered, share of high-quality samples "
             "(within 3 std of a mode), reverse KL of the mode histogram",
}
FEATURES = ("digits", "inception")
# the metrics asked for when none are named
DEFAULT_METRICS = {"images": ("fid", "kid"), "points": ("modes",)}
POINT_METRICS = ("modes", "fid", "kid", "pr", "dc")  # the ones that need no classifier
CACHE_KIND = "minigan-real-features/1"


class EvaluationWarning(UserWarning):
    """A cached file was unusable and was recomputed, or an input makes a figure unreliable."""


def parse_metrics(spec) -> tuple[str, ...]:
    """'fid,kid' or an iterable of names -> a tuple of known metric names, in order."""
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [s for s in names if s]
    unknown = [s for s in names if s not in METRICS]
    if unknown:
        raise MetricError(f"unknown metric{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(repr(u) for u in unknown)}; choose from "
                          f"{', '.join(METRICS)}")
    if not names:
        raise MetricError(f"no metrics asked for; choose from {', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))


def get_extractor(features: str = "digits", backend: str = "numpy",
                  inception_weights: str | os.PathLike | None = None):
    """The feature extractor named ``features`` on ``backend``; ``FeatureError`` in one line
    when it cannot be had."""
    if features == "points":
        return PointsExtractor()
    if features == "digits":
        return load_classifier(backend)
    if features == "inception":
        try:
            from minigan.metrics import inception
        except ImportError:
            raise FeatureError("--features inception: InceptionV3 is not built into this "
                               "minigan (minigan/metrics/inception.py is missing); use "
                               "--features digits") from None
        return InceptionExtractor(inception, inception_weights, backend)
    raise FeatureError(f"unknown feature extractor {features!r}; choose one of "
                       f"{', '.join(FEATURES)}")


class InceptionExtractor:
    """:mod:`minigan.metrics.inception`'s FID InceptionV3 behind the extractor interface:
    2048-d pool3 features, 1008 logits, images of 1 or 3 channels in [-1, 1]."""

    name = "inception"

    def __init__(self, module, weights: str | os.PathLike | None, backend: str = "numpy"):
        self._module = module
        try:
            self.model = module.load_inception(weights, backend=backend)
        except module.InceptionWeightsError as e:
            raise FeatureError(str(e)) from None
        h = hashlib.sha256()
        with open(weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        self.fingerprint = h.hexdigest()[:16]
        self.backend = backend
        self.feature_dim, self.num_classes = module.FEATURE_DIM, module.NUM_LOGITS

    def check_images(self, shape: tuple) -> None:
        if len(shape) != 4 or shape[1] not in (1, 3):
            raise FeatureError(f"inception features: images must be (N, 1 or 3, H, W), got "
                               f"shape {tuple(shape)}")

    def features_and_logits_batch(self, images) -> tuple[np.ndarray, np.ndarray]:
        self.check_images(tuple(images.shape))
        return self._module.inception_features(self.model, images, batch_size=len(images),
                                               logits=True)


class PointsExtractor:
    """The point datasets' "features": the 2-D points themselves (no classifier, no logits),
    so FID, KID, precision/recall and density/coverage compare the raw coordinates and
    ``modes`` measures the mixture (:func:`minigan.metrics.mixture_quality`)."""

    name = "points"
    fingerprint = "identity"
    feature_dim, num_classes = 2, 0

    def check_images(self, shape: tuple) -> None:
        if len(shape) != 2 or shape[1] != 2:
            raise FeatureError(f"point features: samples must be (N, 2) points, got shape "
                               f"{tuple(shape)}")

    def features_and_logits_batch(self, images) -> tuple[np.ndarray, np.ndarray]:
        self.check_images(tuple(images.shape))
        x = images.numpy() if isinstance(images, minigan.Tensor) else np.asarray(images)
        return x.astype(np.float64), np.zeros((len(x), 0))


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Where real statistics are cached: ``override``, else $MINIGAN_CACHE, else
    ~/.cache/minigan; the files go under its ``real-features/``."""
    root = override or os.environ.get("MINIGAN_CACHE") or Path.home() / ".cache" / "minigan"
    return Path(root) / "real-features"


def data_fingerprint(dataset: str, data_dir: str | os.PathLike | None) -> str:
    """Identifies the data a dataset name reads: 'embedded' for the digits, otherwise a hash
    of the folder's path and its files' names, sizes and modification times (a changed file
    gives another cache entry)."""
    if dataset == "digits":
        return "embedded"
    if data_dir is None:
        return "none"
    root = Path(data_dir).resolve()
    h = hashlib.sha256(str(root).encode())
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            st = path.stat()
            h.update(f"{path.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class FeatureSet:
    """Features and logits of one set of images, with its FID statistics."""

    features: np.ndarray  # (N, D) float32
    logits: np.ndarray    # (N, classes) float32
    mu: np.ndarray | None = None
    sigma: np.ndarray | None = None
    labels: np.ndarray | None = None  # the class (or code) each sample was drawn for
    label_kind: str = "class"  # "code": labels are an unsupervised code (InfoGAN's)

    def __post_init__(self):
        if self.mu is None and len(self.features) >= 2:
            self.mu, self.sigma = feature_stats(self.features)

    def __len__(self) -> int:
        return len(self.features)


def extract(extractor, images, batch_size: int = 100, progress: bool = False,
            desc: str = "real features") -> FeatureSet:
    """Features of an (N, C, H, W) array in batches, with a tqdm bar when ``progress``."""
    from tqdm import tqdm
    extractor.check_images(tuple(images.shape))
    feats, logits = [], []
    with tqdm(total=len(images), disable=not progress, desc=desc, unit="img", leave=False,
              dynamic_ncols=True) as bar:
        for i in range(0, len(images), batch_size):
            h, z = extractor.features_and_logits_batch(images[i:i + batch_size])
            feats.append(h)
            logits.append(z)
            bar.update(len(h))
    return FeatureSet(np.concatenate(feats), np.concatenate(logits))


def sample_features(G, extractor, n: int, latent_dim: int | None = None,
                    backend: str | None = None, batch_size: int = 100, seed: int = 0,
                    progress: bool = False) -> FeatureSet:
    """Features of ``n`` samples of ``G``, drawn batch by batch from the latents
    ``default_rng(seed).standard_normal((n, latent_dim, 1, 1))`` (the same on every backend),
    in eval mode under ``no_grad``; G's training mode is restored afterwards. A generator that
    says which class or code each sample of a batch was drawn for (``requested_labels(m)``,
    e.g. the trainer's ``Sampler``) has them recorded in the result's ``labels``."""
    from tqdm import tqdm
    latent_dim = latent_dim or getattr(G, "latent_dim", None)
    if not latent_dim:
        raise MetricError("evaluate: the generator's latent_dim is unknown; pass latent_dim")
    backend = backend or next(iter(G.parameters())).backend
    rng = np.random.default_rng(seed)
    feats, logits, labels = [], [], []
    requested = getattr(G, "requested_labels", None)
    was_training = G.training
    G.eval()
    try:
        with tqdm(total=n, disable=not progress, desc="samples", unit="img", leave=False,
                  dynamic_ncols=True) as bar, minigan.no_grad():
            for i in range(0, n, batch_size):
                m = min(batch_size, n - i)
                z = rng.standard_normal((m, latent_dim, 1, 1)).astype(np.float32)
                images = G(minigan.tensor(z, backend=backend))
                h, y = extractor.features_and_logits_batch(images)
                feats.append(h)
                logits.append(y)
                if requested is not None:
                    labels.append(requested(m))
                bar.update(m)
    finally:
        G.train(was_training)
    found = [x for x in labels if x is not None]
    return FeatureSet(np.concatenate(feats), np.concatenate(logits),
                      labels=np.concatenate(found) if found and len(found) == len(labels)
                      else None, label_kind=getattr(G, "label_kind", None) or "class")


# --- the real data's features, cached ---------------------------------------------------------
def _cache_key(dataset, data_dir, img_size, extractor, n) -> dict:
    return {"kind": CACHE_KIND, "dataset": dataset,
            "data": data_fingerprint(dataset, data_dir), "img_size": int(img_size),
            "extractor": extractor.name, "weights": extractor.fingerprint, "n": int(n)}


def _cache_file(folder: Path, key: dict) -> Path:
    return folder / (f"{key['dataset']}-{key['data'][:8]}-{key['img_size']}px-n{key['n']}-"
                     f"{key['extractor']}-{key['weights'][:8]}.npz")


def _read_cache(path: Path, key: dict, extractor) -> FeatureSet | None:
    """The cached features, or None when the file is absent; a file that fails any check is
    reported in an ``EvaluationWarning`` and ignored (it will be overwritten)."""
    from minigan.training.checkpoint import CheckpointError, load_checkpoint
    if not path.exists():
        return None
    try:
        arrays, meta = load_checkpoint(path)
        if meta.get("key") != key:
            raise CheckpointError(f"{path}: made for {meta.get('key')}, not {key}")
        feats, logits = arrays["features"], arrays["logits"]
        mu, sigma = arrays["mu"], arrays["sigma"]
        d, n = extractor.feature_dim, meta.get("count")
        if feats.shape != (n, d) or logits.shape != (n, extractor.num_classes) or \
                mu.shape != (d,) or sigma.shape != (d, d):
            raise CheckpointError(f"{path}: arrays of the wrong shapes")
        if not all(np.isfinite(a).all() for a in (feats, logits, mu, sigma)):
            raise CheckpointError(f"{path}: non-finite values")
    except (CheckpointError, KeyError, TypeError) as e:
        warnings.warn(f"ignoring the cached real features {path} ({e}); recomputing them",
                      EvaluationWarning, stacklevel=3)
        return None
    return FeatureSet(feats, logits, mu, sigma)


def real_features(dataset: str = "digits", data_dir: str | os.PathLike | None = None,
                  img_size: int = 32, extractor=None, n: int = 10000, batch_size: int = 100,
                  cache: bool | str | os.PathLike = True, progress: bool = False,
                  info: dict | None = None) -> FeatureSet:
    """Features of the real data: all of it when it has at most ``n`` images, else a fixed
    random subset of ``n`` (``default_rng(0)``). Read from and written to the cache unless
    ``cache`` is False (a path: that cache folder). ``info``, when given, receives what was
    done (count, cache file, whether it was a hit)."""
    from minigan.data import load as load_dataset
    from minigan.training.checkpoint import save_checkpoint
    extractor = extractor or load_classifier()
    info = info if info is not None else {}
    key = _cache_key(dataset, data_dir, img_size, extractor, n)
    path = None
    if cache:
        path = _cache_file(cache_dir(None if cache is True else cache), key)
        found = _read_cache(path, key, extractor)
        info.update(cache=str(path), cache_hit=found is not None)
        if found is not None:
            info["count"] = len(found)
            return found
    data = load_dataset(dataset, None if dataset == "digits" else data_dir, img_size)
    images = data.images
    if len(images) > n:
        images = images[np.sort(np.random.default_rng(0).choice(len(images), n, replace=False))]
    found = extract(extractor, images, batch_size, progress, f"real features ({dataset})")
    info["count"] = len(found)
    if path is not None and found.mu is not None:
        save_checkpoint(path, {"features": found.features, "logits": found.logits,
                               "mu": found.mu, "sigma": found.sigma},
                        {"key": key, "count": len(found)})
    return found


def _accuracy(fake: FeatureSet) -> dict:
    """``class_accuracy`` (and the worst class's, ``class_accuracy_min``) of samples drawn for
    known classes; for a categorical code (``kind == "code"``) each code is first matched to
    the class it draws most (Hungarian matching on the confusion matrix of these samples,
    scipy's linear_sum_assignment; with 200 samples per code the matching's optimism is a
    fraction of a percent)."""
    from scipy.optimize import linear_sum_assignment
    kind = fake.label_kind
    if fake.labels is None:
        raise MetricError("accuracy: the generator draws no requested classes: it applies to "
                          "class-conditional models (cgan, acgan) and to infogan's code")
    if fake.logits.shape[1] == 0:
        raise MetricError("accuracy: the feature extractor has no classifier")
    predicted = fake.logits.argmax(axis=1)
    labels = fake.labels.astype(np.int64)
    k = max(int(labels.max()) + 1, fake.logits.shape[1])
    confusion = np.zeros((k, k))
    np.add.at(confusion, (labels, predicted), 1)
    mapping = np.arange(k)
    if kind == "code":
        rows, cols = linear_sum_assignment(-confusion)
        mapping[rows] = cols
    correct = mapping[labels] == predicted
    per_class = [correct[labels == c].mean() for c in np.unique(labels)]
    return {"class_accuracy": float(correct.mean()), "class_accuracy_min": float(min(per_class))}


# --- the metrics on two feature sets ----------------------------------------------------------
def compare(real: FeatureSet, fake: FeatureSet, metrics=("fid", "kid"), kid_subsets: int = 100,
            kid_subset_size: int = 1000, seed: int = 0, mixture: str | None = None) -> dict:
    """A flat dict of the asked metrics: ``fid``; ``kid``, ``kid_std``; ``is``, ``is_std``
    (on the fake logits); ``precision``, ``recall``; ``density``, ``coverage``;
    ``class_coverage``, ``confidence``; for a point ``mixture``, ``modes``, ``modes_total``,
    ``high_quality``, ``reverse_kl``, ``mean_dist`` of the fake points."""
    from scipy.special import softmax

    from minigan.metrics.digits import class_coverage, mean_confidence
    out: dict = {}
    for name in parse_metrics(metrics):
        if name == "fid":
            if len(fake) < 2 or real.mu is None:
                raise MetricError("fid: needs at least 2 real and 2 fake samples")
            few_samples_warning(len(real), len(fake), real.features.shape[1])
            out["fid"] = fid_from_stats(real.mu, real.sigma, fake.mu, fake.sigma)
        elif name == "kid":
            out["kid"], out["kid_std"] = kid(real.features, fake.features, kid_subsets,
                                             kid_subset_size, seed)
        elif name == "is":
            out["is"], out["is_std"] = inception_score(fake.logits, min(10, len(fake)))
        elif name == "pr":
            out["precision"], out["recall"] = precision_recall(real.features, fake.features)
        elif name == "dc":
            out["density"], out["coverage"] = density_coverage(real.features, fake.features)
        elif name == "classes":
            probs = softmax(fake.logits.astype(np.float64), axis=1)
            out["class_coverage"] = class_coverage(probs)
            out["confidence"] = mean_confidence(probs)
        elif name == "accuracy":
            out.update(_accuracy(fake))
        elif name == "modes":
            if mixture is None:
                raise MetricError("modes: measures the point datasets (ring8, grid25) only")
            from minigan.metrics.toy import mixture_quality
            out.update(mixture_quality(fake.features, mixture))
    return out


class Evaluator:
    """Metrics of a generator against a dataset, for the training loop or the CLI.

    ``Evaluator(dataset="digits", data_dir=None, img_size=32, features="digits", n=2000,
    metrics=("fid", "kid"), backend="numpy", batch_size=100, seed=0, cache=True)`` prepares
    the real features (from the cache when it can); ``evaluate(G, latent_dim=None,
    backend=None)`` returns ``{"fid": ..., "kid": ..., "kid_std": ..., "eval_seconds": ...}``
    (the keys of :func:`compare`). Each call uses the same ``n`` latents (from ``seed``), so
    successive evaluations of a training run differ by the generator only.

    Cost, measured on the 2-core development VM while other jobs shared it (numpy backend,
    the README's DCGAN with ngf 32 at 32x32, digits features): sampling + features run at
    ~600 images/s with one BLAS thread (``threads=1``; ~250 images/s with the default two
    threads on the busy machine, ~2,000 images/s for the features alone on an idle one).
    ``n=2000`` then costs ~3.5 s for the samples plus, for the metrics, 0.3 s with
    ``kid_subsets=10`` or 3-4 s with the default 100 subsets of 1000; FID alone is ~10 ms at 64
    dimensions. Every 500 DCGAN steps (~110 s here) that is a 4% overhead with ``n=2000,
    metrics=("fid", "kid"), kid_subsets=10, threads=1``. The first Evaluator for a dataset
    computes the real features (~2-3 s for the 1,797 digits) and caches them.
    """

    def __init__(self, dataset: str = "digits", data_dir: str | os.PathLike | None = None,
                 img_size: int = 32, features: str = "digits", n: int = 2000,
                 metrics=("fid", "kid"), backend: str = "numpy", batch_size: int = 100,
                 seed: int = 0, cache: bool | str | os.PathLike = True,
                 inception_weights: str | os.PathLike | None = None, kid_subsets: int = 100,
                 kid_subset_size: int = 1000, real_n: int | None = None,
                 progress: bool = False, threads: int | None = None):
        if n < 2:
            raise MetricError(f"evaluate: n must be at least 2, got {n}")
        if batch_size < 1:
            raise MetricError(f"evaluate: batch_size must be positive, got {batch_size}")
        from minigan.data import is_points
        points = is_points(dataset)
        self.mixture = dataset if points else None
        self.metrics = parse_metrics(metrics or DEFAULT_METRICS["points" if points else "images"])
        if points:
            features = "points"
            bad = [m for m in self.metrics if m not in POINT_METRICS]
            if bad:
                raise MetricError(f"{', '.join(bad)}: not defined on the point dataset "
                                  f"{dataset!r} (no classifier there); use "
                                  f"{', '.join(POINT_METRICS)}")
        elif "modes" in self.metrics:
            raise MetricError(f"modes: measures the point datasets (ring8, grid25), not "
                              f"{dataset!r}")
        self.n, self.batch_size, self.seed, self.backend = n, batch_size, seed, backend
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self.progress, self.threads = progress, threads
        self.extractor = get_extractor(features, backend, inception_weights)
        self.real_info: dict = {"dataset": dataset, "img_size": img_size,
                                "data_dir": None if data_dir is None else str(data_dir)}
        start = time.perf_counter()
        with self._blas_threads():
            self.real = real_features(dataset, data_dir, img_size, self.extractor,
                                      real_n or max(n, 10000), batch_size, cache, progress,
                                      self.real_info)
        self.real_info["seconds"] = round(time.perf_counter() - start, 3)

    def _blas_threads(self):
        import contextlib
        if self.threads is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits
        return threadpool_limits(self.threads)

    def evaluate(self, G, latent_dim: int | None = None, backend: str | None = None) -> dict:
        """The metrics of ``G``'s samples (a flat dict of floats, plus ``eval_seconds`` and
        ``images_per_s`` of sampling and features)."""
        start = time.perf_counter()
        with self._blas_threads():
            fake = sample_features(G, self.extractor, self.n, latent_dim,
                                   backend or self.backend, self.batch_size, self.seed,
                                   self.progress)
            sampled = time.perf_counter()
            out = compare(self.real, fake, self.metrics, self.kid_subsets,
                          self.kid_subset_size, self.seed, self.mixture)
        end = time.perf_counter()
        self.last_fake = fake
        out["images_per_s"] = self.n / max(sampled - start, 1e-9)
        out["metric_seconds"] = end - sampled
        out["eval_seconds"] = end - start
        return out
