"""The numpy backend's kernels that have a compiled path, on both paths, against torch.

The convolution kernels slice the batch and run im2col/col2im either in the compiled
extension (minigan.kernels._C, csrc/cpu/) or in numpy; the normalization kernels likewise.
Every other test runs whichever path this install has; here hypothesis draws geometries
(stride, padding, dilation, groups, the extra rows a transposed convolution's output_padding
leaves; shapes and reduced axes) and each kernel runs on both paths, with the default slices
and with one-sample slices, against torch.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from minigan.kernels import compiled
from minigan.kernels.numpy import conv, norm
from minigan.kernels.shapes import conv_out_size

from tests.torch_ref import assert_close

EXT = compiled.CPU
needs_ext = pytest.mark.skipif(EXT is None, reason="the compiled extension is not built here")
PATHS = ["numpy", pytest.param("compiled", marks=needs_ext)]


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    monkeypatch.setattr(compiled, "CPU", EXT if request.param == "compiled" else None)
    return request.param


@pytest.fixture(params=["default", "one-sample"])
def slices(request, monkeypatch):
    if request.param == "one-sample":
        monkeypatch.setattr(conv, "CHUNK_BYTES", 1)
        monkeypatch.setattr(conv, "MIN_COLUMNS", 1)
    return request.param


def assert_same_with_threads(run, threads: int = 3) -> None:
    """run() (a tuple of arrays) gives the same bits with the extension on 1 and ``threads``
    threads: no result may depend on how the work is split."""
    one = run()
    try:
        EXT.set_num_threads(threads)
        many = run()
    finally:
        EXT.set_num_threads(1)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)


def test_extension_is_built_in_ci():
    """CI installs with the extension; a build that quietly failed would leave these kernels
    untested and the step slower, so there it is an error."""
    if os.environ.get("CI") and EXT is None:
        pytest.fail("CI=true but minigan.kernels._C did not build (see pip's build output)")


@st.composite
def geometries(draw):
    groups = draw(st.integers(1, 3))
    c, o = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = tuple(max(1, dilation[i] * ((kh, kw)[i] - 1) + 1 - 2 * padding[i])
               + draw(st.integers(0, 6)) for i in range(2))
    n = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(n=n, c=c, o=o, k=(kh, kw), hw=hw, stride=stride, padding=padding,
                dilation=dilation, groups=groups, seed=seed)


def _arrays(gm, dtype):
    rng = np.random.default_rng(gm["seed"])
    kh, kw = gm["k"]
    x = rng.standard_normal((gm["n"], gm["c"], *gm["hw"])).astype(dtype)
    w = rng.standard_normal((gm["o"], gm["c"] // gm["groups"], kh, kw)).astype(dtype)
    ho, wo = (conv_out_size(gm["hw"][i], gm["k"][i], gm["stride"][i], gm["padding"][i],
                            gm["dilation"][i]) for i in range(2))
    g = rng.standard_normal((gm["n"], gm["o"], ho, wo)).astype(dtype)
    b = rng.standard_normal(gm["o"]).astype(dtype)
    return x, w, g, b


def _geom(gm):
    return gm["stride"], gm["padding"], gm["dilation"], gm["groups"]


def _torch_kw(gm):
    return dict(stride=gm["stride"], padding=gm["padding"], dilation=gm["dilation"],
                groups=gm["groups"])


def _compare_kernels(gm, dtype):
    x, w, g, b = _arrays(gm, dtype)
    tx, tw, tg, tb = (torch.from_numpy(a) for a in (x, w, g, b))
    kw = _torch_kw(gm)
    assert_close(conv.conv2d_forward(x, w, b, *_geom(gm)), TF.conv2d(tx, tw, tb, **kw), dtype,
                 f"conv2d_forward {gm}")
    assert_close(conv.conv2d_backward_input(g, w, gm["hw"], *_geom(gm)),
                 torch.nn.grad.conv2d_input(x.shape, tw, tg, **kw), dtype,
                 f"conv2d_backward_input {gm}")
    assert_close(conv.conv2d_backward_weight(x, g, gm["k"], *_geom(gm)),
                 torch.nn.grad.conv2d_weight(tx, w.shape, tg, **kw), dtype,
                 f"conv2d_backward_weight {gm}")


@given(gm=geometries())
def test_conv2d_kernels_match_torch(path, slices, dtype, gm):
    _compare_kernels(gm, dtype)


@given(gm=geometries(), data=st.data())
def test_input_rows_no_window_reaches(path, dtype, gm, data):
    """An input a few rows/cols longer can have the same output (conv_transpose2d's
    output_padding asks for such a size): its last rows get only what windows reach."""
    x, w, g, _ = _arrays(gm, dtype)

    def slack(i):  # how much longer the input can be with the same output size
        span = gm["hw"][i] + 2 * gm["padding"][i] - gm["dilation"][i] * (gm["k"][i] - 1) - 1
        return gm["stride"][i] - 1 - span % gm["stride"][i]
    big = tuple(gm["hw"][i] + data.draw(st.integers(0, slack(i))) for i in range(2))
    xbig = np.random.default_rng(gm["seed"] + 1).standard_normal((gm["n"], gm["c"], *big))
    xbig = xbig.astype(dtype)
    tw, tg = torch.from_numpy(w), torch.from_numpy(g)
    assert_close(conv.conv2d_backward_input(g, w, big, *_geom(gm)),
                 torch.nn.grad.conv2d_input(xbig.shape, tw, tg, **_torch_kw(gm)), dtype,
                 f"backward_input into {big} {gm}")
    assert_close(conv.conv2d_backward_weight(xbig, g, gm["k"], *_geom(gm)),
                 torch.nn.grad.conv2d_weight(torch.from_numpy(xbig), w.shape, tg,
                                             **_torch_kw(gm)), dtype,
                 f"backward_weight of a {big} input {gm}")


@pytest.mark.parametrize("groups, k, stride", [(1, (4, 4), (1, 1)), (2, (3, 2), (2, 3)),
                                              (3, (1, 1), (1, 1))])
def test_dense_geometry(path, dtype, groups, k, stride):
    """A window covering the whole input (DCGAN's 4x4 -> 1x1 layers) is a matrix product."""
    gm = dict(n=5, c=2 * groups, o=3 * groups, k=k, hw=k, stride=stride, padding=(0, 0),
              dilation=(1, 1), groups=groups, seed=7)
    _compare_kernels(gm, dtype)


def test_empty_batch(path, dtype):
    gm = dict(n=0, c=4, o=6, k=(3, 2), hw=(7, 5), stride=(2, 1), padding=(1, 0),
              dilation=(1, 2), groups=2, seed=3)
    _compare_kernels(gm, dtype)


def test_non_contiguous_input(path):
    x = np.random.default_rng(1).standard_normal((3, 4, 9, 7)).transpose(0, 1, 3, 2)
    w = np.random.default_rng(2).standard_normal((5, 4, 3, 3))
    geom = ((2, 1), (1, 0), (1, 2), 1)
    assert_close(conv.conv2d_forward(x, w, None, *geom),
                 TF.conv2d(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(w),
                           stride=(2, 1), padding=(1, 0), dilation=(1, 2)), "float64",
                 "conv2d_forward of a transposed view")


@st.composite
def normalizations(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    axes = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    return shape, axes, draw(st.sampled_from([1e-5, 1e-3, 0.5])), draw(st.integers(0, 2**31))


@given(case=normalizations())
def test_normalize_kernels_match_torch(path, dtype, case):
    """Every set of reduced axes: the kept ones contiguous (batch/instance/layer/group norm,
    compiled when built) or not (numpy code on both paths)."""
    shape, axes, eps, seed = case
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    var_ref, mean_ref = torch.var_mean(tx, axes, correction=0, keepdim=True)
    y_ref = (tx - mean_ref) / torch.sqrt(var_ref + eps)
    dx_ref = torch.autograd.grad(y_ref, tx, torch.from_numpy(g))[0]
    y, mean, var = norm.normalize_forward(x, axes, eps)
    what = f"normalize {shape} axes {axes} eps {eps}"
    for ours, ref, name in ((y, y_ref, "y"), (mean, mean_ref, "mean"), (var, var_ref, "var")):
        assert ours.dtype == x.dtype and ours.shape == tuple(ref.shape), f"{what}: {name}"
        assert_close(ours, ref, dtype, f"{what}: {name}")
    dx = norm.normalize_backward(g, y, var, axes, eps)
    assert dx.dtype == x.dtype
    assert_close(dx, dx_ref, dtype, f"{what}: dx", scale=10.0)


@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=5).map(tuple),
       present=st.sampled_from([(True, True), (True, False), (False, True)]),
       seed=st.integers(0, 2**31))
