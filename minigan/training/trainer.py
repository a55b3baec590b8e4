"""The GAN training loop and its run folder.

A run folder holds:

- ``config.json``: the flags of the run (rewritten when a resume asks for more steps);
- ``metrics.jsonl``: one line per log interval with the interval's means of d_loss, g_loss,
  D(x) and D(G(z)), both learning rates, seconds per step, images/s, the run's wall time and a
  timestamp. Every step appears once: a resume first drops the lines after its checkpoint;
- ``samples/step_NNNNNN.png`` (the same fixed latents each time) and ``losses.png`` (losses and
  D outputs against the step, rewritten at each checkpoint);
- ``checkpoints/step_NNNNNN.npz``: the last ``keep_checkpoints`` checkpoints (G, D, both
  optimizers, the backend RNG state, the step, the open metrics interval), written atomically
  with a format version and a checksum, and ``generator.safetensors``, G alone for sampling;
- ``tensorboard/`` event files when the ``tensorboard`` package is installed.

Resume semantics: running the same command on a folder with a checkpoint continues from the
newest readable checkpoint (a corrupt one is skipped with a warning and renamed ``*.corrupt``).
Asked for more steps, the run continues; asked for no more than it has, it says so and changes
nothing; asked with other training flags, it refuses and names them. On the numpy backend a
resumed run is bit-identical to an uninterrupted one (weights and metrics lines), because the
batch order is a function of (seed, step) and the RNG state and open metrics interval are in
the checkpoint. SIGINT/SIGTERM finish the step in flight, checkpoint and stop
(:mod:`minigan.training.interrupt`).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minigan
from minigan.data import BatchIterator, Dataset
from minigan.models.base import Batch, GANModel
from minigan.training import tensorboard
from minigan.training.checkpoint import (
    CheckpointError,
    atomic_write,
    checkpoint_path,
    load_checkpoint,
    load_latest,
    prune_checkpoints,
    remove_stale_temporaries,
    save_checkpoint,
    save_generator,
)
from minigan.training.images import plot_curves, save_grid, save_point_samples
from minigan.training.interrupt import InterruptGuard, TrainingInterrupted

CHECKPOINTS = "checkpoints"
EXPORT = "generator.safetensors"
# losses whose objectives take only D's outputs (the others need samples or embeddings)
TRAINER_LOSSES = ("nsgan", "minimax", "lsgan", "wgan", "hinge", "rsgan", "ragan", "rahinge",
                  "f-kl", "f-rkl", "f-pearson", "f-hellinger", "f-js", "f-gan")


class RunFinished(Exception):
    """The run folder already holds at least the steps asked for; nothing was changed."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    model: str = "dcgan"
    backend: str = "numpy"
    tf32: bool = False
    data: str = "digits"
    data_dir: str | None = None
    img_size: int = 32
    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 64
    lr: float = 2e-4
    lr_d: float | None = None
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    loss: str = "nsgan"
    gp: str | None = None
    gp_weight: float = 10.0
    n_critic: int = 1
    seed: int = 0
    out: str = ""
    sample_interval: int = 100
    checkpoint_interval: int = 100
    log_interval: int = 10
    n_samples: int = 64
    keep_checkpoints: int = 3
    tensorboard: bool = True
    # evaluation during training (minigan.metrics): every eval_interval steps (0: never)
    eval_interval: int = 0
    eval_metrics: str | None = None  # None: fid,kid on images, modes on points
    eval_n: int = 2000
    eval_features: str = "digits"
    inception_weights: str | None = None
    options: dict = field(default_factory=dict)  # the model's own flags (GANModel.options)
    minigan_version: str = field(default_factory=lambda: minigan.__version__)
    # what the backend ran on (for numpy: whether the compiled csrc/ kernels were used)
    backend_details: dict = field(default_factory=dict)

    # flags a resumed run must share with its checkpoint: the architecture, and everything
    # that decides the steps (a changed one would silently break "the same run, continued")
    SHAPE_KEYS = ("model", "img_size", "latent_dim", "ngf", "ndf", "data", "loss", "gp",
                  "gp_weight", "n_critic", "batch_size", "seed", "lr", "lr_d", "b1", "b2",
                  "options")


DEFAULT_EPOCHS = 200  # PyTorch-GAN's --n_epochs: 5,600 steps on the digits at batch 64


