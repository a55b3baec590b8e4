"""Train a GAN: ``python -m minigan.train dcgan [flags]``; ``--help`` lists models and flags.

The flags follow PyTorch-GAN and the DCGAN paper's defaults (Adam 2e-4, beta1 0.5).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import minigan
from minigan.backends import BackendNotImplementedError, BackendUnavailableError
from minigan.data import DATASETS, DataError
from minigan.data import load as load_dataset
from minigan.models import MODELS
from minigan.models.base import option_flag
from minigan.training.checkpoint import CheckpointError, CheckpointWarning, list_checkpoints
from minigan.training.interrupt import TrainingInterrupted
from minigan.training.trainer import (
    CHECKPOINTS,
    TRAINER_LOSSES,
    NonFiniteLossError,
    RunFinished,
    TrainConfig,
    Trainer,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m minigan.train",
        description="Train a GAN with minigan. Models:\n" + "\n".join(
            f"  {name:<10} {cls.summary} ({cls.paper})" for name, cls in MODELS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name, cls in MODELS.items():
        preset = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in cls.preset.items())
        description = f"{name}: {cls.summary}.\nPaper: {cls.paper}." + (
            f"\nThe preset sets {preset}; any flag overrides it." if preset else "")
        p = sub.add_parser(name, help=f"{cls.summary} ({cls.paper})", description=description,
                           formatter_class=_Formatter)
        _add_flags(p, cls)
    return parser


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _add_flags(p: argparse.ArgumentParser, model_cls) -> None:
    d = TrainConfig(**model_cls.preset)  # the model's preset as the flags' defaults
    p.add_argument("--backend", default="numpy", choices=["numpy", "triton", "cupy"],
                   help="where the kernels run")
    p.add_argument("--tf32", action="store_true",
                   help="--backend triton: float32 matmuls and convolutions with TF32 products "
                        "(faster on the GPU; torch's cuDNN default); otherwise IEEE float32")
    p.add_argument("--data", default=d.data, choices=DATASETS,
                   help="dataset; the default 'digits' is embedded and needs no download")
    p.add_argument("--data-dir", default=None, help="folder holding the dataset's files")
    p.add_argument("--img-size", type=int, default=d.img_size, choices=[32, 64])
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", "--n-epochs", "--n_epochs", dest="epochs", type=int,
                        default=None, help="passes over the data (default 200, PyTorch-GAN's "
                        "--n_epochs: 5,600 steps on the digits at batch 64; Ctrl-C stops a run "
                        "with a checkpoint, and the same command continues it)")
    length.add_argument("--steps", type=int, default=None, help="generator updates")
    p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int,
                   default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (G, and D "
                   "unless --lr-d is given)")
    p.add_argument("--lr-d", type=float, default=d.lr_d, help="D's learning rate (TTUR)")
    p.add_argument("--b1", type=float, default=d.b1, help="Adam beta1")
    p.add_argument("--b2", type=float, default=d.b2, help="Adam beta2")
    p.add_argument("--latent-dim", "--latent_dim", dest="latent_dim", type=int,
                   default=d.latent_dim)
    p.add_argument("--ngf", type=int, default=d.ngf, help="G width")
    p.add_argument("--ndf", type=int, default=d.ndf, help="D width")
    losses = TRAINER_LOSSES + ((d.loss,) if d.loss not in TRAINER_LOSSES else ())
    p.add_argument("--loss", default=d.loss, choices=losses, help="adversarial loss")
    p.add_argument("--gp", default=d.gp, type=lambda v: None if v == "none" else v,
                   choices=[None, "wgan-gp", "wgan-lp", "r1", "r2", "dragan", "wgan-div"],
                   metavar="{none,wgan-gp,wgan-lp,r1,r2,dragan,wgan-div}",
                   help="gradient penalty added to D's loss ('none' turns a preset's off)")
    p.add_argument("--gp-weight", type=float, default=d.gp_weight)
    p.add_argument("--n-critic", "--n_critic", dest="n_critic", type=int, default=d.n_critic,
                   help="D updates per G update")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=None, help="run folder (default runs/<model>-<time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out (also implied when --out has a checkpoint)")
    p.add_argument("--sample-interval", "--sample_interval", dest="sample_interval", type=int,
                   default=d.sample_interval, help="steps between sample grids")
    p.add_argument("--checkpoint-interval", dest="checkpoint_interval", type=int,
                   default=d.checkpoint_interval,
                   help="steps between checkpoints (and G exports and losses.png)")
    p.add_argument("--keep-checkpoints", dest="keep_checkpoints", type=int,
                   default=d.keep_checkpoints, help="how many of the newest checkpoints to keep")
    p.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                   help="no TensorBoard event files (written when the tensorboard package is "
                        "installed)")
    p.add_argument("--log-interval", dest="log_interval", type=int, default=d.log_interval,
                   help="steps between metrics.jsonl lines")
    p.add_argument("--eval-interval", dest="eval_interval", type=int, default=d.eval_interval,
                   help="steps between evaluations of G (minigan.metrics) written to "
                        "metrics.jsonl; the best by FID is kept as checkpoints/best.npz "
                        "(0: never)")
    p.add_argument("--eval-metrics", dest="eval_metrics", default=d.eval_metrics,
                   help="comma-separated: fid,kid,is,pr,dc,classes")
    p.add_argument("--eval-n", dest="eval_n", type=int, default=d.eval_n,
                   help="samples per evaluation")
    p.add_argument("--eval-features", dest="eval_features", default=d.eval_features,
                   choices=["digits", "inception"],
                   help="feature extractor: the shipped digits classifier (1-channel data) "
                        "or InceptionV3 (needs --inception-weights)")
    p.add_argument("--inception-weights", dest="inception_weights", default=None,
                   help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth or its "
                        "safetensors conversion")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    if model_cls.options:
        group = p.add_argument_group(f"{model_cls.name} options")
        for name, (default, kind, help_text) in model_cls.options.items():
            group.add_argument(option_flag(name), dest=f"option_{name}", default=default,
                               type=kind, help=help_text)


def _check(args, parser) -> None:
    for name in ("batch_size", "latent_dim", "ngf", "ndf", "n_critic", "sample_interval",
                 "checkpoint_interval", "log_interval", "keep_checkpoints"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got "
                         f"{getattr(args, name)}")
    if args.eval_interval < 0 or args.eval_n < 2:
        parser.error("--eval-interval must be >= 0 and --eval-n >= 2")
    for name in ("epochs", "steps"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive, got {getattr(args, name)}")
    if args.lr <= 0 or (args.lr_d is not None and args.lr_d <= 0):
        parser.error("learning rates must be positive")
    if args.tf32 and args.backend != "triton":
        parser.error(f"--tf32 applies to --backend triton, not --backend {args.backend}")
    if args.resume and args.out is None:
        parser.error("--resume needs --out RUN_DIR (the run to continue)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    try:
        backend = minigan.get_backend(args.backend)
    except BackendUnavailableError as e:
        where = ("" if isinstance(e, BackendNotImplementedError)
                 else f", or run --backend {args.backend} on a machine with a CUDA GPU")
        print(f"minigan.train: --backend {args.backend} cannot run here: {e}\n"
              f"Use --backend numpy (runs anywhere){where}.", file=sys.stderr)
        return 2
    if args.backend == "triton":
        backend.set_tf32(args.tf32)
    out = args.out or f"runs/{args.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.resume and not list_checkpoints(f"{out}/{CHECKPOINTS}"):
        print(f"minigan.train: --resume: {out} holds no checkpoint to resume (without "
              "--resume the same command starts it)", file=sys.stderr)
        return 1
    fields = {k: v for k, v in vars(args).items() if k not in ("resume", "no_progress")
              and not k.startswith("option_")}
    options = {k[len("option_"):]: v for k, v in vars(args).items() if k.startswith("option_")}
    cfg = TrainConfig(**{**fields, "out": out, "options": options})
    try:
        dataset = load_dataset(cfg.data, cfg.data_dir, cfg.img_size)
        minigan.manual_seed(cfg.seed)
        try:
            model = build_model(cfg, dataset.channels, dataset.num_classes)
        except ValueError as e:  # the model refuses the data or a setting, naming them
            print(f"minigan.train: {e}", file=sys.stderr)
            return 1
        trainer = Trainer(cfg, model, dataset)
        with warnings.catch_warnings():
            warnings.simplefilter("always", CheckpointWarning)
            warnings.showwarning = _one_line_warning
            last = trainer.fit(progress=not args.no_progress)
    except (DataError, CheckpointError, NonFiniteLossError) as e:
        print(f"minigan.train: {e}", file=sys.stderr)
        return 1
    except RunFinished as e:
        print(f"minigan.train: {e}")
        return 0
    except TrainingInterrupted as e:
        if e.saved:
            print(f"interrupted at step {e.step}; the same command resumes", file=sys.stderr)
        else:
            print(f"interrupted again at step {e.step}: exited at once without a checkpoint; "
                  "the same command resumes from the last one", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted before training started; the same command starts it",
              file=sys.stderr)
        return 130
    except Exception as e:  # an evaluation setup error (metrics, features, weights file)
        from minigan.metrics import FeatureError, MetricError
        from minigan.metrics.inception import InceptionWeightsError
        if not isinstance(e, (FeatureError, MetricError, InceptionWeightsError)):
            raise
        print(f"minigan.train: --eval-*: {e}", file=sys.stderr)
        return 1
    losses = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k.endswith("loss"))
    print(f"done: {trainer.step} steps, run folder {out}" + (f", {losses}" if losses else ""))
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"minigan.train: warning: {message}", file=sys.stderr)


def build_model(cfg: TrainConfig, channels: int, n_classes: int = 0):
    """The registered model ``cfg.model`` with its networks on ``cfg.backend``."""
    if cfg.model not in MODELS:
        raise CheckpointError(f"unknown model {cfg.model!r}; this minigan has "
                              f"{', '.join(MODELS)}")
    return MODELS[cfg.model](cfg, channels, n_classes)


if __name__ == "__main__":
    sys.exit(main())
