"""Smoke version of bench/bench_ring.py: a short WGAN-GP run with minigan on the ring of 8
Gaussians must pull the samples toward the ring, and minigan and torch trained from the same
initial weights and noise must agree step by step in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from bench.bench_ring import (
    STD,
    config_for,
    generate,
    initial_models,
    minigan_side,
    quality,
    torch_side,
    train,
)
from tests.torch_ref import assert_close


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Small GEMMs thrash with more than one BLAS thread on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def test_wgan_gp_moves_samples_to_the_ring():
    """200 generator steps (1,000 critic steps): the mean distance to the nearest centre
    falls from ~1.8 to ~0.4, and 7-8 centres each draw 1% of the samples within 10 std."""
    cfg = config_for("wgan-gp", 200, hidden=64, batch=128, lr=3e-3, seed=0)
    (G, D), _ = initial_models(cfg)
    side = minigan_side(cfg)
    before = quality(generate(side, G, cfg))
    after = quality(train(side, G, D, cfg).samples, radius=10 * STD)
    assert after["mean_dist"] < before["mean_dist"] / 3, (before, after)
    assert after["modes"] >= 6, after


@pytest.mark.parametrize("loss", ["wgan-gp", "nsgan", "hinge", "lsgan"])
def test_minigan_tracks_torch_from_the_same_init(loss):
    cfg = config_for(loss, 3, hidden=32, batch=64, lr=1e-3, dtype="float64", seed=1)
    (m_G, m_D), (t_G, t_D) = initial_models(cfg)
    ours = train(minigan_side(cfg), m_G, m_D, cfg)
    theirs = train(torch_side(cfg), t_G, t_D, cfg)
    assert_close(np.array(ours.d_losses), np.array(theirs.d_losses), "float64", "d losses")
    assert_close(np.array(ours.g_losses), np.array(theirs.g_losses), "float64", "g losses")
    assert_close(ours.samples, theirs.samples, "float64", "samples after 3 steps")
