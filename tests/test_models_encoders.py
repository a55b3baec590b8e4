"""The encoder-bearing models (minigan/models/encoders.py: bigan, aae, vaegan), the encoder in
the generator export and ``python -m minigan.sample --reconstruct``: the CLI on tiny settings
(sampling and reconstructing from the run folder, from its export alone and from its
checkpoint), old exports, resume bit-identical on numpy (bigan), each network against the same
architecture written with torch.nn (float64: outputs, input, weight gradients), VAE-GAN's
update rule against the paper's algorithm written in torch, and the AAE learning to
reconstruct."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch import nn as tnn

import minigan
from minigan.data import load as load_dataset
from minigan.models import MODELS
from minigan.models import encoders as enc
from minigan.models.base import Batch
from minigan.sample import main as sample_main
from minigan.train import main as train_main
from minigan.training import checkpoint as ck
from minigan.training.trainer import TrainConfig
from tests.torch_ref import assert_close

TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "8", "--latent-dim", "8", "--no-progress"]
ENCODERS = ["bigan", "aae", "vaegan"]


def _train(name, out, *flags):
    return train_main([name, *TINY, "--out", str(out), *flags])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny 2-step run per model (and a dcgan one), shared by the CLI tests."""
    root = tmp_path_factory.mktemp("runs")
    for name in ENCODERS + ["dcgan"]:
        assert _train(name, root / name, "--steps", "2", "--no-tensorboard") == 0
    return root


