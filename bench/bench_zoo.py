"""Quality figures of the model zoo: each model trained from the CLI with its defaults, then
scored by ``minigan.evaluate``; one JSON line per model in ``bench/results/`` and its last
samples as a PNG beside it.

    python -m bench.bench_zoo digits [--models all|NAME,...] [--seconds 240] [--jobs 2]
                                     [--flags "..."] [--save bench/results/zoo-digits.jsonl]
    python -m bench.bench_zoo points [--data ring8,grid25] [--models all|...] [--steps 3000]
                                     [--flags "--batch-size 256"] [--save ...]
    python -m bench.bench_zoo table    # the README's tables from the results

``digits``: a time budget per model (the run is stopped with SIGINT, which checkpoints and
exits; ``--steps`` instead gives a fixed length), then FID and KID on the digits classifier's
features, class coverage and confidence, and for the class-conditional models and InfoGAN the
classifier's accuracy on each requested class (code), 2,000 samples, one BLAS thread.
``points``: every model with an MLP version (``GANModel.points``) on the 2-D mixtures for a
fixed number of steps, scored by the mode measure (modes covered, share of high-quality
samples; :func:`minigan.metrics.mixture_quality`).

Each run is a subprocess with one BLAS thread; ``--jobs 2`` runs two at once on a 2-core
machine. The rows record the machine's load average, so a figure of a busy machine can be
told from one of an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.harness import commit, device_name

RESULTS = Path(__file__).resolve().parent / "results"
LABELLED = {"cgan", "acgan", "infogan"}  # the accuracy metric applies


def _env() -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("TRITON_INTERPRET", None)
    return env


def train(model: str, out: Path, flags: list[str], seconds: float | None,
          steps: int | None) -> dict:
    """Train ``model`` into ``out``: for ``steps`` steps, or until ``seconds`` have passed
    (then SIGINT: the trainer checkpoints the step it finished and exits 130)."""
    cmd = [sys.executable, "-m", "minigan.train", model, "--out", str(out), "--no-progress",
           "--no-tensorboard", "--steps", str(steps or 1_000_000), *flags]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        output, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate()
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 130):
        raise RuntimeError(f"{model}: training failed ({proc.returncode}):\n{output[-3000:]}")
    metrics = out / "metrics.jsonl"
    lines = [json.loads(x) for x in metrics.read_text().splitlines() if x] \
        if metrics.exists() else []
    lines = [x for x in lines if "steps_averaged" in x]
    shown = [("RUN" if a == str(out) else a) for a in cmd[3:]]
    row = {"command": "python -m minigan.train " + shlex.join(shown),
           "seconds": round(elapsed, 1)}
    if lines:
        last = lines[-1]
        row.update(steps=last["step"], step_time=round(last["step_time"], 4), last_losses={
            k: round(v, 4) for k, v in last.items() if k.endswith("loss")})
    else:  # fewer steps than one log interval: the interrupt's checkpoint says how many
        steps = [int(p.stem.split("_")[1]) for p in (out / "checkpoints").glob("step_*.npz")]
        row.update(steps=max(steps, default=0))
    return row


def evaluate(out: Path, metrics: str, n: int) -> dict:
    cmd = [sys.executable, "-m", "minigan.evaluate", str(out), "--metrics", metrics, "--n",
           str(n), "--no-progress", "--threads", "1"]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"evaluate {out}: {done.stderr.strip()}")
    doc = json.loads((out / "eval.json").read_text())
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in doc["metrics"].items()}


def one(model: str, kind: str, data: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"zoo-{model}-") as tmp:
        out = Path(tmp) / "run"
        flags = ["--data", data, *shlex.split(args.flags)]
        load = os.getloadavg()[0]
        row = {"model": model, "data": data, **train(model, out, flags, args.seconds,
                                                      args.steps)}
        if kind == "digits":
            metrics = "fid,kid,classes" + (",accuracy" if model in LABELLED else "")
        else:
            metrics = "modes,pr"
        row.update(evaluate(out, metrics, args.n))
        row["eval"] = f"python -m minigan.evaluate RUN --metrics {metrics} --n {args.n} " \
                      "--threads 1"
        samples = sorted((out / "samples").glob("*.png"))
        if samples:
            png = RESULTS / "zoo" / f"{model}-{data}.png"
            png.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(samples[-1], png)
            row["samples_png"] = str(png.relative_to(RESULTS.parent.parent))
        row.update({"load_average_at_start": round(load, 2),
                    "load_average_at_end": round(os.getloadavg()[0], 2),
                    "jobs": args.jobs, "device": device_name(), "commit": commit(),
                    "date": time.strftime("%Y-%m-%d %H:%M:%S")})
        return row


def _latest(path: Path) -> dict:
    """The last row per (model, data, flags) of a results file, in file order."""
    rows: dict = {}
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if "error" not in r:
                rows[(r["model"], r["data"], r["command"].split(" --data ")[-1])] = r
    return rows


def table() -> str:
    """The README's zoo tables (markdown) from zoo-digits.jsonl and zoo-points.jsonl."""
    from minigan.models import MODELS
    out = ["| model | paper | preset (flags override); own options | digits, 1 core: steps in "
           "time, FID, class coverage, confidence (class accuracy) |", "|---|---|---|---|"]
    digits = _latest(RESULTS / "zoo-digits.jsonl")
    for name, cls in MODELS.items():
        preset = ", ".join(f"{k}={v}" for k, v in cls.preset.items())
        opts = ", ".join(f"--{k.replace('_', '-')} {v[0]}" for k, v in cls.options.items())
        figures = []
        for (model, _, flags), r in digits.items():
            if model != name:
                continue
            extra = flags.removeprefix("digits").strip()
            fig = (f"{r['steps']} steps in {r['seconds']:.0f} s"
                   + (f" ({extra})" if extra else "")
                   + f": FID {r['fid']:.3g}, coverage {r['class_coverage']:.1f}, confidence "
                     f"{r['confidence']:.2f}")
            if "class_accuracy" in r:
                fig += f", class accuracy {100 * r['class_accuracy']:.1f}%"
            figures.append(fig)
        authors = re.match(r"(.*?\d{4})", cls.paper)
        authors = authors.group(1) if authors else cls.paper
        out.append(f"| `{name}` | {authors} | {preset}{'; ' + opts if opts else ''} | "
                   f"{'; '.join(figures) or 'not measured'} |")
    points = _latest(RESULTS / "zoo-points.jsonl")
    out += ["", "| model | ring8: modes, high quality, reverse KL | grid25: the same | seconds |",
            "|---|---|---|---|"]
    by: dict = {}
    for (model, data, _), r in points.items():
        by.setdefault(model, {})[data] = r

    def cell(r):
        kl = r["reverse_kl"]  # inf (null in newer rows): no high-quality sample
        kl = "inf" if kl is None or kl == float("inf") else f"{kl:.2f}"
        return f"{r['modes']}/{r['modes_total']}, {100 * r['high_quality']:.1f}%, {kl}"
    for model, d in by.items():
        if "ring8" in d and "grid25" in d:
            out.append(f"| `{model}` | {cell(d['ring8'])} | {cell(d['grid25'])} | "
                       f"{d['ring8']['seconds']:.0f} / {d['grid25']['seconds']:.0f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(RESULTS.parent.parent))
    from minigan.models import MODELS
    p = argparse.ArgumentParser(prog="python -m bench.bench_zoo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["digits", "points", "table"])
    p.add_argument("--models", default="all")
    p.add_argument("--data", default=None, help="points: ring8,grid25 (default both)")
    p.add_argument("--seconds", type=float, default=None, help="training time per model")
    p.add_argument("--steps", type=int, default=None, help="training steps per model")
    p.add_argument("--flags", default="", help="extra minigan.train flags for every model")
    p.add_argument("--n", type=int, default=2000, help="samples scored")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--save", default=None)
    args = p.parse_args(argv)
    if args.kind == "table":
        print(table())
        return 0
    if args.kind == "digits" and args.seconds is None and args.steps is None:
        args.seconds = 240.0
    if args.kind == "points" and args.steps is None and args.seconds is None:
        args.steps = 3000
    names = [m for m in MODELS if args.kind == "digits" or MODELS[m].points] \
        if args.models == "all" else args.models.split(",")
    datasets = (args.data or "ring8,grid25").split(",") if args.kind == "points" else ["digits"]
    save = Path(args.save or RESULTS / f"zoo-{args.kind}.jsonl")
    jobs = [(m, d) for d in datasets for m in names]

    def run(job):
        model, data = job
        try:
            row = one(model, args.kind, data, args)
        except Exception as e:  # noqa: BLE001 - one model's failure is a row, not the end
            row = {"model": model, "data": data, "error": str(e)[-2000:]}
        print(json.dumps(row), flush=True)
        with open(save, "a") as f:
            f.write(json.dumps(row) + "\n")
        return row

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run, jobs))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
