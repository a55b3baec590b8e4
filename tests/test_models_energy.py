"""The zoo's energy-based and Lipschitz/look-ahead models: began, ebgan (minigan.models.energy),
sngan, sagan (minigan.models.spectral) and unrolled (minigan.models.unrolled): the CLI on tiny
settings and sampling, bit-identical resume on numpy (BEGAN's k_t in the model state, SNGAN's
power-iteration vectors in the buffers), and the networks against torch twins written here
(float64: outputs, input gradients and weight gradients agree to rounding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch import nn as tnn

import minigan
from minigan.models import MODELS
from minigan.sample import main as sample_main
from minigan.train import main as train_main
from minigan.training.checkpoint import load_latest
from tests.torch_ref import assert_close

TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "8", "--latent-dim", "8", "--no-progress"]
FAMILY = [m for m in ("began", "ebgan", "sngan", "sagan", "unrolled") if m in MODELS]


def _train(name, out, *flags):
    return train_main([name, *TINY, "--out", str(out), *flags])


# --- the CLI --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FAMILY)
def test_cli_trains_and_samples(name, tmp_path):
    run = tmp_path / "r"
    assert _train(name, run, "--steps", "2", "--log-interval", "1") == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert sample_main([str(run), "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").exists()
    cls = MODELS[name]
    assert cls.paper and cls.summary and cls.preset


# --- resume ---------------------------------------------------------------------------------

def _assert_resume_bit_identical(name, tmp_path, *flags):
    # batches of 2 and no TensorBoard: the cheapest run that still shows every state
    common = ["--seed", "3", "--checkpoint-interval", "2", "--batch-size", "2",
              "--no-tensorboard", *flags]
    assert _train(name, tmp_path / "straight", "--steps", "4", *common) == 0
    assert _train(name, tmp_path / "resumed", "--steps", "2", *common) == 0
    assert _train(name, tmp_path / "resumed", "--steps", "4", *common) == 0
    _, a, meta_a = load_latest(tmp_path / "straight" / "checkpoints")
    _, b, meta_b = load_latest(tmp_path / "resumed" / "checkpoints")
    assert meta_a["step"] == meta_b["step"] == 4
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert meta_a["model_state"] == meta_b["model_state"]
    return a, meta_a


def test_began_resume_is_bit_identical_with_k(tmp_path):
    import json
    _, meta = _assert_resume_bit_identical("began", tmp_path, "--gamma", "0.7",
                                           "--lambda-k", "0.05", "--log-interval", "1")
    assert 0.0 < meta["model_state"]["k"] <= 1.0  # k_t moved, and came back exactly
    rows = [json.loads(x) for x in
            (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        # the step's M and its k (the one before the step's update) from its energies
        assert r["M"] == pytest.approx(r["D(x)"] + abs(0.7 * r["D(x)"] - r["D(G(z))"]), 1e-5)
        assert r["d_loss"] == pytest.approx(r["D(x)"] - r["k"] * r["D(G(z))"], 1e-5)
    assert rows[0]["k"] == 0.0
    for a, b in zip(rows, rows[1:]):
        expected = min(max(a["k"] + 0.05 * (0.7 * a["D(x)"] - a["D(G(z))"]), 0.0), 1.0)
        assert b["k"] == pytest.approx(expected, abs=1e-7)


# --- torch twins ----------------------------------------------------------------------------

def _load_from_torch(ours, theirs):
    theirs = theirs.double()
    ours = ours.double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: minigan.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})
    return ours, theirs


def _assert_same(ours, theirs, x, what, out=lambda m, x: m(x)):
    """Outputs, the input gradient and every weight gradient of <out, c> (c random)."""
    ours, theirs = _load_from_torch(ours, theirs)
    mx = minigan.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    m_out, t_out = out(ours, mx), out(theirs, tx)
    assert_close(m_out, t_out, "float64", f"{what}: output")
    cot = np.random.default_rng(5).standard_normal(tuple(t_out.shape))
    (m_out * minigan.tensor(cot)).sum().backward()
    (t_out * torch.tensor(cot)).sum().backward()
    assert_close(mx.grad, tx.grad, "float64", f"{what}: input gradient")
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        t_grad = t_params[name].grad
        expected = np.zeros(p.shape) if t_grad is None else t_grad
        assert_close(p.grad, expected, "float64", f"{what}: gradient of {name}")
    t_state = theirs.state_dict()
    for name, v in ours.state_dict().items():  # buffers after the step (BN, power iteration)
        assert_close(v, t_state[name], "float64", f"{what}: {name} after the forward")


class TorchBEGANDecoder(tnn.Module):
    def __init__(self, hidden, n, channels, stages):
        super().__init__()
        self.n = n
        self.fc = tnn.Linear(hidden, n * 64)
        layers = []
        for _ in range(stages):
            layers += [tnn.Conv2d(n, n, 3, 1, 1), tnn.ELU(), tnn.Conv2d(n, n, 3, 1, 1),
                       tnn.ELU(), tnn.Upsample(scale_factor=2, mode="nearest")]
        layers += [tnn.Conv2d(n, n, 3, 1, 1), tnn.ELU(), tnn.Conv2d(n, n, 3, 1, 1), tnn.ELU(),
                   tnn.Conv2d(n, channels, 3, 1, 1)]
        self.main = tnn.Sequential(*layers)

    def forward(self, h):
        return self.main(self.fc(h).view(h.shape[0], self.n, 8, 8))


class TorchBEGANEncoder(tnn.Module):
    def __init__(self, hidden, n, channels, stages):
        super().__init__()
        layers = [tnn.Conv2d(channels, n, 3, 1, 1), tnn.ELU()]
        for i in range(stages):
            w = n * (i + 1)
            layers += [tnn.Conv2d(w, w, 3, 1, 1), tnn.ELU(), tnn.Conv2d(w, w, 3, 1, 1),
                       tnn.ELU(), tnn.Conv2d(w, w + n, 3, 2, 1), tnn.ELU()]
        w = n * (stages + 1)
        layers += [tnn.Conv2d(w, w, 3, 1, 1), tnn.ELU(), tnn.Conv2d(w, w, 3, 1, 1), tnn.ELU()]
        self.main = tnn.Sequential(*layers)
        self.fc = tnn.Linear(w * 64, hidden)

    def forward(self, x):
        return self.fc(self.main(x).flatten(1))


class TorchBEGANDiscriminator(tnn.Module):
    def __init__(self, hidden, n, channels, stages):
        super().__init__()
        self.encoder = TorchBEGANEncoder(hidden, n, channels, stages)
        self.decoder = TorchBEGANDecoder(hidden, n, channels, stages)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def test_began_networks_match_torch():
    from minigan.models.energy import BEGANDecoder, BEGANDiscriminator
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    _assert_same(BEGANDecoder(6, 3, 1, 32), TorchBEGANDecoder(6, 3, 1, 2),
                 rng.standard_normal((2, 6)), "BEGAN G")
    _assert_same(BEGANDiscriminator(6, 3, 1, 32), TorchBEGANDiscriminator(6, 3, 1, 2),
                 rng.uniform(-1, 1, (2, 1, 32, 32)), "BEGAN D")


class TorchEBGANDiscriminator(tnn.Module):
    def __init__(self, ndf, channels):
        super().__init__()
        self.encoder = tnn.Sequential(
            tnn.Conv2d(channels, ndf, 4, 2, 1), tnn.LeakyReLU(0.2, True),
            tnn.Conv2d(ndf, ndf * 2, 4, 2, 1), tnn.BatchNorm2d(ndf * 2), tnn.LeakyReLU(0.2, True),
            tnn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1))
        self.decoder = tnn.Sequential(
            tnn.BatchNorm2d(ndf * 4), tnn.LeakyReLU(0.2, True),
            tnn.ConvTranspose2d(ndf * 4, ndf * 2, 4, 2, 1), tnn.BatchNorm2d(ndf * 2),
            tnn.ReLU(True),
            tnn.ConvTranspose2d(ndf * 2, ndf, 4, 2, 1), tnn.BatchNorm2d(ndf), tnn.ReLU(True),
            tnn.ConvTranspose2d(ndf, channels, 4, 2, 1))

    def forward(self, x):
        return self.decoder(self.encoder(x))


def test_ebgan_discriminator_and_losses_match_torch():
    from minigan import losses
    from minigan.models.energy import EBGANDiscriminator
    torch.manual_seed(0)
    x = np.random.default_rng(1).uniform(-1, 1, (4, 1, 32, 32))
    _assert_same(EBGANDiscriminator(3, 1, 32), TorchEBGANDiscriminator(3, 1), x, "EBGAN D")

    # G's loss: the energy of the fakes plus the pulling-away term on the embeddings
    def g_loss_minigan(D, v):
        s = D.encode(v)
        return losses.EBGAN(pt_weight=0.1).g_loss(
            losses.reconstruction_energy(v, D.decode(s), power=2), embeddings=s)

    def g_loss_torch(D, v):
        s = D.encoder(v)
        energy = ((v - D.decoder(s)) ** 2).flatten(1).mean(1)
        flat = TF.normalize(s.flatten(1), dim=1)
        cos = flat @ flat.t()
        n = v.shape[0]
        pt = ((cos ** 2).sum() - (torch.diagonal(cos) ** 2).sum()) / (n * (n - 1))
        return energy.mean() + 0.1 * pt

    _assert_same(EBGANDiscriminator(3, 1, 32), TorchEBGANDiscriminator(3, 1), x,
                 "EBGAN G loss", out=lambda m, v: (g_loss_minigan if isinstance(
                     m, minigan.nn.Module) else g_loss_torch)(m, v).reshape(1))


# --- SNGAN / SAGAN ----------------------------------------------------------------------------

def test_sngan_resume_is_bit_identical_with_power_iteration_state(tmp_path):
    arrays, _ = _assert_resume_bit_identical("sngan", tmp_path, "--n-critic", "1")
    u = [k for k in arrays if k.startswith("D.") and k.endswith("_u")]
    assert len(u) == sum(1 for k in arrays if k.startswith("D.") and k.endswith("_orig")) > 5


def _sn(module, on=True):
    return tnn.utils.spectral_norm(module) if on else module


class TorchSelfAttention(tnn.Module):
    def __init__(self, c, sn):
        super().__init__()
        self.k = max(c // 8, 1)
        self.f = _sn(tnn.Conv2d(c, self.k, 1), sn)
        self.g = _sn(tnn.Conv2d(c, self.k, 1), sn)
        self.h = _sn(tnn.Conv2d(c, c, 1), sn)
        self.gamma = tnn.Parameter(torch.full((1,), 0.7))  # nonzero: the attention is used

    def forward(self, x):
        n, c, hh, ww = x.shape
        f = self.f(x).view(n, self.k, hh * ww)
        g = self.g(x).view(n, self.k, hh * ww)
        h = self.h(x).view(n, c, hh * ww)
        beta = torch.softmax(f.transpose(1, 2) @ g, dim=1)
        return self.gamma * (h @ beta).view(x.shape) + x


class TorchGenBlock(tnn.Module):
    def __init__(self, cin, cout, sn):
        super().__init__()
        self.b1 = tnn.BatchNorm2d(cin)
        self.c1 = _sn(tnn.Conv2d(cin, cout, 3, 1, 1), sn)
        self.b2 = tnn.BatchNorm2d(cout)
        self.c2 = _sn(tnn.Conv2d(cout, cout, 3, 1, 1), sn)
        self.c_sc = _sn(tnn.Conv2d(cin, cout, 1), sn)

    def forward(self, x):
        up = lambda t: TF.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        h = self.c2(TF.relu(self.b2(self.c1(up(TF.relu(self.b1(x)))))))
        return h + self.c_sc(up(x))


class TorchDisBlock(tnn.Module):
    def __init__(self, cin, cout, down, optimized=False):
        super().__init__()
        self.down, self.optimized = down, optimized
        self.c1 = _sn(tnn.Conv2d(cin, cout, 3, 1, 1))
        self.c2 = _sn(tnn.Conv2d(cout, cout, 3, 1, 1))
        if optimized or down or cin != cout:
            self.c_sc = _sn(tnn.Conv2d(cin, cout, 1))

    def forward(self, x):
        if self.optimized:
            h = TF.avg_pool2d(self.c2(TF.relu(self.c1(x))), 2)
            return h + self.c_sc(TF.avg_pool2d(x, 2))
        h = self.c2(TF.relu(self.c1(TF.relu(x))))
        sc = self.c_sc(x) if hasattr(self, "c_sc") else x
        if self.down:
            h, sc = TF.avg_pool2d(h, 2), TF.avg_pool2d(sc, 2)
        return h + sc


class TorchResNetG(tnn.Module):
    def __init__(self, latent, ngf, channels, sn, attention):
        super().__init__()
        self.w = ngf * 4
        self.l1 = _sn(tnn.Linear(latent, self.w * 16), sn)
        blocks = [TorchGenBlock(self.w, self.w, sn), TorchGenBlock(self.w, self.w, sn)]
        if attention:
            blocks.append(TorchSelfAttention(self.w, sn))
        blocks.append(TorchGenBlock(self.w, self.w, sn))
        self.blocks = tnn.Sequential(*blocks)
        self.b_out = tnn.BatchNorm2d(self.w)
        self.c_out = _sn(tnn.Conv2d(self.w, channels, 3, 1, 1), sn)

    def forward(self, z):
        h = self.blocks(self.l1(z).view(z.shape[0], self.w, 4, 4))
        return torch.tanh(self.c_out(TF.relu(self.b_out(h))))


class TorchResNetD(tnn.Module):
    def __init__(self, ndf, channels, attention):
        super().__init__()
        w = ndf * 2
        blocks = [TorchDisBlock(channels, w, True, optimized=True)]
        if attention:
            blocks.append(TorchSelfAttention(w, True))
        blocks += [TorchDisBlock(w, w, True), TorchDisBlock(w, w, False),
                   TorchDisBlock(w, w, False)]
        self.blocks = tnn.Sequential(*blocks)
        self.l_out = _sn(tnn.Linear(w, 1))

    def forward(self, x):
        return self.l_out(TF.relu(self.blocks(x)).sum((2, 3))).view(-1)


@pytest.mark.parametrize("attention", [False, True], ids=["sngan", "sagan"])
def test_resnet_networks_match_torch(attention):
    """SNGAN's G (no SN) and D, SAGAN's G and D (SN everywhere, attention): outputs, input and
    weight gradients and the power-iteration buffers after a training-mode forward."""
    from minigan.models.spectral import ResNetDiscriminator, ResNetGenerator
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    _assert_same(ResNetGenerator(6, 2, 1, 32, sn=attention, attention=attention),
                 TorchResNetG(6, 2, 1, attention, attention), rng.standard_normal((3, 6)),
                 "ResNet G")
    _assert_same(ResNetDiscriminator(3, 1, 32, attention=attention),
                 TorchResNetD(3, 1, attention), rng.uniform(-1, 1, (3, 1, 32, 32)),
                 "ResNet D")


def test_sagan_uses_ttur():
    from minigan.training.trainer import TrainConfig
    cfg = TrainConfig(model="sagan", **MODELS["sagan"].preset, ngf=2, ndf=2)
    model = MODELS["sagan"](cfg, 1)
    assert model.opts["G"].param_groups[0]["lr"] == 1e-4
    assert model.opts["D"].param_groups[0]["lr"] == 4e-4
    assert model.opts["D"].param_groups[0]["betas"] == (0.0, 0.9)


# --- unrolled -------------------------------------------------------------------------------

class _Data:
    def __init__(self, images):
        from minigan.models.base import Batch
        self.batch, self.step = Batch(minigan.tensor(images), None), 0

    def real(self, k=0):
        return self.batch


def _unrolled_after_one_step(**options):
    from minigan.training.trainer import TrainConfig
    cfg = TrainConfig(model="unrolled", **MODELS["unrolled"].preset, ngf=2, ndf=2,
                      latent_dim=4, options=options)
    minigan.manual_seed(0)
    model = MODELS["unrolled"](cfg, 1)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 1, 32, 32)).astype("float32")
    model.train_step(_Data(images))
    return ({f"{n}.{k}": v.numpy() for n, net in model.nets.items()
             for k, v in net.state_dict().items()},
            {k: v.numpy() for k, v in model.opts["D"].state_dict()["state"][0].items()
             if isinstance(v, minigan.Tensor)})


def test_unrolled_looks_ahead_and_restores_d():
    plain, plain_opt = _unrolled_after_one_step(unroll_steps=0)
    ahead, ahead_opt = _unrolled_after_one_step(unroll_steps=3)
    # D and its Adam state are those of the one ordinary D update: the look-ahead is undone
    for k in plain:
        if k.startswith("D."):
            np.testing.assert_array_equal(plain[k], ahead[k], err_msg=k)
    for k in plain_opt:
        np.testing.assert_array_equal(plain_opt[k], ahead_opt[k], err_msg=k)
    # ... while G moved against the unrolled D
    assert not np.array_equal(plain["G.main.0.weight"], ahead["G.main.0.weight"])
    # unrolling 0 steps is the same G update either way; 2 second-order steps differ
    second, _ = _unrolled_after_one_step(unroll_steps=0, second_order=1)
    # (BatchNorm statistics aside: that G loss also ran D on the reals)
    for k in (k for k in plain if "running_" not in k and "num_batches" not in k):
        np.testing.assert_allclose(plain[k], second[k], rtol=1e-6, atol=1e-7, err_msg=k)
    full, _ = _unrolled_after_one_step(unroll_steps=2, second_order=1, unroll_lr=0.5)
    assert not np.allclose(plain["G.main.0.weight"], full["G.main.0.weight"])
