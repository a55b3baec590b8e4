"""Training tricks against torch implementations of the published formulas (or their exact
definitions where they are bookkeeping: schedules, pools, averages)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan
import minigan.functional as F
from minigan import losses, nn
from minigan.interop import load_torch_state_dict
from minigan.losses import tricks
from tests.published import REFERENCE, log_d, minimax_d
from tests.torch_ref import assert_close, check


def test_one_sided_label_smoothing(backend, dtype):
    """Salimans et al. 2016: real target 0.9, fake target 0."""
    rng = np.random.default_rng(0)
    r, f = rng.uniform(-4, 4, (5, 1)), rng.uniform(-4, 4, (5, 1))
    loss = tricks.one_sided_label_smoothing(0.1)
    check(loss.d_loss, lambda r, f: minimax_d(r, f, real_label=0.9), [r, f], backend=backend,
          dtype=dtype, what="smoothed d_loss")
    with pytest.raises(ValueError, match="one_sided_label_smoothing: .*'wgan'"):
        tricks.one_sided_label_smoothing(0.1, "wgan")


def test_instance_noise_anneals_linearly_to_zero(backend):
    noise = tricks.InstanceNoise(std=0.2, anneal_steps=4)
    x = minigan.randn(3, 2, 4, 4, dtype="float64", backend=backend)
    for sigma in [0.2, 0.15, 0.1, 0.05, 0.0, 0.0]:
        assert noise.sigma == pytest.approx(sigma)
        minigan.manual_seed(7)
        y = noise(x)
        minigan.manual_seed(7)
        expected = x + sigma * minigan.randn_like(x)
        np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=0, atol=1e-15)
        noise.step()
    assert noise(x) is x


def test_feature_matching_loss(backend, dtype):
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((6, 3, 2, 2)), rng.standard_normal((4, 3, 2, 2))
    check(tricks.feature_matching_loss,
          lambda r, f: ((r.detach().mean(0) - f.mean(0)) ** 2).sum(), [real, fake],
          backend=backend, dtype=dtype, what="feature matching")
    with pytest.raises(ValueError, match=r"feature_matching_loss: .*\(4, 3\)"):
        tricks.feature_matching_loss(minigan.zeros(4, 2, backend=backend),
                                     minigan.zeros(4, 3, backend=backend))


def test_historical_averaging_penalty(backend):
    """weight * sum ||theta - mean of the recorded thetas||^2, differentiated in theta."""
    rng = np.random.default_rng(2)
    shapes = [(3, 2), (2,)]
    params = [minigan.tensor(rng.standard_normal(s), requires_grad=True, backend=backend)
              for s in shapes]
    averaging = tricks.HistoricalAveraging(params, weight=0.5)
    assert averaging.penalty().item() == 0.0
    history = []
    for _ in range(3):
        history.append([p.detach().numpy().copy() for p in params])
        averaging.update()
        for p in params:
            p.data = minigan.tensor(rng.standard_normal(p.shape), backend=backend)
    penalty = averaging.penalty()
    grads = minigan.grad(penalty, params)
    t_params = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in params]
    averages = [torch.tensor(np.mean([h[i] for h in history], axis=0)) for i in range(2)]
    expected = 0.5 * sum(((p - a) ** 2).sum() for p, a in zip(t_params, averages))
    assert_close(penalty, expected, "float64", "historical averaging")
    for i, (g, t) in enumerate(zip(grads, torch.autograd.grad(expected, t_params))):
        assert_close(g, t, "float64", f"historical averaging gradient {i}")


def small_generator():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_ema_averages_parameters_and_copies_buffers(backend):
    minigan.manual_seed(3)
    G = small_generator().to(backend=backend)
    initial = {k: v.numpy().copy() for k, v in G.state_dict().items()}
    ema = tricks.EMA(G, decay=0.9)
    for p in G.parameters():  # a "training step"
        p.data = p.detach() + 1.0
    G(minigan.randn(5, 3, backend=backend))  # updates BatchNorm's running statistics
    ema.update(G)
    params = dict(G.named_parameters())
    for key, value in ema.state_dict().items():
        if key in params:
            expected = 0.9 * initial[key] + 0.1 * (initial[key] + 1.0)
        else:
            expected = G.state_dict()[key].numpy()
        np.testing.assert_allclose(value.numpy(), expected, rtol=1e-6, err_msg=key)
    G_ema = small_generator().to(backend=backend)
    ema.copy_to(G_ema)
    for key, value in G_ema.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), ema.state_dict()[key].numpy())
    ema.update(G)  # the shadow does not share storage with G or G_ema
    assert not np.array_equal(G_ema.state_dict()["0.weight"].numpy(),
                              ema.state_dict()["0.weight"].numpy())


def test_truncated_noise_redraws_only_the_tails(backend):
    minigan.manual_seed(4)
    first = minigan.randn(200, 8, dtype="float64", backend=backend).numpy()
    minigan.manual_seed(4)
    z = tricks.truncated_noise(200, 8, threshold=0.5, dtype="float64", backend=backend)
    z = z.numpy()
    assert z.shape == (200, 8) and np.abs(z).max() <= 0.5
    inside = np.abs(first) <= 0.5
    np.testing.assert_array_equal(z[inside], first[inside])
    assert not np.any(z[~inside] == first[~inside])


def test_truncate_latent(backend, dtype):
    rng = np.random.default_rng(5)
    w, w_avg = rng.standard_normal((4, 6)), rng.standard_normal((6,))
    check(lambda w, a: tricks.truncate_latent(w, a, 0.7), lambda w, a: a + 0.7 * (w - a),
          [w, w_avg], backend=backend, dtype=dtype, what="truncate_latent")


def batch(start: int, n: int, backend: str):
    """n images whose pixels all equal their index, so an image is known by its value."""
    values = np.arange(start, start + n, dtype=np.float64)
    return minigan.tensor(np.broadcast_to(values[:, None, None, None], (n, 1, 2, 2)),
                          requires_grad=True, backend=backend)


def ids(images) -> list:
    return [int(v) for v in images.detach().numpy()[:, 0, 0, 0]]


def test_image_pool_fills_then_swaps(backend):
    pool = tricks.ImagePool(size=4, p=1.0, seed=0)
    out = pool(batch(0, 3, backend))
    assert ids(out) == [0, 1, 2] and not out.requires_grad
    out = pool(batch(3, 3, backend))  # image 3 fills the pool; 4 and 5 swap with stored ones
    history = ids(out)
    assert history[0] == 3 and set(history[1:]) <= {0, 1, 2, 3, 4}
    stored = sorted(ids(minigan.stack(pool.images)))
    assert len(stored) == 4 and {4, 5} <= set(stored) | set(history)
    assert sorted(stored + history[1:]) == sorted([0, 1, 2, 3, 4, 5])


def test_image_pool_without_swaps_or_storage_passes_through(backend):
    for pool in (tricks.ImagePool(size=0), tricks.ImagePool(size=2, p=0.0)):
        for start in (0, 2, 4):
            assert ids(pool(batch(start, 2, backend))) == [start, start + 1]


# An MLP critic on 2-D points: linear(2, 8) - leaky - linear(8, 8) - leaky - linear(8, 1).
MLP_SHAPES = [(8, 2), (8,), (8, 8), (8,), (1, 8), (1,)]


def mlp(fn, params):
    w1, b1, w2, b2, w3, b3 = params

    def D(x):
        h = fn.leaky_relu(fn.linear(x, w1, b1), 0.2)
        return fn.linear(fn.leaky_relu(fn.linear(h, w2, b2), 0.2), w3, b3)
    return D


def torch_unrolled(d_loss_fn, params, steps, lr, create_graph):
    """Metz et al. 2017, eq. (4) with SGD: theta_{k+1} = theta_k - lr dL_D/dtheta_k."""
    current = list(params)
    for _ in range(steps):
        grads = torch.autograd.grad(d_loss_fn(current), current, create_graph=create_graph)
        current = [p - lr * g for p, g in zip(current, grads)]
    return current


@pytest.mark.parametrize("create_graph", [True, False])
@settings(max_examples=3)
@given(seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 3))
def test_unrolled_parameters_match_torch(create_graph, seed, steps, backend):
    """G's loss against the unrolled D: value, gradients w.r.t. G's samples (through the
    unrolled steps when create_graph) and D's initial parameters, and one order more."""
    rng = np.random.default_rng(seed)
    real, fake = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    params = [rng.standard_normal(s) * 0.7 for s in MLP_SHAPES]
    loss = losses.get("nsgan")

    def ours(real, fake, *params):
        inner = fake if create_graph else fake.detach()
        unrolled = tricks.unrolled_parameters(
            lambda ps: loss.d_loss(mlp(F, ps)(real), mlp(F, ps)(inner)), params, steps, 0.1,
            create_graph)
        return loss.g_loss(mlp(F, unrolled)(fake))

    def theirs(real, fake, *params):
        inner = fake if create_graph else fake.detach()
        unrolled = torch_unrolled(lambda ps: minimax_d(mlp(TF, ps)(real), mlp(TF, ps)(inner)),
                                  params, steps, 0.1, create_graph)
        return -log_d(mlp(TF, unrolled)(fake)).mean()

    check(ours, theirs, [real, fake, *params], backend=backend,
          grad=[False, True] + [True] * len(params), what=f"unrolled x{steps}")


