"""The sample-quality metrics, on (N, D) feature arrays and (N, classes) logits.

- ``fid(real, fake)``: Frechet Inception Distance (Heusel et al. 2017),
  ``|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` with the unbiased (N - 1)
  covariances; the matrix square root is ``scipy.linalg.sqrtm``.
- ``kid(real, fake, subsets, subset_size)``: Kernel Inception Distance (Binkowski et al. 2018),
  the unbiased MMD^2 estimate with the cubic polynomial kernel ``k(x, y) = (x.y / D + 1)^3``,
  averaged over random subsets; returns (mean, std).
- ``inception_score(logits, splits)``: Salimans et al. 2016, ``exp E_x KL(p(y|x) || p(y))`` per
  split of the samples; returns (mean, std) over the splits.
- ``precision_recall(real, fake, k)``: Kynkaanniemi et al. 2019, k-NN manifold estimates.
- ``density_coverage(real, fake, k)``: Naeem et al. 2020.

Every function accepts numpy arrays or minigan Tensors, computes in float64 and raises
``MetricError`` (a ``ValueError``) naming the metric and the problem for malformed input. The
k-nearest-neighbour radii come from scikit-learn's ``NearestNeighbors`` and the real-vs-fake
distances from ``sklearn.metrics.pairwise_distances_chunked`` (memory stays bounded at 10,000 x
10,000 samples).
"""

from __future__ import annotations

import math
import warnings

import numpy as np


class MetricError(ValueError):
    """Malformed metric input (shape, dimensions, sample counts, non-finite values)."""


class MetricWarning(UserWarning):
    """A metric was computed, but from input that makes it unreliable (e.g. fewer samples
    than feature dimensions)."""


# --- input checks ----------------------------------------------------------------------------
def as_array(x, what: str, metric: str, ndim: int = 2) -> np.ndarray:
    """``x`` (numpy array, minigan Tensor or anything array-like) as a float64 array of
    ``ndim`` dimensions with finite values."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a minigan (or torch) tensor
        x = x.detach().numpy()
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise MetricError(f"{metric}: {what} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if a.ndim != ndim:
        layout = "(N, D) features" if ndim == 2 else f"{ndim}-D"
        raise MetricError(f"{metric}: {what} must be {layout}, got shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        raise MetricError(f"{metric}: {what} hold {int(bad.sum())} non-finite values "
                          f"(NaN or inf)")
    return a


def _pair(real, fake, metric: str, min_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
    r = as_array(real, "real features", metric)
    f = as_array(fake, "fake features", metric)
    if r.shape[1] != f.shape[1]:
        raise MetricError(f"{metric}: real features have {r.shape[1]} dimensions but fake "
                          f"features have {f.shape[1]}: they must come from the same feature "
                          f"extractor")
    for a, what in ((r, "real"), (f, "fake")):
        if len(a) < min_samples:
            raise MetricError(f"{metric}: needs at least {min_samples} {what} samples, got "
                              f"{len(a)}")
    return r, f


# --- FID -------------------------------------------------------------------------------------
def feature_stats(features, metric: str = "fid") -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of (N, D) features: the statistics FID compares (N >= 2)."""
    a = as_array(features, "features", metric)
    if len(a) < 2:
        raise MetricError(f"{metric}: the covariance needs at least 2 samples, got {len(a)}")
    return a.mean(axis=0), np.cov(a, rowvar=False, ddof=1).reshape(a.shape[1], a.shape[1])


# An imaginary part of the square root's diagonal above this share of its real part's scale
# means the product of the covariances was far from positive semi-definite: refused.
IMAG_TOLERANCE = 1e-3
SQRTM_EPS = 1e-6


