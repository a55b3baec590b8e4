"""Draw samples from a trained run: ``python -m minigan.sample RUN_DIR [--n 64] [--out grid.png]
[--truncation PSI] [--seed S] [--backend NAME]``.

The truncation trick (Brock et al. 2019, BigGAN) redraws every latent coordinate whose
magnitude exceeds ``PSI`` until it falls inside, trading variety for fidelity.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import minigan
from minigan.backends import BackendUnavailableError
from minigan.losses.tricks import truncated_noise
from minigan.training.checkpoint import CheckpointError, load_checkpoint
from minigan.training.images import save_grid
from minigan.training.trainer import CHECKPOINT, TrainConfig, generate


def load_generator(run_dir: str | Path, backend: str | None = None):
    """The generator of a run folder, with the weights of its latest checkpoint, on the run's
    backend or on ``backend`` (checkpoints hold host arrays: any backend can load them)."""
    from minigan.train import build_models
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise CheckpointError(f"{run_dir}: not a minigan run folder (no config.json)")
    fields = json.loads(config_path.read_text())
    cfg = TrainConfig(**{k: v for k, v in fields.items() if k in TrainConfig.__dataclass_fields__})
    if backend is not None:
        cfg.backend = backend
    arrays, _ = load_checkpoint(run_dir / CHECKPOINT)
    # the last transposed conv's weight is (in, channels, k, k)
    last = max((k for k in arrays if k.startswith("G.") and k.endswith(".weight")),
               key=lambda k: int(k.split(".")[2]))
    channels = arrays[last].shape[1]
    G, _ = build_models(cfg, channels)
    G.load_state_dict({k[2:]: minigan.tensor(v, backend=cfg.backend)
                       for k, v in arrays.items() if k.startswith("G.")})
    return G, cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minigan.sample", description=__doc__)
    parser.add_argument("run_dir", help="a run folder written by python -m minigan.train")
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
    out = args.out or str(Path(args.run_dir) / "sample.png")
    save_grid(images, out)
    print(f"wrote {args.n} samples to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
