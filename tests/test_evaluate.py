"""python -m minigan.evaluate end to end on a tiny run trained here, the cache of real features,
the Evaluator API the trainer calls, and the one-line errors."""

from __future__ import annotations

import json
import shutil
import sys
import warnings

import numpy as np
import pytest

import minigan
from minigan import evaluate
from minigan.metrics import (
    Evaluator,
    fid,
    inception_score,
    kid,
    load_classifier,
    precision_recall,
    real_features,
    sample_features,
)
from minigan.training.checkpoint import load_checkpoint, save_checkpoint

FAST = ["--no-progress", "--batch-size", "32"]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Small GEMMs thrash with more than one BLAS thread on a shared machine."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-step DCGAN on the digits (a generator of a few hundred parameters)."""
    from minigan import train
    out = tmp_path_factory.mktemp("run") / "tiny"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = train.main(["dcgan", "--ngf", "4", "--ndf", "4", "--batch-size", "8",
                           "--latent-dim", "8", "--steps", "2", "--out", str(out),
                           "--no-progress", "--no-tensorboard"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    """40 of the digits as grayscale PNG files: a small real dataset for --real folder."""
    from PIL import Image

    from minigan.data import load
    folder = tmp_path_factory.mktemp("pngs")
    for i, im in enumerate(load("digits", img_size=32).images[:40]):
        Image.fromarray(((im[0] + 1) * 127.5).round().astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def _eval(args, capsys):
    code = evaluate.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_end_to_end(run, cache, capsys):
    code, out, err = _eval([run, "--n", 60, "--metrics", "fid,kid,is,pr,dc,classes",
                            "--cache-dir", cache, *FAST], capsys)
    assert code == 0, err
    doc = json.loads((run / "eval.json").read_text())
    assert doc["format"] == "minigan-eval/1" and doc["step"] == 2 and doc["n"] == 60
    assert doc["real"]["dataset"] == "digits" and doc["real"]["n"] == 1797
    assert doc["real"]["cache_hit"] is False
    assert doc["features"]["name"] == "digits" and doc["features"]["dim"] == 64
    m = doc["metrics"]
    assert set(m) == {"fid", "kid", "kid_std", "is", "is_std", "is_real", "is_real_std",
                      "precision", "recall", "density", "coverage", "class_coverage",
                      "confidence"}
    assert doc["images_per_s"] > 0 and set(doc["seconds"]) == {
        "real_features", "samples_and_features", "metrics", "total"}
    for label in ("FID", "KID", "IS (fake)", "IS (real)", "precision", "coverage"):
        assert label in out
    assert "wrote" in out and "images/s" in out
    # the same numbers from the library calls, with features computed in other batch sizes
    from minigan.data import load
    from minigan.sample import load_generator
    G, cfg = load_generator(run)
    clf = load_classifier()
    real = load_checkpoint(doc["real"]["cache"])[0]["features"]
    fresh, _ = clf.features_and_logits(load("digits", img_size=32).images[:50], batch_size=50)
    np.testing.assert_allclose(real[:50], fresh, rtol=1e-4, atol=1e-5)
    fake = sample_features(G, clf, 60, cfg.latent_dim, batch_size=60, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 60 samples for 64 dimensions
        assert fid(real, fake.features) == pytest.approx(m["fid"], rel=1e-4)
    assert kid(real, fake.features, subsets=100, subset_size=1000)[0] == \
        pytest.approx(m["kid"], rel=1e-3)
    assert inception_score(fake.logits, 10)[0] == pytest.approx(m["is"], rel=1e-4)
    assert precision_recall(real, fake.features) == (pytest.approx(m["precision"]),
                                                     pytest.approx(m["recall"]))


def test_cache_is_reused_validated_and_rewritten(run, cache, capsys):
    code, _, err = _eval([run, "--n", 40, "--metrics", "fid", "--cache-dir", cache, *FAST],
                         capsys)
    assert code == 0, err
    first = json.loads((run / "eval.json").read_text())
    assert first["real"]["cache_hit"] is True  # written by the run of the test above
    path = first["real"]["cache"]
    arrays, meta = load_checkpoint(path)
    assert arrays["features"].shape == (1797, 64) and meta["key"]["extractor"] == "digits"
    # a truncated file: named in a warning, recomputed, rewritten whole
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    code, _, err = _eval([run, "--n", 40, "--metrics", "fid", "--cache-dir", cache, *FAST],
                         capsys)
    assert code == 0
    assert "warning: ignoring the cached real features" in err and path in err
    again = json.loads((run / "eval.json").read_text())
    assert again["real"]["cache_hit"] is False
    assert again["metrics"]["fid"] == pytest.approx(first["metrics"]["fid"], rel=1e-6)
    load_checkpoint(path)  # readable again
    # a valid, checksummed file made for another key (another image size) is refused
    arrays, meta = load_checkpoint(path)
    save_checkpoint(path, arrays, {**meta, "key": {**meta["key"], "img_size": 28}})
    code, _, err = _eval([run, "--n", 40, "--metrics", "fid", "--cache-dir", cache, *FAST],
                         capsys)
    assert code == 0 and "made for" in err and "'img_size': 28" in err
    assert json.loads((run / "eval.json").read_text())["real"]["cache_hit"] is False
    # the library call reads the entry the command rewrote
    info = {}
    assert len(real_features("digits", None, 32, load_classifier(), 10000, cache=cache,
                             info=info)) == 1797
    assert info["cache_hit"] is True


def test_cache_folder_from_the_environment(run, pngs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "env-cache"))
    real = ["--real", "folder", "--data-dir", pngs]
    code, _, err = _eval([run, "--n", 20, "--metrics", "kid", *real, *FAST], capsys)
    assert code == 0, err
    assert list((tmp_path / "env-cache" / "real-features").glob("folder-*.npz"))
    code, _, _ = _eval([run, "--n", 20, "--metrics", "kid", "--no-cache", *real, *FAST],
                       capsys)
    assert code == 0
    assert json.loads((run / "eval.json").read_text())["real"]["cache"] is None


def test_generator_file_and_real_folder(run, cache, pngs, tmp_path, capsys):
    export = tmp_path / "shared" / "generator.safetensors"
    export.parent.mkdir()
    shutil.copy(run / "generator.safetensors", export)
    code, out, err = _eval([export, "--n", 30, "--metrics", "fid,pr", "--real", "folder",
                            "--data-dir", pngs, "--cache-dir", cache, *FAST], capsys)
    assert code == 0, err
    doc = json.loads((export.parent / "eval.json").read_text())
    assert doc["real"]["dataset"] == "folder" and doc["real"]["n"] == 40
    assert doc["step"] == 2 and "precision" in doc["metrics"]
    code, _, err = _eval([export, "--n", 30, "--metrics", "kid", "--out", tmp_path / "e.json",
                          "--cache-dir", cache, *FAST], capsys)
    assert code == 0 and (tmp_path / "e.json").exists()


def test_errors_are_one_line(run, cache, tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(run / "config.json", broken / "config.json")
    (broken / "generator.safetensors").write_bytes(
        (run / "generator.safetensors").read_bytes()[:100])
    cases = [
        ([tmp_path / "nope"], "no such run folder or file"),
        ([tmp_path], "not a minigan run folder"),
        ([broken], "not a readable safetensors file"),
        ([run, "--metrics", "fid,foo"], "unknown metric 'foo'; choose from fid, kid, is"),
        ([run, "--n", 1], "--n must be at least 2"),
        ([run, "--features", "inception"], "--inception-weights PATH"),
        ([run, "--real", "cifar10"], "needs --data-dir"),
        ([run, "--threads", "0"], "--threads must be positive"),
    ]
    for args, message in cases:
        code, _, err = _eval([*args, "--cache-dir", cache, *FAST], capsys)
        assert code == 1, (args, err)
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    import minigan.metrics
    monkeypatch.setitem(sys.modules, "minigan.metrics.inception", None)  # not installed
    monkeypatch.delattr(minigan.metrics, "inception", raising=False)
    code, _, err = _eval([run, "--features", "inception", "--inception-weights", "x.pth",
                          "--cache-dir", cache, *FAST], capsys)
    assert code == 1 and "InceptionV3 is not built into this minigan" in err
    assert len(err.strip().splitlines()) == 1


def test_evaluator_for_training_loops(run, cache):
    from minigan.sample import load_generator
    G, cfg = load_generator(run)
    G.train()
    before = {k: v.numpy().copy() for k, v in G.state_dict().items()}
    ev = Evaluator("digits", None, 32, n=80, metrics=("fid", "kid", "classes"), cache=cache,
                   batch_size=25, kid_subsets=10, threads=1)
    assert ev.real_info["cache_hit"] is True and ev.real_info["count"] == 1797
    minigan.manual_seed(5)
    expected_noise = minigan.randn(3).numpy()
    minigan.manual_seed(5)
    first = ev.evaluate(G, cfg.latent_dim)
    assert np.array_equal(minigan.randn(3).numpy(), expected_noise)  # minigan's RNG untouched
    second = ev.evaluate(G)  # latent_dim read from G
    assert G.training
    for k, v in G.state_dict().items():
        assert np.array_equal(v.numpy(), before[k]), k  # BatchNorm's running stats too
    for key in ("fid", "kid", "kid_std", "class_coverage", "confidence"):
        assert first[key] == second[key], key
    assert first["eval_seconds"] > 0 and first["images_per_s"] > 0


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """Random weights for the FID InceptionV3, in the converted safetensors form."""
    inception = pytest.importorskip("minigan.metrics.inception")
    from safetensors.numpy import save_file
    minigan.manual_seed(0)
    net = inception.InceptionV3()
    path = tmp_path_factory.mktemp("inception") / "random.safetensors"
    save_file({k: np.require(v.numpy(), requirements="C")  # 0-d stays 0-d
               for k, v in net.state_dict().items()}, str(path))
    return path


def test_inception_features_through_the_cli(run, tmp_path, inception_weights, capsys):
    code, out, err = _eval([run, "--n", 4, "--real-n", 4, "--metrics", "kid,is",
                            "--features", "inception", "--inception-weights",
                            inception_weights, "--cache-dir", tmp_path, *FAST], capsys)
    assert code == 0, err
    doc = json.loads((run / "eval.json").read_text())
    assert doc["features"]["name"] == "inception" and doc["features"]["dim"] == 2048
    assert doc["real"]["n"] == 4 and np.isfinite(doc["metrics"]["kid"])
    entry = next((tmp_path / "real-features").glob("*inception*"))
    assert load_checkpoint(entry)[0]["logits"].shape == (4, 1008)