def fid_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """FID between two Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``Tr((sigma1 sigma2)^(1/2))`` uses ``scipy.linalg.sqrtm``. If the square root is not finite
    (singular covariances), both covariances get ``1e-6 * I`` added and it is computed again,
    with a ``MetricWarning``. The square root of a product of two PSD matrices has real
    eigenvalues; round-off (mostly with singular covariances) can leave small imaginary parts,
    which are dropped as pytorch-fid does, while imaginary parts on the diagonal larger than
    1e-3 x max(1, largest |real part| there) raise ``MetricError``.
    """
    mu1, mu2 = as_array(mu1, "mu1", "fid", 1), as_array(mu2, "mu2", "fid", 1)
    sigma1, sigma2 = as_array(sigma1, "sigma1", "fid"), as_array(sigma2, "sigma2", "fid")
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise MetricError(f"fid: statistics of different dimensions: mu {mu1.shape} / "
                          f"{mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}")
    from scipy.linalg import sqrtm

    covmean = sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        warnings.warn(f"fid: the matrix square root of the covariance product is not finite "
                      f"(singular covariances); adding {SQRTM_EPS:g} to their diagonals",
                      MetricWarning, stacklevel=2)
        offset = np.eye(d) * SQRTM_EPS
        covmean = sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        diag = np.diagonal(covmean)
        worst = float(np.abs(diag.imag).max(initial=0.0))
        scale = max(1.0, float(np.abs(diag.real).max(initial=0.0)))
        if worst > IMAG_TOLERANCE * scale:
            raise MetricError(f"fid: the square root of the covariance product has imaginary "
                              f"parts up to {worst:.3g} on its diagonal (real parts up to "
                              f"{scale:.3g}): the covariances are not valid (positive "
                              f"semi-definite) or far too ill-conditioned")
        covmean = covmean.real
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    # the exact value is >= 0; round-off on identical statistics can give -1e-12
    return max(value, 0.0)


def few_samples_warning(n_real: int, n_fake: int, dim: int, stacklevel: int = 3) -> None:
    """A ``MetricWarning`` when either set has no more samples than feature dimensions."""
    for n, what in ((n_real, "real"), (n_fake, "fake")):
        if n <= dim:
            warnings.warn(f"fid: {n} {what} samples for {dim} feature dimensions: the "
                          f"covariance is singular and FID is biased (use more samples than "
                          f"dimensions)", MetricWarning, stacklevel=stacklevel)


def fid(real, fake) -> float:
    """Frechet distance between Gaussians fitted to the real and the fake features ((N, D)
    each; N >= 2). With fewer samples than dimensions the covariances are singular and FID is
    strongly biased: it is computed, with a ``MetricWarning``."""
    r, f = _pair(real, fake, "fid", min_samples=2)
    few_samples_warning(len(r), len(f), r.shape[1], stacklevel=3)
    return fid_from_stats(*feature_stats(r), *feature_stats(f))


# --- KID -------------------------------------------------------------------------------------
def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel ``(x . y / D + 1)^3`` between the rows of x and y."""
    k = x @ y.T
    k /= x.shape[1]
    k += 1.0
    cube = k * k
    cube *= k  # 5x faster than k ** 3, which goes through pow()
    return cube


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimate of MMD^2 between samples x (m, D) and y (n, D), m, n >= 2, with
    the cubic polynomial kernel: the within-set means leave out the diagonal."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kid_subset_size(n_real: int, n_fake: int, subset_size: int) -> int:
    """The subset size KID uses: ``min(subset_size, n_real, n_fake)`` (subsets are drawn
    without replacement, so none can be larger than either set). At least 2 is needed."""
    if subset_size < 2:
        raise MetricError(f"kid: subset_size must be at least 2, got {subset_size}")
    m = min(subset_size, n_real, n_fake)
    if m < 2:
        raise MetricError(f"kid: needs at least 2 real and 2 fake samples, got {n_real} real "
                          f"and {n_fake} fake")
    return m


def kid(real, fake, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) over ``subsets`` random subsets of the unbiased MMD^2 estimate with the
    cubic polynomial kernel (torch-fidelity's defaults: 100 subsets of 1000).

    Each subset draws ``m = kid_subset_size(n_real, n_fake, subset_size)`` real and ``m``
    fake samples without replacement, from ``np.random.default_rng(seed)``: real indices
    first, then fake, subset after subset. The std is over subsets (ddof 0). The unbiased
    estimate can be negative when the two sets come from the same distribution.
    """
    r, f = _pair(real, fake, "kid")
    if subsets < 1:
        raise MetricError(f"kid: subsets must be at least 1, got {subsets}")
    m = kid_subset_size(len(r), len(f), subset_size)
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        ri = rng.choice(len(r), m, replace=False)
        fi = rng.choice(len(f), m, replace=False)
        values[i] = mmd2_unbiased(r[ri], f[fi])
    return float(values.mean()), float(values.std())


