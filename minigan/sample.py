"""Draw samples from a trained run: ``python -m minigan.sample RUN_DIR [--n 64] [--out grid.png]
[--truncation PSI] [--seed S] [--backend NAME] [--label K | --labels 0,1,2] [--interpolate]
[--save-array FILE.npz]``; RUN_DIR may also be a run's ``generator.safetensors`` alone.

``--reconstruct [--data NAME --data-dir DIR]`` (models with an encoder: bigan, aae, vaegan)
encodes and decodes --n real images instead: rows alternate real / reconstruction, and the mean
squared reconstruction error is printed.

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
from minigan.data import DATASETS
from minigan.data import load as load_dataset
from minigan.losses.tricks import truncated_noise
from minigan.models import MODELS, GANModel
from minigan.training.checkpoint import (
    CheckpointError,
    CheckpointWarning,
    NoReadableCheckpoint,
    atomic_write,
    load_generator_export,
    load_latest,
)
from minigan.training.images import save_grid, save_point_samples
from minigan.training.trainer import CHECKPOINTS, EXPORT, Sampler, TrainConfig, generate


def load_generator(source: str | Path, backend: str | None = None):
    """``(G, cfg)``: the generator (a module ``z -> images``; class-conditional models cycle
    through the classes) of a run folder (its ``generator.safetensors``, or when that
    is missing or broken, with a warning, its newest readable checkpoint) or of a
    ``generator.safetensors`` file on its own, on the run's backend or on ``backend`` (the
    files hold host arrays: any backend loads them). The model's other exported networks (an
    encoder) are loaded too; ``G.loaded`` names the networks whose weights were found."""
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
            # the checkpoint's "NAME." keys in the export's layout (G unprefixed, others "NAME/")
            arrays = {(k[2:] if k.startswith("G.") else k.replace(".", "/", 1)): v
                      for k, v in ckpt.items() if "." in k and not k.startswith("opt_")}
            info = {"config": meta.get("config") or json.loads(
                (source / "config.json").read_text()), "step": meta.get("step")}
    fields = info.get("config") or {}
    cfg = TrainConfig(**{k: v for k, v in fields.items() if k in TrainConfig.__dataclass_fields__})
    if backend is not None:
        cfg.backend = backend
    nets = split_export(arrays)
    model = _build_fitting(cfg, info.get("channels"), int(info.get("n_classes") or 0), nets)
    # an export made before exported networks were recorded holds G alone
    loaded = [name for name in model.exported if name in nets]
    try:
        for name in loaded:
            model.nets[name].load_state_dict({k: minigan.tensor(v, backend=cfg.backend)
                                              for k, v in nets[name].items()})
    except (KeyError, ValueError, RuntimeError) as e:
        what = "generator" if name == "G" else f"network {name!r}"
        raise CheckpointError(f"{source}: the weights do not fit the run's {what} ({e})") \
            from None
    sampler = Sampler(model)
    sampler.loaded = tuple(loaded)  # the networks with trained weights (G, and E if exported)
    return sampler, cfg


def _build_fitting(cfg, channels, n_classes: int, nets: dict):
    """The run's model for ``channels`` image channels; when the files do not say (exports of
    minigan 0.1, checkpoints), the first of the guesses whose networks have the shapes of the
    stored weights: the last weight's second dimension (a DCGAN G's last transposed
    convolution is (in, channels, k, k)), 1, 3."""
    from minigan.train import build_model
    if channels is not None:
        return build_model(cfg, channels, n_classes)
    guesses = [1, 3]
    weights = [k for k in nets["G"] if k.endswith(".weight") and k.split(".")[1].isdigit()]
    if weights:
        last = nets["G"][max(weights, key=lambda k: int(k.split(".")[1]))]
        if last.ndim > 1:
            guesses.insert(0, int(last.shape[1]))
    first, error = None, None
    for c in dict.fromkeys(guesses):
        try:
            model = build_model(cfg, c, n_classes)
        except ValueError as e:
            error = error or e
            continue
        first = first or model
        if all(name not in nets or {k: tuple(v.shape) for k, v in nets[name].items()} ==
               {k: tuple(v.shape) for k, v in model.nets[name].state_dict().items()}
               for name in model.exported):
            return model
    if first is None:
        raise error
    return first  # loading its weights names the mismatch


def split_export(arrays: dict) -> dict[str, dict]:
    """The arrays of a generator export by network: G's keys are unprefixed, every other
    exported network's are "NAME/key" (minigan.training.trainer.Trainer.save)."""
    nets: dict[str, dict] = {"G": {}}
    for k, v in arrays.items():
        name, sep, rest = k.partition("/")
        if sep:
            nets.setdefault(name, {})[rest] = v
        else:
            nets["G"][k] = v
    return nets


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
                             "this .npz (--reconstruct: the reconstructions as images, the real "
                             "images as originals)")
    parser.add_argument("--reconstruct", action="store_true",
                        help="models with an encoder (bigan, aae, vaegan): --n real images (a "
                             "seeded choice) and G(E(x)), in rows alternating real / "
                             "reconstruction (default RUN_DIR/reconstruction.png); prints the "
                             "mean squared reconstruction error")
    parser.add_argument("--data", default=None, choices=DATASETS,
                        help="--reconstruct: the dataset of the real images (default: the "
                             "run's)")
    parser.add_argument("--data-dir", dest="data_dir", default=None,
                        help="--reconstruct: the folder holding --data's files (default: the "
                             "run's, when --data is not given)")
    args = parser.parse_args(argv)
    if args.n <= 0:
        parser.error(f"--n must be positive, got {args.n}")
    if args.reconstruct:
        clash = [flag for flag, on in (("--label", args.label is not None),
                                       ("--labels", args.labels is not None),
                                       ("--code", args.code is not None),
                                       ("--interpolate", args.interpolate),
                                       ("--truncation", args.truncation is not None)) if on]
        if clash:
            parser.error(f"--reconstruct draws no latents: it does not combine with "
                         f"{', '.join(clash)}")
    elif args.data is not None or args.data_dir is not None:
        parser.error("--data and --data-dir choose the real images of --reconstruct")
    if args.reconstruct:
        return _reconstruct(args)
    try:
        sampler, cfg = _load_with_one_line_warnings(args)
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
    measure = ""
    if model.on_points:  # a scatter plot over the mixture's modes, the measure in its title
        _, q = save_point_samples(images, cfg.data, out)
        measure = f" (modes {q['modes']}/{q['modes_total']}, high quality " \
                  f"{100 * q['high_quality']:.1f}%)"
    else:
        save_grid(images, out, nrow=nrow)
    if args.save_array:
        key = "points" if model.on_points else "images"
        arrays = {key: images.astype(np.float32)}
        if labels is not None:
            arrays["labels"] = np.asarray(labels, dtype=np.int64)
        atomic_write(args.save_array, lambda f: np.savez(f, **arrays))
    print(f"wrote {n} samples to {out}"
          + (f" and {args.save_array}" if args.save_array else "") + measure)
    return 0