def test_channel_affine_kernels_match_torch(path, dtype, shape, present, seed):
    rng = np.random.default_rng(seed)
    y, g = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    w, b = (rng.uniform(-2, 2, shape[1]).astype(dtype) if p else None for p in present)
    view = (1, -1) + (1,) * (len(shape) - 2)
    ty = torch.from_numpy(y).requires_grad_()
    tw = None if w is None else torch.from_numpy(w).requires_grad_()
    tb = None if b is None else torch.from_numpy(b).requires_grad_()
    out = ty * (1 if tw is None else tw.reshape(view)) + (0 if tb is None else tb.reshape(view))
    wanted = [t for t in (ty, tw, tb) if t is not None]
    expected = iter(torch.autograd.grad(out, wanted, torch.from_numpy(g)))
    what = f"channel_affine {shape} weight/bias {present}"
    assert_close(norm.channel_affine(y, w, b), out, dtype, what)
    grads = norm.channel_affine_backward(g, y, w, True, w is not None, b is not None)
    for name, ours, t in zip(("gy", "gw", "gb"), grads, (ty, tw, tb)):
        if t is None:
            assert ours is None, f"{what}: {name} computed though not asked for"
        else:
            assert ours.dtype == y.dtype
            assert_close(ours, next(expected), dtype, f"{what}: {name}")