# --- Inception Score -------------------------------------------------------------------------
def inception_score(logits, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over ``splits`` consecutive splits of the samples of
    ``exp(mean_x KL(p(y|x) || p(y)))``, with ``p(y|x) = softmax(logits)`` and ``p(y)`` the
    split's mean of ``p(y|x)``. Splits are ``np.array_split``'s (sizes differ by at most one;
    equal when splits divides N, as in the original 50,000 / 10). Logits of a classifier give
    the "classifier score" the same way."""
    from scipy.special import log_softmax

    z = as_array(logits, "logits", "inception_score")
    if z.shape[1] < 2:
        raise MetricError(f"inception_score: needs at least 2 classes, got logits of shape "
                          f"{z.shape}")
    if splits < 1 or splits > len(z):
        raise MetricError(f"inception_score: splits must be between 1 and the number of "
                          f"samples ({len(z)}), got {splits}")
    logp = log_softmax(z, axis=1)
    scores = []
    for part in np.array_split(logp, splits):
        p = np.exp(part)
        log_py = np.log(p.mean(axis=0))
        kl = (p * (part - log_py)).sum(axis=1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


# --- k-NN manifolds --------------------------------------------------------------------------
def knn_radii(features: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Distance from each sample to its k-th nearest neighbour among the others."""
    from sklearn.neighbors import NearestNeighbors

    if k < 1:
        raise MetricError(f"{metric}: k must be at least 1, got {k}")
    if len(features) <= k:
        raise MetricError(f"{metric}: the k-NN radius with k={k} needs more than {k} samples "
                          f"per set, got {len(features)}")
    # k + 1 neighbours of each sample in its own set: the nearest is itself (distance 0), so
    # the last is its k-th neighbour among the others (duplicates only reorder equal zeros)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    return dist[:, k]


# Distances within this relative margin of a ball's radius count as on its boundary: the
# k-NN radii (exact distances, or BLAS's dot-product form in high dimensions) and the real-fake
# distances (the dot-product form) round differently, and without the margin the k-th
# neighbour of a sample could fall inside or outside its own ball by round-off.
BOUNDARY_RTOL = 1e-9


def _in_balls(points: np.ndarray, centres: np.ndarray, radii: np.ndarray,
              strict: bool) -> np.ndarray:
    """(len(points),) counts: how many balls ``B(centres[i], radii[i])`` hold each point
    (closed balls, or open ones with ``strict``; see ``BOUNDARY_RTOL``)."""
    from sklearn.metrics import pairwise_distances_chunked

    bound = radii * (1 - BOUNDARY_RTOL) if strict else radii * (1 + BOUNDARY_RTOL)

    def reduce(chunk, start):
        inside = chunk < bound[None, :] if strict else chunk <= bound[None, :]
        return inside.sum(axis=1)

    return np.concatenate(list(pairwise_distances_chunked(points, centres,
                                                          reduce_func=reduce)))


def _nearest(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest neighbour in ``others``."""
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=1).fit(others).kneighbors(points)
    return dist[:, 0]


def _centred(r: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets moved by the real mean (distances are unchanged; the dot-product form of
    the distances loses less to cancellation near the origin)."""
    centre = r.mean(axis=0)
    return r - centre, f - centre


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the
    union of closed balls around its samples with radius the distance to the sample's k-th
    nearest neighbour in the set; precision is the share of fake samples inside the real
    manifold, recall the share of real samples inside the fake manifold. (Distances within a
    relative 1e-9 of a radius count as on the ball's boundary, against round-off.)"""
    r, f = _pair(real, fake, "precision_recall")
    r, f = _centred(r, f)
    precision = float((_in_balls(f, r, knn_radii(r, k, "precision_recall"), False) > 0).mean())
    recall = float((_in_balls(r, f, knn_radii(f, k, "precision_recall"), False) > 0).mean())
    return precision, recall


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) with the real samples' k-NN balls (open balls,
    as in the authors' code, so identical sets score density 1 and coverage 1): density is
    the mean over fake samples of the number of real balls holding them, divided by k;
    coverage is the share of real balls holding at least one fake sample."""
    r, f = _pair(real, fake, "density_coverage")
    r, f = _centred(r, f)
    radii = knn_radii(r, k, "density_coverage")
    density = float(_in_balls(f, r, radii, True).sum() / (k * len(f)))
    coverage = float((_nearest(r, f) < radii * (1 - BOUNDARY_RTOL)).mean())
    return density, coverage