def test_unrolled_g_loss_with_a_module_leaves_d_unchanged(backend):
    minigan.manual_seed(6)
    D = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)).double()
    D.to(backend=backend)
    before = {k: v.numpy().copy() for k, v in D.state_dict().items()}
    rng = np.random.default_rng(6)
    real, fake = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    fake_m = minigan.tensor(fake, requires_grad=True, backend=backend)
    loss = losses.get("hinge")
    g_loss = tricks.unrolled_g_loss(D, loss, minigan.tensor(real, backend=backend), fake_m,
                                    steps=2, lr=0.05)
    (g_fake,) = minigan.grad(g_loss, [fake_m])

    t_params = [torch.tensor(before[k], requires_grad=True) for k in before]
    t_fake = torch.tensor(fake, requires_grad=True)

    def t_D(ps, x):
        return TF.linear(TF.leaky_relu(TF.linear(x, ps[0], ps[1]), 0.2), ps[2], ps[3])

    def t_d_loss(ps):
        return torch.relu(1 - t_D(ps, torch.tensor(real))).mean() + \
            torch.relu(1 + t_D(ps, t_fake)).mean()
    unrolled = torch_unrolled(t_d_loss, t_params, 2, 0.05, True)
    expected = -t_D(unrolled, t_fake).mean()
    assert_close(g_loss, expected, "float64", "unrolled_g_loss")
    assert_close(g_fake, torch.autograd.grad(expected, t_fake)[0], "float64",
                 "unrolled_g_loss gradient w.r.t. G's samples")
    for k, v in D.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_clip_weights_on_a_module(backend):
    D = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    D.to(backend=backend)
    parameters = list(D.parameters())
    losses.clip_weights(D, 0.05)
    assert all(np.abs(p.detach().numpy()).max() <= 0.05 for p in D.parameters())
    assert [id(p) for p in D.parameters()] == [id(p) for p in parameters]


