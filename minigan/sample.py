"""Draw samples from a trained run: ``python -m minigan.sample RUN_DIR [--n 64] [--out grid.png]
[--truncation PSI] [--seed S] [--backend NAME]``.

The truncation trick (Brock et al. 2019, BigGAN) redraws every latent coordinate whose
magnitude exceeds ``PSI`` until it falls inside, trading variety for fidelity.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import minigan
from minigan.backends import BackendUnavailableError
from minigan.losses.tricks import truncated_noise
from minigan.training.checkpoint import (
    CheckpointError,
    CheckpointWarning,
    NoReadableCheckpoint,
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
    args = parser.parse_args(argv)
    if args.n <= 0:
        parser.error(f"--n must be positive, got {args.n}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", CheckpointWarning)
            warnings.showwarning = _one_line_warning
            G, cfg = load_generator(args.run_dir, args.backend)
        minigan.manual_seed(args.seed)
        shape = (args.n, cfg.latent_dim, 1, 1)
        z = minigan.randn(*shape, backend=cfg.backend) if args.truncation is None else \
            truncated_noise(*shape, threshold=args.truncation, backend=cfg.backend)
    except BackendUnavailableError as e:  # the message names the backend
        print(f"minigan.sample: {e}\nThe checkpoint loads on any backend: add --backend numpy.",
              file=sys.stderr)
        return 2
    except (CheckpointError, ValueError) as e:
        print(f"minigan.sample: {e}", file=sys.stderr)
        return 1
    images = generate(G, z)
    run = Path(args.run_dir)
    out = args.out or str((run.parent if run.is_file() else run) / "sample.png")
    save_grid(images, out)
    print(f"wrote {args.n} samples to {out}")
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"minigan.sample: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
