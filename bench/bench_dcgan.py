"""One DCGAN training step (D update + G update, Adam, BCE-with-logits) in minigan vs the same
model in torch, same batch, width and initial weights, torch on minigan's device.

    python -m bench.bench_dcgan [--img-size 32|64] [--batch-size 64] [--ngf 64] [--ndf 64]
                                [--backend numpy|triton] [--tf32] [--gp] [--threads N]
                                [--save PATH]

With ``--backend triton`` on a GPU torch runs on the same GPU, both sides in strict IEEE
float32 unless ``--tf32``, and the batch defaults to 128 (64 on the CPU). ``--gp`` times D
steps instead (WGAN loss, Adam): a plain one and a WGAN-GP one (Gulrajani et al.: D's
gradient w.r.t. interpolated images with create_graph, the penalty's backward through it;
minigan's ``losses.gradient_penalty``, torch's ``torch.autograd.grad(create_graph=True)``),
and reports the ratio of the two for each library.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
import torch.nn.functional as TF

import minigan
from bench.harness import compare, exit_on_sigterm, header, save, target
from bench.torch_models import torch_dcgan
from minigan import interop, losses
from minigan.models import Discriminator, Generator


def make_minigan_step(G, D, real, latent_dim, backend):
    loss = losses.get("nsgan")
    opt_g = minigan.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = minigan.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = minigan.tensor(real, backend=backend)

    def step():
        fake = G(minigan.randn(x.shape[0], latent_dim, 1, 1, backend=backend))
        loss_d = loss.d_loss(D(x), D(fake.detach()))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = loss.g_loss(D(fake), None)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return step


def make_torch_step(G, D, real, latent_dim, device="cpu"):
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.tensor(real, device=device)

    def bce(logits, target):
        return TF.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def step():
        fake = G(torch.randn(x.shape[0], latent_dim, 1, 1, device=device))
        loss_d = bce(D(x).reshape(-1), 1.0) + bce(D(fake.detach()).reshape(-1), 0.0)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(D(fake).reshape(-1), 1.0)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return step


def make_minigan_d_step(D, real, fake, backend, gp_weight=None):
    """One WGAN D update on fixed real and fake batches, with the WGAN-GP penalty when
    ``gp_weight`` is given."""
    loss = losses.get("wgan")
    opt_d = minigan.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x, f = minigan.tensor(real, backend=backend), minigan.tensor(fake, backend=backend)

    def step():
        loss_d = loss.d_loss(D(x), D(f))
        if gp_weight is not None:
            loss_d = loss_d + losses.gradient_penalty(D, x, f, "wgan-gp", gp_weight)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    return step


def make_torch_d_step(D, real, fake, device="cpu", gp_weight=None):
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x, f = torch.tensor(real, device=device), torch.tensor(fake, device=device)

    def penalty():
        alpha = torch.rand(x.shape[0], 1, 1, 1, device=device)
        points = (alpha * x + (1 - alpha) * f).requires_grad_(True)
        (g,) = torch.autograd.grad(D(points).sum(), points, create_graph=True)
        return gp_weight * ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    def step():
        loss_d = D(f).mean() - D(x).mean()
        if gp_weight is not None:
            loss_d = loss_d + penalty()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--img-size", type=int, default=64, choices=[32, 64])
    p.add_argument("--batch-size", type=int,
                   help="default: 64 on the CPU, 128 on a GPU")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--latent-dim", type=int, default=100)
    p.add_argument("--backend", default="numpy", choices=["numpy", "triton", "cupy"],
                   help="minigan's backend; torch runs on the same device")
    p.add_argument("--tf32", action="store_true",
                   help="--backend triton: TF32 convolutions on both sides (default: strict "
                        "IEEE float32 on both)")
    p.add_argument("--gp", action="store_true",
                   help="time a plain WGAN D step and a WGAN-GP D step instead")
    p.add_argument("--gp-weight", type=float, default=10.0)
    p.add_argument("--repeat", type=int, help="timed samples (default: 5, 10 on a GPU)")
    p.add_argument("--threads", type=int,
                   help="CPU threads for both sides: torch's, numpy's BLAS and the compiled "
                        "kernels' (default: each library's own)")
    p.add_argument("--save", help="append the row(s) to this JSON-lines file")
    a = p.parse_args(argv)
    exit_on_sigterm()
    if a.threads:
        from minigan.kernels import compiled
        from threadpoolctl import threadpool_limits
        torch.set_num_threads(a.threads)
        threadpool_limits(a.threads)
        if compiled.CPU is not None:
            compiled.CPU.set_num_threads(a.threads)
    tgt = target(a.backend, a.tf32, number=3)
    batch = a.batch_size or (128 if tgt.gpu else 64)
    repeat = a.repeat or (10 if tgt.gpu else 5)
    minigan.manual_seed(0)
    G = Generator(a.latent_dim, a.ngf, 3, a.img_size)
    D = Discriminator(a.ndf, 3, a.img_size)
    tG, tD = torch_dcgan(a.latent_dim, a.ngf, a.ndf, 3, a.img_size)
    tG.load_state_dict(interop.to_torch_state_dict(G.state_dict()))
    tD.load_state_dict(interop.to_torch_state_dict(D.state_dict()))
    G, D = G.to(backend=a.backend), D.to(backend=a.backend)
    tG, tD = tG.to(tgt.device), tD.to(tgt.device)
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (batch, 3, a.img_size, a.img_size)).astype(np.float32)
    shapes = f"B{batch} {a.img_size}px ngf{a.ngf} ndf{a.ndf}"
    print(header())
    rows = []
    try:
        if not a.gp:
            rows.append(compare("DCGAN train step (D + G)",
                                make_minigan_step(G, D, real, a.latent_dim, a.backend),
                                make_torch_step(tG.main, tD.main, real, a.latent_dim,
                                                tgt.device),
                                shapes=shapes, dtype="float32", repeat=repeat, **tgt.kw()))
            return
        fake = rng.uniform(-1, 1, real.shape).astype(np.float32)
        shapes = f"B{batch} {a.img_size}px ndf{a.ndf}"
        for name, weight in (("DCGAN D step (wgan)", None),
                             (f"DCGAN D step (wgan-gp {a.gp_weight:g})", a.gp_weight)):
            rows.append(compare(name, make_minigan_d_step(D, real, fake, a.backend, weight),
                                make_torch_d_step(tD.main, real, fake, tgt.device, weight),
                                shapes=shapes, dtype="float32", repeat=repeat, **tgt.kw()))
        plain, gp = rows
        ratios = {"gp_over_plain_minigan": round(gp.minigan_ms / plain.minigan_ms, 3),
                  "gp_over_plain_torch": round(gp.torch_ms / plain.torch_ms, 3)}
        gp.extra.update(ratios)
        print(f"WGAN-GP D step / plain D step: minigan {ratios['gp_over_plain_minigan']:.2f}x, "
              f"torch {ratios['gp_over_plain_torch']:.2f}x")
    finally:
        for row in rows:
            row.extra.update(tgt.details(), torch_threads=torch.get_num_threads(),
                             threads=a.threads, load_avg_1min=round(os.getloadavg()[0], 2))
        if a.save and rows:
            save(rows, a.save)


if __name__ == "__main__":
    main()
