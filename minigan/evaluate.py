"""Evaluate a trained generator: ``python -m minigan.evaluate RUN_DIR_OR_GENERATOR
[--metrics fid,kid,is,pr,dc] [--n 10000] [--features digits|inception] [--real DATA]
[--data-dir PATH] [--backend NAME] [--batch-size B] [--seed S] [--threads T]``.

Draws ``--n`` samples from the run's generator (fixed latents from ``--seed``, batched, on any
backend), computes their features and those of the real data (the run's dataset unless
``--real`` names another; cached per dataset, feature extractor, size and image size in
$MINIGAN_CACHE or ~/.cache/minigan), prints a table and writes ``eval.json`` into the run folder
(next to the file when given a ``generator.safetensors``), atomically.

Metrics: fid, kid (mean and std over 100 subsets of up to 1000), is (the Inception Score; on the
digits classifier's logits, the "classifier score"), pr (precision, recall; k=3), dc (density,
coverage; k=5), classes (class coverage and mean confidence of the classifier). Features:
``digits`` (the shipped classifier, 1-channel images, no download) or ``inception``
(``--inception-weights PATH``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import minigan
from minigan.backends import BackendUnavailableError
from minigan.data import DATASETS, DataError, is_points
from minigan.metrics.digits import FeatureError
from minigan.metrics.evaluator import (
    FEATURES,
    METRIC_HELP,
    METRICS,
    EvaluationWarning,
    Evaluator,
    parse_metrics,
)
from minigan.metrics.scores import MetricError, MetricWarning
from minigan.training.checkpoint import (
    CheckpointError,
    CheckpointWarning,
    atomic_write,
    load_generator_export,
)
from minigan.training.trainer import EXPORT

EVAL_FORMAT = "minigan-eval/1"
# the table's rows: (key in the results, label, format)
ROWS = (("fid", "FID", ".4f"), ("kid", "KID", ".5f"), ("is", "IS (fake)", ".3f"),
        ("is_real", "IS (real)", ".3f"), ("precision", "precision", ".4f"),
        ("recall", "recall", ".4f"), ("density", "density", ".4f"),
        ("coverage", "coverage", ".4f"), ("class_coverage", "class coverage", ".2f"),
        ("confidence", "confidence", ".4f"), ("class_accuracy", "class accuracy", ".4f"),
        ("class_accuracy_min", "worst class", ".4f"), ("modes", "modes covered", "d"),
        ("high_quality", "high quality", ".4f"), ("reverse_kl", "reverse KL", ".4f"),
        ("mean_dist", "mean distance", ".4f"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minigan.evaluate",
                                description=__doc__.split("\n\n")[0],
                                epilog="metrics: " + "; ".join(f"{k}: {v}" for k, v in
                                                               METRIC_HELP.items()))
    p.add_argument("run", help="a run folder written by python -m minigan.train, or a "
                   f"{EXPORT} file")
    p.add_argument("--metrics", default=None,
                   help=f"comma-separated, from {','.join(METRICS)} (default: fid,kid,is,pr,dc; "
                        "modes,pr for the point datasets ring8 and grid25)")
    p.add_argument("--n", type=int, default=10000, help="generated samples (default 10000)")
    p.add_argument("--features", default="digits", choices=FEATURES,
                   help="feature extractor (default: digits, the shipped classifier)")
    p.add_argument("--inception-weights", default=None,
                   help="--features inception: the InceptionV3 weights file")
    p.add_argument("--real", default=None, choices=DATASETS,
                   help="real dataset (default: the run's own --data)")
    p.add_argument("--data-dir", default=None,
                   help="folder of the real dataset's files (default: the run's --data-dir)")
    p.add_argument("--real-n", type=int, default=None,
                   help="real images used (default: all, or a fixed random subset of "
                        "max(--n, 10000))")
    p.add_argument("--backend", default=None, choices=["numpy", "triton", "cupy"],
                   help="where G and the features run (default: the run's backend)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="seed of the latents and KID subsets")
    p.add_argument("--cache-dir", default=None,
                   help="cache folder (default: $MINIGAN_CACHE or ~/.cache/minigan)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write cached "
                   "real features")
    p.add_argument("--out", default=None, help="where to write the JSON (default: "
                   "eval.json in the run folder)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads (default: the library's own; 1 is often faster for these "
                        "small matrices on a busy machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _step_of(source: Path):
    """The training step of a run's export, if it says (best effort: None otherwise)."""
    path = source if source.is_file() else source / EXPORT
    try:
        return load_generator_export(path)[1].get("step")
    except CheckpointError:
        return None


