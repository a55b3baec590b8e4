"""The CUDA module minigan.kernels._C_cuda (csrc/cuda) on raw device pointers, against torch.

What runs where:
- everywhere nvcc is installed: every CUDA source of csrc/cuda and kernels/cupy compiles for
  sm_90 (in parallel, one result per file); under CI=true the module must have been built;
- everywhere the module is built: it imports without a GPU or driver, device_count() is 0
  there, details() says why, a kernel call raises RuntimeError naming the op (no crash), and
  the host-side argument checks raise ValueError naming the op and the argument;
- on a CUDA GPU (torch CUDA tensors, torch's current stream): every function against torch at
  realistic shapes (norm forward/backward for batch/instance/group norm with each activation
  against autograd, im2col/col2im against F.unfold/F.fold, the multi-tensor optimizers against
  torch.optim over a few steps, penalties, running statistics, the channel-affine map), and
  the reductions' determinism (the same bits twice).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import pytest
import torch
import torch.nn.functional as F
from minigan.kernels import compiled

from tests.torch_ref import assert_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXT = compiled.CUDA


def _nvcc() -> str | None:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and os.path.exists(os.path.join(home, "bin", "nvcc")):
        return os.path.join(home, "bin", "nvcc")
    return shutil.which("nvcc")


NVCC = _nvcc()
needs_ext = pytest.mark.skipif(EXT is None, reason="minigan.kernels._C_cuda is not built here "
                               f"({compiled.why_missing('_C_cuda') or 'no nvcc at install'})")


def _has_gpu() -> bool:
    return EXT is not None and torch.cuda.is_available() and EXT.device_count() > 0


needs_gpu = pytest.mark.skipif(not _has_gpu(), reason="needs a CUDA GPU, torch with CUDA and "
                               "the built minigan.kernels._C_cuda")


# ---- (a) every CUDA source compiles for sm_90 -------------------------------------------------

CUDA_SOURCES = sorted(os.path.relpath(p, ROOT) for p in
                      glob.glob(os.path.join(ROOT, "csrc", "cuda", "*.cu"))
                      + glob.glob(os.path.join(ROOT, "kernels", "cupy", "**", "*.cu"),
                                  recursive=True))


@lru_cache(maxsize=1)
def _compile_all() -> dict[str, tuple[int, str]]:
    """nvcc -arch=sm_90 -c on every source at once (threads: nvcc is a separate process);
    source -> (return code, output)."""
    out_dir = tempfile.mkdtemp(prefix="minigan-nvcc-")

    def one(src: str) -> tuple[int, str]:
        obj = os.path.join(out_dir, src.replace(os.sep, "_") + ".o")
        cmd = [NVCC, "-arch=sm_90", "-std=c++17", "--expt-relaxed-constexpr",
               "-I", os.path.join(ROOT, "csrc"), "-I", os.path.join(ROOT, "kernels", "include"),
               "-c", os.path.join(ROOT, src), "-o", obj]
        r = subprocess.run(cmd, capture_output=True, text=True)
        return r.returncode, (r.stdout + r.stderr).strip()

    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            return dict(zip(CUDA_SOURCES, pool.map(one, CUDA_SOURCES)))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed (CUDA_HOME/bin or PATH)")
@pytest.mark.parametrize("source", CUDA_SOURCES or ["(none)"])
def test_cuda_source_compiles_for_sm90(source):
    if source == "(none)":
        pytest.skip("no CUDA sources in csrc/cuda or kernels/cupy")
    code, output = _compile_all()[source]
    assert code == 0, f"nvcc -arch=sm_90 failed on {source}:\n{output}"


# ---- (b) built in CI ----------------------------------------------------------------------------

def test_cuda_extension_is_built_in_ci():
    """Where CI has nvcc, the install must have built the CUDA module (setup.py builds it
    whenever nvcc is found): a quietly failed build would leave the CuPy backend without it."""
    if os.environ.get("CI") and NVCC is not None and EXT is None:
        pytest.fail("CI=true and nvcc is installed but minigan.kernels._C_cuda did not build "
                    f"({compiled.why_missing('_C_cuda')}; see pip's build output)")


@needs_ext
def test_no_shared_cudart_dependency():
    """The runtime is linked statically, so the module loads without libcudart.so."""
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("no ldd here")
    libs = subprocess.run([ldd, EXT.__file__], capture_output=True, text=True).stdout
    assert "libcudart" not in libs, libs


# ---- (c) without a GPU, and argument checks -----------------------------------------------------

@needs_ext
def test_details_describe_the_machine():
    d = EXT.details()
    assert {"built_archs", "cuda_runtime", "driver", "device_count", "devices", "error"} <= set(d)
    assert "sm_" in d["built_archs"]
    assert d["device_count"] == EXT.device_count() == len(d["devices"])
    assert (d["error"] == "") == (d["device_count"] > 0)


@needs_ext
@pytest.mark.skipif(_has_gpu() or (EXT is not None and EXT.device_count() > 0),
                    reason="this machine has a CUDA device")
def test_without_a_gpu_calls_raise_cleanly():
    assert EXT.device_count() == 0
    assert EXT.details()["error"], "details() must say why there is no device"
    geometry = (1, 1, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1)
    with pytest.raises(RuntimeError, match="^im2col: "):
        EXT.im2col(1 << 20, 1 << 21, geometry, "float32", 0)
    with pytest.raises(RuntimeError, match="^norm_forward: "):
        EXT.norm_forward(1 << 20, 0, 1 << 21, 1 << 22, 1 << 23, 0, 0, (2, 3, 4, 3, 1, 4), 1e-5,
                         1, 0.0, "float32", 0)
    with pytest.raises(RuntimeError, match="^adam_step: "):
        EXT.adam_step([1 << 20], [1 << 21], [1 << 22], [1 << 23], [], [10], [1], 1e-3, 0.9,
                      0.999, 1e-8, 0.0, False, False, False, "float32", 0)
    # still importable and answering after the errors
    assert EXT.device_count() == 0


@needs_ext
def test_argument_checks_name_the_op_and_argument():
    """Host-side checks run before any CUDA call, so they hold on any machine."""
    geom = (1, 1, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1)
    cases = [
        (lambda: EXT.im2col(16, 32, geom, "float16", 0), "im2col: dtype"),
        (lambda: EXT.im2col(16, 32, geom[:13], "float32", 0), "im2col: geometry"),
        (lambda: EXT.im2col(16, 32, (1, 1, 4, 4, 0, 3, 2, 2, 1, 1, 0, 0, 1, 1), "float32", 0),
         "im2col: geometry"),
        (lambda: EXT.im2col(0, 32, geom, "float32", 0), "im2col: x is required"),
        (lambda: EXT.col2im(16, -5, geom, "float32", 0), "col2im: dx"),
        (lambda: EXT.norm_forward(16, 0, 32, 48, 64, 0, 0, (2, 3, 4, 3, 1, 5), 1e-5, 0, 0.0,
                                  "float32", 0), "norm_forward: layout: b must equal"),
        (lambda: EXT.norm_forward(16, 0, 0, 48, 64, 0, 0, (2, 3, 4, 3, 1, 4), 1e-5, 0, 0.0,
                                  "float32", 0), "norm_forward: y is required"),
        (lambda: EXT.norm_forward(16, 0, 32, 48, 64, 0, 0, (2, 3, 4, 3, 1, 4), 1e-5, 7, 0.0,
                                  "float32", 0), "norm_forward: act"),
        (lambda: EXT.norm_backward(16, 0, 32, 48, 0, 64, 0, 0, (2, 3, 4, 3, 1, 4), 1e-5, 1, 0.0,
                                   "float32", 0), "norm_backward: out is required"),
        (lambda: EXT.norm_backward(16, 8, 32, 0, 0, 64, 0, 0, (2, 3, 4, 3, 1, 4), 1e-5, 1, 0.0,
                                   "float32", 0), "norm_backward: var is required"),
        (lambda: EXT.channel_affine(16, 0, 0, 32, (2, -3, 4), 0, 0.0, "float32", 0),
         "channel_affine: shape3"),
        (lambda: EXT.adam_step([16], [32], [48], [64], [], [10, 4], [1], 1e-3, 0.9, 0.999, 1e-8,
                               0.0, False, False, False, "float32", 0), "adam_step: params"),
        (lambda: EXT.adam_step([16], [32], [48], [64], [0], [10], [1], 1e-3, 0.9, 0.999, 1e-8,
                               0.0, True, False, False, "float32", 0),
         r"adam_step: max_exp_avg_sqs\[0\] is required"),
        (lambda: EXT.adam_step([16], [32], [48], [64], [], [10], [0], 1e-3, 0.9, 0.999, 1e-8,
                               0.0, False, False, False, "float32", 0), r"adam_step: steps\[0\]"),
        (lambda: EXT.adam_step([16], [32], [48], [64], [], [-1], [1], 1e-3, 0.9, 0.999, 1e-8,
                               0.0, False, False, False, "float32", 0), r"adam_step: sizes\[0\]"),
        (lambda: EXT.sgd_step([16], [32], [0], [True], [10], 0.1, 0.9, 0.0, 0.0, False, False,
                              "float64", 0), r"sgd_step: momentum_buffers\[0\] is required"),
        (lambda: EXT.rmsprop_step([16], [32], [48], [], [], [10], 0.01, 0.99, 1e-8, 0.0, 0.0,
                                  True, False, "float64", 0), "rmsprop_step: grad_avgs"),
        (lambda: EXT.penalty_forward(16, 32, 0, 4, 5, 9, 1.0, 2.0, "float32", 0),
         "penalty_forward: kind"),
        (lambda: EXT.penalty_backward(16, 32, 0, 64, 4, 5, 0, 1.0, 2.0, "float32", 0),
         "penalty_backward: upstream is required"),
        (lambda: EXT.running_stats_update(16, 0, 0, 0, 8, 0.1, 1.0, "float32", 0),
         "running_stats_update: mean is required"),
        (lambda: EXT.running_stats_update(16, 0, 32, 0, -8, 0.1, 1.0, "float32", 0),
         "running_stats_update: n"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


# ---- (d) on a GPU, against torch ----------------------------------------------------------------

DTYPES = [torch.float32, torch.float64]
NAME = {torch.float32: "float32", torch.float64: "float64"}
SLOPE = 0.2
ACTS = {0: lambda z: z, 1: torch.relu, 2: lambda z: F.leaky_relu(z, SLOPE), 3: torch.tanh,
        4: torch.sigmoid}


def p(t: torch.Tensor | None) -> int:
    return 0 if t is None else t.data_ptr()


def stream() -> int:
    return torch.cuda.current_stream().cuda_stream


def close(actual, expected, dtype, what, scale=1.0):
    torch.cuda.synchronize()
    assert_close(actual, expected, NAME[dtype], what, scale)


def _channel_view(t: torch.Tensor, ndim: int) -> torch.Tensor:
    return t.view(1, -1, *([1] * (ndim - 2)))


# (kind, shape, groups): batch norm at a large batch (few groups, long ones: split over
# blocks), at a small H*W and on a dense layer; instance norm; group norm at a small H*W
# (several channels a block) and a large one (split runs with cg > 1).
NORM_CASES = [
    ("batch", (64, 64, 32, 32), None),
    ("batch", (64, 256, 4, 4), None),
    ("batch", (64, 128), None),
    ("instance", (16, 64, 32, 32), None),
    ("group", (16, 256, 8, 8), 32),
    ("group", (2, 64, 64, 64), 8),
]


def norm_layout(kind, shape, groups):
    n, c = shape[0], shape[1]
    hw = 1
    for d in shape[2:]:
        hw *= d
    if kind == "batch":
        return (n, c, hw, c, 1, hw)
    if kind == "instance":
        return (1, n * c, hw, c, 1, hw)
    cg = c // groups
    return (1, n * groups, cg * hw, groups, cg, hw)


def norm_reference(kind, x, groups, eps):
    """(y, mean, var) by torch, in x's dtype, with torch's own normalization ops."""
    if kind == "batch":
        axes = (0, *range(2, x.dim()))
        y = F.batch_norm(x, None, None, training=True, eps=eps)
        return y, x.mean(axes), x.var(axes, unbiased=False)
    if kind == "instance":
        flat = x.reshape(x.shape[0] * x.shape[1], -1)
        return F.instance_norm(x, eps=eps), flat.mean(1), flat.var(1, unbiased=False)
    flat = x.reshape(x.shape[0] * groups, -1)
    return F.group_norm(x, groups, eps=eps), flat.mean(1), flat.var(1, unbiased=False)


def _norm_ids(case):
    kind, shape, groups = case
    return f"{kind}-{'x'.join(map(str, shape))}" + (f"-g{groups}" if groups else "")


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("case", NORM_CASES, ids=_norm_ids)
def test_norm_forward_backward(case, act, dtype):
    kind, shape, groups = case
    eps = 1e-5
    gen = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(shape, device="cuda", dtype=dtype, generator=gen) * 2 + 0.5
    c = shape[1]
    w = torch.randn(c, device="cuda", dtype=dtype, generator=gen)
    b = torch.randn(c, device="cuda", dtype=dtype, generator=gen)
    layout = norm_layout(kind, shape, groups)
    s = layout[1]
    out, y = torch.empty_like(x), torch.empty_like(x)
    mean = torch.empty(s, device="cuda", dtype=dtype)
    var = torch.empty(s, device="cuda", dtype=dtype)
    EXT.norm_forward(p(x), p(out), p(y), p(mean), p(var), p(w), p(b), layout, eps, act, SLOPE,
                     NAME[dtype], stream())

    xd = x.detach().double().requires_grad_()
    wd = w.detach().double().requires_grad_()
    bd = b.detach().double().requires_grad_()
    yd, md, vd = norm_reference(kind, xd, groups, eps)
    od = ACTS[act](yd * _channel_view(wd, x.dim()) + _channel_view(bd, x.dim()))
    close(mean, md, dtype, "mean")
    close(var, vd, dtype, "var")
    close(y, yd, dtype, "y")
    close(out, od, dtype, "out")

    # The backward reads act' from the kernel's out (minigan/activation.h): where z is within
    # rounding of relu's kink, float32 out and float64 z can disagree on the side, so the
    # reference takes relu's and leaky_relu's masks from out too (tanh and sigmoid are smooth).
    zd = yd * _channel_view(wd, x.dim()) + _channel_view(bd, x.dim())
    positive = (out > 0).double()
    masked = {1: zd * positive, 2: zd * (positive + (1 - positive) * SLOPE)}
    g = torch.randn(shape, device="cuda", dtype=dtype, generator=gen)
    masked.get(act, od).backward(g.double())
    dx, dw, db = torch.empty_like(x), torch.empty_like(w), torch.empty_like(b)
    EXT.norm_backward(p(g), p(out) if act else 0, p(y), p(var), p(w), p(dx), p(dw), p(db),
                      layout, eps, act, SLOPE, NAME[dtype], stream())
    close(dx, xd.grad, dtype, "dx", scale=5.0)
    close(dw, wd.grad, dtype, "dweight", scale=5.0)
    close(db, bd.grad, dtype, "dbias", scale=5.0)

    # the reductions are deterministic: the same bits again, also one output at a time
    dx2, dw2, db2 = torch.empty_like(x), torch.empty_like(w), torch.empty_like(b)
    EXT.norm_backward(p(g), p(out) if act else 0, p(y), p(var), p(w), p(dx2), 0, 0, layout,
                      eps, act, SLOPE, NAME[dtype], stream())
    EXT.norm_backward(p(g), p(out) if act else 0, p(y), p(var), p(w), 0, p(dw2), p(db2), layout,
                      eps, act, SLOPE, NAME[dtype], stream())
    torch.cuda.synchronize()
    assert torch.equal(dx, dx2) and torch.equal(dw, dw2) and torch.equal(db, db2)


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("case", NORM_CASES, ids=_norm_ids)
def test_norm_without_affine_on_a_side_stream(case, dtype):
    """out = 0, weight = bias = 0: y alone; the backward's dy is g; launched on a non-default
    stream."""
    kind, shape, groups = case
    eps = 1e-3
    gen = torch.Generator(device="cuda").manual_seed(2)
    x = torch.randn(shape, device="cuda", dtype=dtype, generator=gen) - 3.0
    g = torch.randn(shape, device="cuda", dtype=dtype, generator=gen)
    layout = norm_layout(kind, shape, groups)
    y, dx = torch.empty_like(x), torch.empty_like(x)
    mean = torch.empty(layout[1], device="cuda", dtype=dtype)
    var = torch.empty_like(mean)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        EXT.norm_forward(p(x), 0, p(y), p(mean), p(var), 0, 0, layout, eps, 0, 0.0, NAME[dtype],
                         side.cuda_stream)
        EXT.norm_backward(p(g), 0, p(y), p(var), 0, p(dx), 0, 0, layout, eps, 0, 0.0,
                          NAME[dtype], side.cuda_stream)
    torch.cuda.current_stream().wait_stream(side)
    xd = x.detach().double().requires_grad_()
    yd, _, _ = norm_reference(kind, xd, groups, eps)
    yd.backward(g.double())
    close(y, yd, dtype, "y")
    close(dx, xd.grad, dtype, "dx", scale=5.0)


def _out_size(size, k, s, pad, d):
    return (size + 2 * pad - d * (k - 1) - 1) // s + 1


# (n, c, h, w, k, stride, padding, dilation): DCGAN's down-sampling, a 3x3 same conv, a
# dilated one, a stride that leaves input rows unread, a 1x1.
CONV_CASES = [
    (64, 3, 64, 64, (4, 4), (2, 2), (1, 1), (1, 1)),
    (32, 128, 16, 16, (3, 3), (1, 1), (1, 1), (1, 1)),
    (8, 16, 20, 18, (3, 3), (1, 1), (2, 2), (2, 2)),
    (4, 5, 17, 13, (4, 2), (3, 2), (0, 1), (1, 1)),
    (16, 64, 8, 8, (1, 1), (1, 1), (0, 0), (1, 1)),
]


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_im2col_col2im_match_unfold_fold(case, dtype):
    n, c, h, w, k, s, pad, d = case
    ho, wo = (_out_size((h, w)[i], k[i], s[i], pad[i], d[i]) for i in range(2))
    geometry = (n, c, h, w, k[0], k[1], ho, wo, s[0], s[1], pad[0], pad[1], d[0], d[1])
    gen = torch.Generator(device="cuda").manual_seed(3)
    x = torch.randn(n, c, h, w, device="cuda", dtype=dtype, generator=gen)
    rows, l = c * k[0] * k[1], ho * wo
    cols = torch.full((rows, n * l), float("nan"), device="cuda", dtype=dtype)
    EXT.im2col(p(x), p(cols), geometry, NAME[dtype], stream())
    unfold = F.unfold(x, k, dilation=d, padding=pad, stride=s)  # (n, rows, l)
    ref = unfold.permute(1, 0, 2).reshape(rows, n * l)
    torch.cuda.synchronize()
    assert torch.equal(cols, ref), "im2col copies values: it must equal F.unfold exactly"

    gcols = torch.randn(rows, n * l, device="cuda", dtype=dtype, generator=gen)
    dx = torch.full_like(x, float("nan"))
    EXT.col2im(p(gcols), p(dx), geometry, NAME[dtype], stream())
    folded = F.fold(gcols.reshape(rows, n, l).permute(1, 0, 2).double(), (h, w), k, dilation=d,
                    padding=pad, stride=s)
    close(dx, folded, dtype, "col2im")


# Tensor sizes of a small GAN and the edges of the launch structure: a scalar, odd sizes (the
# vector loop's tail), several chunks, 40 tensors (over one launch's 32), one tensor of more
# chunks than a launch's 320 blocks, and one misaligned view (the scalar path).
OPT_SIZES = [1, 7, 64, 1001, 3 * 16384 + 5] + [97 * (i + 1) for i in range(34)] + [6_000_000]


def _opt_tensors(dtype, seed):
    gen = torch.Generator(device="cuda").manual_seed(seed)
    params = [torch.randn(n, device="cuda", dtype=dtype, generator=gen) for n in OPT_SIZES]
    base = torch.randn(4097, device="cuda", dtype=dtype, generator=gen)
    params.append(base[1:])  # data_ptr not 16-byte aligned
    return params, gen


def _zeros(params):
    return [torch.zeros_like(t) for t in params]


ADAM_CONFIGS = [  # (amsgrad, maximize, decoupled, weight_decay)
    (False, False, False, 0.0), (True, False, False, 0.01), (False, True, True, 0.01),
    (True, True, True, 0.1)]


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("config", ADAM_CONFIGS, ids=str)
def test_adam_step_matches_torch(config, dtype):
    amsgrad, maximize, decoupled, wd = config
    lr, betas, eps = 2e-3, (0.5, 0.999), 1e-8
    params, gen = _opt_tensors(dtype, 4)
    ref = [torch.nn.Parameter(t.clone()) for t in params]
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls(ref, lr=lr, betas=betas, eps=eps, weight_decay=wd, amsgrad=amsgrad,
              maximize=maximize, foreach=False)
    m, v, vmax = _zeros(params), _zeros(params), _zeros(params)
    for step in range(1, 4):
        grads = [torch.randn(t.shape, device="cuda", dtype=dtype, generator=gen) for t in params]
        for r, g in zip(ref, grads):
            r.grad = g.clone()
        opt.step()
        EXT.adam_step([p(t) for t in params], [p(g) for g in grads], [p(t) for t in m],
                      [p(t) for t in v], [p(t) for t in vmax] if amsgrad else [],
                      [t.numel() for t in params], [step] * len(params), lr, betas[0],
                      betas[1], eps, wd, amsgrad, maximize, decoupled, NAME[dtype], stream())
    for i, (t, r) in enumerate(zip(params, ref)):
        close(t, r.detach(), dtype, f"param {i} ({t.numel()} elements)", scale=5.0)
        close(m[i], opt.state[r]["exp_avg"], dtype, f"exp_avg {i}", scale=5.0)
        close(v[i], opt.state[r]["exp_avg_sq"], dtype, f"exp_avg_sq {i}", scale=5.0)
        if amsgrad:
            close(vmax[i], opt.state[r]["max_exp_avg_sq"], dtype, f"max_exp_avg_sq {i}",
                  scale=5.0)


SGD_CONFIGS = [  # (momentum, dampening, nesterov, weight_decay, maximize)
    (0.0, 0.0, False, 0.0, False), (0.9, 0.0, True, 1e-4, False), (0.9, 0.1, False, 0.0, True)]


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("config", SGD_CONFIGS, ids=str)
def test_sgd_step_matches_torch(config, dtype):
    momentum, dampening, nesterov, wd, maximize = config
    lr = 0.05
    params, gen = _opt_tensors(dtype, 5)
    ref = [torch.nn.Parameter(t.clone()) for t in params]
    opt = torch.optim.SGD(ref, lr=lr, momentum=momentum, dampening=dampening,
                          nesterov=nesterov, weight_decay=wd, maximize=maximize, foreach=False)
    bufs = [torch.full_like(t, float("nan")) for t in params]  # fresh: never read
    for step in range(1, 4):
        grads = [torch.randn(t.shape, device="cuda", dtype=dtype, generator=gen) for t in params]
        for r, g in zip(ref, grads):
            r.grad = g.clone()
        opt.step()
        EXT.sgd_step([p(t) for t in params], [p(g) for g in grads],
                     [p(b) for b in bufs] if momentum else [], [step == 1] * len(params),
                     [t.numel() for t in params], lr, momentum, dampening, wd, nesterov,
                     maximize, NAME[dtype], stream())
    for i, (t, r) in enumerate(zip(params, ref)):
        close(t, r.detach(), dtype, f"param {i} ({t.numel()} elements)")
        if momentum:
            close(bufs[i], opt.state[r]["momentum_buffer"], dtype, f"momentum_buffer {i}")


RMSPROP_CONFIGS = [  # (momentum, centered, maximize, weight_decay)
    (0.0, False, False, 0.0), (0.9, True, False, 0.01), (0.5, False, True, 0.0)]


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("config", RMSPROP_CONFIGS, ids=str)
def test_rmsprop_step_matches_torch(config, dtype):
    momentum, centered, maximize, wd = config
    lr, alpha, eps = 1e-3, 0.9, 1e-8
    params, gen = _opt_tensors(dtype, 6)
    ref = [torch.nn.Parameter(t.clone()) for t in params]
    opt = torch.optim.RMSprop(ref, lr=lr, alpha=alpha, eps=eps, weight_decay=wd,
                              momentum=momentum, centered=centered, maximize=maximize,
                              foreach=False)
    sq, ga, bufs = _zeros(params), _zeros(params), _zeros(params)
    for _ in range(3):
        grads = [torch.randn(t.shape, device="cuda", dtype=dtype, generator=gen) for t in params]
        for r, g in zip(ref, grads):
            r.grad = g.clone()
        opt.step()
        EXT.rmsprop_step([p(t) for t in params], [p(g) for g in grads], [p(t) for t in sq],
                         [p(t) for t in ga] if centered else [],
                         [p(t) for t in bufs] if momentum else [],
                         [t.numel() for t in params], lr, alpha, eps, wd, momentum, centered,
                         maximize, NAME[dtype], stream())
    for i, (t, r) in enumerate(zip(params, ref)):
        close(t, r.detach(), dtype, f"param {i} ({t.numel()} elements)", scale=5.0)
        close(sq[i], opt.state[r]["square_avg"], dtype, f"square_avg {i}", scale=5.0)
        if centered:
            close(ga[i], opt.state[r]["grad_avg"], dtype, f"grad_avg {i}", scale=5.0)
        if momentum:
            close(bufs[i], opt.state[r]["momentum_buffer"], dtype, f"momentum_buffer {i}",
                  scale=5.0)


def _penalty_reference(g, kind, center, power):
    norm = g.norm(dim=1)
    if kind == 0:
        return (norm - center) ** 2
    if kind == 1:
        return torch.clamp(norm - center, min=0) ** 2
    if kind == 2:
        return (g * g).sum(1)
    return norm ** power


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("kind", [0, 1, 2, 3])
@pytest.mark.parametrize("shape", [(64, 3 * 64 * 64), (1000, 7)], ids=str)
def test_penalty_matches_torch(shape, kind, dtype):
    rows, cols = shape
    center, power = 1.0, 6.0
    gen = torch.Generator(device="cuda").manual_seed(7)
    g = torch.randn(shape, device="cuda", dtype=dtype, generator=gen) / (cols ** 0.5)
    g[3] = 0  # a zero row: the coefficient is 0 there, as torch's norm backward
    sq = torch.empty(rows, device="cuda", dtype=dtype)
    pen = torch.empty(rows, device="cuda", dtype=dtype)
    EXT.penalty_forward(p(g), p(sq), p(pen), rows, cols, kind, center, power, NAME[dtype],
                        stream())
    gd = g.detach().double().requires_grad_()
    ref = _penalty_reference(gd, kind, center, power)
    close(sq, (gd * gd).sum(1), dtype, "sq_norms")
    close(pen, ref, dtype, "penalty")
    upstream = torch.randn(rows, device="cuda", dtype=dtype, generator=gen)
    ref.backward(upstream.double())
    dg = torch.empty_like(g)
    EXT.penalty_backward(p(g), p(sq), p(upstream), p(dg), rows, cols, kind, center, power,
                         NAME[dtype], stream())
    close(dg, gd.grad, dtype, "dg", scale=5.0)


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
def test_running_stats_update(dtype):
    n, momentum, correction = 300, 0.1, 4096 / 4095
    gen = torch.Generator(device="cuda").manual_seed(8)
    rm, rv, mean, var = (torch.rand(n, device="cuda", dtype=dtype, generator=gen)
                         for _ in range(4))
    expect_m = rm * (1 - momentum) + momentum * mean
    expect_v = rv * (1 - momentum) + momentum * (var * correction)
    rv_only = rv.clone()
    EXT.running_stats_update(p(rm), p(rv), p(mean), p(var), n, momentum, correction,
                             NAME[dtype], stream())
    EXT.running_stats_update(0, p(rv_only), 0, p(var), n, momentum, correction, NAME[dtype],
                             stream())
    close(rm, expect_m, dtype, "running_mean")
    close(rv, expect_v, dtype, "running_var")
    close(rv_only, expect_v, dtype, "running_var alone")


AFFINE_SHAPES = [(64, 128, 16, 16), (4, 64, 256, 256), (4096, 16)]


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("shape", AFFINE_SHAPES, ids=str)
def test_channel_affine(shape, act, dtype):
    gen = torch.Generator(device="cuda").manual_seed(9)
    y = torch.randn(shape, device="cuda", dtype=dtype, generator=gen)
    c = shape[1]
    w = torch.randn(c, device="cuda", dtype=dtype, generator=gen)
    b = torch.randn(c, device="cuda", dtype=dtype, generator=gen)
    a, rest = shape[0], y.numel() // (shape[0] * c)
    for weight, bias in ((w, b), (None, b), (w, None)):
        out = torch.empty_like(y)
        EXT.channel_affine(p(y), p(weight), p(bias), p(out), (a, c, rest), act, SLOPE,
                           NAME[dtype], stream())
        z = y.double()
        if weight is not None:
            z = z * _channel_view(weight.double(), y.dim())
        if bias is not None:
            z = z + _channel_view(bias.double(), y.dim())
        close(out, ACTS[act](z), dtype, f"out (weight {weight is not None}, bias "
              f"{bias is not None})")


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
@pytest.mark.parametrize("shape", AFFINE_SHAPES, ids=str)
def test_channel_affine_backward(shape, dtype):
    gen = torch.Generator(device="cuda").manual_seed(10)
    y = torch.randn(shape, device="cuda", dtype=dtype, generator=gen)
    g = torch.randn(shape, device="cuda", dtype=dtype, generator=gen)
    c = shape[1]
    w = torch.randn(c, device="cuda", dtype=dtype, generator=gen)
    a, rest = shape[0], y.numel() // (shape[0] * c)
    axes = (0, *range(2, y.dim()))
    gy, gw, gb = torch.empty_like(y), torch.empty_like(w), torch.empty_like(w)
    EXT.channel_affine_backward(p(g), p(y), p(w), p(gy), p(gw), p(gb), (a, c, rest),
                                NAME[dtype], stream())
    gd, yd = g.double(), y.double()
    close(gy, gd * _channel_view(w.double(), y.dim()), dtype, "gy")
    close(gw, (gd * yd).sum(axes), dtype, "gw", scale=5.0)
    close(gb, gd.sum(axes), dtype, "gb", scale=5.0)
    # each output alone (gb alone needs no y; gy alone is the scaling kernel), the same bits
    gy2, gw2, gb2 = torch.empty_like(y), torch.empty_like(w), torch.empty_like(w)
    EXT.channel_affine_backward(p(g), 0, p(w), p(gy2), 0, 0, (a, c, rest), NAME[dtype], stream())
    EXT.channel_affine_backward(p(g), p(y), p(w), 0, p(gw2), 0, (a, c, rest), NAME[dtype],
                                stream())
    EXT.channel_affine_backward(p(g), 0, 0, 0, 0, p(gb2), (a, c, rest), NAME[dtype], stream())
    torch.cuda.synchronize()
    assert torch.equal(gy, gy2) and torch.equal(gw, gw2) and torch.equal(gb, gb2)
    # no weight: gy is g
    EXT.channel_affine_backward(p(g), 0, 0, p(gy2), 0, 0, (a, c, rest), NAME[dtype], stream())
    torch.cuda.synchronize()
    assert torch.equal(gy2, g)
