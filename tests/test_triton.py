"""The Triton backend beyond the shared suite: it refuses to run without a GPU unless asked
for the interpreter, trains from the CLI, does its arithmetic only in its own kernels (torch
is storage), launches only configurations that are also compiled for the H200 (sm_90), and
those compile.

The shared parametrized suite (every other test file) already compares every op and kernel
with torch on this backend; on a machine without a GPU it runs under TRITON_INTERPRET=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

import minigan  # noqa: E402
from minigan.backends import BackendUnavailableError  # noqa: E402
from minigan.train import main as train_main  # noqa: E402

TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "4", "--latent-dim", "8", "--no-progress"]


@pytest.fixture(scope="module")
def triton_backend():
    try:
        return minigan.get_backend("triton")
    except BackendUnavailableError as e:
        pytest.skip(f"backend 'triton' cannot run here: {e}")


def _env_without_interpreter() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # as on a machine without a GPU
    return env


def test_without_a_gpu_the_cli_refuses_and_says_what_runs_instead(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "minigan.train", "dcgan", "--backend", "triton", "--steps", "1",
         "--out", str(tmp_path / "run"), *TINY],
        capture_output=True, text=True, env=_env_without_interpreter(), timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "--backend triton cannot run here" in proc.stderr
    assert "found no CUDA GPU" in proc.stderr and "TRITON_INTERPRET=1" in proc.stderr
    assert "--backend numpy" in proc.stderr
    assert not (tmp_path / "run").exists()  # nothing was started


def test_tf32_is_a_triton_flag(capsys):
    with pytest.raises(SystemExit) as e:
        train_main(["dcgan", "--tf32", "--steps", "1", *TINY])
    assert e.value.code == 2
    assert "--tf32 applies to --backend triton, not --backend numpy" in capsys.readouterr().err


def test_cli_trains_and_resumes_dcgan_on_triton(tmp_path, triton_backend):
    out = tmp_path / "run"
    common = ["dcgan", "--backend", "triton", "--out", str(out), "--sample-interval", "100",
              *TINY]
    assert train_main([*common, "--steps", "1", "--tf32"]) == 0
    config = json.loads((out / "config.json").read_text())
    details = config["backend_details"]
    assert config["backend"] == "triton" and config["tf32"] is True
    assert details["precision"] == "tf32" and details["triton"]
    assert details["interpreter"] == (triton_backend.device == "cpu")
    assert train_main([*common, "--steps", "2", "--resume"]) == 0  # back to IEEE float32
    assert json.loads((out / "config.json").read_text())["backend_details"]["precision"] == \
        "ieee"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2]
    assert all(np.isfinite([x["d_loss"], x["g_loss"]]).all() for x in lines)
    assert (out / "samples" / "step_000002.png").exists()
    # the run samples on triton, and on numpy from the same checkpoint
    from minigan.sample import main as sample_main
    assert sample_main([str(out), "--n", "4", "--out", str(tmp_path / "t.png")]) == 0
    assert sample_main([str(out), "--n", "4", "--out", str(tmp_path / "n.png"), "--backend",
                        "numpy"]) == 0
    if triton_backend.device == "cpu":  # without the interpreter: refused in one message
        proc = subprocess.run([sys.executable, "-m", "minigan.sample", str(out), "--n", "4"],
                              capture_output=True, text=True, env=_env_without_interpreter(),
                              timeout=300)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "found no CUDA GPU" in proc.stderr and "add --backend numpy" in proc.stderr


# --- torch is storage: the aten operations a training step may reach --------------------------
# allocation, views, layout copies and host transfers; nothing that computes values
STORAGE_OPS = {
    "aten.empty", "aten.empty_like", "aten.empty_strided", "aten.new_empty",
    "aten.new_empty_strided", "aten.zeros", "aten.full", "aten.fill_", "aten.zero_",
    "aten.set_", "aten.copy_", "aten.clone", "aten._to_copy", "aten.lift_fresh",
    "aten.detach", "aten.alias", "aten.view", "aten._unsafe_view", "aten.expand",
    "aten.permute", "aten.as_strided", "aten.select", "aten.slice", "aten.unsqueeze",
    "aten.squeeze", "aten.t", "aten.transpose", "aten.promote_types", "aten.result_type",
    "aten._local_scalar_dense", "aten.is_same_size", "aten.lift_fresh_copy",
}


def _step_workload(backend: str) -> None:
    """A DCGAN step (non-saturating loss) and a WGAN-GP step (double backward through D),
    with Adam, plus SGD and RMSprop updates: what a training run reaches."""
    from minigan.data import Dataset
    from minigan.train import build_model
    from minigan.training.trainer import TrainConfig, Trainer
    images = np.linspace(-1, 1, 4 * 32 * 32, dtype=np.float32).reshape(4, 1, 32, 32)
    data = Dataset(images, np.arange(4), "tiny", 4)
    for loss, gp in (("nsgan", None), ("wgan", "wgan-gp")):
        cfg = TrainConfig(backend=backend, batch_size=4, latent_dim=8, ngf=4, ndf=4, loss=loss,
                          gp=gp, out="unused")
        minigan.manual_seed(0)
        model = build_model(cfg, 1)
        D = model.nets["D"]
        trainer = Trainer(cfg, model, data)
        result = trainer.train_step()
        assert np.isfinite([result["d_loss"].item(), result["g_loss"].item()]).all()
    params = list(D.parameters())[:2]
    for opt in (minigan.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
                minigan.optim.RMSprop(params, lr=0.01, centered=True, momentum=0.5)):
        for p in params:
            p.grad = minigan.ones_like(p)
        opt.step()


@pytest.fixture(scope="module")
def workload(triton_backend):
    """Run the workload once, recording the aten operations and the kernel launches."""
    from minigan.kernels.triton import _common
    from torch.utils._python_dispatch import TorchDispatchMode
    ops = Counter()

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = str(func.overloadpacket)
            ops[name] += 1
            if name not in STORAGE_OPS:
                raise AssertionError(f"torch computed values ({name}) in a triton step")
            if name == "aten._to_copy" and kwargs.get("dtype") not in (None, args[0].dtype):
                raise AssertionError(f"torch converted {args[0].dtype} to {kwargs['dtype']} "
                                     f"in a triton step")
            return func(*args, **kwargs)

    session, launches = _common.RECORD, set()  # the conftest records the session's
    _common.RECORD = launches
    try:
        with Record():
            _step_workload("triton")
    finally:
        _common.RECORD = session
        if session is not None:
            session |= launches
    return ops, launches


def test_training_steps_do_no_arithmetic_in_torch(workload):
    """Every aten operation torch ran during the steps raised unless it only allocates, views,
    copies or moves storage (Record above), and the steps still completed."""
    ops, _ = workload
    assert set(ops) <= STORAGE_OPS
    assert ops["aten.copy_"] > 0 and ops["aten.empty"] > 0  # the recorder saw the steps


def test_every_launched_configuration_is_in_the_sm90_compile_set(workload):
    from minigan.kernels.triton import compile_cases
    _, launches = workload
    compiled = {case.key() for case in compile_cases()}
    kernels = {key[0] for key in launches}
    assert {"_conv_kernel", "_wgrad_kernel", "_adam_kernel", "_sgd_kernel",
            "_rmsprop_kernel", "_elementwise"} <= kernels
    missing = launches - compiled
    assert not missing, "launched but not in compile_cases(): " + "\n".join(
        map(str, sorted(missing)))


def test_every_configuration_compiles_for_sm90(request):
    """Every configuration in compile_cases() through the whole Triton pipeline for sm_90
    (TTIR to ptxas), TRITON_INTERPRET unset, each within sm_90's shared memory per block:
    the compile errors and shared-memory overflows the interpreter cannot see. The compile
    started in the background when the test was collected (tests/conftest.py)."""
    from tests.conftest import start_sm90_compile
    started = start_sm90_compile(request.config, jobs=2)
    try:
        code = started["proc"].wait(timeout=2400)
    finally:
        started["log"].close()
    log = open(started["log"].name).read()
    summary = json.loads(open(started["report"]).read()) if os.path.exists(
        started["report"]) else {}
    failed = [f"{r['kernel']} {r['constexprs']}: {r['error']}" for r in summary.get("failed", [])]
    assert code == 0 and not failed, "\n".join(failed) or log[-3000:]
    from minigan.kernels.triton import compile_cases
    assert summary["cases"] == len(compile_cases())
    assert set(summary["kernels"]) == {c.kernel.fn.__name__ for c in compile_cases()}


# --- realistic shapes: on a GPU only (the interpreter runs the suite's small shapes) --------
# DCGAN's 64x64 layers at batch 128: (op, input shape, weight shape, stride, padding)
DCGAN_LAYERS = [
    ("conv2d", (128, 3, 64, 64), (64, 3, 4, 4), 2, 1),
    ("conv2d", (128, 128, 16, 16), (256, 128, 4, 4), 2, 1),
    ("conv2d", (128, 512, 4, 4), (1, 512, 4, 4), 1, 0),
    ("conv_transpose2d", (128, 100, 1, 1), (100, 512, 4, 4), 1, 0),
    ("conv_transpose2d", (128, 256, 8, 8), (256, 128, 4, 4), 2, 1),
    ("conv_transpose2d", (128, 64, 32, 32), (64, 3, 4, 4), 2, 1),
]


def _gpu_only(backend) -> None:
    if backend.interpreter:
        pytest.skip("realistic shapes run on a GPU; the interpreter runs the small shapes of "
                    "the shared suite")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op, x_shape, w_shape, stride, padding", DCGAN_LAYERS)
def test_dcgan_layers_at_realistic_shapes(op, x_shape, w_shape, stride, padding, dtype,
                                          triton_backend):
    """Forward and both gradients of each DCGAN layer at batch 128 against torch (float64 on
    the CPU, the exact reference; IEEE float32 on both sides, never TF32)."""
    _gpu_only(triton_backend)
    import torch.nn.functional as TF

    import minigan.functional as F
    from tests.torch_ref import check
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape) * 0.05
    check(lambda a, b: getattr(F, op)(a, b, stride=stride, padding=padding),
          lambda a, b: getattr(TF, op)(a, b, stride=stride, padding=padding), [x, w],
          backend="triton", dtype=dtype, second_order=False, what=f"{op} {x_shape}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_and_gradient_penalty_at_realistic_shapes(dtype, triton_backend):
    _gpu_only(triton_backend)
    import torch.nn.functional as TF

    import minigan.functional as F
    from tests.torch_ref import check
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 128, 16, 16))
    w, b = rng.random(128) + 0.5, rng.standard_normal(128)
    check(lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True),
          lambda a, c, d: TF.batch_norm(a, None, None, c, d, training=True), [x, w, b],
          backend="triton", dtype=dtype, what="batch_norm (128, 128, 16, 16)")
