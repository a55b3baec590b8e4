"""The objective family of the zoo (minigan/models/losses_family.py): every model trains and
samples from the CLI, wgan-gp resumes bit-identically, the new networks (the batch-norm-free
critic, the MLP G and D) match torch twins written here, and the model-specific steps do what
their papers say (clipping, DRAGAN's data-only penalty points, --divergence, paired losses).

The DCGAN networks the other models reuse are compared with torch in tests/test_train.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as tnn

import minigan
from minigan.models import MODELS
from minigan.models.losses_family import Critic, MLPDiscriminator, MLPGenerator
from minigan.sample import main as sample_main
from minigan.train import main as train_main
from minigan.training.checkpoint import load_latest
from tests.torch_ref import assert_close, check_module

TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "8", "--latent-dim", "8", "--no-progress"]
FAMILY = ["wgan-gp", "lsgan", "wgan", "gan", "ragan", "dragan", "wgan-div", "fgan", "ls-gan"]


def train(tmp_path, model, *flags, name="r"):
    out = tmp_path / name
    return train_main([model, *TINY, "--out", str(out), *flags]), out


@pytest.mark.parametrize("model", FAMILY)
def test_cli_trains_and_samples(tmp_path, model):
    code, out = train(tmp_path, model, "--steps", "2")
    assert code == 0
    assert sample_main([str(out), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").exists()
    line = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("d_loss", "g_loss", "D(x)", "D(G(z))"):
        assert np.isfinite(line[key]), (key, line)


def test_presets_reach_the_config(tmp_path):
    """The paper's settings are the run's defaults, the penalty included (the --gp flag has
    no preset default, so the model sets it); flags still override."""
    code, out = train(tmp_path, "wgan-gp", "--steps", "1")
    cfg = json.loads((out / "config.json").read_text())
    assert code == 0
    assert (cfg["lr"], cfg["b1"], cfg["b2"], cfg["n_critic"]) == (1e-4, 0.0, 0.9, 5)
    assert (cfg["loss"], cfg["gp"], cfg["gp_weight"]) == ("wgan", "wgan-gp", 10.0)
    code, out = train(tmp_path, "wgan-gp", "--steps", "1", "--gp", "wgan-lp", "--n-critic",
                      "1", name="lp")
    cfg = json.loads((out / "config.json").read_text())
    assert (code, cfg["gp"], cfg["n_critic"]) == (0, "wgan-lp", 1)
    assert MODELS["wgan-div"].preset["gp_weight"] == 2.0  # k = 2 (p = 6 is the default)


def test_wgan_gp_resume_is_bit_identical(tmp_path):
    flags = ["--steps", "4", "--checkpoint-interval", "2", "--seed", "5"]
    assert train(tmp_path, "wgan-gp", *flags, name="straight")[0] == 0
    assert train(tmp_path, "wgan-gp", "--steps", "2", "--seed", "5", name="resumed")[0] == 0
    assert train(tmp_path, "wgan-gp", *flags, name="resumed")[0] == 0
    _, a, meta_a = load_latest(tmp_path / "straight" / "checkpoints")
    _, b, meta_b = load_latest(tmp_path / "resumed" / "checkpoints")
    assert meta_a["step"] == meta_b["step"] == 4
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# --- the model-specific steps ---------------------------------------------------------------
def _model(name, **options):
    from minigan.train import build_model
    from minigan.training.trainer import TrainConfig
    cls = MODELS[name]
    cfg = TrainConfig(**{**cls.preset, "model": name, "ngf": 4, "ndf": 4, "latent_dim": 8,
                         "batch_size": 8, "options": options})
    minigan.manual_seed(0)
    return build_model(cfg, 1, 10)


class _Data:
    step = 0

    def __init__(self, n_critic):
        rng = np.random.default_rng(0)
        self.batches = [rng.uniform(-1, 1, (8, 1, 32, 32)).astype("float32")
                        for _ in range(n_critic)]

    def real(self, k=0):
        from minigan.models.base import Batch
        return Batch(minigan.tensor(self.batches[k]), None)


def test_wgan_uses_rmsprop_and_clips_the_critic():
    model = _model("wgan", clip_value=0.005)
    assert all(type(o).__name__ == "RMSprop" for o in model.opts.values())
    assert model.opts["D"].param_groups[0]["momentum"] == 0
    assert max(np.abs(p.detach().numpy()).max() for p in model.nets["D"].parameters()) > 0.005
    model.train_step(_Data(5))
    assert max(np.abs(p.detach().numpy()).max() for p in model.nets["D"].parameters()) <= 0.005


def test_dragan_penalizes_around_the_data_only(monkeypatch):
    from minigan import losses
    seen = []
    real_penalty = losses.gradient_penalty

    def spy(D, real, fake, kind, weight, *args, **kwargs):
        seen.append((fake, kind, weight))
        return real_penalty(D, real, fake, kind, weight, *args, **kwargs)

    monkeypatch.setattr(losses, "gradient_penalty", spy)
    model = _model("dragan")
    assert type(model.nets["D"]).__name__ == "Critic"
    model.train_step(_Data(1))
    assert seen == [(None, "dragan", 10.0)]


def test_fgan_divergence_option(tmp_path, capsys):
    model = _model("fgan", divergence="kl")
    assert model.cfg.loss == "f-kl" and model.loss.nonsaturating
    code, out = train(tmp_path, "fgan", "--steps", "1", "--divergence", "pearson",
                      "--saturating", "1")
    assert code == 0 and json.loads((out / "config.json").read_text())["loss"] == "f-pearson"
    with pytest.raises(SystemExit):
        train_main(["fgan", "--divergence", "tv"])
    assert "is not one of" in capsys.readouterr().err


def test_loss_sensitive_step_reads_the_paired_samples(monkeypatch):
    model = _model("ls-gan", lam=2.0)
    calls = []
    d_loss = model.loss.d_loss

    def spy(real_out, fake_out, *, real=None, fake=None):
        calls.append((real.shape, fake.shape, fake.requires_grad))
        return d_loss(real_out, fake_out, real=real, fake=fake)

    monkeypatch.setattr(model.loss, "d_loss", spy)
    out = model.train_step(_Data(1))
    assert calls == [((8, 1, 32, 32), (8, 1, 32, 32), False)]
    assert model.loss.lam == 2.0 and np.isfinite(out["d_loss"].item())


# --- the networks against torch twins ---------------------------------------------------------
class TorchCritic(tnn.Module):
    def __init__(self, ndf, channels, img_size, norm):
        super().__init__()
        layers = [tnn.Conv2d(channels, ndf, 4, 2, 1), tnn.LeakyReLU(0.2, True)]
        width, size = ndf, img_size // 2
        for _ in range(2 if img_size == 32 else 3):
            size //= 2
            layers.append(tnn.Conv2d(width, width * 2, 4, 2, 1, bias=norm == "none"))
            if norm == "layer":
                layers.append(tnn.LayerNorm([width * 2, size, size]))
            layers.append(tnn.LeakyReLU(0.2, True))
            width *= 2
        layers.append(tnn.Conv2d(width, 1, 4, 1, 0))
        self.main = tnn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).reshape(-1)


class TorchMLPG(tnn.Module):
    def __init__(self, latent_dim, hidden, channels, img_size):
        super().__init__()
        self.shape = (channels, img_size, img_size)
        self.main = tnn.Sequential(tnn.Linear(latent_dim, hidden), tnn.ReLU(True),
                                   tnn.Linear(hidden, hidden), tnn.ReLU(True),
                                   tnn.Linear(hidden, channels * img_size ** 2), tnn.Tanh())

    def forward(self, z):
        return self.main(z.flatten(1)).reshape(z.shape[0], *self.shape)


class TorchMLPD(tnn.Module):
    def __init__(self, hidden, channels, img_size, dropout):
        super().__init__()
        self.main = tnn.Sequential(
            tnn.Linear(channels * img_size ** 2, hidden), tnn.LeakyReLU(0.2, True),
            tnn.Dropout(dropout), tnn.Linear(hidden, hidden), tnn.LeakyReLU(0.2, True),
            tnn.Dropout(dropout), tnn.Linear(hidden, 1))

    def forward(self, x):
        return self.main(x.flatten(1)).reshape(-1)


def _load_and_compare(ours, theirs, x, what):
    """torch's weights into minigan as the brief's dict, the same float64 outputs."""
    torch.manual_seed(0)
    theirs = theirs.double().eval()
    for p in theirs.parameters():  # away from init so that every weight matters
        p.data.add_(0.05 * torch.randn_like(p))
    ours = ours.double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: minigan.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})
    assert_close(ours(minigan.tensor(x)), theirs(torch.tensor(x)), "float64", what)
    return ours, theirs


@pytest.mark.parametrize("norm", ["layer", "none"])
def test_critic_matches_torch(norm):
    """Outputs, input and parameter gradients and the second-order gradients a gradient
    penalty takes (float64, to rounding)."""
    x = np.random.default_rng(2).uniform(-1, 1, (3, 1, 32, 32))
    ours, theirs = _load_and_compare(Critic(4, 1, 32, norm), TorchCritic(4, 1, 32, norm), x,
                                     f"critic ({norm})")
    check_module(ours, theirs, [x], what=f"critic ({norm})")


def test_mlp_generator_and_discriminator_match_torch():
    z = np.random.default_rng(3).standard_normal((3, 8))
    G, tG = _load_and_compare(MLPGenerator(8, 16, 1, 32), TorchMLPG(8, 16, 1, 32), z, "MLP G")
    check_module(G, tG, [z], what="MLP G", second_order=False)
    x = np.random.default_rng(4).uniform(-1, 1, (3, 1, 32, 32))
    D, tD = _load_and_compare(MLPDiscriminator(8, 1, 32, 0.5), TorchMLPD(8, 1, 32, 0.5), x,
                              "MLP D (eval: no dropout)")
    check_module(D, tD, [x], what="MLP D")
    D.train()
    out = D(minigan.tensor(x))  # dropout on in training mode: outputs change
    assert not np.allclose(out.detach().numpy(), D.eval()(minigan.tensor(x)).detach().numpy())