def test_normalize_with_a_broadcast_gradient(path):
    """The gradient of a sum reaches the kernel as a broadcast view (strides of zero)."""
    x = np.random.default_rng(5).standard_normal((4, 3, 2, 2))
    y, _, var = norm.normalize_forward(x, (0, 2, 3), 1e-5)
    g = np.broadcast_to(np.float64(1.0), x.shape)
    np.testing.assert_allclose(norm.normalize_backward(g, y, var, (0, 2, 3), 1e-5), 0.0,
                               atol=1e-12)


@needs_ext
def test_threads_do_not_change_results():
    """Threads split whole rows or channels, so every sum keeps its order. (Shapes large
    enough that parallel_for does split them.)"""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((8, 16, 32, 30)), rng.standard_normal((16, 16, 4, 4))
    g = rng.standard_normal((8, 16, 16, 15))
    geom = ((2, 2), (1, 1), (1, 1), 1)

    def run():
        return (conv.conv2d_forward(x, w, None, *geom),
                conv.conv2d_backward_input(g, w, (32, 30), *geom),
                *norm.normalize_forward(x, (0, 2, 3), 1e-5))
    assert EXT.get_num_threads() == 1
    assert_same_with_threads(run)
    with pytest.raises(ValueError, match="set_num_threads: n must be >= 1, got 0"):
        EXT.set_num_threads(0)


@needs_ext
def test_both_paths_agree_bit_for_bit_in_float64_forward():
    """Both im2col paths write the same column matrix, so the forward GEMM sees the same
    numbers in the same order."""
    x = np.random.default_rng(3).standard_normal((4, 6, 11, 10))
    w = np.random.default_rng(4).standard_normal((8, 3, 3, 4))
    geom = ((2, 3), (2, 1), (2, 1), 2)
    with_ext = conv.conv2d_forward(x, w, None, *geom)
    try:
        compiled.CPU = None
        without = conv.conv2d_forward(x, w, None, *geom)
    finally:
        compiled.CPU = EXT
    np.testing.assert_array_equal(with_ext, without)


@needs_ext
@pytest.mark.parametrize("call, message", [
    (lambda: EXT.im2col(np.zeros((1, 1, 2, 2), np.float32), np.zeros((4, 4), np.float64),
                        (1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1)),
     r"im2col: cols has dtype float64, expected float32"),
    (lambda: EXT.im2col(np.zeros((1, 1, 2, 2), np.float32), np.zeros((4, 2), np.float32),
                        (1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1)),
     r"im2col: cols has shape \(4, 2\) \(8 elements\), expected 4 elements"),
    (lambda: EXT.im2col(np.zeros((1, 1, 2, 2), np.int32), np.zeros(4, np.int32),
                        (1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1)),
     r"im2col: x must be float32 or float64, got int32"),
    (lambda: EXT.normalize_forward(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.zeros(2),
                                   np.zeros(3), (2, 3, 4), 1e-5),
     r"normalize_forward: mean has shape \(2,\) \(2 elements\), expected 3 elements"),
    (lambda: EXT.normalize_backward(np.zeros(6, np.float32), np.zeros(6), np.zeros(3),
                                    np.zeros(6), (2, 3, 1), 1e-5),
     r"normalize_backward: y has dtype float64, expected float32"),
    (lambda: EXT.col2im(np.zeros((4, 1)), np.zeros((1, 1, 2, 4))[..., ::2],
                        (1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1)),
     r"col2im: dx must be C-contiguous"),
    (lambda: EXT.channel_affine(np.zeros((2, 3, 4)), [1.0, 2.0, 3.0], None, np.zeros((2, 3, 4)),
                                (2, 3, 4)),
     r"channel_affine: weight must be a numpy array or None"),
    (lambda: EXT.channel_affine_backward(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), None, None,
                                         np.zeros(2), None, (2, 3, 4)),
     r"channel_affine_backward: gw has shape \(2,\) \(2 elements\), expected 3 elements"),
    (lambda: EXT.col2im(np.zeros((4, 1)), np.zeros((1, 1, 2, 2)), (1, 2, 3)),
     r"conv geometry: expected 14 integers"),
    (lambda: EXT.im2col(np.zeros((1, 1, 2, 2)), np.zeros(4),
                        (1, 1, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0, 1, 1)),
     r"conv geometry: kernel, stride and dilation must be >= 1"),
])
def test_extension_rejects_bad_arrays(call, message):
    with pytest.raises(ValueError, match=message):
        call()