def total_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    """--steps counts generator updates; --epochs counts passes over the data by D (default
    ``DEFAULT_EPOCHS``: a run is meant to be stopped when its samples are good enough, and
    Ctrl-C checkpoints)."""
    if cfg.steps is not None:
        return cfg.steps
    epochs = cfg.epochs if cfg.epochs is not None else DEFAULT_EPOCHS
    return max(1, epochs * batches_per_epoch // cfg.n_critic)


class StepData:
    """What a model's train_step reads: ``real(k)``, the k-th real batch of this step (a
    ``Batch`` on the model's backend; k < n_critic are distinct batches of the epoch order),
    and ``step``, the index of the step (0-based)."""

    def __init__(self, trainer: Trainer):
        self._trainer = trainer
        self.step = trainer.step

    def real(self, k: int = 0) -> Batch:
        t = self._trainer
        images, labels = t.batches.batch(self.step * t.cfg.n_critic + k)
        return Batch(minigan.tensor(images, backend=t.backend),
                     None if labels is None else minigan.tensor(labels, backend=t.backend))


class Trainer:
    """Runs any registered GAN model (``minigan.models``): its train_step, the run folder,
    checkpoints, resume, sample grids, the generator export and evaluation."""

    def __init__(self, cfg: TrainConfig, model: GANModel, dataset: Dataset):
        self.cfg = cfg
        self.model = model
        self.G = model.nets["G"]
        self.backend = cfg.backend
        cfg.backend_details = minigan.get_backend(cfg.backend).details()
        self.batches = BatchIterator(dataset, cfg.batch_size, seed=cfg.seed)
        self.total = total_steps(cfg, self.batches.batches_per_epoch)
        self.run_dir = Path(cfg.out)
        self.step = 0
        # A fixed latent batch for the sample grids, independent of the training RNG (and
        # for conditional models a fixed label per grid cell: the classes along each row).
        # (Scatter plots of the point datasets take 1,000 points.)
        rng = np.random.default_rng([cfg.seed, 7])
        n_fixed = max(cfg.n_samples, 1000) if model.on_points else cfg.n_samples
        self.fixed_z = minigan.tensor(model.latent_numpy(rng, n_fixed), backend=self.backend)
        self.fixed_labels = None
        if model.conditional:
            self.fixed_labels = minigan.tensor(np.arange(n_fixed) % model.n_classes,
                                               backend=self.backend)
        self.channels = dataset.channels
        self.n_classes = model.n_classes
        # the open metrics interval: sums of the steps read so far, their count and seconds
        self._sums: dict[str, float] = {}
        self._n, self._seconds = 0, 0.0
        self._unread: list[dict] = []  # steps whose values are still on the device
        self._last_values: dict[str, float] = {}
        self._wall_base, self._session_start = 0.0, time.perf_counter()
        self._saved_step = -1
        self._tb = None
        self.last_line: dict = {}
        self.best: dict | None = None  # {"step", metric: value} of the best evaluation
        self.evaluator = None
        if cfg.eval_interval:
            from minigan.metrics import Evaluator
            self.evaluator = Evaluator(
                cfg.data, cfg.data_dir, cfg.img_size, features=cfg.eval_features,
                n=cfg.eval_n, metrics=cfg.eval_metrics, backend=cfg.backend,
                inception_weights=cfg.inception_weights)

    # --- one step ------------------------------------------------------------------------
    def train_step(self) -> dict:
        """The model's step; returns what it logs (0-d tensors, read on the host only when
        fit() logs, samples or checkpoints: on a GPU each read is a device-to-host sync)."""
        return self.model.train_step(StepData(self))

    # --- the run -------------------------------------------------------------------------
    def fit(self, progress: bool = True) -> dict:
        """Train to ``self.total`` steps, resuming from the run folder's newest checkpoint.
        Returns the last metrics line. Raises ``RunFinished`` (nothing to do),
        ``TrainingInterrupted`` (after checkpointing, on SIGINT/SIGTERM), ``CheckpointError``
        and ``NonFiniteLossError``."""
        # Losses are read on the host every step where that is free (kernels that run
        # synchronously on the CPU), else only when a log line, samples or a checkpoint is due.
        backend = minigan.get_backend(self.backend)
        every = 1 if backend.device == "cpu" else self.cfg.log_interval
        delay = float(os.environ.get("MINIGAN_DEBUG_STEP_DELAY", 0) or 0)  # a test hook
        bar = None
        try:
            with InterruptGuard(lambda: self.step) as guard:
                self.open_run()
                bar = tqdm(total=self.total, initial=self.step, disable=not progress,
                           desc=f"{self.cfg.model} [{backend.describe()}]", unit="step",
                           dynamic_ncols=True)
                segment = time.perf_counter()
                while self.step < self.total and guard.signum is None:
                    self._unread.append(self.train_step())
                    self.step += 1
                    bar.update(1)
                    if delay:
                        time.sleep(delay)
                    log = self.step % self.cfg.log_interval == 0 or self.step == self.total
                    sample = self.step % self.cfg.sample_interval == 0 or \
                        self.step == self.total
                    checkpoint = self.step % self.cfg.checkpoint_interval == 0 or \
                        self.step == self.total
                    evaluate = self.evaluator is not None and (
                        self.step % self.cfg.eval_interval == 0 or self.step == self.total)
                    if not (log or sample or checkpoint or evaluate or self.step % every == 0):
                        continue
                    self._read(every)  # waits for the queued steps
                    self._seconds += time.perf_counter() - segment
                    bar.set_postfix({k: f"{v:.3f}" for k, v in
                                     list(self._last_values.items())[:4]} |
                                    {"img/s": f"{self._images_per_s():.0f}"})
                    if log:
                        self.write_metrics_line()
                    if sample:
                        self.save_samples()
                    if evaluate:
                        self.run_evaluation()
                    if checkpoint:
                        self.save()
                    # the next interval times training steps only, not this one's files
                    segment = time.perf_counter()
                if guard.signum is not None:
                    if self._unread:
                        self._read(every)
                        self._seconds += time.perf_counter() - segment
                    if self.step != self._saved_step and self.step > 0:
                        self.save()
                    raise TrainingInterrupted(guard.signum, self.step, saved=True)
        finally:
            if bar is not None:
                bar.close()
            if self._tb is not None:
                self._tb.close()
                self._tb = None
        return self.last_line

    # --- the run folder ----------------------------------------------------------------------
    def open_run(self) -> None:
        """Check the folder against this run's flags, resume from its newest readable
        checkpoint, drop the metrics lines and samples after it, and write config.json."""
        run, ckpts = self.run_dir, self.run_dir / CHECKPOINTS
        for folder in (run, run / "samples", ckpts):
            folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(folder)
        found = load_latest(ckpts, quarantine=True)
        config_path = run / "config.json"
        if found is not None:
            old = found[2].get("config", {})
        else:
            try:
                old = json.loads(config_path.read_text()) if config_path.exists() else {}
            except (OSError, ValueError):
                old = {}  # a run that never checkpointed: nothing in it to protect
        changed = [k for k in TrainConfig.SHAPE_KEYS
                   if k in old and old[k] != getattr(self.cfg, k)]
        if changed and found is not None:
            raise CheckpointError(
                f"{run} holds a run made with "
                + ", ".join(f"--{k.replace('_', '-')}={old[k]!r}" for k in changed)
                + " (this command: "
                + ", ".join(f"--{k.replace('_', '-')}={getattr(self.cfg, k)!r}" for k in changed)
                + "); resume with the same flags, or train into another --out")
        step = 0
        if found is not None:
            path, arrays, meta = found
            step = int(meta["step"])
            if step >= self.total:
                planned = meta.get("total", old.get("steps"))
                state = f"finished at step {step}" if planned == step else \
                    f"at step {step} (of {planned} planned)"
                raise RunFinished(
                    f"{run} is {state}; this command asks for {self.total} steps: nothing to "
                    f"do and nothing changed (ask for more than {step} steps to continue it)")
            try:
                self.load_state(arrays, meta)
            except (KeyError, ValueError, TypeError, RuntimeError) as e:
                raise CheckpointError(f"{path}: does not fit this run's models and optimizers "
                                      f"({e}); train into another --out") from None
            print(f"resuming {run} at step {step} from {path.name}", flush=True)
        elif (run / "metrics.jsonl").exists():
            print(f"{run} has no checkpoint yet: starting it over from step 0", flush=True)
        self._truncate_metrics(step)
        for png in (run / "samples").glob("step_*.png"):
            if png.stem[5:].isdigit() and int(png.stem[5:]) > step:
                png.unlink()
        atomic_write(config_path, lambda f: f.write(
            (json.dumps(asdict(self.cfg), indent=2) + "\n").encode()))
        self._session_start = time.perf_counter()
        if self.cfg.tensorboard and tensorboard.available():
            self._tb = tensorboard.TensorBoardWriter(
                run / "tensorboard", purge_step=step + 1 if step or found else None)

    def _truncate_metrics(self, step: int) -> None:
        """Keep the complete lines up to ``step`` (a kill can leave a half-written last line,
        and lines after the checkpoint describe steps that will run again)."""
        path = self.run_dir / "metrics.jsonl"
        rows = read_metrics(path)
        kept = [r for r in rows if r["step"] <= step]
        self.last_line = kept[-1] if kept else {}
        if path.exists() and (len(kept) != len(rows) or
                              len(path.read_bytes().splitlines()) != len(rows)):
            atomic_write(path, lambda f: f.write(
                "".join(json.dumps(r) + "\n" for r in kept).encode()))

    # --- metrics -----------------------------------------------------------------------------
    def _read(self, every: int) -> None:
        """Fold the steps not yet read into the interval sums (one device-to-host copy for
        all of them) and stop on a non-finite loss."""
        entries = [(i, k, v) for i, values in enumerate(self._unread)
                   for k, v in values.items()]
        tensors = [v for _, _, v in entries if isinstance(v, minigan.Tensor)]
        host = iter(minigan.stack(tensors).numpy().tolist() if tensors else [])
        rows: list[dict] = [{} for _ in self._unread]
        for i, k, v in entries:
            rows[i][k] = next(host) if isinstance(v, minigan.Tensor) else float(v)
        first = self.step - len(rows) + 1
        for i, row in enumerate(rows):
            bad = {k: v for k, v in row.items() if k.endswith("loss") and not math.isfinite(v)}
            if bad:
                where = f"step {first + i}" if every == 1 else \
                    f"step {first + i} (read at step {self.step}; losses are read every " \
                    f"{every} steps on this device)"
                losses = ", ".join(f"{k}={v}" for k, v in row.items() if k.endswith("loss"))
                raise NonFiniteLossError(
                    f"{where}: non-finite loss ({losses}); stopped, the last good checkpoint "
                    f"in {self.run_dir / CHECKPOINTS} is kept")
            for k, v in row.items():
                self._sums[k] = self._sums.get(k, 0.0) + v
        self._n += len(rows)
        if rows:
            self._last_values = rows[-1]
        self._unread = []

    def _images_per_s(self) -> float:
        images = self.cfg.batch_size * self.cfg.n_critic
        return images * self._n / self._seconds if self._seconds > 0 else float("nan")

    def wall_time(self) -> float:
        """Seconds this run has trained, over all its resumes, up to now."""
        return self._wall_base + time.perf_counter() - self._session_start

    def write_metrics_line(self) -> dict:
        """Append the interval's means to metrics.jsonl (and TensorBoard) and start the next."""
        n = max(self._n, 1)
        line = {"step": self.step, **{k: v / n for k, v in self._sums.items()},
                "steps_averaged": self._n,
                **{f"lr_{name.lower()}": opt.param_groups[0]["lr"]
                   for name, opt in self.model.opts.items()},
                "step_time": self._seconds / n, "images_per_s": self._images_per_s(),
                "wall_time": round(self.wall_time(), 3),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        if self._tb is not None:
            self._tb.scalars(self.step, {k: v for k, v in line.items()
                                         if k not in ("step", "steps_averaged", "wall_time",
                                                      "time")})
        self._sums = {}
        self._n, self._seconds = 0, 0.0
        self.last_line = line
        return line

    # --- evaluation --------------------------------------------------------------------------
    BEST_METRIC = "fid"  # lower is better; the best checkpoint is kept by it

    def run_evaluation(self) -> dict:
        """Evaluate G (minigan.metrics.Evaluator: fixed latents, eval mode, no state touched),
        append the figures to metrics.jsonl (and TensorBoard), and keep the state of the best
        evaluation so far as checkpoints/best.npz."""
        result = self.evaluator.evaluate(Sampler(self.model), self.cfg.latent_dim,
                                         self.cfg.backend)
        # strict JSON: a non-finite figure (the reverse KL with no high-quality sample) is null
        line = {"step": self.step, **{k: float(v) if math.isfinite(v) else None
                                      for k, v in result.items()},
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        if self._tb is not None:
            self._tb.scalars(self.step, {f"eval/{k}": v for k, v in result.items()
                                         if not k.endswith("seconds") and k != "images_per_s"
                                         and math.isfinite(v)})
        if "modes" in result:  # point data: most modes, then most high-quality samples
            key, value = "mode_score", -(result["modes"] + result["high_quality"])
        else:
            key = self.BEST_METRIC if self.BEST_METRIC in result else next(iter(result))
            value = float(result[key])
        if self.best is None or value < self.best[key]:
            self.best = {"step": self.step, key: value}
            save_checkpoint(self.run_dir / CHECKPOINTS / "best.npz", self.state_arrays(),
                            self._meta())
        return line

    # --- checkpoints -----------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for prefix, module in self.model.nets.items():
            for k, v in module.state_dict().items():
                arrays[f"{prefix}.{k}"] = v.numpy()
        for name, opt in self.model.opts.items():
            prefix = f"opt_{name.lower()}"
            for idx, state in opt.state_dict()["state"].items():
                for k, v in state.items():
                    arrays[f"{prefix}.state.{idx}.{k}"] = _to_numpy(v)
        return arrays

    def save(self) -> None:
        """Write the step's checkpoint, then G's export, then drop the oldest checkpoints and
        redraw losses.png; each file atomically, so a kill at any point leaves the newest
        complete checkpoint to resume from."""
        arrays = self.state_arrays()
        save_checkpoint(checkpoint_path(self.run_dir / CHECKPOINTS, self.step), arrays,
                        self._meta())
        # G's state_dict unprefixed (what every export held before encoders); the model's other
        # exported networks (e.g. an encoder "E") under "NAME/", a prefix no state_dict key has
        exported = list(getattr(self.model, "exported", ("G",)))
        g_arrays = {k[2:]: v for k, v in arrays.items() if k.startswith("G.")}
        for name in exported:
            if name != "G":
                g_arrays.update({f"{name}/{k[len(name) + 1:]}": v for k, v in arrays.items()
                                 if k.startswith(name + ".")})
        info = {"step": self.step, "channels": self.channels, "n_classes": self.n_classes,
                "config": asdict(self.cfg), "exported": exported}
        try:
            save_generator(self.run_dir / EXPORT, g_arrays, info)
        except ImportError:
            warnings.warn(f"the safetensors package is not installed: no {EXPORT} export "
                          "(pip install safetensors)", stacklevel=2)
        prune_checkpoints(self.run_dir / CHECKPOINTS, self.cfg.keep_checkpoints)
        self.plot_losses()
        if self._tb is not None:
            self._tb.flush()
        self._saved_step = self.step

    def _meta(self) -> dict:
        backend = minigan.get_backend(self.backend)
        return {"step": self.step, "total": self.total, "config": asdict(self.cfg),
                "rng": backend.get_rng_state(),
                **{f"opt_{name.lower()}_groups": opt.state_dict()["param_groups"]
                   for name, opt in self.model.opts.items()},
                "wall_time": self.wall_time(),
                "window": {"n": self._n, "seconds": self._seconds, "sums": self._sums},
                "best": self.best, "model_state": self.model.extra_state()}

    def load(self, path) -> None:
        """Restore the state of the checkpoint at ``path``."""
        self.load_state(*load_checkpoint(path))

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        for prefix, module in self.model.nets.items():
            sd = {k[len(prefix) + 1:]: minigan.tensor(v, backend=self.backend)
                  for k, v in arrays.items() if k.startswith(prefix + ".")}
            module.load_state_dict(sd)
        for name, opt in self.model.opts.items():
            prefix = f"opt_{name.lower()}"
            state: dict = {}
            for k, v in arrays.items():
                if k.startswith(prefix + ".state."):
                    idx, name = k[len(prefix) + 7:].split(".", 1)
                    state.setdefault(int(idx), {})[name] = _from_numpy(v, self.backend)
            opt.load_state_dict({"state": state, "param_groups": meta[f"{prefix}_groups"]})
        minigan.get_backend(self.backend).set_rng_state(meta["rng"])
        self.step = self._saved_step = int(meta["step"])
        self._wall_base = float(meta.get("wall_time", 0.0))
        window = meta.get("window") or {}
        self._n = int(window.get("n", 0))
        self._seconds = float(window.get("seconds", 0.0))
        self._sums = {k: float(v) for k, v in window.get("sums", {}).items()}
        self.best = meta.get("best")
        self.model.load_extra_state(meta.get("model_state") or {})

    # --- outputs ---------------------------------------------------------------------------
    def save_samples(self) -> None:
        images = generate(self.model, self.fixed_z, self.fixed_labels)
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        if self.model.on_points:
            pixels, _ = save_point_samples(images, self.cfg.data, path, f"step {self.step}")
        else:
            nrow = self.model.n_classes if self.model.conditional else 8  # a class per column
            pixels = save_grid(images, path, nrow=nrow)
        if self._tb is not None:
            self._tb.image("samples", self.step, pixels)

    def plot_losses(self) -> None:
        all_rows = read_metrics(self.run_dir / "metrics.jsonl")
        rows = [r for r in all_rows if "steps_averaged" in r]
        if not rows:
            return
        keys = [k for k in rows[-1] if k not in ("step", "steps_averaged", "step_time",
                                                   "images_per_s", "wall_time", "time")
                and not k.startswith("lr_")]
        groups = [[k for k in keys if k.endswith("loss")], [k for k in keys if k.startswith("D(")]]
        groups.append([k for k in keys if k not in groups[0] + groups[1]])
        panels = [(rows, {k: [r.get(k, float("nan")) for r in rows] for k in group})
                  for group in groups if group]
        evals = [r for r in all_rows if "steps_averaged" not in r]
        names = [k for k in evals[0] if k not in ("step", "time") and k != "images_per_s"
                 and not k.endswith("seconds") and not k.endswith("_std")][:1] if evals else []
        names = ["fid"] if evals and "fid" in evals[0] else names
        if names:
            panels.append((evals, {k: [r[k] for r in evals] for k in names}))
        plot_curves([[r["step"] for r in p[0]] for p in panels], [p[1] for p in panels],
                    self.run_dir / "losses.png")


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The complete lines of a metrics.jsonl, in order (a torn last line is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for raw in path.read_bytes().splitlines():
        try:
            row = json.loads(raw)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def generate(model, z, labels=None) -> np.ndarray:
    """Samples from a model's G in eval mode (BatchNorm uses its running statistics); a bare
    generator module works too."""
    G = model.nets["G"] if isinstance(model, GANModel) else model
    was_training = G.training
    G.eval()
    with minigan.no_grad():
        out = model.generate(z, labels) if isinstance(model, GANModel) else G(z)
        images = out.numpy()
    G.train(was_training)
    return images


class Sampler(minigan.nn.Module):
    """A model's generator as one module ``z -> images`` (labels cycling through the classes
    for conditional models), so code that samples "a G" works for every model (the
    evaluator)."""

    def __init__(self, model: GANModel):
        super().__init__()
        self.model = model
        self.G = model.nets["G"]  # registered, so train()/eval() reach it
        self.latent_dim = model.cfg.latent_dim
        # what each sample of a batch is drawn for (the evaluator's accuracy): a class of a
        # conditional model, or InfoGAN's categorical code (cycled by its generate())
        self.label_kind = "class" if model.conditional else \
            "code" if getattr(model, "n_cat", 0) else None
        self._k = model.n_classes if model.conditional else getattr(model, "n_cat", 0)

    def requested_labels(self, n: int):
        """The class (or code) of each of the n samples of a forward call, or None."""
        return np.arange(n) % self._k if self.label_kind else None

    def forward(self, z):
        z = z.reshape(z.shape[0], -1)
        labels = None
        if self.model.conditional:
            labels = minigan.tensor(self.requested_labels(z.shape[0]), backend=z.backend)
        return self.model.generate(z, labels)


def _to_numpy(v) -> np.ndarray:
    return v.numpy() if isinstance(v, minigan.Tensor) else np.asarray(v)


def _from_numpy(v: np.ndarray, backend: str):
    return minigan.tensor(v, backend=backend) if v.ndim or v.dtype.kind == "f" else v.item()
