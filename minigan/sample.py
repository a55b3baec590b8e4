"""Draw samples from a trained run: ``python -m minigan.sample RUN_DIR [--n 64] [--out grid.png]
[--truncation PSI] [--seed S] [--backend NAME] [--label K | --labels 0,1,2] [--interpolate]
[--save-array FILE.npz]``; RUN_DIR may also be a run's ``generator.safetensors`` alone.

The truncation trick (Brock et al. 2019, BigGAN) redraws every latent coordinate whose
magnitude exceeds ``PSI`` until it falls inside, trading variety for fidelity.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

import minigan
from minigan import functional as F
from minigan.backends import BackendUnavailableError
from minigan.losses.tricks import truncated_noise
from minigan.training.checkpoint import (
    CheckpointError,
    CheckpointWarning,
    NoReadableCheckpoint,
    atomic_write,
    load_generator_export,
    load_latest,
)
from minigan.training.images import save_grid
from minigan.training.trainer import CHECKPOINTS, EXPORT, Sampler, TrainConfig, generate


def load_generator(source: str | Path, backend: str | None = None):
    """``(G, cfg)``: the generator (a module ``z -> images``; class-conditional models cycle
    through the classes) of a run folder (its ``generator.safetensors``, or when that
    is missing or broken, with a warning, its newest readable checkpoint) or of a
    ``generator.safetensors`` file on its own, on the run's backend or on ``backend`` (the
    files hold host arrays: any backend loads them)."""
    from minigan.train import build_model
    source = Path(source)
    if source.is_file():
        arrays, info = load_generator_export(source)
    elif not (source / "config.json").exists() and not (source / EXPORT).exists():
        raise CheckpointError(f"{source}: not a minigan run folder (no config.json) nor a "
                              f"{EXPORT} file")
    else:
        try:
            arrays, info = load_generator_export(source / EXPORT)
        except CheckpointError as e:
            try:
                found = load_latest(source / CHECKPOINTS)
            except NoReadableCheckpoint as none:
                raise CheckpointError(f"{e}; and no readable checkpoint in {none.folder} ("
                                      + "; ".join(none.problems) + "): nothing to sample") \
                    from None
            if found is None:
                raise CheckpointError(f"{e}, and {source / CHECKPOINTS} holds no checkpoint: "
                                      "nothing to sample (train the run first)") from None
            path, ckpt, meta = found
            if (source / EXPORT).exists():
                warnings.warn(f"{e}; using {path} instead", CheckpointWarning, stacklevel=2)
            arrays = {k[2:]: v for k, v in ckpt.items() if k.startswith("G.")}
            info = {"config": meta.get("config") or json.loads(
                (source / "config.json").read_text()), "step": meta.get("step")}
    fields = info.get("config") or {}
    cfg = TrainConfig(**{k: v for k, v in fields.items() if k in TrainConfig.__dataclass_fields__})
    if backend is not None:
        cfg.backend = backend
    channels = info.get("channels")
    if channels is None:  # the last transposed conv's weight is (in, channels, k, k)
        last = max((k for k in arrays if k.endswith(".weight")),
                   key=lambda k: int(k.split(".")[1]))
        channels = arrays[last].shape[1]
    model = build_model(cfg, channels, int(info.get("n_classes") or 0))
    try:
        model.nets["G"].load_state_dict({k: minigan.tensor(v, backend=cfg.backend)
                                         for k, v in arrays.items()})
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{source}: the weights do not fit the run's generator ({e})") \
            from None
    return Sampler(model), cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minigan.sample", description=__doc__)
    parser.add_argument("run_dir", help="a run folder written by python -m minigan.train, or "
                        "its generator.safetensors")
    parser.add_argument("--n", type=int, default=64, help="number of samples")
    parser.add_argument("--out", default=None, help="PNG path (default RUN_DIR/sample.png)")
    parser.add_argument("--truncation", type=float, default=None, help="truncation psi")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default=None, choices=["numpy", "triton", "cupy"],
                        help="where G runs (default: the run's backend; another backend loads "
                             "the same weights but draws other latents for a seed)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--label", type=int, default=None,
                       help="class-conditional models: every sample of this class")
    which.add_argument("--labels", default=None,
                       help="class-conditional models: comma-separated classes, one grid row "
                            "each (--n samples in all)")
    parser.add_argument("--code", default=None,
                        help="InfoGAN: 'cat' (a column per categorical code, a row per noise "
                             "draw) or the index K of a continuous code (varied from -2 to 2 "
                             "along each row, a row per categorical code)")
    parser.add_argument("--interpolate", action="store_true",
                        help="latent walks: each row goes linearly from one latent to another "
                             "in 8 steps")
    parser.add_argument("--save-array", dest="save_array", default=None,
                        help="also write images (N, C, H, W float32 in [-1, 1]) and labels to "
                             "this .npz")
    args = parser.parse_args(argv)
    if args.n <= 0:
        parser.error(f"--n must be positive, got {args.n}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", CheckpointWarning)
            warnings.showwarning = _one_line_warning
            sampler, cfg = load_generator(args.run_dir, args.backend)
        model = sampler.model
        minigan.manual_seed(args.seed)
        labels, nrow = _labels(model, args)
        n = args.n if labels is None else len(labels)
        codes = None
        if args.code is not None:
            z, labels, codes, nrow = _code_grid(model, args.code)
            n = z.shape[0]
        elif args.interpolate:
            steps = 8
            rows = max(1, n // steps)
            t = minigan.tensor(np.tile(np.linspace(0, 1, steps, dtype=np.float32), rows)
                               .reshape(-1, 1), backend=cfg.backend)
            ends = [model.latent(rows) for _ in range(2)]
            pick = minigan.tensor(np.repeat(np.arange(rows), steps), backend=cfg.backend)
            z0, z1 = (F.index_select(e, 0, pick) for e in ends)
            z = z0 + (z1 - z0) * t
            if labels is not None:
                labels = np.repeat(labels[::max(1, len(labels) // rows)][:rows], steps)
            nrow, n = steps, rows * steps
        elif args.truncation is not None:
            z = truncated_noise(n, cfg.latent_dim, threshold=args.truncation,
                                backend=cfg.backend)
        else:
            z = model.latent(n)
    except BackendUnavailableError as e:  # the message names the backend
        print(f"minigan.sample: {e}\nThe checkpoint loads on any backend: add --backend numpy.",
              file=sys.stderr)
        return 2
    except (CheckpointError, ValueError) as e:
        print(f"minigan.sample: {e}", file=sys.stderr)
        return 1
    label_tensor = None if labels is None else minigan.tensor(labels, backend=cfg.backend)
    if codes is not None:
        G = model.nets["G"]
        G.eval()
        with minigan.no_grad():
            images = model.generate(z, label_tensor, codes).numpy()
    else:
        images = generate(model, z, label_tensor)
    run = Path(args.run_dir)
    out = args.out or str((run.parent if run.is_file() else run) / "sample.png")
    save_grid(images, out, nrow=nrow)
    if args.save_array:
        arrays = {"images": images.astype(np.float32)}
        if labels is not None:
            arrays["labels"] = np.asarray(labels, dtype=np.int64)
        atomic_write(args.save_array, lambda f: np.savez(f, **arrays))
    print(f"wrote {n} samples to {out}"
          + (f" and {args.save_array}" if args.save_array else ""))
    return 0


def _code_grid(model, which: str):
    """InfoGAN's latent-code grids: the noise is fixed along each row (and, for a continuous
    code, across rows too), one code varies."""
    if not hasattr(model, "full_latent") or not hasattr(model, "n_cont"):
        raise ValueError(f"--code: model {model.name!r} has no latent codes (infogan has)")
    n_cat, n_cont = model.n_cat, model.n_cont
    if which == "cat":
        rows = 8
        noise = np.repeat(np.random.default_rng(0).standard_normal(
            (rows, model.cfg.latent_dim)), n_cat, axis=0).astype(np.float32)
        labels = np.tile(np.arange(n_cat), rows)
        codes = np.zeros((rows * n_cat, n_cont), np.float32)
        return minigan.tensor(noise, backend=model.backend), labels, codes, n_cat
    if not which.isdigit() or not 0 <= int(which) < n_cont:
        raise ValueError(f"--code: expected 'cat' or a continuous code index in 0..{n_cont - 1},"
                         f" got {which!r}")
    steps = 10
    noise = np.repeat(np.random.default_rng(0).standard_normal((1, model.cfg.latent_dim)),
                      n_cat * steps, axis=0).astype(np.float32)
    labels = np.repeat(np.arange(n_cat), steps)
    codes = np.zeros((n_cat * steps, n_cont), np.float32)
    codes[:, int(which)] = np.tile(np.linspace(-2, 2, steps), n_cat)
    return minigan.tensor(noise, backend=model.backend), labels, codes, steps


def _labels(model, args):
    """The class of each sample and the grid's row length, for conditional models."""
    if args.label is None and args.labels is None:
        if not model.conditional:
            return None, None
        k = model.n_classes  # every class along each row
        return np.arange(args.n) % k, k
    if not model.conditional:
        raise ValueError(f"--label/--labels: model {model.name!r} is not class-conditional")
    try:
        classes = [args.label] if args.label is not None else \
            [int(c) for c in args.labels.split(",") if c.strip()]
    except ValueError:
        raise ValueError(f"--labels: expected comma-separated integers, got "
                         f"{args.labels!r}") from None
    bad = [c for c in classes if not 0 <= c < model.n_classes]
    if bad or not classes:
        raise ValueError(f"--label/--labels: classes must be in 0..{model.n_classes - 1}, got "
                         f"{bad or classes}")
    if args.label is not None:
        return np.full(args.n, args.label), None
    per = max(1, args.n // len(classes))
    return np.repeat(classes, per), per


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"minigan.sample: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
