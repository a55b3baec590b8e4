"""One DCGAN training step (D update + G update, Adam, BCE-with-logits) in minigan vs the same
model in torch, same batch, width and initial weights.

    python -m bench.bench_dcgan [--img-size 32|64] [--batch-size 64] [--ngf 64] [--ndf 64]
                                [--backend numpy] [--save PATH]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as TF

import minigan
from bench.harness import compare, header, save
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


def make_torch_step(G, D, real, latent_dim):
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.tensor(real)

    def bce(logits, target):
        return TF.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def step():
        fake = G(torch.randn(x.shape[0], latent_dim, 1, 1))
        loss_d = bce(D(x).reshape(-1), 1.0) + bce(D(fake.detach()).reshape(-1), 0.0)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(D(fake).reshape(-1), 1.0)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--img-size", type=int, default=64, choices=[32, 64])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--latent-dim", type=int, default=100)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--save", help="append the row to this JSON-lines file")
    a = p.parse_args(argv)
    minigan.manual_seed(0)
    G = Generator(a.latent_dim, a.ngf, 3, a.img_size)
    D = Discriminator(a.ndf, 3, a.img_size)
    tG, tD = torch_dcgan(a.latent_dim, a.ngf, a.ndf, 3, a.img_size)
    tG.load_state_dict(interop.to_torch_state_dict(G.state_dict()))
    tD.load_state_dict(interop.to_torch_state_dict(D.state_dict()))
    G, D = G.to(backend=a.backend), D.to(backend=a.backend)
    real = np.random.default_rng(0).uniform(-1, 1, (a.batch_size, 3, a.img_size, a.img_size)
                                            ).astype(np.float32)
    print(header())
    row = compare("DCGAN train step (D + G)",
                  make_minigan_step(G, D, real, a.latent_dim, a.backend),
                  make_torch_step(tG.main, tD.main, real, a.latent_dim),
                  shapes=f"B{a.batch_size} {a.img_size}px ngf{a.ngf} ndf{a.ndf}",
                  dtype="float32", repeat=a.repeat, backend=a.backend,
                  **minigan.get_backend(a.backend).details(),
                  torch_threads=torch.get_num_threads())
    if a.save:
        save([row], a.save)


if __name__ == "__main__":
    main()