def mlp_gan(lib):
    G = lib.Sequential(lib.Linear(3, 8), lib.ReLU(), lib.Linear(8, 2))
    D = lib.Sequential(lib.Linear(2, 8), lib.LeakyReLU(0.2), lib.Linear(8, 1))
    return G, D


def mlp_gan_pair(backend):
    torch.manual_seed(0)
    t_G, t_D = (m.double() for m in mlp_gan(torch.nn))
    m_G, m_D = (m.to(minigan.float64, backend=backend) for m in mlp_gan(nn))
    load_torch_state_dict(m_G, t_G.state_dict())
    load_torch_state_dict(m_D, t_D.state_dict())
    return (m_G, m_D), (t_G, t_D)


def assert_same_weights(ours, theirs, what):
    state = ours.state_dict()
    for key, value in theirs.state_dict().items():
        assert_close(state[key], value, "float64", f"{what}: {key}")


def test_merged_step_matches_torch(backend):
    """One G forward, one D forward on cat(real, fake); each loss differentiated w.r.t. its
    own player's parameters only; both steps from the same D (simultaneous). SGD, not Adam:
    RaGAN is blind to shifts of D's output, so some gradients are exactly zero up to rounding,
    which Adam's normalization would blow up to steps of random sign."""
    (m_G, m_D), (t_G, t_D) = mlp_gan_pair(backend)
    m_opts = [minigan.optim.SGD(m.parameters(), lr=0.05, momentum=0.5) for m in (m_G, m_D)]
    t_opts = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.5) for m in (t_G, t_D)]
    loss = losses.get("ragan")
    d_ref, g_ref = REFERENCE["ragan"]
    rng = np.random.default_rng(7)
    for step in range(3):
        real, z = rng.standard_normal((4, 2)), rng.standard_normal((4, 3))
        d_loss, g_loss = tricks.merged_step(m_G, m_D, loss, *m_opts,
                                            minigan.tensor(real, backend=backend),
                                            minigan.tensor(z, backend=backend))
        out = t_D(torch.cat([torch.tensor(real), t_G(torch.tensor(z))]))
        t_d, t_g = d_ref(out[:4], out[4:]), g_ref(out[4:], out[:4].detach())
        for opt in t_opts:
            opt.zero_grad()
        t_d.backward(inputs=list(t_D.parameters()), retain_graph=True)
        t_g.backward(inputs=list(t_G.parameters()))
        for opt in t_opts:
            opt.step()
        assert_close(np.array([d_loss.item(), g_loss.item()]),
                     np.array([t_d.item(), t_g.item()]), "float64", f"merged step {step}")
    assert_same_weights(m_G, t_G, "merged_step G")
    assert_same_weights(m_D, t_D, "merged_step D")


