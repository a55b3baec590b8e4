"""The 2-D point datasets (``--data ring8|grid25``): the data, the MLP networks models build
for them, training from the CLI with scatter-plot samples, the ``modes`` metric through the
evaluator, training-time evaluation and the best checkpoint; and the ``accuracy`` metric of
class-conditional and code models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import minigan
from minigan import evaluate
from minigan.data import BatchIterator, DataError
from minigan.data import load as load_dataset
from minigan.metrics import MetricError
from minigan.metrics.evaluator import FeatureSet, compare
from minigan.metrics.toy import GRID25, RING8, mixture_quality
from minigan.models import MODELS
from minigan.train import build_model
from minigan.train import main as train_main
from minigan.training.trainer import TrainConfig

TINY = ["--ngf", "8", "--ndf", "8", "--batch-size", "32", "--latent-dim", "4",
        "--no-progress", "--no-tensorboard"]


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("name, mix", [("ring8", RING8), ("grid25", GRID25)])
def test_point_datasets_are_the_mixtures(name, mix):
    d = load_dataset(name, data_dir="/ignored", img_size=64)
    assert d.images.shape == (100_000, 2) and d.images.dtype == np.float32
    assert d.points and d.channels == 2 and d.num_classes == mix.modes
    np.testing.assert_array_equal(d.images, load_dataset(name).images)  # fixed draw
    # each point lies near the centre its label names; every mode is about equally drawn
    dist = np.linalg.norm(d.images - mix.centres[d.labels], axis=1)
    assert dist.max() < 6 * mix.std
    counts = np.bincount(d.labels, minlength=mix.modes)
    assert counts.min() > 0.9 * len(d) / mix.modes
    q = mixture_quality(d.images[:2000], mix)
    assert q["modes"] == mix.modes and q["high_quality"] > 0.97


def test_batch_iterator_order_is_the_same_with_its_cache():
    d = load_dataset("ring8")
    it = BatchIterator(d, 64, seed=3)
    later = it.batch(2000)[0]  # epoch 1
    first = it.batch(5)[0]  # back to epoch 0: the cached permutation is replaced
    fresh = BatchIterator(d, 64, seed=3)
    np.testing.assert_array_equal(first, fresh.batch(5)[0])
    np.testing.assert_array_equal(later, fresh.batch(2000)[0])


def test_models_build_mlps_for_points_and_others_refuse():
    able = sorted(n for n, cls in MODELS.items() if cls.points)
    assert {"gan", "dcgan", "wgan-gp", "unrolled", "sngan", "lsgan", "wgan"} <= set(able)
    model = build_model(TrainConfig(model="wgan-gp", data="ring8", ngf=8, ndf=8, latent_dim=4),
                        2)
    z = model.latent(5)
    x = model.nets["G"](z)
    assert x.shape == (5, 2)
    assert model.nets["D"](x).shape == (5,)
    sn = build_model(TrainConfig(model="sngan", data="ring8", ngf=8, ndf=8), 2)
    assert any("weight_orig" in k for k in sn.nets["D"].state_dict())
    refused = next(n for n, cls in MODELS.items() if not cls.points)
    with pytest.raises(ValueError, match=f"{refused}: no version for the 2-D point data of "
                                         "--data ring8 .*models that have one: .*gan"):
        build_model(TrainConfig(model=refused, data="ring8"), 2, 8)


def test_cli_refusal_is_one_line(tmp_path, capsys):
    refused = next(n for n, cls in MODELS.items() if not cls.points and not cls.conditional)
    assert train_main([refused, "--data", "grid25", *TINY, "--steps", "1", "--out",
                       str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"minigan.train: {refused}: no version for the 2-D point data")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["gan", "wgan-gp", "unrolled"])
def test_cli_trains_on_points_and_plots(tmp_path, name):
    run = tmp_path / "r"
    assert train_main([name, "--data", "ring8", *TINY, "--steps", "4", "--sample-interval",
                       "2", "--eval-interval", "2", "--eval-n", "200", "--out",
                       str(run)]) == 0
    pngs = sorted((run / "samples").glob("*.png"))
    assert [p.name for p in pngs] == ["step_000002.png", "step_000004.png"]
    from PIL import Image
    assert Image.open(pngs[-1]).size == (480, 498)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert "Infinity" not in (run / "metrics.jsonl").read_text()
    evals = [x for x in lines if "modes" in x]
    assert [e["step"] for e in evals] == [2, 4]
    assert all(e["modes_total"] == 8 and 0 <= e["high_quality"] <= 1 for e in evals)
    assert (run / "checkpoints" / "best.npz").exists()


def test_points_learn_the_ring(tmp_path):
    """A short non-saturating run with a large step size: the samples move from the origin
    (mean distance to the nearest mode ~1.8) onto the ring, spread along it. Fails if
    the data, the MLPs or the step is broken (an untrained G leaves ~0 modes covered)."""
    run = tmp_path / "r"
    assert train_main(["gan", "--data", "ring8", "--ngf", "32", "--ndf", "32",
                       "--batch-size", "128", "--latent-dim", "4", "--lr", "2e-3",
                       "--no-progress", "--no-tensorboard", "--steps", "600",
                       "--sample-interval", "600", "--out", str(run)]) == 0
    assert evaluate.main([str(run), "--n", "2000", "--no-progress", "--no-cache"]) == 0
    metrics = json.loads((run / "eval.json").read_text())["metrics"]
    assert metrics["mean_dist"] < 0.6
    assert metrics["recall"] > 0.5  # the samples spread around the ring, not one point


def test_evaluate_modes_and_point_metric_errors(tmp_path, capsys):
    run = tmp_path / "r"
    assert train_main(["gan", "--data", "grid25", *TINY, "--steps", "2", "--out",
                       str(run)]) == 0
    capsys.readouterr()
    assert evaluate.main([str(run), "--n", "300", "--no-progress", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "features: points" in out and "modes covered" in out and " of 25" in out
    text = (run / "eval.json").read_text()
    doc = json.loads(text)
    assert doc["metrics"]["modes_total"] == 25 and "precision" in doc["metrics"]
    # strict JSON: without high-quality samples the reverse KL is null, not Infinity
    assert doc["metrics"]["high_quality"] > 0 or doc["metrics"]["reverse_kl"] is None
    assert "Infinity" not in text and "NaN" not in text
    assert evaluate.main([str(run), "--metrics", "classes", "--n", "300", "--no-cache"]) == 1
    assert "classes: not defined on the point dataset 'grid25'" in capsys.readouterr().err


def test_modes_metric_refused_on_images():
    with pytest.raises(MetricError, match="modes: measures the point datasets"):
        minigan.metrics.Evaluator("digits", metrics="modes", cache=False, n=10)


def test_compare_modes_matches_mixture_quality():
    pts = RING8.sample(500, 1).astype(np.float64)
    pts[:100] = 0.0  # a fifth at the centre: not high quality
    fake = FeatureSet(pts, np.zeros((500, 0)))
    out = compare(fake, fake, ("modes",), mixture="ring8")
    assert out == mixture_quality(pts, RING8)
    # 2-D Gaussian: P(r < 3 std) = 1 - exp(-4.5) = 0.989
    assert out["modes"] == 8 and out["high_quality"] == pytest.approx(0.8 * 0.989, abs=0.02)


# --- the accuracy metric ----------------------------------------------------------------------
def _logits_for(classes, k=10):
    logits = np.full((len(classes), k), -5.0)
    logits[np.arange(len(classes)), classes] = 5.0
    return logits


def test_accuracy_of_requested_classes():
    labels = np.arange(200) % 10
    predicted = labels.copy()
    predicted[labels == 3] = 5  # class 3 always drawn as a 5
    predicted[:4] = 9
    fake = FeatureSet(np.zeros((200, 2)), _logits_for(predicted), labels=labels)
    out = compare(fake, fake, ("accuracy",))
    assert out["class_accuracy"] == pytest.approx((200 - 20 - 3) / 200)  # sample 3 is a 3
    assert out["class_accuracy_min"] == 0.0


def test_accuracy_of_a_code_matches_codes_to_classes():
    codes = np.arange(300) % 10
    perm = np.array([3, 7, 0, 1, 9, 2, 8, 6, 5, 4])
    predicted = perm[codes]
    predicted[:10] = (predicted[:10] + 1) % 10  # one wrong sample per code
    fake = FeatureSet(np.zeros((300, 2)), _logits_for(predicted), labels=codes,
                      label_kind="code")
    out = compare(fake, fake, ("accuracy",))
    assert out["class_accuracy"] == pytest.approx(290 / 300)
    as_classes = compare(fake, FeatureSet(fake.features, fake.logits, labels=codes),
                         ("accuracy",))
    assert as_classes["class_accuracy"] < 0.2  # without matching: about chance


def test_accuracy_needs_requested_labels():
    fake = FeatureSet(np.zeros((20, 2)), _logits_for(np.arange(20) % 10))
    with pytest.raises(MetricError, match="accuracy: the generator draws no requested classes"):
        compare(fake, fake, ("accuracy",))


def test_accuracy_through_the_cli(tmp_path, capsys):
    run = tmp_path / "c"
    assert train_main(["cgan", "--ngf", "4", "--ndf", "4", "--batch-size", "16",
                       "--latent-dim", "8", "--no-progress", "--no-tensorboard", "--steps", "2",
                       "--out", str(run)]) == 0
    assert evaluate.main([str(run), "--metrics", "accuracy", "--n", "100", "--no-progress"]) \
        == 0
    doc = json.loads((run / "eval.json").read_text())
    assert 0 <= doc["metrics"]["class_accuracy"] <= 1
    assert "class accuracy" in capsys.readouterr().out
    dc = tmp_path / "d"
    assert train_main(["dcgan", "--ngf", "4", "--ndf", "4", "--batch-size", "16",
                       "--latent-dim", "8", "--no-progress", "--no-tensorboard", "--steps", "1",
                       "--out", str(dc)]) == 0
    assert evaluate.main([str(dc), "--metrics", "accuracy", "--n", "100", "--no-progress"]) == 1
    assert "class-conditional" in capsys.readouterr().err


def test_dataset_errors_name_the_dataset():
    with pytest.raises(DataError, match="unknown dataset 'ring9'"):
        load_dataset("ring9")


def test_sample_cli_on_points(tmp_path, capsys):
    from PIL import Image

    from minigan.sample import main as sample_main
    run = tmp_path / "r"
    assert train_main(["lsgan", "--data", "ring8", *TINY, "--steps", "2", "--out",
                       str(run)]) == 0
    capsys.readouterr()
    out, arr = tmp_path / "s.png", tmp_path / "s.npz"
    assert sample_main([str(run), "--n", "300", "--out", str(out), "--save-array",
                        str(arr)]) == 0
    assert "modes " in capsys.readouterr().out and Image.open(out).size == (480, 498)
    with np.load(arr) as f:
        assert list(f) == ["points"] and f["points"].shape == (300, 2)
    # the export alone (it records the data, so the MLP G is rebuilt), and a latent walk
    assert sample_main([str(run / "generator.safetensors"), "--n", "16", "--interpolate",
                        "--out", str(out)]) == 0
    assert sample_main([str(run), "--reconstruct", "--n", "4"]) == 1
    assert "has no encoder" in capsys.readouterr().err
