"""Metrics of a trained run on the digits, beside the real data's own floor, and the
evaluation's throughput.

    python -m bench.bench_metrics RUN_DIR [--n 10000] [--threads T]
                                  [--save bench/results/metrics-digits.jsonl]

Rows (digits features, numpy backend):

- ``gan``: ``--n`` samples of RUN_DIR's generator against all 1,797 embedded digits: the
  figures ``python -m minigan.evaluate RUN_DIR --n N`` prints;
- ``gan-half``: 899 samples against one half of the digits (898 images), the sizes of
- ``floor``: the digits split in two random halves (seed 0), one against the other: what a
  perfect generator scores at those sample sizes (FID and KID are biased upwards by small
  samples, precision/recall/coverage downwards);
- throughput: images/s of sampling + features for the ``--n`` samples (batches of 100), of
  the features alone, and the whole evaluation's wall time beside the run's training time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.harness import device_name
from minigan.data import load
from minigan.metrics import (
    compare,
    load_classifier,
    real_features,
    sample_features,
)
from minigan.metrics.evaluator import FeatureSet
from minigan.metrics.scores import inception_score
from minigan.sample import load_generator
from minigan.training.trainer import read_metrics

METRICS = ("fid", "kid", "is", "pr", "dc", "classes")


def _round(d: dict) -> dict:
    return {k: round(float(v), 6) for k, v in d.items()}


def measure(run: str, n: int) -> dict:
    clf = load_classifier()
    G, cfg = load_generator(run, "numpy")
    digits = load("digits", img_size=cfg.img_size)

    start = time.perf_counter()
    real = real_features("digits", None, cfg.img_size, clf, n, cache=False)
    real_s = time.perf_counter() - start
    start = time.perf_counter()
    fake = sample_features(G, clf, n, cfg.latent_dim, "numpy", batch_size=100, seed=0)
    sample_s = time.perf_counter() - start
    start = time.perf_counter()
    gan = compare(real, fake, METRICS)
    metric_s = time.perf_counter() - start
    gan["is_real"], gan["is_real_std"] = inception_score(real.logits, 10)

    order = np.random.default_rng(0).permutation(len(digits.images))
    half_a, half_b = order[: len(order) // 2], order[len(order) // 2:]
    ra = FeatureSet(real.features[half_a], real.logits[half_a])
    rb = FeatureSet(real.features[half_b], real.logits[half_b])
    floor = compare(ra, rb, METRICS)
    fake_half = FeatureSet(fake.features[: len(half_b)], fake.logits[: len(half_b)])
    gan_half = compare(ra, fake_half, METRICS)

    start = time.perf_counter()
    clf.features_and_logits(digits.images, batch_size=100)
    feat_rate = len(digits.images) / (time.perf_counter() - start)
    rows = read_metrics(Path(run) / "metrics.jsonl")
    return {
        "run": str(run), "model": cfg.model, "steps": rows[-1]["step"] if rows else None,
        "ngf": cfg.ngf, "ndf": cfg.ndf, "img_size": cfg.img_size, "n": n,
        "features": {"name": "digits", "weights": clf.fingerprint},
        "gan": _round(gan), "gan_half": _round(gan_half), "floor": _round(floor),
        "sizes": {"gan": [len(real), n], "gan_half": [len(half_a), len(half_b)],
                  "floor": [len(half_a), len(half_b)]},
        "throughput": {"samples_and_features_img_s": round(n / sample_s, 1),
                       "features_only_img_s": round(feat_rate, 1),
                       "real_features_s": round(real_s, 2), "sampling_s": round(sample_s, 2),
                       "metrics_s": round(metric_s, 2),
                       "evaluation_s": round(real_s + sample_s + metric_s, 2),
                       "training_wall_s": rows[-1]["wall_time"] if rows else None},
    }


def _commit() -> str | None:
    import subprocess
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder of python -m minigan.train on the digits")
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads (default: the library's own setting)")
    parser.add_argument("--save", help="append one JSON line to this file")
    args = parser.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    result = measure(args.run, args.n)
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": _commit(),
              "device": device_name(), "blas_threads": args.threads or "default",
              "load_average_1min": round(os.getloadavg()[0], 2), **result}
    keys = ("fid", "kid", "is", "precision", "recall", "density", "coverage",
            "class_coverage", "confidence")
    print(f"{'':<10}" + "".join(f"{k:>15}" for k in keys))
    for row in ("gan", "gan_half", "floor"):
        print(f"{row:<10}" + "".join(f"{result[row][k]:>15.4f}" for k in keys))
    print(json.dumps(result["throughput"]))
    if args.save:
        with open(args.save, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