def _reconstruct(args) -> int:
    """``--reconstruct``: --n real images (a seeded choice of the run's dataset or --data) and
    G(E(x)), both in eval mode; a grid whose rows alternate real / reconstruction, the mean
    squared error printed, and with --save-array the arrays."""
    try:
        sampler, cfg = _load_with_one_line_warnings(args)
        model = sampler.model
        if type(model).encode is GANModel.encode:
            having = [name for name, cls in MODELS.items() if cls.encode is not GANModel.encode]
            have = ", ".join(having[:-1]) + " and " + having[-1] if len(having) > 1 else \
                "".join(having)
            raise ValueError(f"--reconstruct: model {model.name!r} has no encoder ({have} have)")
        missing = [name for name in model.exported if name not in sampler.loaded]
        if missing:
            raise ValueError(f"--reconstruct: {args.run_dir} holds no weights of "
                             f"{', '.join(missing)} (an export of the generator alone)")
        name = args.data or cfg.data
        data_dir = args.data_dir if args.data is not None else args.data_dir or cfg.data_dir
        dataset = load_dataset(name, data_dir, cfg.img_size)
        if dataset.channels != model.channels:
            raise ValueError(f"--reconstruct: --data {name} has {dataset.channels} channel(s); "
                             f"the model was trained on {model.channels}")
    except BackendUnavailableError as e:
        print(f"minigan.sample: {e}\nThe checkpoint loads on any backend: add --backend numpy.",
              file=sys.stderr)
        return 2
    except (CheckpointError, ValueError) as e:  # DataError is a ValueError
        print(f"minigan.sample: {e}", file=sys.stderr)
        return 1
    n = min(args.n, len(dataset))
    pick = np.sort(np.random.default_rng(args.seed).choice(len(dataset), n, replace=False))
    originals = dataset.images[pick]
    nets = [model.nets[k] for k in model.exported]
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    recons = []
    with minigan.no_grad():
        for i in range(0, n, 256):
            x = minigan.tensor(originals[i:i + 256], backend=cfg.backend)
            recons.append(model.generate(model.encode(x)).numpy())
    for net, mode in zip(nets, modes):
        net.train(mode)
    images = np.concatenate(recons).astype(np.float32)
    mse = float(np.mean((images.astype(np.float64) - originals) ** 2))
    nrow = min(8, n)
    rows = []
    for i in range(0, n, nrow):  # a row of real images, then their reconstructions
        for block in (originals[i:i + nrow], images[i:i + nrow]):
            pad = np.full((nrow - len(block),) + block.shape[1:], -1.0, np.float32)
            rows.append(np.concatenate([block, pad]))
    run = Path(args.run_dir)
    out = args.out or str((run.parent if run.is_file() else run) / "reconstruction.png")
    save_grid(np.concatenate(rows), out, nrow=nrow)
    if args.save_array:
        arrays = {"images": images, "originals": originals.astype(np.float32)}
        if dataset.labels is not None:
            arrays["labels"] = np.asarray(dataset.labels[pick], dtype=np.int64)
        atomic_write(args.save_array, lambda f: np.savez(f, **arrays))
    print(f"wrote {n} {name} images and their reconstructions to {out}"
          + (f" and {args.save_array}" if args.save_array else "")
          + f"; reconstruction MSE {mse:.5f} (pixels in [-1, 1])")
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


def _load_with_one_line_warnings(args):
    """``load_generator`` of the run, a broken-export fallback warned in one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", CheckpointWarning)
        warnings.showwarning = _one_line_warning
        return load_generator(args.run_dir, args.backend)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"minigan.sample: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
