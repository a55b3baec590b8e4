"""End-to-end runs of ``python -m minigan.train`` / ``minigan.sample`` on tiny settings, resume
determinism, crash safety, and DCGAN parity with the same torch modules."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from minigan.kernels import compiled
from PIL import Image

import minigan
from bench.torch_models import torch_dcgan
from minigan import interop
from minigan.backends import BackendUnavailableError
from minigan.models import Discriminator, Generator
from minigan.sample import main as sample_main
from minigan.train import main as train_main
from minigan.training.checkpoint import load_latest
from tests.test_data import make_cifar, make_mnist
from tests.torch_ref import assert_close

TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "8", "--latent-dim", "8", "--no-progress"]


def run(tmp_path, *flags, name="run"):
    out = tmp_path / name
    code = train_main(["dcgan", *TINY, "--out", str(out), *flags])
    return code, out


def test_default_dataset_run_folder(tmp_path):
    code, out = run(tmp_path, "--steps", "4", "--sample-interval", "2", "--log-interval", "1")
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["backend"] == "numpy" and config["minigan_version"] == minigan.__version__
    assert config["backend_details"] == {"compiled_cpu_kernels": compiled.CPU is not None}
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4]
    for key in ("d_loss", "g_loss", "D(x)", "D(G(z))", "step_time", "images_per_s", "lr_g",
                "lr_d", "wall_time"):
        assert np.isfinite(lines[-1][key])
    assert lines[-1]["lr_g"] == lines[-1]["lr_d"] == 2e-4 and lines[-1]["steps_averaged"] == 1
    assert lines[-1]["time"].startswith("20") and lines[-1]["wall_time"] >= lines[0]["wall_time"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.png",
                                                                   "step_000004.png"]
    assert Image.open(out / "samples" / "step_000004.png").size[0] > 8 * 32
    assert (out / "losses.png").exists() and (out / "generator.safetensors").exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000004.npz"]
    arrays, meta = _weights(out)
    assert meta["step"] == 4 and "G.main.0.weight" in arrays and "D.main.0.weight" in arrays
    assert any(k.startswith("opt_g.state.") for k in arrays)


@pytest.mark.parametrize("fmt", ["mnist", "cifar10", "folder"])
def test_file_formats(tmp_path, fmt):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if fmt == "mnist":
        make_mnist(data_dir, n=16, gz=True)
    elif fmt == "cifar10":
        make_cifar(data_dir, n_batches=1, n=16)
    else:
        rng = np.random.default_rng(0)
        for i in range(9):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
                data_dir / f"{i}.png")
    code, out = run(tmp_path, "--data", fmt, "--data-dir", str(data_dir), "--steps", "2")
    assert code == 0
    arrays, _ = _weights(out)
    channels = 1 if fmt == "mnist" else 3
    assert arrays["D.main.0.weight"].shape[1] == channels


def _weights(out):
    _, arrays, meta = load_latest(out / "checkpoints")
    return arrays, meta


def test_resume_is_bit_identical(tmp_path):
    flags = ["--steps", "6", "--checkpoint-interval", "3", "--seed", "3"]
    assert run(tmp_path, *flags, name="straight")[0] == 0
    # the interrupted run stops after 3 steps, then re-running the same command resumes
    assert run(tmp_path, "--steps", "3", "--seed", "3", name="resumed")[0] == 0
    assert train_main(["dcgan", *TINY, "--out", str(tmp_path / "resumed"), "--resume",
                       *flags]) == 0
    a, meta_a = _weights(tmp_path / "straight")
    b, meta_b = _weights(tmp_path / "resumed")
    assert meta_a["step"] == meta_b["step"] == 6
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_changed_flags_refuse_to_resume(tmp_path, capsys):
    assert run(tmp_path, "--steps", "1")[0] == 0
    code, _ = run(tmp_path, "--steps", "2", "--loss", "hinge", "--lr", "1e-3")
    assert code == 1
    err = capsys.readouterr().err
    assert "--loss='nsgan', --lr=0.0002 (this command: --loss='hinge', --lr=0.001)" in err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == 1


def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path, capsys, monkeypatch):
    assert run(tmp_path, "--steps", "2", "--seed", "1")[0] == 0
    before, _ = _weights(tmp_path / "run")
    from minigan.training import trainer as trainer_mod
    real_step = trainer_mod.Trainer.train_step

    def exploding(self):
        result = real_step(self)
        result["d_loss"] = float("nan")
        return result

    monkeypatch.setattr(trainer_mod.Trainer, "train_step", exploding)
    code, _ = run(tmp_path, "--steps", "5", "--seed", "1")
    assert code == 1
    err = capsys.readouterr().err
    assert "step 3: non-finite loss" in err and "last good checkpoint" in err
    after, meta = _weights(tmp_path / "run")
    assert meta["step"] == 2
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


@pytest.mark.parametrize("flags, message", [
    (["--steps", "0"], "--steps must be positive"),
    (["--batch-size", "-1"], "--batch-size must be positive"),
    (["--img-size", "48"], "invalid choice"),
    (["--loss", "nonsense"], "nonsense"),
    (["--resume"], "--resume needs --out"),
])
def test_bad_flags(flags, message, capsys):
    with pytest.raises(SystemExit) as e:
        train_main(["dcgan", *TINY, *flags])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_data_dir_and_unavailable_backend(tmp_path, capsys):
    code, _ = run(tmp_path, "--data", "mnist", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and "nowhere: no such directory" in capsys.readouterr().err
    if "cupy" in minigan.available_backends():
        return  # cupy runs here: nothing to refuse
    code, _ = run(tmp_path, "--backend", "cupy", "--steps", "1")
    assert code == 2
    err = capsys.readouterr().err
    assert "--backend cupy cannot run here" in err and "--backend numpy" in err
    assert "backend 'cupy' " in err  # the backend's own reason (tests/test_cupy_backend.py)


def test_backend_without_a_device_names_the_alternatives(tmp_path, capsys, monkeypatch):
    def no_device(name=None):
        raise BackendUnavailableError("cupy cannot find a CUDA device")
    monkeypatch.setattr(minigan, "get_backend", no_device)
    code, _ = run(tmp_path, "--backend", "cupy", "--steps", "1")
    err = capsys.readouterr().err
    assert code == 2 and "cupy cannot find a CUDA device" in err
    assert "Use --backend numpy (runs anywhere), or run --backend cupy on a machine with a " \
           "CUDA GPU." in err


def test_help_lists_models_and_flags():
    top = subprocess.run([sys.executable, "-m", "minigan.train", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "dcgan" in top
    sub = subprocess.run([sys.executable, "-m", "minigan.train", "dcgan", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for flag in ("--backend", "--data-dir", "--img-size", "--n-critic", "--sample-interval",
                 "--checkpoint-interval", "--resume", "--lr", "--b1", "--b2"):
        assert flag in sub


def test_sample_command(tmp_path):
    assert run(tmp_path, "--steps", "2")[0] == 0
    grid = tmp_path / "grid.png"
    assert sample_main([str(tmp_path / "run"), "--n", "9", "--out", str(grid),
                        "--truncation", "0.7"]) == 0
    img = np.asarray(Image.open(grid))
    assert img.shape[0] == img.shape[1] == 3 * 34 + 2
    assert sample_main([str(tmp_path / "missing")]) == 1


# --- parity with the same modules in torch ------------------------------------------------
@pytest.mark.parametrize("img_size", [32, 64])
def test_dcgan_matches_torch(img_size, backend):
    minigan.manual_seed(0)
    G = Generator(6, 4, 3, img_size).double()
    D = Discriminator(4, 3, img_size).double()
    tG, tD = torch_dcgan(6, 4, 4, 3, img_size)
    tG, tD = tG.double(), tD.double()
    assert list(G.state_dict()) == list(tG.state_dict())
    assert list(D.state_dict()) == list(tD.state_dict())
    tG.load_state_dict(interop.to_torch_state_dict(G.state_dict()))
    tD.load_state_dict(interop.to_torch_state_dict(D.state_dict()))
    G, D = G.to(backend=backend), D.to(backend=backend)
    z = np.random.default_rng(1).standard_normal((3, 6, 1, 1))
    out = D(G(minigan.tensor(z, backend=backend)))
    t_out = tD.main(tG.main(torch.tensor(z))).reshape(-1)
    assert_close(out, t_out, "float64", "D(G(z))")
    out.sum().backward()
    t_out.sum().backward()
    for (name, p), tp in zip(list(G.named_parameters()) + list(D.named_parameters()),
                             list(tG.parameters()) + list(tD.parameters())):
        assert_close(p.grad, tp.grad, "float64", f"gradient of {name}")


def test_generator_step_computes_no_discriminator_weight_gradients(tmp_path, monkeypatch):
    """The G step back-propagates only to G's parameters: D's weight gradients would be
    zeroed by the next D step unread. G's update is the one a full backward gives."""
    import copy

    from minigan import losses
    from minigan.data import load as load_dataset
    from minigan.train import build_model
    from minigan.training.trainer import StepData, TrainConfig, Trainer

    cfg = TrainConfig(ngf=4, ndf=4, batch_size=8, latent_dim=8, out=str(tmp_path / "r"))
    dataset = load_dataset(cfg.data, None, cfg.img_size)
    minigan.manual_seed(0)
    model = build_model(cfg, dataset.channels)
    G, D = model.nets["G"], model.nets["D"]
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    trainer = Trainer(cfg, model, dataset)
    k = minigan.get_backend("numpy").k
    calls = []
    real_kernel = k.conv2d_backward_weight
    monkeypatch.setattr(k, "conv2d_backward_weight", lambda *a: calls.append(1) or
                        real_kernel(*a), raising=False)
    minigan.manual_seed(1)
    trainer.train_step()
    monkeypatch.undo()
    n_d = sum(isinstance(m, minigan.nn.Conv2d) for m in D.modules())
    n_g = sum(isinstance(m, minigan.nn.ConvTranspose2d) for m in G.modules())
    assert len(calls) == 2 * n_d + n_g  # D(real) and D(fake) in the D step, then G only

    # the same step written the plain way, with a full backward in the G step
    opt_g, opt_d = (minigan.optim.Adam(m.parameters(), lr=cfg.lr, betas=(cfg.b1, cfg.b2))
                    for m in (G_ref, D_ref))
    loss = losses.get(cfg.loss)
    minigan.manual_seed(1)
    real = StepData(trainer).real(0).images
    fake = G_ref(minigan.randn(real.shape[0], cfg.latent_dim))
    loss_d = loss.d_loss(D_ref(real), D_ref(fake.detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = loss.g_loss(D_ref(fake), None)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    for (name, a), b in zip(G.state_dict().items(), G_ref.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_on_a_device_backend_losses_are_read_only_when_due(tmp_path, capsys, monkeypatch):
    """A GPU backend's losses stay on the device between log, sample and checkpoint steps
    (each read is a sync); the numpy backend, posing as a device backend, takes that path."""
    from minigan.training import trainer as trainer_mod
    monkeypatch.setattr(minigan.get_backend("numpy"), "device", "cuda")
    reads = []
    real_stack = minigan.stack

    def counting_stack(tensors, *args, **kwargs):
        if all(t.ndim == 0 for t in tensors):
            reads.append(len(tensors))
        return real_stack(tensors, *args, **kwargs)

    monkeypatch.setattr(minigan, "stack", counting_stack)
    code, out = run(tmp_path, "--steps", "5", "--log-interval", "2", "--sample-interval", "50",
                    "--checkpoint-interval", "50")
    assert code == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 4, 5]
    assert [x["steps_averaged"] for x in lines] == [2, 2, 1]
    # one device-to-host copy per read, of the four values of every step since the last
    assert reads == [2 * 4, 2 * 4, 1 * 4]
    # a non-finite loss is caught at the next read, before anything is checkpointed, and the
    # message names the step that produced it
    real_step = trainer_mod.Trainer.train_step

    def exploding(self):
        result = real_step(self)
        result["g_loss"] = float("inf")
        return result

    monkeypatch.setattr(trainer_mod.Trainer, "train_step", exploding)
    code, _ = run(tmp_path, "--steps", "9", "--log-interval", "2", name="nan")
    assert code == 1
    assert "step 1 (read at step 2; losses are read every 2 steps on this device): " \
           "non-finite loss" in capsys.readouterr().err
    assert list((tmp_path / "nan" / "checkpoints").iterdir()) == []