def test_unrolled_discriminator_restores_d_and_its_optimizer(backend):
    """G's gradient is taken against D after k Adam steps; then D and Adam's state are back,
    so the next real D step equals torch's D step without the unrolling."""
    (m_G, m_D), (t_G, t_D) = mlp_gan_pair(backend)
    m_opt = minigan.optim.Adam(m_D.parameters(), lr=1e-2)
    t_opt = torch.optim.Adam(t_D.parameters(), lr=1e-2)
    loss = losses.get("nsgan")
    d_ref, g_ref = REFERENCE["nsgan"]
    rng = np.random.default_rng(8)
    real, z = rng.standard_normal((4, 2)), rng.standard_normal((4, 3))
    m_real, m_z = minigan.tensor(real, backend=backend), minigan.tensor(z, backend=backend)
    t_real, t_z = torch.tensor(real), torch.tensor(z)

    def m_d_step():
        d_loss = loss.d_loss(m_D(m_real), m_D(m_G(m_z).detach()))
        m_opt.zero_grad()
        d_loss.backward()
        m_opt.step()

    def t_d_step(D, opt):
        d_loss = d_ref(D(t_real), D(t_G(t_z).detach()))
        opt.zero_grad()
        d_loss.backward()
        opt.step()

    t_d_step(t_D, t_opt)  # one ordinary D step first, so Adam has state to restore
    m_d_step()
    with tricks.unrolled_discriminator(m_D, m_opt, m_d_step, steps=3) as D:
        g_loss = loss.g_loss(D(m_G(m_z)))
        g_grads = minigan.grad(g_loss, list(m_G.parameters()))
    look_ahead = copy.deepcopy(t_D)
    look_ahead_opt = torch.optim.Adam(look_ahead.parameters(), lr=1e-2)
    look_ahead_opt.load_state_dict(copy.deepcopy(t_opt.state_dict()))  # torch shares state
    for _ in range(3):
        t_d_step(look_ahead, look_ahead_opt)
    t_g_loss = g_ref(look_ahead(t_G(t_z)), None)
    assert_close(g_loss, t_g_loss, "float64", "g_loss against the unrolled D")
    for i, (g, t) in enumerate(zip(g_grads, torch.autograd.grad(t_g_loss, t_G.parameters()))):
        assert_close(g, t, "float64", f"G gradient {i} through the unrolled D")
    assert_same_weights(m_D, t_D, "D restored")
    t_d_step(t_D, t_opt)
    m_d_step()
    assert_same_weights(m_D, t_D, "D step after the unrolling")


def test_ttur_builds_two_optimizers_with_their_own_rates():
    G, D = mlp_gan(nn)
    g_opt, d_opt = tricks.ttur_optimizers(G, D)
    assert isinstance(g_opt, minigan.optim.Adam) and isinstance(d_opt, minigan.optim.Adam)
    assert (g_opt.param_groups[0]["lr"], d_opt.param_groups[0]["lr"]) == (1e-4, 4e-4)
    assert g_opt.param_groups[0]["betas"] == d_opt.param_groups[0]["betas"] == (0.0, 0.9)
    assert [id(p) for p in g_opt.param_groups[0]["params"]] == [id(p) for p in G.parameters()]
    assert [id(p) for p in d_opt.param_groups[0]["params"]] == [id(p) for p in D.parameters()]
    g_opt, d_opt = tricks.ttur_optimizers(G, D, 1e-3, 3e-3, minigan.optim.SGD, momentum=0.9)
    assert isinstance(d_opt, minigan.optim.SGD) and d_opt.param_groups[0]["momentum"] == 0.9
    assert (g_opt.param_groups[0]["lr"], d_opt.param_groups[0]["lr"]) == (1e-3, 3e-3)