def format_table(results: dict, header: str) -> str:
    lines = [header, "-" * len(header)]
    for key, label, fmt in ROWS:
        if key in results:
            extra = f" +- {results[key + '_std']:{fmt}}" if key + "_std" in results else ""
            if key == "modes":
                extra = f" of {results['modes_total']}"
            lines.append(f"{label:<16}{results[key]:{fmt}}{extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always", CheckpointWarning)
        warnings.simplefilter("always", EvaluationWarning)
        warnings.showwarning = _one_line_warning
        if args.threads is None:
            return _run(args)
        if args.threads < 1:
            print(f"minigan.evaluate: --threads must be positive, got {args.threads}",
                  file=sys.stderr)
            return 1
        from threadpoolctl import threadpool_limits
        with threadpool_limits(args.threads):
            return _run(args)


def _run(args) -> int:
    source = Path(args.run)
    start = time.perf_counter()
    try:
        metrics = parse_metrics(args.metrics) if args.metrics else None
        if args.n < 2:
            raise MetricError(f"--n must be at least 2, got {args.n}")
        if args.batch_size < 1:
            raise MetricError(f"--batch-size must be positive, got {args.batch_size}")
        if not source.exists():
            raise CheckpointError(f"{source}: no such run folder or file")
        from minigan.sample import load_generator
        G, cfg = load_generator(source, args.backend)
        dataset = args.real or cfg.data
        data_dir = args.data_dir if args.data_dir is not None else (
            cfg.data_dir if dataset == cfg.data else None)
        if metrics is None:
            metrics = ("modes", "pr") if is_points(dataset) else ("fid", "kid", "is", "pr", "dc")
        evaluator = Evaluator(dataset, data_dir, cfg.img_size, args.features, args.n, metrics,
                              cfg.backend, args.batch_size, args.seed,
                              False if args.no_cache else (args.cache_dir or True),
                              args.inception_weights, real_n=args.real_n,
                              progress=not args.no_progress)
        results = evaluator.evaluate(G, cfg.latent_dim, cfg.backend)
        if "is" in metrics:
            from minigan.metrics.scores import inception_score
            results["is_real"], results["is_real_std"] = inception_score(
                evaluator.real.logits, min(10, len(evaluator.real)))
    except BackendUnavailableError as e:
        print(f"minigan.evaluate: {e}\nThe generator loads on any backend: add --backend "
              "numpy.", file=sys.stderr)
        return 2
    except (CheckpointError, DataError, MetricError, FeatureError, ValueError) as e:
        print(f"minigan.evaluate: {e}", file=sys.stderr)
        return 1
    total = time.perf_counter() - start
    run_dir = source.parent if source.is_file() else source
    out = Path(args.out) if args.out else run_dir / "eval.json"
    real = evaluator.real_info
    doc = {
        "format": EVAL_FORMAT, "generator": str(source), "step": _step_of(source),
        "model": cfg.model, "n": args.n, "seed": args.seed, "backend": cfg.backend,
        "features": {"name": evaluator.extractor.name,
                     "weights": evaluator.extractor.fingerprint,
                     "dim": evaluator.extractor.feature_dim},
        "real": {"dataset": real["dataset"], "data_dir": real["data_dir"],
                 "img_size": real["img_size"], "n": real["count"],
                 "cache": real.get("cache"), "cache_hit": real.get("cache_hit")},
        # strict JSON: a non-finite figure (reverse KL without high-quality samples) is null
        "metrics": {k: v if not isinstance(v, float) or math.isfinite(v) else None
                    for k, v in results.items()
                    if k not in ("images_per_s", "metric_seconds", "eval_seconds")},
        "images_per_s": round(results["images_per_s"], 1),
        "seconds": {"real_features": real["seconds"],
                    "samples_and_features": round(results["eval_seconds"]
                                                  - results["metric_seconds"], 3),
                    "metrics": round(results["metric_seconds"], 3), "total": round(total, 3)},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "minigan_version": minigan.__version__,
    }
    try:
        atomic_write(out, lambda f: f.write((json.dumps(doc, indent=2) + "\n").encode()))
    except OSError as e:
        print(f"minigan.evaluate: cannot write {out}: {e.strerror}", file=sys.stderr)
        return 1
    hit = "cached" if real.get("cache_hit") else "computed"
    header = (f"{source}  step {doc['step']}  {args.n} samples vs {real['count']} real "
              f"{real['dataset']} ({hit})  features: {evaluator.extractor.name}")
    print(format_table(results, header))
    print(f"{doc['images_per_s']:.0f} images/s (sampling + features); {total:.1f} s in all; "
          f"wrote {out}")
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, (CheckpointWarning, EvaluationWarning, MetricWarning)):
        print(f"minigan.evaluate: warning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line).rstrip(),
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
