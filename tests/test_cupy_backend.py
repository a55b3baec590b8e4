"""The CuPy backend beyond the backend-parametrized suite.

- Everywhere: why it cannot run (no cupy, no GPU, no CUDA extension: each a one-line reason
  with the alternatives, and the CLI's exit 2), that its kernel table covers every kernel,
  and that its CUDA sources compile for sm_90 (nvcc; NVRTC too where its library is present,
  as cupy compiles them at run time, ElementwiseKernel bodies included).
- On a GPU: the RNG state round trip, storage aliasing, a 20-step DCGAN against numpy.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import types

import numpy as np
import pytest
from minigan.kernels import compiled
from minigan.kernels import cupy as cupy_kernels
from minigan.kernels.cupy import _common

import minigan
from minigan.backends import KERNELS, BackendUnavailableError, cupy_backend

CUPY_DIR = os.path.dirname(cupy_kernels.__file__)


def _runs() -> bool:
    try:
        minigan.get_backend("cupy")
    except BackendUnavailableError:
        return False
    return True


RUNS = _runs()
needs_gpu = pytest.mark.skipif(not RUNS, reason="the cupy backend cannot run here: "
                               + (cupy_backend.unavailable_reason() if not RUNS else ""))


# --- why it cannot run --------------------------------------------------------------------
def _fake_kernels(import_error="", device_count=None, device_error=None):
    def get_device_count():
        if device_error is not None:
            raise device_error
        return device_count
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))
    return types.SimpleNamespace(IMPORT_ERROR=import_error, cupy=cupy, KERNELS={})


@pytest.mark.parametrize("fake, expected", [
    (_fake_kernels("cupy is not installed"), "needs cupy (cupy is not installed): pip install"),
    (_fake_kernels(device_error=RuntimeError("cudaErrorNoDevice: no CUDA-capable device")),
     "found no CUDA GPU (cudaErrorNoDevice: no CUDA-capable device)"),
    (_fake_kernels(device_count=0), "found no CUDA GPU (the CUDA driver reports 0 devices)"),
])
def test_missing_cupy_or_gpu_is_named(fake, expected, monkeypatch):
    monkeypatch.setattr(cupy_backend, "_import_kernels", lambda: (fake, fake.IMPORT_ERROR))
    with pytest.raises(BackendUnavailableError) as e:
        cupy_backend.create()
    message = str(e.value)
    assert message.startswith("backend 'cupy' ") and expected in message
    assert "--backend numpy runs anywhere" in message and "--backend triton" in message
    assert "\n" not in message


def test_missing_cuda_extension_says_how_to_build_it(monkeypatch):
    fake = _fake_kernels(device_count=1)
    monkeypatch.setattr(cupy_backend, "_import_kernels", lambda: (fake, ""))
    monkeypatch.setattr(compiled, "CUDA", None)
    with pytest.raises(BackendUnavailableError) as e:
        cupy_backend.create()
    message = str(e.value)
    assert "needs minigan's CUDA extension (minigan.kernels._C_cuda" in message
    assert "nvcc on PATH" in message and "MINIGAN_BUILD_CUDA=1" in message
    assert "--backend numpy runs anywhere" in message and "\n" not in message


@pytest.mark.skipif(RUNS, reason="the cupy backend runs here")
def test_this_machine_gets_the_first_missing_piece(capsys):
    kernels, import_error = cupy_backend._import_kernels()
    if import_error:
        expected = "needs cupy"
    elif not cupy_backend._device_count(kernels.cupy)[0]:
        expected = "found no CUDA GPU"
    else:
        expected = "needs minigan's CUDA extension"
    with pytest.raises(BackendUnavailableError, match=expected):
        minigan.get_backend("cupy")
    from minigan.__main__ import main as info_main
    assert info_main() == 0
    assert f"cupy    cannot run here: backend 'cupy' {expected}" in capsys.readouterr().out


@pytest.mark.skipif(RUNS, reason="the cupy backend runs here")
def test_cli_exits_2_with_the_reason(tmp_path, capsys):
    from minigan.train import main as train_main
    code = train_main(["dcgan", "--backend", "cupy", "--steps", "1", "--no-progress",
                       "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "run").exists()
    assert "minigan.train: --backend cupy cannot run here: backend 'cupy' " in err
    assert cupy_backend.unavailable_reason() in err and "Use --backend numpy" in err


# --- static checks ------------------------------------------------------------------------
def test_kernel_table_covers_every_kernel():
    assert sorted(set(KERNELS) - set(cupy_kernels.KERNELS)) == []
    assert sorted(set(cupy_kernels.KERNELS) - set(KERNELS)) == []
    assert all(callable(f) for f in cupy_kernels.KERNELS.values())


def test_every_cuda_source_is_compiled_by_a_module():
    on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(CUPY_DIR, "*.cu")))
    assert on_disk == sorted(cupy_kernels.SOURCES)


def _instantiating_wrapper(tmp_path, source: str) -> str:
    """A translation unit that includes ``source`` and takes the address of every kernel a
    module looks up (so each template is instantiated and compiled, as NVRTC's name
    expressions do at run time)."""
    refs = ", ".join(f"(void*)&{name}" for name in cupy_kernels.SOURCES[source])
    path = tmp_path / f"instantiate_{source}"
    path.write_text(f'#include "{os.path.join(CUPY_DIR, source)}"\n'
                    f"void* minigan_kernels[] = {{{refs}}};\n")
    return str(path)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("source", sorted(cupy_kernels.SOURCES))
def test_cuda_source_compiles_for_sm90_with_nvcc(source, tmp_path):
    cmd = ["nvcc", "-arch=sm_90", "-std=c++17", f"-I{compiled.INCLUDE}", "-Werror",
           "all-warnings", "-c", _instantiating_wrapper(tmp_path, source), "-o",
           str(tmp_path / "out.o")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def _nvrtc():
    """cupy's NVRTC binding, where cupy and the NVRTC library are both present."""
    if _common.cupy is None:
        pytest.skip(f"cupy cannot be imported: {_common.IMPORT_ERROR}")
    from cupy_backends.cuda.libs import nvrtc
    try:
        nvrtc.getVersion()
    except Exception as e:  # noqa: BLE001 - the library is optional here
        pytest.skip(f"no NVRTC library: {type(e).__name__}")
    return nvrtc


