"""The conditional and latent-code models (minigan/models/conditional.py): the CLI on tiny
settings, resume bit-identical on numpy (cgan), and each network against the same
architecture written with torch.nn (same module names, the torch state_dict loaded into
minigan), outputs and input gradients in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn as tnn

import minigan
from minigan.models import conditional as cond
from minigan.sample import main as sample_main
from minigan.train import main as train_main
from minigan.training.checkpoint import load_latest
from tests.torch_ref import assert_close

TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "8", "--latent-dim", "8", "--no-progress"]


def _train(name, out, *flags):
    return train_main([name, *TINY, "--out", str(out), *flags])


# --- the CLI ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cgan", "acgan", "infogan"])
def test_cli_trains_and_samples(tmp_path, name):
    run = tmp_path / "r"
    assert _train(name, run, "--steps", "2") == 0
    assert (run / "generator.safetensors").exists()
    assert sample_main([str(run), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").exists()


def test_cgan_resume_is_bit_identical(tmp_path):
    flags = ["--steps", "4", "--checkpoint-interval", "2", "--seed", "5"]
    assert _train("cgan", tmp_path / "straight", *flags) == 0
    assert _train("cgan", tmp_path / "resumed", "--steps", "2", "--checkpoint-interval", "2",
                  "--seed", "5") == 0
    assert _train("cgan", tmp_path / "resumed", *flags) == 0
    _, a, meta_a = load_latest(tmp_path / "straight" / "checkpoints")
    _, b, meta_b = load_latest(tmp_path / "resumed" / "checkpoints")
    assert meta_a["step"] == meta_b["step"] == 4
    assert a.keys() == b.keys()
    assert any(k.startswith("D.label_embedding") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# --- parity with torch ----------------------------------------------------------------------
def _load_from_torch(module, torch_module):
    """The torch module's state_dict into the minigan module (same keys), float64."""
    sd = torch_module.state_dict()
    assert list(module.state_dict()) == list(sd)
    module.load_state_dict({k: minigan.tensor(v.detach().numpy()) for k, v in sd.items()})


