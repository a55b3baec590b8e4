"""Quality benchmark on the 2-D ring of 8 Gaussians (radius 2, std 0.02): the same MLP GAN
trained with minigan (numpy backend) and with torch from the same initial weights and the
same noise, for each loss; reports modes covered, high-quality samples and wall time.

    python -m bench.bench_ring [--steps 2000] [--losses wgan-gp,nsgan,hinge,lsgan]
                               [--save bench/results/ring-cpu.jsonl]

The metrics follow the unrolled-GAN / VEEGAN convention: of 2,000 generated samples, one is
high quality if it lies within 3 std (0.06) of its nearest centre; a mode is covered if at
least 1% of the samples (20) are high quality and nearest to it. One training loop serves
both libraries: minigan mirrors torch's module, optimizer and autograd API, so only tensor
conversion and the loss formulas differ (minigan.losses vs tests/published.py in torch).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import minigan
from bench.harness import Row, device_name, save
from minigan import losses
from minigan.interop import load_torch_state_dict
from tests.published import PENALTY_REFERENCE, REFERENCE

MODES, RADIUS, STD = 8, 2.0, 0.02
CENTRES = RADIUS * np.stack([np.cos(2 * np.pi * np.arange(MODES) / MODES),
                             np.sin(2 * np.pi * np.arange(MODES) / MODES)], axis=1)
LATENT, EVAL_SAMPLES, MODE_FRACTION = 2, 2000, 0.01
LOSS_HYPER = {"lsgan": {"a": 0.0, "b": 1.0, "c": 1.0}}


@dataclass
class Config:
    """Training settings for one loss (Gulrajani et al.'s toy code for WGAN-GP)."""

    loss: str
    steps: int = 2000          # generator steps
    hidden: int = 128
    batch: int = 256
    lr: float = 1e-4
    betas: tuple = (0.5, 0.9)
    n_critic: int = 1
    gp_weight: float = 0.0     # > 0: WGAN-GP penalty, and the loss is 'wgan'
    seed: int = 0
    dtype: str = "float32"


def config_for(loss: str, steps: int, **overrides) -> Config:
    if loss == "wgan-gp":
        return Config("wgan-gp", steps, n_critic=5, gp_weight=0.1, **overrides)
    return Config(loss, steps, **overrides)


def adversarial_name(cfg: Config) -> str:
    return "wgan" if cfg.gp_weight > 0 else cfg.loss


def minigan_side(cfg: Config) -> SimpleNamespace:
    loss = losses.get(adversarial_name(cfg), **LOSS_HYPER.get(cfg.loss, {}))
    return SimpleNamespace(
        name="minigan", nn=minigan.nn, optim=minigan.optim, tensor=minigan.tensor,
        d_loss=loss.d_loss, g_loss=lambda f: loss.g_loss(f),
        penalty=lambda D, r, f, a: losses.gradient_penalty(D, r, f, "wgan-gp", cfg.gp_weight,
                                                           alpha=a))


def torch_side(cfg: Config) -> SimpleNamespace:
    d_ref, g_ref = REFERENCE[adversarial_name(cfg)]
    hyper = LOSS_HYPER.get(cfg.loss, {})
    return SimpleNamespace(
        name="torch", nn=torch.nn, optim=torch.optim, tensor=torch.from_numpy,
        d_loss=lambda r, f: d_ref(r, f, **hyper), g_loss=lambda f: g_ref(f, None, **hyper),
        penalty=lambda D, r, f, a: PENALTY_REFERENCE["wgan-gp"](D, r, f, a, cfg.gp_weight))


def mlp(nn, sizes: list[int]):
    """Linear layers of ``sizes`` with ReLU between them."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def initial_models(cfg: Config):
    """(G, D) in torch from ``cfg.seed`` and the same weights in minigan."""
    h = cfg.hidden
    torch.manual_seed(cfg.seed)
    t_G = mlp(torch.nn, [LATENT, h, h, 2]).to(getattr(torch, cfg.dtype))
    t_D = mlp(torch.nn, [2, h, h, 1]).to(getattr(torch, cfg.dtype))
    m_G = mlp(minigan.nn, [LATENT, h, h, 2]).to(getattr(minigan, cfg.dtype))
    m_D = mlp(minigan.nn, [2, h, h, 1]).to(getattr(minigan, cfg.dtype))
    load_torch_state_dict(m_G, t_G.state_dict())
    load_torch_state_dict(m_D, t_D.state_dict())
    return (m_G, m_D), (t_G, t_D)


def ring_batch(rng: np.random.Generator, n: int, dtype: str) -> np.ndarray:
    modes = rng.integers(0, MODES, n)
    return (CENTRES[modes] + STD * rng.standard_normal((n, 2))).astype(dtype)


@dataclass
class Run:
    samples: np.ndarray
    seconds: float
    d_losses: list = field(default_factory=list)
    g_losses: list = field(default_factory=list)


def train(side: SimpleNamespace, G, D, cfg: Config, steps: int | None = None) -> Run:
    """Train G and D in place with ``side``'s library; noise, data and interpolation weights
    come from one numpy stream seeded by ``cfg.seed``, so both libraries see the same."""
    rng = np.random.default_rng(cfg.seed)
    opt_g = side.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = side.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas)
    run = Run(np.empty(0), 0.0)
    start = time.perf_counter()
    for _ in range(cfg.steps if steps is None else steps):
        for _ in range(cfg.n_critic):
            real = side.tensor(ring_batch(rng, cfg.batch, cfg.dtype))
            z = side.tensor(rng.standard_normal((cfg.batch, LATENT)).astype(cfg.dtype))
            fake = G(z).detach()
            d_loss = side.d_loss(D(real), D(fake))
            if cfg.gp_weight > 0:
                alpha = side.tensor(rng.random((cfg.batch, 1)).astype(cfg.dtype))
                d_loss = d_loss + side.penalty(D, real, fake, alpha)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        z = side.tensor(rng.standard_normal((cfg.batch, LATENT)).astype(cfg.dtype))
        g_loss = side.g_loss(D(G(z)))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        run.d_losses.append(d_loss.item())
        run.g_losses.append(g_loss.item())
    run.seconds = time.perf_counter() - start
    run.samples = generate(side, G, cfg)
    return run


def generate(side: SimpleNamespace, G, cfg: Config, n: int = EVAL_SAMPLES) -> np.ndarray:
    z = np.random.default_rng(12345).standard_normal((n, LATENT)).astype(cfg.dtype)
    return np.asarray(G(side.tensor(z)).detach().numpy(), dtype=np.float64)


def nearest_centre(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, distance) of each sample's nearest ring centre."""
    dist = np.linalg.norm(samples[:, None, :] - CENTRES[None], axis=2)
    return dist.argmin(1), dist.min(1)


def quality(samples: np.ndarray, radius: float = 3 * STD) -> dict:
    """Modes covered, % high-quality samples (within ``radius`` of a centre), and mean
    distance to the nearest centre."""
    mode, dist = nearest_centre(samples)
    good = dist <= radius
    counts = np.bincount(mode[good], minlength=MODES)
    return {"modes": int((counts >= MODE_FRACTION * len(samples)).sum()),
            "hq_pct": round(100.0 * float(good.mean()), 2),
            "mean_dist": round(float(dist.mean()), 4)}


def bench_loss(cfg: Config) -> Row:
    (m_G, m_D), (t_G, t_D) = initial_models(cfg)
    ours = train(minigan_side(cfg), m_G, m_D, cfg)
    theirs = train(torch_side(cfg), t_G, t_D, cfg)
    q_ours, q_theirs = quality(ours.samples), quality(theirs.samples)
    shapes = f"MLP H={cfg.hidden} B={cfg.batch} n_critic={cfg.n_critic}"
    return Row(f"ring8/{cfg.loss}", shapes, cfg.dtype, device_name(),
               round(ours.seconds * 1e3, 1), round(theirs.seconds * 1e3, 1),
               round(ours.seconds / theirs.seconds, 3),
               extra={"steps": cfg.steps, "minigan": q_ours, "torch": q_theirs,
                      "lr": cfg.lr, "betas": list(cfg.betas), "gp_weight": cfg.gp_weight,
                      "threads": torch.get_num_threads()})


def header() -> str:
    return (f"{'loss':<9} {'steps':>6} {'modes mg':>8} {'modes pt':>8} {'HQ% mg':>7} "
            f"{'HQ% pt':>7} {'dist mg':>8} {'dist pt':>8} {'minigan s':>9} {'torch s':>8} "
            f"{'ratio':>6}")


def format_row(r: Row) -> str:
    mg, pt = r.extra["minigan"], r.extra["torch"]
    return (f"{r.name.split('/')[1]:<9} {r.extra['steps']:>6} {mg['modes']:>8} "
            f"{pt['modes']:>8} {mg['hq_pct']:>7.1f} {pt['hq_pct']:>7.1f} "
            f"{mg['mean_dist']:>8.3f} {pt['mean_dist']:>8.3f} {r.minigan_ms / 1e3:>9.1f} "
            f"{r.torch_ms / 1e3:>8.1f} {r.ratio:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="generator steps per run")
    parser.add_argument("--losses", default="wgan-gp,nsgan,hinge,lsgan")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads for numpy and torch (small GEMMs thrash with more "
                             "on a shared machine)")
    parser.add_argument("--save", help="append JSON lines to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    print(f"ring of {MODES} Gaussians, r={RADIUS}, std={STD}; {EVAL_SAMPLES} samples; "
          f"HQ: within {3 * STD:g} of a centre; mode covered: >= "
          f"{math.ceil(MODE_FRACTION * EVAL_SAMPLES)} HQ samples; {device_name()}")
    print(header(), flush=True)
    rows = []
    for name in args.losses.split(","):
        row = bench_loss(config_for(name, args.steps, hidden=args.hidden, seed=args.seed))
        print(format_row(row), flush=True)
        rows.append(row)
    if args.save:
        save(rows, args.save)


if __name__ == "__main__":
    main()