# --- the CLI --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ENCODERS)
def test_cli_trains_samples_and_reconstructs(runs, tmp_path, name, capsys):
    run = runs / name
    cls = MODELS[name]
    assert cls.paper and cls.summary and cls.preset and cls.exported == ("G", "E")
    arrays, info = ck.load_generator_export(run / "generator.safetensors")
    assert info["exported"] == ["G", "E"]
    _, ckpt, _ = ck.load_latest(run / "checkpoints")
    # G unprefixed as ever, E under "E/", D not exported
    assert {k for k in arrays if "/" not in k} == {k[2:] for k in ckpt if k.startswith("G.")}
    assert {k[2:] for k in arrays if k.startswith("E/")} == \
        {k[2:] for k in ckpt if k.startswith("E.")}
    assert not any(k.startswith("D") for k in arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(v, ckpt[k.replace("/", ".", 1) if "/" in k else "G." + k])
    alone = tmp_path / "alone.safetensors"  # the export on its own, away from its run
    alone.write_bytes((run / "generator.safetensors").read_bytes())
    assert sample_main([str(run), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert sample_main([str(alone), "--n", "4", "--out", str(tmp_path / "s2.png")]) == 0
    assert (tmp_path / "s.png").read_bytes() == (tmp_path / "s2.png").read_bytes()

    results = []
    for source in (run, alone):
        out, arr = tmp_path / f"r_{len(results)}.png", tmp_path / f"r_{len(results)}.npz"
        capsys.readouterr()
        assert sample_main([str(source), "--reconstruct", "--n", "10", "--out", str(out),
                            "--save-array", str(arr), "--seed", "4"]) == 0
        printed = capsys.readouterr().out
        assert "reconstruction MSE" in printed and out.exists()
        with np.load(arr) as f:
            results.append({k: f[k] for k in f.files})
        # rows of 8 alternate real / reconstruction: 10 images make 4 rows
        from PIL import Image
        assert Image.open(out).size == (8 * 34 + 2, 4 * 34 + 2)
    a, b = results
    assert a.keys() == {"images", "originals", "labels"}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert a["images"].shape == a["originals"].shape == (10, 1, 32, 32)
    assert a["images"].dtype == np.float32 and a["labels"].dtype == np.int64
    assert np.abs(a["images"]).max() <= 1.0
    data = load_dataset("digits", None, 32)
    # the originals are real digits, with their labels
    for image, label in zip(a["originals"], a["labels"]):
        i = np.flatnonzero((data.images == image).all(axis=(1, 2, 3)))
        assert i.size and data.labels[i[0]] == label
    mse = float(printed.split("reconstruction MSE ")[1].split()[0])
    assert mse == pytest.approx(np.mean((a["images"].astype(np.float64) - a["originals"]) ** 2),
                                abs=1e-5)


def test_reconstruct_refuses_models_without_encoder_and_bad_flags(runs, tmp_path, capsys):
    capsys.readouterr()
    assert sample_main([str(runs / "dcgan"), "--reconstruct"]) == 1
    assert capsys.readouterr().err == ("minigan.sample: --reconstruct: model 'dcgan' has no "
                                       "encoder (bigan, aae and vaegan have)\n")
    with pytest.raises(SystemExit) as e:
        sample_main([str(runs / "aae"), "--reconstruct", "--interpolate"])
    assert e.value.code == 2
    assert "does not combine with --interpolate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sample_main([str(runs / "aae"), "--data", "digits"])
    assert "--reconstruct" in capsys.readouterr().err
    # a dataset missing, or with other channels than the model's: one line each
    assert sample_main([str(runs / "aae"), "--reconstruct", "--data", "cifar10",
                        "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minigan.sample: ")
    from PIL import Image
    for i in range(2):
        Image.new("RGB", (8, 8), (40 * i, 90, 200)).save(tmp_path / f"{i}.png")
    assert sample_main([str(runs / "aae"), "--reconstruct", "--data", "folder",
                        "--data-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == ("minigan.sample: --reconstruct: --data folder has 3 "
                                       "channel(s); the model was trained on 1\n")


def test_old_exports_still_sample(runs, tmp_path, capsys):
    """Exports written before the exported networks were recorded: G alone, unprefixed keys,
    no "exported" (and, from minigan 0.1, no "channels") in the info."""
    for name in ("dcgan", "bigan"):
        arrays, info = ck.load_generator_export(runs / name / "generator.safetensors")
        g_only = {k: v for k, v in arrays.items() if "/" not in k}
        old = tmp_path / f"{name}.safetensors"
        ck.save_generator(old, g_only, {k: v for k, v in info.items()
                                        if k not in ("exported", "channels")})
        new_png, old_png = tmp_path / f"{name}_new.png", tmp_path / f"{name}_old.png"
        assert sample_main([str(runs / name / "generator.safetensors"), "--n", "4",
                            "--out", str(new_png)]) == 0
        assert sample_main([str(old), "--n", "4", "--out", str(old_png)]) == 0
        assert new_png.read_bytes() == old_png.read_bytes()
    # with no encoder weights, --reconstruct says so in one line
    capsys.readouterr()
    assert sample_main([str(tmp_path / "bigan.safetensors"), "--reconstruct"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no weights of E" in err


@pytest.mark.parametrize("name", ["aae", "vaegan"])
def test_checkpoint_fallback_loads_the_encoder(runs, tmp_path, name, capsys):
    """Without the export, the run folder's checkpoint gives the same G and E (the channels
    found from the weights' shapes: these decoders do not end in a transposed convolution)."""
    run = tmp_path / name
    (run / "checkpoints").mkdir(parents=True)
    for f in ("config.json",):
        (run / f).write_bytes((runs / name / f).read_bytes())
    for f in (runs / name / "checkpoints").iterdir():
        (run / "checkpoints" / f.name).write_bytes(f.read_bytes())
    out = []
    for source in (runs / name, run):
        arr = tmp_path / f"{len(out)}.npz"
        assert sample_main([str(source), "--reconstruct", "--n", "6", "--save-array", str(arr),
                            "--out", str(tmp_path / "g.png")]) == 0
        with np.load(arr) as f:
            out.append(f["images"])
    np.testing.assert_array_equal(out[0], out[1])


# --- resume -----------------------------------------------------------------------------------
def test_bigan_resume_is_bit_identical(tmp_path):
    # D's dropout draws from the backend RNG, and E has its own optimizer: both in the checkpoint
    flags = ["--steps", "4", "--checkpoint-interval", "2", "--seed", "5", "--no-tensorboard"]
    assert _train("bigan", tmp_path / "straight", *flags) == 0
    assert _train("bigan", tmp_path / "resumed", "--steps", "2", "--checkpoint-interval", "2",
                  "--seed", "5", "--no-tensorboard") == 0
    assert _train("bigan", tmp_path / "resumed", *flags) == 0
    _, a, meta_a = ck.load_latest(tmp_path / "straight" / "checkpoints")
    _, b, meta_b = ck.load_latest(tmp_path / "resumed" / "checkpoints")
    assert meta_a["step"] == meta_b["step"] == 4
    assert a.keys() == b.keys()
    assert any(k.startswith("opt_e.state") for k in a) and any(k.startswith("E.") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    rows = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text()
            .splitlines()]
    assert {"d_loss", "g_loss", "D(x,E(x))", "D(G(z),z)", "lr_e"} <= rows[-1].keys()


# --- shapes and options -------------------------------------------------------------------
@pytest.mark.parametrize("name", ENCODERS)
def test_sizes_channels_and_errors(name):
    for img_size, channels in ((64, 3), (32, 3), (64, 1)):
        cfg = TrainConfig(model=name, **MODELS[name].preset)
        cfg.ngf, cfg.ndf, cfg.latent_dim, cfg.img_size = 2, 2, 5, img_size
        model = MODELS[name](cfg, channels)
        x = minigan.tensor(np.random.default_rng(0).uniform(
            -1, 1, (3, channels, img_size, img_size)).astype(np.float32))
        z = model.encode(x)
        assert z.shape == (3, 5)
        assert model.generate(z).shape == (3, channels, img_size, img_size)
    for field, value, channels in (("img_size", 48, 1), ("img_size", 16, 1),
                                   ("channels", 2, 2)):
        cfg = TrainConfig(model=name, **MODELS[name].preset, ngf=2, ndf=2)
        if field == "img_size":
            cfg.img_size = value
        with pytest.raises(ValueError, match=f"^{name}: {field} must be .*, got {value}$"):
            MODELS[name](cfg, channels)


def test_model_options_are_checked():
    with pytest.raises(ValueError, match="aae: --recon-loss must be mse or l1, got 'l2'"):
        MODELS["aae"](TrainConfig(model="aae", ngf=2, ndf=2, options={"recon_loss": "l2"}), 1)
    with pytest.raises(ValueError, match="aae: --posterior must be"):
        MODELS["aae"](TrainConfig(model="aae", ngf=2, ndf=2, options={"posterior": "x"}), 1)
    with pytest.raises(ValueError, match="vaegan: --loss must be nsgan or minimax"):
        MODELS["vaegan"](TrainConfig(model="vaegan", ngf=2, ndf=2, loss="lsgan"), 1)
    assert MODELS["vaegan"].preset["lr"] == 3e-4
    model = MODELS["vaegan"](TrainConfig(model="vaegan", ngf=2, ndf=2), 1)
    assert all(type(o).__name__ == "RMSprop" for o in model.opts.values())
    assert set(model.opts) == {"G", "E", "D"}


# --- torch twins ------------------------------------------------------------------------------
def _load_from_torch(ours, theirs):
    theirs = theirs.double()
    ours = ours.to(minigan.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: minigan.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})
    return ours, theirs


def _assert_same(ours, theirs, inputs, what, out=None):
    """Outputs, input gradients and every weight gradient of <out, c> (c random), and the
    buffers after the (training-mode) forward."""
    out = out or (lambda m, *xs: m(*xs))
    ours, theirs = _load_from_torch(ours, theirs)
    mx = [minigan.tensor(x, requires_grad=True) for x in inputs]
    tx = [torch.tensor(x, requires_grad=True) for x in inputs]
    m_out, t_out = out(ours, *mx), out(theirs, *tx)
    assert_close(m_out, t_out, "float64", f"{what}: output")
    cot = np.random.default_rng(5).standard_normal(tuple(t_out.shape))
    (m_out * minigan.tensor(cot)).sum().backward()
    (t_out * torch.tensor(cot)).sum().backward()
    for i, (m, t) in enumerate(zip(mx, tx)):
        assert_close(m.grad, t.grad, "float64", f"{what}: gradient of input {i}")
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        t_grad = t_params[name].grad
        expected = np.zeros(p.shape) if t_grad is None else t_grad
        actual = np.zeros(p.shape) if p.grad is None else p.grad  # layers after Dis_l
        assert_close(actual, expected, "float64", f"{what}: gradient of {name}")
    t_state = theirs.state_dict()
    for name, v in ours.state_dict().items():
        assert_close(v, t_state[name], "float64", f"{what}: {name} after the forward")


def _down(cin, cout, k=4, bn=True):
    pad = 1 if k == 4 else 2
    return [tnn.Conv2d(cin, cout, k, 2, pad, bias=False)] + \
        ([tnn.BatchNorm2d(cout)] if bn else []) + \
        ([tnn.LeakyReLU(0.2, True)] if k == 4 else [tnn.ReLU(True)])


class TorchBiGANEncoder(tnn.Module):
    def __init__(self, latent, ngf, channels, stages):
        super().__init__()
        layers, w = [tnn.Conv2d(channels, ngf, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2, True)], ngf
        for _ in range(stages - 1):
            layers += _down(w, 2 * w)
            w *= 2
        self.main = tnn.Sequential(*layers, tnn.Conv2d(w, latent, 4, 1, 0))

    def forward(self, x):
        return self.main(x).flatten(1)


class TorchBiGANDiscriminator(tnn.Module):
    def __init__(self, latent, ndf, channels, stages, p=0.0):
        super().__init__()
        act = [tnn.LeakyReLU(0.2, True), tnn.Dropout(p)]
        layers, w = [tnn.Conv2d(channels, ndf, 4, 2, 1), *act], ndf
        for _ in range(stages - 1):
            layers += [tnn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), tnn.BatchNorm2d(2 * w),
                       tnn.LeakyReLU(0.2, True), tnn.Dropout(p)]
            w *= 2
        self.infer_x = tnn.Sequential(*layers, tnn.Conv2d(w, 8 * ndf, 4, 1, 0),
                                      tnn.LeakyReLU(0.2, True), tnn.Dropout(p))
        self.infer_z = tnn.Sequential(
            tnn.Linear(latent, 8 * ndf), tnn.LeakyReLU(0.2, True), tnn.Dropout(p),
            tnn.Linear(8 * ndf, 8 * ndf), tnn.LeakyReLU(0.2, True), tnn.Dropout(p))
        self.infer_joint = tnn.Sequential(
            tnn.Linear(16 * ndf, 16 * ndf), tnn.LeakyReLU(0.2, True), tnn.Dropout(p),
            tnn.Linear(16 * ndf, 16 * ndf), tnn.LeakyReLU(0.2, True), tnn.Dropout(p))
        self.final = tnn.Linear(16 * ndf, 1)

    def forward(self, x, z):
        h = torch.cat([self.infer_x(x).flatten(1), self.infer_z(z)], 1)
        return self.final(self.infer_joint(h)).view(-1)


@pytest.mark.parametrize("img_size,channels", [(32, 1), (64, 3)])
def test_bigan_networks_match_torch(img_size, channels):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    stages = 3 if img_size == 32 else 4
    x = rng.uniform(-1, 1, (3, channels, img_size, img_size))
    _assert_same(enc.BiGANEncoder(6, 2, channels, img_size),
                 TorchBiGANEncoder(6, 2, channels, stages), [x], "BiGAN E")
    # dropout 0: the training-mode forward (batch statistics) is deterministic
    _assert_same(enc.BiGANDiscriminator(6, 2, channels, img_size, dropout=0.0),
                 TorchBiGANDiscriminator(6, 2, channels, stages), [x, rng.standard_normal((3, 6))],
                 "BiGAN D")


class TorchAAEEncoder(tnn.Module):
    def __init__(self, latent, ngf, channels, img_size, gaussian):
        super().__init__()
        w = 8 * ngf
        self.model = tnn.Sequential(
            tnn.Linear(channels * img_size ** 2, w), tnn.LeakyReLU(0.2, True),
            tnn.Linear(w, w), tnn.BatchNorm1d(w), tnn.LeakyReLU(0.2, True))
        self.mu = tnn.Linear(w, latent)
        if gaussian:
            self.logvar = tnn.Linear(w, latent)

    def forward(self, x):
        h = self.model(x.flatten(1))
        return torch.cat([self.mu(h), self.logvar(h)], 1) if hasattr(self, "logvar") else \
            self.mu(h)


class TorchAAEDecoder(tnn.Module):
    def __init__(self, latent, ngf, channels, img_size):
        super().__init__()
        w = 8 * ngf
        self.shape = (channels, img_size, img_size)
        self.model = tnn.Sequential(
            tnn.Linear(latent, w), tnn.LeakyReLU(0.2, True),
            tnn.Linear(w, w), tnn.BatchNorm1d(w), tnn.LeakyReLU(0.2, True),
            tnn.Linear(w, channels * img_size ** 2), tnn.Tanh())

    def forward(self, z):
        return self.model(z).view(z.shape[0], *self.shape)


class TorchAAEDiscriminator(tnn.Module):
    def __init__(self, latent, ndf):
        super().__init__()
        self.model = tnn.Sequential(
            tnn.Linear(latent, 8 * ndf), tnn.LeakyReLU(0.2, True),
            tnn.Linear(8 * ndf, 4 * ndf), tnn.LeakyReLU(0.2, True), tnn.Linear(4 * ndf, 1))

    def forward(self, z):
        return self.model(z).view(-1)


def test_aae_networks_match_torch():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (4, 3, 32, 32))
    _assert_same(enc.AAEEncoder(5, 2, 3, 32), TorchAAEEncoder(5, 2, 3, 32, False), [x],
                 "AAE E")
    _assert_same(enc.AAEEncoder(5, 2, 3, 32, gaussian=True),
                 TorchAAEEncoder(5, 2, 3, 32, True), [x], "AAE E (Gaussian)",
                 out=lambda m, v: m(v) if isinstance(m, tnn.Module) else minigan.cat(m(v), 1))
    _assert_same(enc.AAEDecoder(5, 2, 3, 32), TorchAAEDecoder(5, 2, 3, 32),
                 [rng.standard_normal((4, 5))], "AAE G")
    _assert_same(enc.AAEDiscriminator(5, 3), TorchAAEDiscriminator(5, 3),
                 [rng.standard_normal((4, 5))], "AAE D")


class TorchVAEGANEncoder(tnn.Module):
    def __init__(self, latent, ngf, channels, img_size):
        super().__init__()
        self.main = tnn.Sequential(*_down(channels, ngf, 5), *_down(ngf, 2 * ngf, 5),
                                   *_down(2 * ngf, 4 * ngf, 5))
        s = img_size // 8
        self.fc = tnn.Sequential(tnn.Linear(4 * ngf * s * s, 32 * ngf, bias=False),
                                 tnn.BatchNorm1d(32 * ngf), tnn.ReLU(True))
        self.mu = tnn.Linear(32 * ngf, latent)
        self.logvar = tnn.Linear(32 * ngf, latent)

    def forward(self, x):
        h = self.fc(self.main(x).flatten(1))
        return self.mu(h), self.logvar(h)


class TorchVAEGANDecoder(tnn.Module):
    def __init__(self, latent, ngf, channels, img_size):
        super().__init__()
        self.s, self.w = img_size // 8, 4 * ngf
        self.fc = tnn.Sequential(tnn.Linear(latent, self.w * self.s ** 2, bias=False),
                                 tnn.BatchNorm1d(self.w * self.s ** 2), tnn.ReLU(True))
        layers, w = [], self.w
        for out in (4 * ngf, 2 * ngf, ngf // 2):
            layers += [tnn.ConvTranspose2d(w, out, 5, 2, 2, output_padding=1, bias=False),
                       tnn.BatchNorm2d(out), tnn.ReLU(True)]
            w = out
        self.main = tnn.Sequential(*layers, tnn.Conv2d(w, channels, 5, 1, 2), tnn.Tanh())

    def forward(self, z):
        return self.main(self.fc(z).view(z.shape[0], self.w, self.s, self.s))


class TorchVAEGANDiscriminator(tnn.Module):
    def __init__(self, ndf, channels, img_size):
        super().__init__()
        self.conv = tnn.Sequential(tnn.Conv2d(channels, ndf // 2, 5, 1, 2), tnn.ReLU(True),
                                   *_down(ndf // 2, 2 * ndf, 5), *_down(2 * ndf, 4 * ndf, 5),
                                   *_down(4 * ndf, 4 * ndf, 5))
        s = img_size // 8
        self.fc = tnn.Sequential(tnn.Linear(4 * ndf * s * s, 8 * ndf, bias=False),
                                 tnn.BatchNorm1d(8 * ndf), tnn.ReLU(True), tnn.Linear(8 * ndf, 1))

    def features_and_logits(self, x):
        h = x
        for i, layer in enumerate(self.conv):
            h = layer(h)
            if i == 8:  # Dis_l: the fourth convolution's output
                features = h.clone()  # the ReLU after the BatchNorm is in place, not on it
        return features, self.fc(h.flatten(1)).view(-1)

    def forward(self, x):
        return self.features_and_logits(x)[1]


@pytest.mark.parametrize("img_size,channels", [(32, 1), (64, 3)])
def test_vaegan_networks_match_torch(img_size, channels):
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (3, channels, img_size, img_size))

    def both(m, v):
        out = m(v)
        return (torch if isinstance(m, tnn.Module) else minigan).cat(list(out), 1)

    _assert_same(enc.VAEGANEncoder(5, 4, channels, img_size),
                 TorchVAEGANEncoder(5, 4, channels, img_size), [x], "VAE-GAN E", out=both)
    _assert_same(enc.VAEGANDecoder(5, 4, channels, img_size),
                 TorchVAEGANDecoder(5, 4, channels, img_size), [rng.standard_normal((3, 5))],
                 "VAE-GAN G")
    _assert_same(enc.VAEGANDiscriminator(4, channels, img_size),
                 TorchVAEGANDiscriminator(4, channels, img_size), [x], "VAE-GAN D")
    _assert_same(enc.VAEGANDiscriminator(4, channels, img_size),
                 TorchVAEGANDiscriminator(4, channels, img_size), [x], "VAE-GAN Dis_l",
                 out=lambda m, v: m.features_and_logits(v)[0])


@pytest.mark.parametrize("loss", ["nsgan", "minimax"])
def test_vaegan_update_rule_matches_the_paper_in_torch(loss):
    """One step's gradients against Algorithm 1 written in torch: E from L_prior + L_llike,
    G from gamma L_llike - L_GAN (its GAN loss: the paper's saturating one with minimax, the
    non-saturating one with nsgan), D from -L_GAN; L_llike the Gaussian negative
    log-likelihood of Dis_l(x) around Dis_l(G(E(x))) and L_prior the KL to N(0, I)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    cfg = TrainConfig(model="vaegan", **MODELS["vaegan"].preset)
    cfg.ngf, cfg.ndf, cfg.latent_dim, cfg.loss = 4, 4, 5, loss
    cfg.options = {"gamma": 0.3}  # large enough for L_llike to show in G's gradients
    model = MODELS["vaegan"](cfg, 1)
    tnets = {"E": TorchVAEGANEncoder(5, 4, 1, 32), "G": TorchVAEGANDecoder(5, 4, 1, 32),
             "D": TorchVAEGANDiscriminator(4, 1, 32)}
    for k in tnets:
        model.nets[k], tnets[k] = _load_from_torch(model.nets[k], tnets[k])
    x, zp, eps = (rng.uniform(-1, 1, (4, 1, 32, 32)), rng.standard_normal((4, 5)),
                  rng.standard_normal((4, 5)))
    kl, llike, gan_g, gan_d = model.backward(*(minigan.tensor(a) for a in (x, zp, eps)))[:4]

    E, G, D = tnets["E"], tnets["G"], tnets["D"]
    tx = torch.tensor(x)
    mu, logvar = E(tx)
    z = mu + torch.exp(0.5 * logvar) * torch.tensor(eps)
    f_x, d_x = D.features_and_logits(tx)
    f_t, d_t = D.features_and_logits(G(z))
    d_p = D(G(torch.tensor(zp)))
    t_kl = torch.mean(-0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), 1))
    t_llike = torch.mean(0.5 * torch.sum((f_x - f_t).flatten(1) ** 2, 1))
    bce = TF.binary_cross_entropy_with_logits
    one, zero = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    t_gan_d = bce(d_x, one) + bce(d_t, zero) + bce(d_p, zero)  # -L_GAN
    t_gan_g = bce(d_t, one) + bce(d_p, one) if loss == "nsgan" else \
        -(bce(d_t, zero) + bce(d_p, zero))
    for m, t, what in ((kl, t_kl, "KL"), (llike, t_llike, "L_llike"), (gan_g, t_gan_g, "G's GAN"),
                       (gan_d, t_gan_d, "D's GAN")):
        assert_close(m, t, "float64", what)
    objectives = {"E": t_kl + t_llike, "G": 0.3 * t_llike + t_gan_g, "D": t_gan_d}
    for k, objective in objectives.items():
        grads = torch.autograd.grad(objective, list(tnets[k].parameters()), retain_graph=True,
                                    allow_unused=True)
        for (name, p), g in zip(model.nets[k].named_parameters(), grads):
            assert_close(p.grad, np.zeros(p.shape) if g is None else g, "float64",
                         f"vaegan {k}: gradient of {name}")


# --- learning ---------------------------------------------------------------------------------
def test_aae_learns_to_reconstruct():
    """On 64 digits, 50 steps of a narrow AAE bring the reconstruction error of those digits
    (eval mode) to well under half its value at step 0."""
    images = load_dataset("digits", None, 32).images[:64]
    cfg = TrainConfig(model="aae", **MODELS["aae"].preset)
    cfg.ngf, cfg.ndf, cfg.batch_size, cfg.lr = 8, 8, 32, 1e-3
    minigan.manual_seed(0)
    model = MODELS["aae"](cfg, 1)
    rng = np.random.default_rng(0)

    class Data:
        step = 0

        def real(self, k=0):
            return Batch(minigan.tensor(images[rng.choice(64, 32, replace=False)]), None)

    def error():
        for net in model.nets.values():
            net.eval()
        with minigan.no_grad():
            recon = model.generate(model.encode(minigan.tensor(images))).numpy()
        for net in model.nets.values():
            net.train()
        return float(np.mean((recon - images) ** 2))

    before = error()
    for _ in range(50):
        logged = model.train_step(Data())
    assert error() < 0.5 * before
    assert {"recon_loss", "d_loss", "g_loss", "D(z)", "D(E(x))"} == logged.keys()
