"""minigan.metrics against independent references computed differently here: FID through an
eigendecomposition instead of sqrtm, KID with explicit Python loops, the Inception Score
with the formula written out, precision/recall and density/coverage from brute-force distance
matrices; the published edge cases (complex parts of the matrix square root, fewer samples
than dimensions, KID's subset sizes); the toy-mixture measure; the shipped digits
classifier."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigan
from minigan import metrics as M
from minigan.metrics import scores

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Small GEMMs thrash with more than one BLAS thread on a shared machine."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        yield


def gaussian(n, d, shift=0.0, scale=1.0, seed=0):
    """n samples of a correlated d-dimensional Gaussian (the same law for every seed)."""
    mix = np.random.default_rng(99).standard_normal((d, d)) * 0.3 + np.eye(d)
    return (np.random.default_rng(seed).standard_normal((n, d)) @ mix) * scale + shift


# --- FID ---------------------------------------------------------------------------------------
def fid_by_eigh(x: np.ndarray, y: np.ndarray) -> float:
    """FID with explicit covariances and Tr((S1 S2)^(1/2)) as the sum of the square roots of
    the eigenvalues of the symmetric S1^(1/2) S2 S1^(1/2) (similar to S1 S2), S1^(1/2) from
    eigh: no sqrtm anywhere."""
    mu1, mu2 = x.mean(0), y.mean(0)
    c1 = (x - mu1).T @ (x - mu1) / (len(x) - 1)
    c2 = (y - mu2).T @ (y - mu2) / (len(y) - 1)
    w, v = np.linalg.eigh(c1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.linalg.eigvalsh(root1 @ c2 @ root1)
    tr_sqrt = np.sqrt(np.clip(lam, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt)


@pytest.mark.parametrize("n,m,d", [(300, 250, 8), (60, 90, 20)])
def test_fid_matches_eigendecomposition(n, m, d):
    x, y = gaussian(n, d, seed=1), gaussian(m, d, shift=0.4, scale=1.3, seed=2)
    assert M.fid(x, y) == pytest.approx(fid_by_eigh(x, y), rel=1e-9, abs=1e-9)
    assert M.fid(y, x) == pytest.approx(M.fid(x, y), rel=1e-9)


def test_fid_known_values_and_tensor_input():
    x = gaussian(500, 6, seed=3)
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([1.0, -2.0, 0.0, 0.5, 0.0, 3.0])
    assert M.fid(x, x + shift) == pytest.approx((shift ** 2).sum(), rel=1e-9)  # same covariance
    t = minigan.tensor(x.astype(np.float32))
    assert M.fid(t, x + shift) == pytest.approx(M.fid(x.astype(np.float32), x + shift),
                                                rel=1e-12)
    # two isotropic Gaussians: |mu|^2 + d (s1 - s2)^2, exactly, from the statistics
    d = 4
    assert M.fid_from_stats(np.zeros(d), np.eye(d) * 4.0, np.ones(d), np.eye(d)) == \
        pytest.approx(d + d * (2.0 - 1.0) ** 2, rel=1e-12)


def test_fid_with_fewer_samples_than_dimensions_warns_and_agrees():
    x, y = gaussian(12, 30, seed=4), gaussian(15, 30, shift=0.2, seed=5)
    with pytest.warns(M.MetricWarning) as caught:
        value = M.fid(x, y)
    assert [str(w.message).split(":")[1].strip() for w in caught] == [
        "12 real samples for 30 feature dimensions", "15 fake samples for 30 feature dimensions"]
    assert math.isfinite(value)
    assert value == pytest.approx(fid_by_eigh(x, y), rel=1e-6)


def test_fid_small_imaginary_parts_are_dropped(monkeypatch):
    import scipy.linalg
    x, y = gaussian(200, 5, seed=6), gaussian(200, 5, shift=1.0, seed=7)
    expected = M.fid(x, y)
    real_sqrtm = scipy.linalg.sqrtm
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda a: real_sqrtm(a) + 1e-7j)
    assert M.fid(x, y) == pytest.approx(expected, rel=1e-12)


def test_fid_large_imaginary_parts_are_an_error():
    # sigma2 = -I is not a covariance: (sigma1 sigma2)^(1/2) is purely imaginary
    with pytest.raises(M.MetricError, match="imaginary parts up to .* on its diagonal"):
        M.fid_from_stats(np.zeros(3), np.eye(3), np.zeros(3), -np.eye(3))


def test_fid_non_finite_square_root_is_retried_with_an_offset(monkeypatch):
    import scipy.linalg
    x, y = gaussian(100, 4, seed=8), gaussian(100, 4, seed=9)
    real_sqrtm, calls = scipy.linalg.sqrtm, []

    def flaky(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)
    monkeypatch.setattr(scipy.linalg, "sqrtm", flaky)
    with pytest.warns(M.MetricWarning, match="adding 1e-06 to their diagonals"):
        value = M.fid(x, y)
    assert len(calls) == 2
    assert value == pytest.approx(fid_by_eigh(x, y), rel=1e-4)


def test_fid_input_errors_are_named():
    x = RNG.standard_normal((20, 8))
    with pytest.raises(M.MetricError, match="real features have 8 dimensions but fake "
                                            "features have 6"):
        M.fid(x, RNG.standard_normal((20, 6)))
    with pytest.raises(M.MetricError, match=r"fake features must be \(N, D\) features, got "
                                            r"shape \(20,\)"):
        M.fid(x, RNG.standard_normal(20))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(M.MetricError, match="real features hold 1 non-finite"):
        M.fid(bad, x)
    with pytest.raises(M.MetricError, match="at least 2 fake samples, got 1"):
        M.fid(x, x[:1])


# --- KID ---------------------------------------------------------------------------------------
def mmd2_loops(x, y) -> float:
    """The unbiased MMD^2 of Binkowski et al. (eq. 4) with k(a, b) = (a.b / d + 1)^3,
    element by element."""
    d = len(x[0])

    def k(a, b):
        return (sum(float(p) * float(q) for p, q in zip(a, b)) / d + 1.0) ** 3
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_mmd2_matches_loops():
    x, y = gaussian(9, 4, seed=10), gaussian(11, 4, shift=0.5, seed=11)
    assert M.mmd2_unbiased(x, y) == pytest.approx(mmd2_loops(x, y), rel=1e-10)


def test_kid_full_sets_give_the_full_mmd_and_zero_std():
    # subset_size above both counts is clipped to min(n_real, n_fake) = 12: every subset is
    # the whole of both sets
    x, y = gaussian(12, 5, seed=12), gaussian(12, 5, shift=0.3, seed=13)
    mean, std = M.kid(x, y, subsets=7, subset_size=1000)
    assert mean == pytest.approx(mmd2_loops(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12 * abs(mean))


def test_kid_subsets_follow_the_documented_draws():
    x, y = gaussian(30, 3, seed=14), gaussian(20, 3, shift=0.4, seed=15)
    subset = scores.kid_subset_size(30, 20, 25)
    assert subset == 20  # min(subset_size, n_real, n_fake)
    rng = np.random.default_rng(7)
    values = []
    for _ in range(5):
        ri = rng.choice(30, subset, replace=False)
        fi = rng.choice(20, subset, replace=False)
        values.append(mmd2_loops(x[ri], y[fi]))
    mean, std = M.kid(x, y, subsets=5, subset_size=25, seed=7)
    assert mean == pytest.approx(np.mean(values), rel=1e-10)
    assert std == pytest.approx(np.std(values), rel=1e-8)


def test_kid_sizes_and_values():
    assert scores.kid_subset_size(5000, 10000, 1000) == 1000
    assert scores.kid_subset_size(300, 10000, 1000) == 300
    with pytest.raises(M.MetricError, match="subset_size must be at least 2"):
        M.kid(np.zeros((5, 2)), np.zeros((5, 2)), subset_size=1)
    with pytest.raises(M.MetricError, match="at least 2 real and 2 fake samples, got 1 real"):
        M.kid(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(M.MetricError, match="real features have 3 dimensions"):
        M.kid(np.zeros((5, 3)), np.zeros((5, 2)))
    same_a, same_b = gaussian(400, 8, seed=16), gaussian(400, 8, seed=17)
    other = gaussian(400, 8, shift=1.0, seed=18)
    near, near_std = M.kid(same_a, same_b, subsets=20, subset_size=200)
    far, _ = M.kid(same_a, other, subsets=20, subset_size=200)
    assert abs(near) < 3 * near_std + 1e-3 < far  # unbiased: ~0 (can be < 0) for one law


# --- Inception Score ---------------------------------------------------------------------------
def is_by_formula(logits, splits) -> tuple[float, float]:
    scores_ = []
    n = len(logits)
    bounds = [n * i // splits for i in range(splits + 1)]  # sizes differ by at most 1
    sizes = sorted(bounds[i + 1] - bounds[i] for i in range(splits))
    expected_sizes = sorted(len(p) for p in np.array_split(np.arange(n), splits))
    assert sizes == expected_sizes
    starts = np.cumsum([0] + [len(p) for p in np.array_split(np.arange(n), splits)])
    for s, e in zip(starts[:-1], starts[1:]):
        rows = []
        for z in logits[s:e]:
            m = max(z)
            ex = [math.exp(v - m) for v in z]
            rows.append([v / sum(ex) for v in ex])
        py = [sum(r[j] for r in rows) / len(rows) for j in range(len(rows[0]))]
        kl = [sum(p * (math.log(p) - math.log(q)) for p, q in zip(r, py) if p > 0)
              for r in rows]
        scores_.append(math.exp(sum(kl) / len(kl)))
    return float(np.mean(scores_)), float(np.std(scores_))


@pytest.mark.parametrize("n,splits", [(40, 10), (25, 4), (7, 1)])
def test_inception_score_matches_the_formula(n, splits):
    logits = RNG.standard_normal((n, 6)) * 2
    mean, std = M.inception_score(logits, splits)
    ref_mean, ref_std = is_by_formula(logits, splits)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-8, abs=1e-12)


def test_inception_score_bounds():
    assert M.inception_score(np.zeros((50, 10)), 5)[0] == pytest.approx(1.0)
    confident = np.tile(np.eye(10) * 60.0, (10, 1))  # each class equally, p(y|x) one-hot
    assert M.inception_score(confident, 10)[0] == pytest.approx(10.0, rel=1e-6)
    collapsed = np.tile(np.eye(10)[3] * 60.0, (100, 1))
    assert M.inception_score(collapsed, 10)[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(M.MetricError, match="splits must be between 1 and the number"):
        M.inception_score(np.zeros((5, 3)), 6)
    with pytest.raises(M.MetricError, match="at least 2 classes"):
        M.inception_score(np.zeros((5, 1)), 1)


# --- precision/recall, density/coverage --------------------------------------------------------
def brute_distances(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def brute_radii(a, k):
    return np.sort(brute_distances(a, a), axis=1)[:, k]  # column 0 is the sample itself


def test_precision_recall_brute_force():
    real, fake = gaussian(150, 5, seed=20), gaussian(120, 5, shift=0.7, scale=0.8, seed=21)
    for k in (1, 3, 7):
        d = brute_distances(fake, real)
        precision = (d <= brute_radii(real, k)[None]).any(1).mean()
        recall = (d.T <= brute_radii(fake, k)[None]).any(1).mean()
        assert M.precision_recall(real, fake, k) == (pytest.approx(precision, abs=1e-12),
                                                     pytest.approx(recall, abs=1e-12))


def test_density_coverage_brute_force():
    real, fake = gaussian(140, 4, seed=22), gaussian(160, 4, shift=0.5, seed=23)
    for k in (2, 5):
        r = brute_radii(real, k)
        d = brute_distances(fake, real)
        density = (d < r[None]).sum() / (k * len(fake))
        coverage = (d.min(0) < r).mean()
        got = M.density_coverage(real, fake, k)
        assert got[0] == pytest.approx(density, rel=1e-12)
        assert got[1] == pytest.approx(coverage, rel=1e-12)


def test_manifold_metrics_edge_cases():
    x = gaussian(100, 6, seed=24)
    assert M.precision_recall(x, x) == (1.0, 1.0)
    density, coverage = M.density_coverage(x, x)
    assert coverage == 1.0 and density == pytest.approx(1.0, abs=0.02)
    far = x + 100.0
    assert M.precision_recall(x, far) == (0.0, 0.0)
    assert M.density_coverage(x, far) == (0.0, 0.0)
    with pytest.raises(M.MetricError, match="k=3 needs more than 3 samples per set, got 3"):
        M.precision_recall(x, x[:3])
    with pytest.raises(M.MetricError, match="k must be at least 1"):
        M.density_coverage(x, x, k=0)
    with pytest.raises(M.MetricError, match="real features have 6 dimensions but fake "
                                            "features have 2"):
        M.precision_recall(x, x[:, :2])


# --- toy mixtures ------------------------------------------------------------------------------
def test_toy_mixtures():
    assert M.RING8.modes == 8 and M.GRID25.modes == 25
    ring = M.RING8.sample(4000, 0)
    q = M.mixture_quality(ring, "ring8")
    assert q["modes"] == 8 and q["modes_total"] == 8
    assert q["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # chi2_2 <= 9
    assert q["reverse_kl"] < 0.01
    grid = M.GRID25.sample(5000, 1)
    assert M.mixture_quality(grid, M.GRID25)["modes"] == 25
    collapsed = np.tile(M.RING8.centres[2], (1000, 1))
    q = M.mixture_quality(collapsed, "ring8")
    assert (q["modes"], q["high_quality"]) == (1, 1.0)
    assert q["reverse_kl"] == pytest.approx(math.log(8))
    assert M.mixture_quality(np.zeros((10, 2)), "ring8")["modes"] == 0
    with pytest.raises(M.MetricError, match="unknown mixture 'ring9'"):
        M.mixture_quality(ring, "ring9")
    with pytest.raises(M.MetricError, match=r"\(N, 2\) points"):
        M.mixture_quality(np.zeros((10, 3)), "ring8")


def test_toy_measure_agrees_with_bench_ring():
    from bench.bench_ring import CENTRES, STD, quality
    np.testing.assert_allclose(M.RING8.centres, CENTRES)
    assert M.RING8.std == STD
    samples = M.RING8.sample(2000, 3) * 1.02 + 0.01  # some samples leave the 3-std discs
    ours, theirs = M.mixture_quality(samples, "ring8"), quality(samples)
    assert ours["modes"] == theirs["modes"]
    assert 100 * ours["high_quality"] == pytest.approx(theirs["hq_pct"], abs=0.01)


# --- the digits classifier ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def held_out():
    from minigan.metrics.train_classifier import split
    return split(0)


def test_shipped_classifier_is_small_and_as_recorded(held_out):
    import json

    from minigan.metrics.digits import WEIGHTS
    assert WEIGHTS.stat().st_size < 1_000_000
    clf = M.load_classifier()
    _, _, te_x, te_y = held_out
    probs = clf.classify(te_x)
    accuracy = (probs.argmax(1) == te_y).mean()
    assert accuracy == pytest.approx(clf.info["test_accuracy"], abs=1e-6)
    assert accuracy >= 0.98
    record = Path(__file__).parents[1] / "bench" / "results" / "digits-classifier.json"
    assert json.loads(record.read_text())["test_accuracy"] == clf.info["test_accuracy"]
    # package data, so that pip installs it
    setup = (Path(__file__).parents[1] / "setup.py").read_text()
    assert '"minigan.metrics": ["weights/*.safetensors"]' in setup


def test_classifier_sizes_and_judgements(held_out):
    from minigan.data import load
    clf = M.load_classifier()
    _, _, te_x, te_y = held_out
    feats, logits = clf.features_and_logits(te_x[:50], batch_size=16)
    assert feats.shape == (50, clf.feature_dim) and logits.shape == (50, 10)
    assert feats.dtype == np.float32
    one, _ = clf.features_and_logits_batch(minigan.tensor(te_x[:50]))
    np.testing.assert_allclose(one, feats, rtol=1e-5, atol=1e-5)
    for size in (64, 28):  # resized to 32x32 inside (average pooling, bilinear)
        data = load("digits", img_size=size)
        probs = M.classify(data.images[::4])
        assert (probs.argmax(1) == data.labels[::4]).mean() > 0.95, size
    with pytest.raises(M.FeatureError, match="1-channel images and these have 3 channels"):
        clf.features_and_logits(np.zeros((2, 3, 32, 32), np.float32))
    probs = np.eye(10)[[1, 1, 1, 2]] * 0.9 + 0.01
    assert M.class_coverage(probs) == pytest.approx(0.2)
    assert M.mean_confidence(probs) == pytest.approx(0.91)
    assert M.class_accuracy(probs, [1, 1, 2, 2]) == pytest.approx(0.75)
    np.testing.assert_allclose(M.class_histogram(probs)[:3], [0, 0.75, 0.25])
    with pytest.raises(M.MetricError, match="expects .* probabilities"):
        M.class_coverage(np.ones((3, 10)))


def test_classifier_training_is_reproducible():
    """One epoch on 256 images, twice from the same seed: the same weights, bit for bit."""
    from minigan.metrics.train_classifier import train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, info_a, _ = train(epochs=1, verbose=False, subset=256)
        b, info_b, _ = train(epochs=1, verbose=False, subset=256)
    assert info_a == info_b
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert np.array_equal(v.numpy(), w.numpy()), k