def _nvrtc_compile(nvrtc, code: str, name: str, options: tuple, expressions=()) -> None:
    prog = nvrtc.createProgram(code, name, [], [])
    for e in expressions:
        nvrtc.addNameExpression(prog, e)
    # cupy adds -ftz=true to every compile; the arch of the H200
    try:
        nvrtc.compileProgram(prog, [*options, "-ftz=true", "-arch=sm_90"])
    except Exception:
        pytest.fail(f"{name} does not compile with NVRTC:\n{nvrtc.getProgramLog(prog)}")
    for e in expressions:
        assert nvrtc.getLoweredName(prog, e)


@pytest.mark.parametrize("source", sorted(cupy_kernels.SOURCES))
def test_cuda_source_compiles_with_nvrtc(source):
    """As cupy.RawModule compiles it at run time: the code string, the module's options and
    name expressions."""
    nvrtc = _nvrtc()
    _nvrtc_compile(nvrtc, _common.source(source), source, _common.options(),
                   cupy_kernels.SOURCES[source])


def _elementwise_kernels() -> dict:
    from minigan.kernels.cupy import elementwise
    return {"sigmoid": elementwise._sigmoid_kernel, "softplus": elementwise._softplus_kernel,
            "act": lambda: elementwise.act_kernel(False),
            "bias_act": lambda: elementwise.act_kernel(True)}


@pytest.mark.parametrize("ctype", ["float", "double"])
@pytest.mark.parametrize("name", sorted(_elementwise_kernels()))
def test_elementwise_kernel_compiles_with_nvrtc(name, ctype):
    """An ElementwiseKernel's preamble and body in a kernel shaped as cupy generates it (its
    headers first, T a typedef, inputs read into consts, outputs as references)."""
    nvrtc = _nvrtc()
    from cupy._core import core
    kernel = _elementwise_kernels()[name]()
    params, body = [], []
    for p in kernel.in_params:
        ctype_p = ctype if p.dtype is None else p.ctype
        params.append(f"const {ctype_p}* _raw_{p.name}")
        body.append(f"const {ctype_p} {p.name} = _raw_{p.name}[i];")
    for p in kernel.out_params:
        params.append(f"{ctype}* _raw_{p.name}")
        body.append(f"{ctype}& {p.name} = _raw_{p.name}[i];")
    headers = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
    code = (f"{headers}typedef {ctype} T;\n{kernel.preamble}\n"
            f'extern "C" __global__ void check({", ".join(params)}, long long _n) {{\n'
            f"  CUPY_FOR(i, _n) {{ {' '.join(body)} {kernel.operation}; }}\n}}\n")
    options = (f"-I{core._get_header_dir_path()}", *core._get_cccl_include_options(),
               "-std=c++17", *kernel.kwargs.get("options", ()))
    _nvrtc_compile(nvrtc, code, f"{name}_{ctype}.cu", options)


