"""A small conv GAN stepped side by side with the same torch GAN from the same state_dict:
Adam in both, minigan.losses on one side and the published formulas (tests/published.py) on
the other. Per-step losses and the final weights (and BatchNorm statistics) must agree in
float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import minigan
from minigan import losses, nn
from minigan.interop import load_torch_state_dict
from tests.published import PENALTY_REFERENCE, REFERENCE
from tests.torch_ref import assert_close

LATENT, BATCH, STEPS = 4, 4, 5


def generator(lib):
    """1x1 latent -> 4x4 -> 8x8 RGB, DCGAN style."""
    return lib.Sequential(
        lib.ConvTranspose2d(LATENT, 8, 4, 1, 0, bias=False), lib.BatchNorm2d(8), lib.ReLU(),
        lib.ConvTranspose2d(8, 3, 4, 2, 1, bias=False), lib.Tanh())


def discriminator(lib):
    """8x8 RGB -> 4x4 -> one logit per sample, shape (N, 1, 1, 1)."""
    return lib.Sequential(lib.Conv2d(3, 8, 4, 2, 1), lib.LeakyReLU(0.2),
                          lib.Conv2d(8, 1, 4, 1, 0))


def gan_pair(seed: int, backend: str):
    torch.manual_seed(seed)
    t_G, t_D = generator(torch.nn).double(), discriminator(torch.nn).double()
    m_G = generator(nn).to(minigan.float64, backend=backend)
    m_D = discriminator(nn).to(minigan.float64, backend=backend)
    load_torch_state_dict(m_G, t_G.state_dict())
    load_torch_state_dict(m_D, t_D.state_dict())
    return (m_G, m_D), (t_G, t_D)


def adam_pair(m_G, m_D, t_G, t_D):
    kw = dict(lr=2e-3, betas=(0.5, 0.999))
    return ((minigan.optim.Adam(m_G.parameters(), **kw),
             minigan.optim.Adam(m_D.parameters(), **kw)),
            (torch.optim.Adam(t_G.parameters(), **kw), torch.optim.Adam(t_D.parameters(), **kw)))


PENALIZED = ("wgan-gp", "r1")
CLIP = 0.05


def minigan_step(G, D, opt_g, opt_d, loss, penalty, real, z, alpha):
    fake = G(z)
    d_loss = loss.d_loss(D(real), D(fake.detach()))
    if penalty in PENALIZED:
        d_loss = d_loss + losses.gradient_penalty(D, real, fake.detach(), penalty, 10.0,
                                                  alpha=alpha)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    if penalty == "clip":
        losses.clip_weights(D, CLIP)
    g_loss = loss.g_loss(D(fake))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


def torch_step(G, D, opt_g, opt_d, refs, penalty, real, z, alpha):
    d_ref, g_ref = refs
    fake = G(z)
    d_loss = d_ref(D(real), D(fake.detach()))
    if penalty in PENALIZED:
        d_loss = d_loss + PENALTY_REFERENCE[penalty](D, real, fake.detach(), alpha, 10.0)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    if penalty == "clip":  # Arjovsky et al. 2017
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-CLIP, CLIP)
    g_loss = g_ref(D(fake), None)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


@pytest.mark.parametrize("name, penalty", [
    ("nsgan", None), ("hinge", None), ("wgan", "wgan-gp"), ("wgan", "clip"), ("lsgan", None),
    ("nsgan", "r1")])
def test_gan_steps_match_torch(name, penalty, backend):
    (m_G, m_D), (t_G, t_D) = gan_pair(0, backend)
    (m_opt_g, m_opt_d), (t_opt_g, t_opt_d) = adam_pair(m_G, m_D, t_G, t_D)
    hyper = {"a": -1.0, "b": 1.0, "c": 0.0} if name == "lsgan" else {}
    loss = losses.get(name, **hyper)
    d_ref, g_ref = REFERENCE[name]
    refs = (lambda r, f: d_ref(r, f, **hyper), lambda f, r: g_ref(f, r, **hyper))
    rng = np.random.default_rng(1)
    for step in range(STEPS):
        batch = (rng.uniform(-1, 1, (BATCH, 3, 8, 8)), rng.standard_normal((BATCH, LATENT, 1, 1)),
                 rng.random((BATCH, 1, 1, 1)))
        ours = minigan_step(m_G, m_D, m_opt_g, m_opt_d, loss, penalty,
                            *(minigan.tensor(a, backend=backend) for a in batch))
        theirs = torch_step(t_G, t_D, t_opt_g, t_opt_d, refs, penalty,
                            *(torch.tensor(a) for a in batch))
        assert_close(np.array(ours), np.array(theirs), "float64",
                     f"{name}+{penalty} step {step}: (d_loss, g_loss)")
    for ours, theirs, who in ((m_G, t_G, "G"), (m_D, t_D, "D")):
        state = ours.state_dict()
        for key, value in theirs.state_dict().items():
            assert_close(state[key], value, "float64", f"{name}+{penalty}: {who} {key}")