def _compare(m_fn, t_fn, m_inputs, t_inputs, what):
    """Outputs and the gradients of <output, v> w.r.t. the float inputs."""
    m_out, t_out = m_fn(*m_inputs), t_fn(*t_inputs)
    assert_close(m_out, t_out, "float64", f"{what}: output")
    v = np.random.default_rng(3).standard_normal(tuple(t_out.shape))
    (m_out * minigan.tensor(v)).sum().backward()
    (t_out * torch.tensor(v)).sum().backward()
    for i, (m, t) in enumerate(zip(m_inputs, t_inputs)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert_close(m.grad, t.grad, "float64", f"{what}: gradient of input {i}")


def _inputs(arrays):
    m = [minigan.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    t = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    return m, t


class TorchCGANGenerator(tnn.Module):
    def __init__(self, latent_dim, n_classes, channels, img_size, ngf):
        super().__init__()
        self.img_shape = (channels, img_size, img_size)
        self.label_emb = tnn.Embedding(n_classes, n_classes)
        layers, width = [], latent_dim + n_classes
        for i, out in enumerate((2 * ngf, 4 * ngf, 8 * ngf, 16 * ngf)):
            layers.append(tnn.Linear(width, out))
            if i:
                layers.append(tnn.BatchNorm1d(out))
            layers.append(tnn.LeakyReLU(0.2, inplace=True))
            width = out
        layers += [tnn.Linear(width, channels * img_size * img_size), tnn.Tanh()]
        self.model = tnn.Sequential(*layers)

    def forward(self, z, labels):
        x = torch.cat([self.label_emb(labels), z], -1)
        return self.model(x).view(z.shape[0], *self.img_shape)


class TorchCGANDiscriminator(tnn.Module):
    def __init__(self, n_classes, channels, img_size, ndf, dropout=0.4):
        super().__init__()
        width = 8 * ndf
        self.label_embedding = tnn.Embedding(n_classes, n_classes)
        self.model = tnn.Sequential(
            tnn.Linear(n_classes + channels * img_size * img_size, width),
            tnn.LeakyReLU(0.2, inplace=True),
            tnn.Linear(width, width), tnn.Dropout(dropout), tnn.LeakyReLU(0.2, inplace=True),
            tnn.Linear(width, width), tnn.Dropout(dropout), tnn.LeakyReLU(0.2, inplace=True),
            tnn.Linear(width, 1))

    def forward(self, x, labels):
        x = torch.cat([x.view(x.shape[0], -1), self.label_embedding(labels)], -1)
        return self.model(x).view(-1)


def test_cgan_networks_match_torch():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tG = TorchCGANGenerator(6, 10, 1, 32, 4).double()
    tD = TorchCGANDiscriminator(10, 1, 32, 4).double().eval()  # dropout off: deterministic
    G = cond.CGANGenerator(6, 10, 1, 32, 4).to(minigan.float64)
    D = cond.CGANDiscriminator(10, 1, 32, 4).to(minigan.float64).eval()
    _load_from_torch(G, tG)
    _load_from_torch(D, tD)
    labels = np.array([0, 3, 9, 3, 7])
    m, t = _inputs([rng.standard_normal((5, 6)), labels])
    _compare(G, tG, m, t, "cgan G (train mode: batch statistics)")
    m, t = _inputs([rng.uniform(-1, 1, (5, 1, 32, 32)), labels])
    _compare(D, tD, m, t, "cgan D")


class TorchACGANGenerator(tnn.Module):
    def __init__(self, latent_dim, n_classes, channels, ngf):
        super().__init__()
        self.width = 4 * ngf
        self.label_emb = tnn.Embedding(n_classes, n_classes)
        self.l1 = tnn.Sequential(tnn.Linear(latent_dim + n_classes, self.width * 16))
        w = self.width
        self.conv_blocks = tnn.Sequential(
            tnn.BatchNorm2d(w), tnn.ReLU(True),
            tnn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(w // 2),
            tnn.ReLU(True),
            tnn.ConvTranspose2d(w // 2, w // 4, 4, 2, 1, bias=False), tnn.BatchNorm2d(w // 4),
            tnn.ReLU(True),
            tnn.ConvTranspose2d(w // 4, channels, 4, 2, 1), tnn.Tanh())

    def forward(self, z, labels):
        x = self.l1(torch.cat([self.label_emb(labels), z], -1))
        return self.conv_blocks(x.view(z.shape[0], self.width, 4, 4))


class TorchACGANDiscriminator(tnn.Module):
    def __init__(self, n_classes, channels, ndf):
        super().__init__()

        def block(cin, cout, bn):
            return [tnn.Conv2d(cin, cout, 4, 2, 1), tnn.LeakyReLU(0.2, True),
                    tnn.Dropout(0.25)] + ([tnn.BatchNorm2d(cout)] if bn else [])

        self.conv_blocks = tnn.Sequential(*block(channels, ndf, False),
                                          *block(ndf, 2 * ndf, True),
                                          *block(2 * ndf, 4 * ndf, True))
        self.adv_layer = tnn.Linear(4 * ndf * 16, 1)
        self.aux_layer = tnn.Linear(4 * ndf * 16, n_classes)

    def forward(self, x):
        h = self.conv_blocks(x).flatten(1)
        return self.adv_layer(h).view(-1), self.aux_layer(h)


def test_acgan_networks_match_torch():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    tG = TorchACGANGenerator(6, 10, 1, 4).double()
    tD = TorchACGANDiscriminator(10, 1, 4).double().eval()  # dropout off, running BN stats
    G = cond.ACGANGenerator(6, 10, 1, 32, 4).to(minigan.float64)
    D = cond.ACGANDiscriminator(10, 1, 32, 4).to(minigan.float64).eval()
    _load_from_torch(G, tG)
    # non-trivial running statistics for D's eval-mode BatchNorm
    for name, buf in tD.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            buf.copy_(torch.tensor(rng.uniform(0.5, 1.5, buf.shape)))
    _load_from_torch(D, tD)
    labels = np.array([1, 4, 9, 0])
    m, t = _inputs([rng.standard_normal((4, 6)), labels])
    _compare(G, tG, m, t, "acgan G (train mode: batch statistics)")
    x = rng.uniform(-1, 1, (4, 1, 32, 32))
    for head in (0, 1):
        m, t = _inputs([x])
        _compare(lambda a, h=head: D(a)[h], lambda a, h=head: tD(a)[h], m, t,
                 f"acgan D head {head}")


class TorchInfoGANGenerator(tnn.Module):
    def __init__(self, in_dim, channels, img_size, ngf):
        super().__init__()
        self.init_size, self.width = img_size // 4, 2 * ngf
        self.fc = tnn.Sequential(
            tnn.Linear(in_dim, 16 * ngf), tnn.BatchNorm1d(16 * ngf), tnn.ReLU(True),
            tnn.Linear(16 * ngf, self.width * self.init_size ** 2),
            tnn.BatchNorm1d(self.width * self.init_size ** 2), tnn.ReLU(True))
        self.conv = tnn.Sequential(
            tnn.ConvTranspose2d(self.width, ngf, 4, 2, 1), tnn.BatchNorm2d(ngf), tnn.ReLU(True),
            tnn.ConvTranspose2d(ngf, channels, 4, 2, 1), tnn.Tanh())

    def forward(self, x):
        return self.conv(self.fc(x).view(x.shape[0], self.width, self.init_size,
                                         self.init_size))


class TorchInfoGANDiscriminator(tnn.Module):
    def __init__(self, channels, img_size, ndf, n_cat, n_cont):
        super().__init__()
        self.conv = tnn.Sequential(
            tnn.Conv2d(channels, ndf, 4, 2, 1), tnn.LeakyReLU(0.1, True),
            tnn.Conv2d(ndf, 2 * ndf, 4, 2, 1), tnn.BatchNorm2d(2 * ndf),
            tnn.LeakyReLU(0.1, True))
        self.fc = tnn.Sequential(tnn.Linear(2 * ndf * (img_size // 4) ** 2, 16 * ndf),
                                 tnn.BatchNorm1d(16 * ndf), tnn.LeakyReLU(0.1, True))
        self.adv_layer = tnn.Linear(16 * ndf, 1)
        self.q_layer = tnn.Sequential(tnn.Linear(16 * ndf, 2 * ndf), tnn.BatchNorm1d(2 * ndf),
                                      tnn.LeakyReLU(0.1, True))
        self.cat_layer = tnn.Linear(2 * ndf, n_cat)
        self.cont_layer = tnn.Linear(2 * ndf, n_cont)

    def forward(self, x):
        h = self.fc(self.conv(x).flatten(1))
        q = self.q_layer(h)
        return self.adv_layer(h).view(-1), self.cat_layer(q), self.cont_layer(q)


def test_infogan_networks_match_torch():
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    tG = TorchInfoGANGenerator(6 + 10 + 2, 1, 32, 4).double()
    tD = TorchInfoGANDiscriminator(1, 32, 4, 10, 2).double()
    G = cond.InfoGANGenerator(18, 1, 32, 4).to(minigan.float64)
    D = cond.InfoGANDiscriminator(1, 32, 4, 10, 2).to(minigan.float64)
    _load_from_torch(G, tG)
    _load_from_torch(D, tD)
    m, t = _inputs([rng.standard_normal((4, 18))])
    _compare(G, tG, m, t, "infogan G (train mode: batch statistics)")
    x = rng.uniform(-1, 1, (4, 1, 32, 32))
    for head in (0, 1, 2):
        m, t = _inputs([x])
        _compare(lambda a, h=head: D(a)[h], lambda a, h=head: tD(a)[h], m, t,
                 f"infogan D head {head}")


def test_infogan_codes_can_be_set():
    from minigan.training.trainer import TrainConfig, generate
    cfg = TrainConfig(model="infogan", ngf=4, ndf=4, latent_dim=8)
    model = cond.InfoGAN(cfg, 1, 10)
    noise = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    labels, codes = np.array([3, 3, 7, 0]), np.array([[1, -1], [0, 0], [0.5, 0], [0, 1.0]])
    full = model.full_latent(minigan.tensor(noise), labels, codes).numpy()
    assert full.shape == (4, 8 + 10 + 2)
    np.testing.assert_array_equal(full[:, 8:18].argmax(1), labels)
    np.testing.assert_allclose(full[:, 18:], codes)
    a = generate(model, minigan.tensor(full))  # eval mode: per-sample outputs
    model.nets["G"].eval()
    with minigan.no_grad():
        b = model.generate(minigan.tensor(noise.reshape(4, 8, 1, 1)), minigan.tensor(labels),
                           codes).numpy()
        # a full latent with the codes overridden
        other = model.full_latent(minigan.tensor(noise), [1, 2, 3, 4]).numpy()
        c = model.generate(minigan.tensor(other), labels, codes).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    # noise alone: the categorical code cycles, the continuous codes are 0
    cyc = model.full_latent(minigan.tensor(noise)).numpy()
    np.testing.assert_array_equal(cyc[:, 8:18].argmax(1), [0, 1, 2, 3])
    np.testing.assert_array_equal(cyc[:, 18:], 0)
    assert model.latent(5).shape == (5, 20)
    with pytest.raises(ValueError, match="expected the noise"):
        model.generate(minigan.zeros(2, 9))