# --- on a GPU -----------------------------------------------------------------------------
@needs_gpu
def test_rng_state_round_trips_through_json():
    be = minigan.get_backend("cupy")
    be.seed(123)
    be.randn((5,), np.float32)
    state = json.loads(json.dumps(be.get_rng_state()))
    a = [be.to_numpy(be.randn((7, 3), np.float32)), be.to_numpy(be.rand((4,), np.float64)),
         be.to_numpy(be.randint(-3, 9, (11,)))]
    be.set_rng_state(state)
    b = [be.to_numpy(be.randn((7, 3), np.float32)), be.to_numpy(be.rand((4,), np.float64)),
         be.to_numpy(be.randint(-3, 9, (11,)))]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    be.seed(123)
    be.randn((5,), np.float32)
    np.testing.assert_array_equal(be.to_numpy(be.randn((7, 3), np.float32)), a[0])
    assert a[2].dtype == np.int64 and a[2].min() >= -3 and a[2].max() < 9


@needs_gpu
def test_rng_draws_have_the_right_distribution():
    be = minigan.get_backend("cupy")
    be.seed(7)
    for dtype in (np.float32, np.float64, np.float16):
        z = be.to_numpy(be.randn((200_000,), dtype)).astype(np.float64)
        u = be.to_numpy(be.rand((200_000,), dtype)).astype(np.float64)
        assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01, dtype
        assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01, dtype
    ints = be.to_numpy(be.randint(0, 10, (100_000,)))
    assert set(np.unique(ints)) == set(range(10))
    be.seed(7)
    first = be.to_numpy(be.rand((1000,), np.float32))
    assert not np.array_equal(first, be.to_numpy(be.rand((1000,), np.float32)))


@needs_gpu
def test_storage_aliasing():
    be = minigan.get_backend("cupy")
    base = be.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    assert be.device == "cuda" and type(be.to_numpy(base)) is np.ndarray
    view = be.k.getitem(base, (slice(1, 3),))
    row = be.k.getitem(base, (0,))
    assert be.shares_storage(base, view) and be.shares_storage(view, row)
    assert not be.shares_storage(base, be.copy(base))
    be.copy_into(view, be.asarray(np.float64(-1.0)))  # broadcast and cast into a view
    np.testing.assert_array_equal(be.to_numpy(base)[1:], -1)
    be.setitem(base, (0, slice(None, 2)), be.asarray(np.array([5.0, 6.0], np.float32)))
    be.setitem(base, np.array([2]), 9.0)  # an integer-array index from the host
    np.testing.assert_array_equal(be.to_numpy(row), [5, 6, 2, 3])
    np.testing.assert_array_equal(be.to_numpy(base)[2], 9)
    host = be.to_numpy(base)
    host[...] = 0  # a copy: the device array is untouched
    assert be.to_numpy(base)[0, 0] == 5
    assert be.asarray(np.arange(3, dtype=np.int16)).dtype == np.int64
    assert be.asarray([1.5]).dtype == np.float64 and be.asarray(True).shape == ()


@needs_gpu
def test_twenty_dcgan_steps_match_numpy():
    """The same DCGAN, weights and batches on numpy and cupy: float32 Adam steps agree
    loosely (GEMM summation order differs, and cupy flushes float32 denormals)."""
    from minigan import losses
    from minigan.models import Discriminator, Generator

    nets = {}
    for backend in ("numpy", "cupy"):
        minigan.manual_seed(0)
        G, D = Generator(8, 4, 1, 32), Discriminator(4, 1, 32)
        nets[backend] = (G.to(backend=backend), D.to(backend=backend))
    opts = {b: (minigan.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                minigan.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999)))
            for b, (G, D) in nets.items()}
    loss = losses.get("nsgan")
    rng = np.random.default_rng(0)
    history = {b: [] for b in nets}
    for _ in range(20):
        real = rng.uniform(-1, 1, (8, 1, 32, 32)).astype(np.float32)
        z = rng.standard_normal((8, 8, 1, 1)).astype(np.float32)
        for b, (G, D) in nets.items():
            opt_g, opt_d = opts[b]
            fake = G(minigan.tensor(z, backend=b))
            d_loss = loss.d_loss(D(minigan.tensor(real, backend=b)), D(fake.detach()))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = loss.g_loss(D(fake))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            history[b].append((d_loss.item(), g_loss.item()))
    np.testing.assert_allclose(history["cupy"], history["numpy"], rtol=2e-2, atol=2e-3)
    for ours, ref in zip(nets["cupy"], nets["numpy"]):
        ref_state = ref.state_dict()
        for key, value in ours.state_dict().items():
            np.testing.assert_allclose(value.detach().numpy(), ref_state[key].detach().numpy(),
                                       rtol=2e-2, atol=2e-3, err_msg=key)
