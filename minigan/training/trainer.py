"""The GAN training loop and its run folder.

A run folder holds ``config.json``, ``metrics.jsonl``, ``samples/step_NNNNNN.png``,
``checkpoints/latest.npz`` (G, D, both optimizers, RNG state, step; written atomically) and
``losses.png``. Re-running with the same folder resumes from the latest checkpoint; on the
numpy backend the resumed run is bit-identical to an uninterrupted one, because the batch
order is a function of (seed, step) and the backend RNG state is checkpointed.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minigan
from minigan import losses as gan_losses
from minigan.data import BatchIterator, Dataset
from minigan.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minigan.training.images import plot_curves, save_grid

CHECKPOINT = "checkpoints/latest.npz"
# losses whose objectives take only D's outputs (the others need samples or embeddings)
TRAINER_LOSSES = ("nsgan", "minimax", "lsgan", "wgan", "hinge", "rsgan", "ragan", "rahinge",
                  "f-kl", "f-rkl", "f-pearson", "f-hellinger", "f-js", "f-gan")


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
    minigan_version: str = field(default_factory=lambda: minigan.__version__)
    # what the backend ran on (for numpy: whether the compiled csrc/ kernels were used)
    backend_details: dict = field(default_factory=dict)

    # flags whose change makes a checkpoint incompatible with this run
    SHAPE_KEYS = ("model", "img_size", "latent_dim", "ngf", "ndf", "loss", "gp", "n_critic",
                  "batch_size", "seed", "data")


def total_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    """--steps counts generator updates; --epochs counts passes over the data by D."""
    if cfg.steps is not None:
        return cfg.steps
    epochs = cfg.epochs if cfg.epochs is not None else 1
    return max(1, epochs * batches_per_epoch // cfg.n_critic)


class Trainer:
    """Alternating D and G updates (n_critic D steps per G step) with Adam in both."""

    def __init__(self, cfg: TrainConfig, G, D, dataset: Dataset):
        self.cfg = cfg
        self.G, self.D = G, D
        self.backend = cfg.backend
        cfg.backend_details = minigan.get_backend(cfg.backend).details()
        self.loss = gan_losses.get(cfg.loss)
        self.opt_g = minigan.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.b1, cfg.b2))
        self.opt_d = minigan.optim.Adam(D.parameters(), lr=cfg.lr_d or cfg.lr,
                                        betas=(cfg.b1, cfg.b2))
        self.batches = BatchIterator(dataset, cfg.batch_size, seed=cfg.seed)
        self.total = total_steps(cfg, self.batches.batches_per_epoch)
        self.run_dir = Path(cfg.out)
        self.step = 0
        # A fixed latent batch for the sample grids, independent of the training RNG.
        z = np.random.default_rng([cfg.seed, 7]).standard_normal(
            (cfg.n_samples, cfg.latent_dim, 1, 1)).astype(np.float32)
        self.fixed_z = minigan.tensor(z, backend=self.backend)

    # --- one step ------------------------------------------------------------------------
    def _real(self, i: int):
        images, _ = self.batches.batch(i)
        return minigan.tensor(images, backend=self.backend)

    def _noise(self, n: int):
        return minigan.randn(n, self.cfg.latent_dim, 1, 1, backend=self.backend)

    def train_step(self) -> dict:
        cfg = self.cfg
        for k in range(cfg.n_critic):
            real = self._real(self.step * cfg.n_critic + k)
            fake = self.G(self._noise(real.shape[0]))
            d_real, d_fake = self.D(real), self.D(fake.detach())
            loss_d = self.loss.d_loss(d_real, d_fake)
            if cfg.gp:
                loss_d = loss_d + gan_losses.gradient_penalty(
                    self.D, real, fake.detach(), cfg.gp, cfg.gp_weight)
            self.opt_d.zero_grad()
            loss_d.backward()
            self.opt_d.step()
        d_fake_g = self.D(fake)
        d_real_g = None
        if self.loss.g_uses_real:
            with minigan.no_grad():
                d_real_g = self.D(real)
        loss_g = self.loss.g_loss(d_fake_g, d_real_g)
        self.opt_g.zero_grad()
        # Only G's gradients: the graph through D is pruned to what reaches G, so D's weight
        # gradients (a third of D's backward GEMMs), which the next D step would zero, are
        # never computed.
        loss_g.backward(inputs=list(self.G.parameters()))
        self.opt_g.step()
        # 0-d tensors, read on the host only when fit() logs, samples or checkpoints (on a GPU
        # each read is a device-to-host sync)
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
                "D(x)": _mean_output(d_real, cfg.loss), "D(G(z))": _mean_output(d_fake, cfg.loss)}

    # --- the run -------------------------------------------------------------------------
    def fit(self, progress: bool = True) -> dict:
        self._prepare_run_dir()
        self._maybe_resume()
        metrics_path = self.run_dir / "metrics.jsonl"
        bar = tqdm(total=self.total, initial=self.step, disable=not progress,
                   desc=f"{self.cfg.model} [{self.backend}]", unit="step", dynamic_ncols=True)
        last = {}
        # Losses are read on the host every step where that is free (kernels that run
        # synchronously on the CPU), else only when a log line, samples or a checkpoint is due.
        every = 1 if minigan.get_backend(self.backend).device == "cpu" else self.cfg.log_interval
        window_start, window_steps = time.perf_counter(), 0
        while self.step < self.total:
            pending = self.train_step()
            self.step += 1
            window_steps += 1
            log = self.step % self.cfg.log_interval == 0 or self.step == self.total
            sample = self.step % self.cfg.sample_interval == 0 or self.step == self.total
            checkpoint = self.step % self.cfg.checkpoint_interval == 0 or \
                self.step == self.total
            bar.update(1)
            if not (log or sample or checkpoint or self.step % every == 0):
                continue
            last = {k: float(v.item()) if isinstance(v, minigan.Tensor) else float(v)
                    for k, v in pending.items()}  # waits for the queued steps
            elapsed = (time.perf_counter() - window_start) / window_steps
            if not all(math.isfinite(last[k]) for k in ("d_loss", "g_loss")):
                bar.close()
                when = f"step {self.step}" if every == 1 else \
                    f"step {self.step} (losses are read every {every} steps on this device)"
                raise NonFiniteLossError(
                    f"{when}: non-finite loss (d_loss={last['d_loss']}, "
                    f"g_loss={last['g_loss']}); stopped, the last good checkpoint "
                    f"{self.run_dir / CHECKPOINT} is kept")
            images = self.cfg.batch_size * self.cfg.n_critic
            last.update(step=self.step, step_time=elapsed, images_per_s=images / elapsed)
            bar.set_postfix({k: f"{last[k]:.3f}" for k in ("d_loss", "g_loss", "D(x)",
                                                            "D(G(z))")} |
                            {"img/s": f"{last['images_per_s']:.0f}"})
            if log:
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(last) + "\n")
            if sample:
                self.save_samples()
            if checkpoint:
                self.save()
            # the next window times training steps only, not this one's files
            window_start, window_steps = time.perf_counter(), 0
        bar.close()
        self.plot_losses()
        return last

    def _prepare_run_dir(self) -> None:
        (self.run_dir / "samples").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        config_path = self.run_dir / "config.json"
        if config_path.exists():
            old = json.loads(config_path.read_text())
            changed = [k for k in TrainConfig.SHAPE_KEYS if old.get(k) != getattr(self.cfg, k)]
            if changed:
                raise CheckpointError(
                    f"{config_path}: this run folder was made with different "
                    + ", ".join(f"--{k.replace('_', '-')}={old.get(k)!r}" for k in changed)
                    + "; use another --out or the same flags")
        config_path.write_text(json.dumps(asdict(self.cfg), indent=2) + "\n")

    def _maybe_resume(self) -> None:
        path = self.run_dir / CHECKPOINT
        if path.exists():
            self.load(path)

    # --- checkpoints -----------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for prefix, module in (("G", self.G), ("D", self.D)):
            for k, v in module.state_dict().items():
                arrays[f"{prefix}.{k}"] = v.numpy()
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            for idx, state in opt.state_dict()["state"].items():
                for k, v in state.items():
                    arrays[f"{prefix}.state.{idx}.{k}"] = _to_numpy(v)
        return arrays

    def save(self) -> None:
        backend = minigan.get_backend(self.backend)
        meta = {"step": self.step, "config": asdict(self.cfg),
                "rng": backend.get_rng_state(),
                "opt_g_groups": self.opt_g.state_dict()["param_groups"],
                "opt_d_groups": self.opt_d.state_dict()["param_groups"]}
        save_checkpoint(self.run_dir / CHECKPOINT, self.state_arrays(), meta)

    def load(self, path) -> None:
        arrays, meta = load_checkpoint(path)
        for prefix, module in (("G", self.G), ("D", self.D)):
            sd = {k[len(prefix) + 1:]: minigan.tensor(v, backend=self.backend)
                  for k, v in arrays.items() if k.startswith(prefix + ".")}
            module.load_state_dict(sd)
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            state: dict = {}
            for k, v in arrays.items():
                if k.startswith(prefix + ".state."):
                    idx, name = k[len(prefix) + 7:].split(".", 1)
                    state.setdefault(int(idx), {})[name] = _from_numpy(v, self.backend)
            opt.load_state_dict({"state": state, "param_groups": meta[f"{prefix}_groups"]})
        minigan.get_backend(self.backend).set_rng_state(meta["rng"])
        self.step = int(meta["step"])

    # --- outputs ---------------------------------------------------------------------------
    def save_samples(self) -> None:
        images = generate(self.G, self.fixed_z)
        save_grid(images, self.run_dir / "samples" / f"step_{self.step:06d}.png", nrow=8)

    def plot_losses(self) -> None:
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        plot_curves({"d_loss": [r["d_loss"] for r in rows],
                     "g_loss": [r["g_loss"] for r in rows]}, self.run_dir / "losses.png")


def generate(G, z) -> np.ndarray:
    """Samples from G in eval mode (BatchNorm uses its running statistics)."""
    was_training = G.training
    G.eval()
    with minigan.no_grad():
        images = G(z).numpy()
    G.train(was_training)
    return images


def _mean_output(logits, loss: str):
    """Mean D output (a 0-d tensor) as a probability for the log-likelihood losses, raw
    otherwise."""
    out = logits.detach()
    if loss in ("nsgan", "minimax", "rsgan"):
        out = out.sigmoid()
    return out.mean()


def _to_numpy(v) -> np.ndarray:
    return v.numpy() if isinstance(v, minigan.Tensor) else np.asarray(v)


def _from_numpy(v: np.ndarray, backend: str):
    return minigan.tensor(v, backend=backend) if v.ndim or v.dtype.kind == "f" else v.item()
