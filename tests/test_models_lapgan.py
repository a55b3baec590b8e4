"""LAPGAN (minigan/models/lapgan.py): the CLI on tiny settings (train, sample, interpolate,
img_size 64), resume bit-identical on numpy, the Laplacian pyramid (exact reconstruction,
shapes), the sampling chain, the summed-loss step against per-level Adams, the refusals, and
every network against the same architecture written with torch.nn (same module names, the
torch state_dict loaded into minigan), outputs and gradients in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch import nn as tnn

import minigan
from minigan.models import MODELS
from minigan.models import lapgan as lap
from minigan.models.base import Batch
from minigan.sample import main as sample_main
from minigan.train import main as train_main
from minigan.training.checkpoint import load_latest
from minigan.training.trainer import TrainConfig
from tests.torch_ref import assert_close

TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "8", "--latent-dim", "8", "--no-progress"]


def _train(out, *flags):
    return train_main(["lapgan", *TINY, "--out", str(out), *flags])


def _cfg(**kw):
    base = {"model": "lapgan", "ngf": 4, "ndf": 4, "latent_dim": 8, "batch_size": 8}
    return TrainConfig(**{**base, **kw})


# --- the CLI --------------------------------------------------------------------------------
def test_cli_trains_samples_and_interpolates(tmp_path):
    run = tmp_path / "r"
    assert _train(run, "--steps", "2", "--log-interval", "1", "--no-tensorboard") == 0
    assert (run / "generator.safetensors").exists()
    import json
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for key in ("d_loss", "g_loss", "D(x)", "D(G(z))", "d_loss/8", "d_loss/16", "d_loss/32",
                "g_loss/32", "D(x)/16", "D(G(z))/8"):
        assert key in rows[0], key
    assert rows[0]["d_loss"] == pytest.approx(
        np.mean([rows[0][f"d_loss/{s}"] for s in (8, 16, 32)]), rel=1e-5)
    assert sample_main([str(run), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").exists()
    assert sample_main([str(run), "--n", "16", "--interpolate",
                        "--out", str(tmp_path / "walk.png")]) == 0
    assert (tmp_path / "walk.png").exists()
    assert sample_main([str(run), "--n", "4", "--truncation", "1.0",
                        "--save-array", str(tmp_path / "t.npz"),
                        "--out", str(tmp_path / "t.png")]) == 0
    images = np.load(tmp_path / "t.npz")["images"]
    assert images.shape == (4, 1, 32, 32)
    assert images.min() >= -1.0 and images.max() <= 1.0
    cls = MODELS["lapgan"]
    assert cls.paper and cls.summary and cls.preset


def test_cli_img_size_64(tmp_path):
    run = tmp_path / "r64"
    assert _train(run, "--steps", "1", "--img-size", "64", "--batch-size", "2",
                  "--no-tensorboard") == 0
    assert sample_main([str(run), "--n", "2", "--save-array", str(tmp_path / "a.npz"),
                        "--out", str(tmp_path / "s.png")]) == 0
    assert np.load(tmp_path / "a.npz")["images"].shape == (2, 1, 64, 64)


def test_resume_is_bit_identical(tmp_path):
    common = ["--checkpoint-interval", "2", "--seed", "5", "--no-tensorboard"]
    assert _train(tmp_path / "straight", "--steps", "4", *common) == 0
    assert _train(tmp_path / "resumed", "--steps", "2", *common) == 0
    assert _train(tmp_path / "resumed", "--steps", "4", *common) == 0
    _, a, meta_a = load_latest(tmp_path / "straight" / "checkpoints")
    _, b, meta_b = load_latest(tmp_path / "resumed" / "checkpoints")
    assert meta_a["step"] == meta_b["step"] == 4
    assert a.keys() == b.keys()
    assert "G.levels.2.noise_proj.weight" in a and "D.levels.2.adv_layer.1.weight" in a
    assert any(k.startswith("opt_d.state.") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# --- the pyramid and the chain ----------------------------------------------------------------
def test_pyramid_reconstructs_exactly():
    rng = np.random.default_rng(0)
    # values on a 1/64 grid: the pool's quarters, the bilinear weights' quarters and the sums
    # are all exact in float64, so the reconstruction must be bit for bit
    x = rng.integers(-64, 65, (3, 2, 32, 32)) / 64.0
    coarse, pairs = lap.laplacian_pyramid(minigan.tensor(x), 3)
    assert coarse.shape == (3, 2, 8, 8)
    assert [tuple(h.shape) for h, _ in pairs] == [(3, 2, 16, 16), (3, 2, 32, 32)]
    # the coarse image is the mean of each 4x4 block
    np.testing.assert_allclose(coarse.numpy(), x.reshape(3, 2, 8, 4, 8, 4).mean((3, 5)),
                               rtol=0, atol=1e-15)
    for h, cond in pairs:  # each pair's conditioning is u(d(level image))
        image = (h + cond).numpy()
        down = image.reshape(*image.shape[:2], image.shape[2] // 2, 2, -1, 2).mean((3, 5))
        np.testing.assert_array_equal(cond.numpy(),
                                      lap.upsample(minigan.tensor(down)).numpy())
    # real == up(down(real)) + residual, at the top and through the whole chain
    h32, c32 = pairs[-1]
    np.testing.assert_array_equal((lap.upsample(lap.downsample(minigan.tensor(x))) + h32)
                                  .numpy(), x)
    np.testing.assert_array_equal((c32 + h32).numpy(), x)
    np.testing.assert_array_equal(lap.reconstruct(coarse, [h for h, _ in pairs]).numpy(), x)
    # float32 images: to rounding
    y = rng.uniform(-1, 1, (2, 1, 64, 64)).astype(np.float32)
    coarse, pairs = lap.laplacian_pyramid(minigan.tensor(y), 4)
    np.testing.assert_allclose(lap.reconstruct(coarse, [h for h, _ in pairs]).numpy(), y,
                               rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="laplacian_pyramid"):
        lap.laplacian_pyramid(minigan.tensor(y), 3)


def test_pyramid_ops_match_torch():
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16))
    assert_close(lap.downsample(minigan.tensor(x)), TF.avg_pool2d(torch.tensor(x), 2),
                 "float64", "downsample")
    assert_close(lap.upsample(minigan.tensor(x)),
                 TF.interpolate(torch.tensor(x), scale_factor=2, mode="bilinear",
                                align_corners=False), "float64", "upsample")


@pytest.mark.parametrize("channels,img_size", [(1, 32), (3, 32), (1, 64), (3, 64)])
def test_sampling_chain(channels, img_size):
    minigan.manual_seed(0)
    G = lap.LAPGANGenerator(9, channels, img_size, ngf=2)
    levels = 4 if img_size == 64 else 3
    assert G.splits == lap.latent_split(9, levels) and sum(G.splits) == 9
    assert len(G.levels) == levels
    z = minigan.randn(3, 9)
    with minigan.no_grad():
        _check_chain(G, z, channels, levels)


def _check_chain(G, z, channels, levels):
    images = G.pyramid(z)
    assert [tuple(i.shape) for i in images] == [(3, channels, 8 * 2 ** k, 8 * 2 ** k)
                                               for k in range(levels)]
    # each level: u(previous) + its residual, clamped; the chain's last image is G(z)
    chunks = G.split(z)
    for k in range(1, levels):
        cond = lap.upsample(images[k - 1])
        expected = (cond + G.levels[k](chunks[k], cond)).clamp(-1, 1)
        np.testing.assert_array_equal(images[k].numpy(), expected.numpy())
    np.testing.assert_array_equal(G(z.reshape(3, 9, 1, 1)).numpy(), images[-1].numpy())
    for image in images:
        assert np.abs(image.numpy()).max() <= 1.0


def test_latent_split_and_widths():
    assert lap.latent_split(100, 3) == [34, 33, 33]
    assert lap.latent_split(100, 4) == [25, 25, 25, 25]
    assert lap.latent_split(8, 3) == [4, 2, 2]
    model = lap.LAPGAN(_cfg(), 1, 10)
    assert model.latent(5).shape == (5, 8)
    assert model.latent_numpy(np.random.default_rng(0), 5).shape == (5, 8)
    assert model.generate(model.latent(5)).shape == (5, 1, 32, 32)
    with pytest.raises(ValueError, match="latent_dim=8"):
        model.generate(minigan.zeros(2, 9))


def test_refusals():
    with pytest.raises(ValueError, match=r"lapgan.*img.size.*48"):
        lap.LAPGAN(_cfg(img_size=48), 1, 10)
    for bad in (16, 128):
        with pytest.raises(ValueError, match=rf"lapgan.*img.size.*{bad}"):
            lap.LAPGANGenerator(8, 1, bad, 4)
        with pytest.raises(ValueError, match=rf"lapgan.*img.size.*{bad}"):
            lap.LAPGANDiscriminator(1, bad, 4)
    with pytest.raises(ValueError, match=r"lapgan.*latent.dim.*2"):
        lap.LAPGAN(_cfg(latent_dim=2), 1, 10)


# --- the step -------------------------------------------------------------------------------
class _Data:
    step = 0

    def __init__(self, images):
        self.images = images

    def real(self, k=0):
        return Batch(minigan.tensor(self.images), None)


def test_step_equals_per_level_adams():
    """One step on the summed losses with one Adam per network == each level trained with
    its own Adams on its own loss (no dropout: nothing random but the latent)."""
    cfg = _cfg(options={"dropout": 0.0})
    images = np.random.default_rng(2).uniform(-1, 1, (8, 1, 32, 32)).astype(np.float32)
    minigan.manual_seed(0)
    a = lap.LAPGAN(cfg, 1, 10)
    b = lap.LAPGAN(cfg, 1, 10)
    for name in ("G", "D"):
        b.nets[name].load_state_dict(a.nets[name].state_dict())
    before = {f"{name}.{k}": v.detach().numpy().copy()
              for name in ("G", "D") for k, v in a.nets[name].state_dict().items()}
    minigan.manual_seed(1)
    logs = a.train_step(_Data(images))
    # by hand, level by level
    from minigan import losses
    loss = losses.get("nsgan")
    G, D = b.nets["G"], b.nets["D"]
    adam = [[minigan.optim.Adam(net.levels[i].parameters(), lr=cfg.lr, betas=(cfg.b1, cfg.b2))
             for net in (G, D)] for i in range(3)]
    minigan.manual_seed(1)
    coarse, pairs = lap.laplacian_pyramid(minigan.tensor(images), 3)
    chunks = G.split(b.latent(8))
    reals, conds = [coarse] + [h for h, _ in pairs], [None] + [c for _, c in pairs]
    for i in range(3):
        opt_g, opt_d = adam[i]
        fake = G.levels[i](chunks[i]) if i == 0 else G.levels[i](chunks[i], conds[i])
        d_loss = loss.d_loss(D.levels[i](reals[i], conds[i]),
                             D.levels[i](fake.detach(), conds[i]))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = loss.g_loss(D.levels[i](fake, conds[i]))
        opt_g.zero_grad()
        g_loss.backward(inputs=list(G.levels[i].parameters()))
        opt_g.step()
        size = 8 * 2 ** i
        assert float(logs[f"d_loss/{size}"].item()) == pytest.approx(float(d_loss.item()),
                                                                     rel=1e-6)
        assert float(logs[f"g_loss/{size}"].item()) == pytest.approx(float(g_loss.item()),
                                                                     rel=1e-6)
    for name in ("G", "D"):
        sa, sb = a.nets[name].state_dict(), b.nets[name].state_dict()
        for k in sa:
            np.testing.assert_allclose(sa[k].detach().numpy(), sb[k].detach().numpy(),
                                       rtol=1e-6, atol=1e-7, err_msg=f"{name}.{k}")
            # every level of both networks took a step
            assert not np.array_equal(sa[k].detach().numpy(), before[f"{name}.{k}"]), k


# --- parity with torch ------------------------------------------------------------------------
class TorchCoarseGenerator(tnn.Module):
    def __init__(self, nz, channels, ngf):
        super().__init__()
        self.channels = channels
        w = 32 * ngf
        self.model = tnn.Sequential(
            tnn.Linear(nz, w), tnn.BatchNorm1d(w), tnn.ReLU(True),
            tnn.Linear(w, w), tnn.BatchNorm1d(w), tnn.ReLU(True),
            tnn.Linear(w, channels * 64), tnn.Tanh())

    def forward(self, z):
        return self.model(z).view(z.shape[0], self.channels, 8, 8)


class TorchCoarseDiscriminator(tnn.Module):
    def __init__(self, channels, ndf, dropout=0.5):
        super().__init__()
        w = 16 * ndf
        self.model = tnn.Sequential(
            tnn.Linear(channels * 64, w), tnn.ReLU(True), tnn.Dropout(dropout),
            tnn.Linear(w, w), tnn.ReLU(True), tnn.Dropout(dropout),
            tnn.Linear(w, 1))

    def forward(self, x, cond=None):
        return self.model(x.flatten(1)).view(-1)


class TorchResidualGenerator(tnn.Module):
    def __init__(self, nz, channels, size, ngf):
        super().__init__()
        self.size = size
        self.noise_proj = tnn.Linear(nz, size * size)
        self.model = tnn.Sequential(
            tnn.Conv2d(channels + 1, ngf, 5, 1, 2), tnn.ReLU(True),
            tnn.Conv2d(ngf, ngf, 5, 1, 2), tnn.ReLU(True),
            tnn.Conv2d(ngf, channels, 5, 1, 2))

    def forward(self, z, cond):
        plane = self.noise_proj(z).view(-1, 1, self.size, self.size)
        return self.model(torch.cat([cond, plane], 1))


class TorchResidualDiscriminator(tnn.Module):
    def __init__(self, channels, size, ndf, dropout=0.5):
        super().__init__()
        self.model = tnn.Sequential(
            tnn.Conv2d(2 * channels, ndf, 5, 1, 2), tnn.ReLU(True),
            tnn.Conv2d(ndf, ndf, 5, 2, 2), tnn.ReLU(True))
        self.adv_layer = tnn.Sequential(tnn.Dropout(dropout),
                                        tnn.Linear(ndf * (size // 2) ** 2, 1))

    def forward(self, x, cond):
        return self.adv_layer(self.model(torch.cat([x, cond], 1)).flatten(1)).view(-1)


class TorchLAPGANGenerator(tnn.Module):
    def __init__(self, splits, channels, sizes, ngf):
        super().__init__()
        self.splits = splits
        self.levels = tnn.ModuleList(
            [TorchCoarseGenerator(splits[0], channels, ngf)]
            + [TorchResidualGenerator(splits[k], channels, s, ngf)
               for k, s in enumerate(sizes) if k])

    def forward(self, z):
        chunks = torch.split(z, self.splits, 1)
        image = self.levels[0](chunks[0])
        for level, z_k in zip(list(self.levels)[1:], chunks[1:]):
            cond = TF.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            image = (cond + level(z_k, cond)).clamp(-1, 1)
        return image


def _load_from_torch(ours, theirs):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: minigan.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})


def _compare(ours, theirs, arrays, what):
    """Outputs, every input gradient and every weight gradient of <output, v> (v random)."""
    _load_from_torch(ours, theirs)
    m_in = [minigan.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    m_out, t_out = ours(*m_in), theirs(*t_in)
    assert_close(m_out, t_out, "float64", f"{what}: output")
    v = np.random.default_rng(3).standard_normal(tuple(t_out.shape))
    (m_out * minigan.tensor(v)).sum().backward()
    (t_out * torch.tensor(v)).sum().backward()
    for i, (m, t) in enumerate(zip(m_in, t_in)):
        assert_close(m.grad, t.grad, "float64", f"{what}: gradient of input {i}")
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, t_params[name].grad, "float64", f"{what}: gradient of {name}")
    t_state = theirs.state_dict()
    for name, v in ours.state_dict().items():  # BatchNorm's running statistics after the step
        assert_close(v, t_state[name], "float64", f"{what}: {name} after the forward")


@pytest.mark.parametrize("channels", [1, 3])
def test_level_networks_match_torch(channels):
    torch.manual_seed(0)
    rng = np.random.default_rng(channels)
    f64 = minigan.float64
    _compare(lap.CoarseGenerator(5, channels, 2).to(f64),
             TorchCoarseGenerator(5, channels, 2).double(), [rng.standard_normal((4, 5))],
             "coarse G (train mode: batch statistics)")
    # eval mode: non-trivial running statistics
    tG = TorchCoarseGenerator(5, channels, 2).double().eval()
    for name, buf in tG.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            buf.copy_(torch.tensor(rng.uniform(0.5, 1.5, buf.shape)))
    _compare(lap.CoarseGenerator(5, channels, 2).to(f64).eval(), tG,
             [rng.standard_normal((4, 5))], "coarse G (eval mode)")
    _compare(lap.CoarseDiscriminator(channels, 2).to(f64).eval(),
             TorchCoarseDiscriminator(channels, 2).double().eval(),
             [rng.uniform(-1, 1, (4, channels, 8, 8))], "coarse D")
    for size in (16, 32):
        cond = rng.uniform(-1, 1, (3, channels, size, size))
        _compare(lap.ResidualGenerator(4, channels, size, 2).to(f64),
                 TorchResidualGenerator(4, channels, size, 2).double(),
                 [rng.standard_normal((3, 4)), cond], f"residual G {size}")
        _compare(lap.ResidualDiscriminator(channels, size, 2).to(f64).eval(),
                 TorchResidualDiscriminator(channels, size, 2).double().eval(),
                 [rng.uniform(-0.3, 0.3, (3, channels, size, size)), cond],
                 f"residual D {size}")


@pytest.mark.parametrize("img_size", [32, 64])
def test_whole_generator_matches_torch(img_size):
    """The container: the chain (split, bilinear upsampling, residuals, clamps) and its
    state_dict keys (levels.K....) as torch's."""
    torch.manual_seed(1)
    sizes = lap.level_sizes(img_size)
    G = lap.LAPGANGenerator(10, 3, img_size, 2).to(minigan.float64)
    tG = TorchLAPGANGenerator(G.splits, 3, sizes, 2).double()
    z = np.random.default_rng(4).standard_normal((3, 10))
    _compare(G, tG, [z], f"LAPGAN G {img_size}")
    D = lap.LAPGANDiscriminator(3, img_size, 2)
    assert list(D.state_dict())[0].startswith("levels.0.model.0")
    assert len(D.levels) == len(sizes)


@pytest.mark.parametrize("flags", [{"loss": "wgan", "gp": "wgan-gp"}, {"loss": "ragan"},
                                   {"loss": "hinge", "gp": "dragan"}, {"n_critic": 2}])
def test_step_with_other_losses(flags):
    model = lap.LAPGAN(_cfg(**flags), 1, 10)
    images = np.random.default_rng(5).uniform(-1, 1, (4, 1, 32, 32)).astype(np.float32)
    logs = model.train_step(_Data(images))
    assert {"d_loss", "g_loss", "D(x)", "D(G(z))", "d_loss/32"} <= set(logs)
    assert all(np.isfinite(float(v.item())) for v in logs.values())
