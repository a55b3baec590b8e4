"""Convolution, linear, pooling, resampling, padding and lookup ops against torch.

Each op has one ``_compare_*`` that runs a geometry through ``check`` (outputs, input and
parameter gradients, the gradient-penalty second-order gradient); hypothesis draws the
geometries, and a few pinned cases make sure the rare corners are always reached.
Geometries are built so torch accepts them: the spatial size is drawn at least as large as
the dilated kernel minus the padding, which makes every output size positive.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan
import minigan.functional as F
from tests.torch_ref import assert_close, check

MAX_SIDE = 9


def _values(draw, shape, distinct=False) -> np.ndarray:
    """Uniform values in [-2, 2); ``distinct`` gives a shuffled grid (no ties for max-pool)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    if not distinct:
        return rng.uniform(-2.0, 2.0, size=shape)
    n = int(np.prod(shape))
    return (rng.permutation(n) * (4.0 / max(n, 1)) - 2.0).reshape(shape)


def _int_or_pair(lo: int, hi: int):
    """An int, or an (h, w) pair that may differ: both spellings torch takes."""
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


def _pair(v) -> tuple:
    return (v, v) if isinstance(v, int) else tuple(v)


def _spatial(draw, low: tuple) -> tuple:
    """(H, W) with H >= low[0], W >= low[1], both in [1, MAX_SIDE]."""
    assume(max(low) <= MAX_SIDE)
    return tuple(draw(st.integers(max(1, lo), MAX_SIDE)) for lo in low)


def _with_bias(draw, inputs: list, channels: int) -> list:
    return inputs + [_values(draw, (channels,))] if draw(st.booleans()) else inputs


# --- conv2d -------------------------------------------------------------------------------
def _compare_conv2d(backend, dtype, inputs, **kw):
    check(lambda x, w, *b: F.conv2d(x, w, *b, **kw),
          lambda x, w, *b: TF.conv2d(x, w, *b, **kw),
          inputs, backend=backend, dtype=dtype, what=f"conv2d {kw}")


@given(data=st.data())
def test_conv2d(backend, dtype, data):
    draw = data.draw
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = draw(_int_or_pair(1, 3))
    padding = draw(st.one_of(_int_or_pair(0, 3), st.sampled_from(["same", "valid"])))
    # torch refuses padding='same' with a stride
    stride = 1 if padding == "same" else draw(_int_or_pair(1, 3))
    if padding == "same":
        hw = _spatial(draw, (1, 1))  # the output keeps the input's size
    else:
        p, d = _pair(0 if padding == "valid" else padding), _pair(dilation)
        hw = _spatial(draw, tuple(d[i] * (kernel[i] - 1) + 1 - 2 * p[i] for i in range(2)))
    batch = draw(st.sampled_from([(), (1,), (2,), (3,)]))  # () is the unbatched (C, H, W) form
    inputs = [_values(draw, batch + (c_in,) + hw),
              _values(draw, (c_out, c_in // groups) + kernel)]
    inputs = _with_bias(draw, inputs, c_out)
    _compare_conv2d(backend, dtype, inputs, stride=stride, padding=padding, dilation=dilation,
                    groups=groups)


@pytest.mark.parametrize("kw", [
    dict(padding="same", dilation=(1, 2)),  # even total padding on H, odd on W: asymmetric
    dict(padding="same", dilation=2, groups=2),
    dict(padding="valid", stride=(2, 3)),
    dict(padding=(3, 0), stride=(3, 1), dilation=(2, 3)),  # padding larger than the kernel
])
def test_conv2d_pinned(kw, backend, dtype):
    rng = np.random.default_rng(0)
    groups = kw.get("groups", 1)
    inputs = [rng.standard_normal((2, 2 * groups, 7, 8)),
              rng.standard_normal((2 * groups, 2, 2, 3)), rng.standard_normal(2 * groups)]
    _compare_conv2d(backend, dtype, inputs, **kw)


# --- conv_transpose2d ---------------------------------------------------------------------
def _compare_conv_transpose2d(backend, dtype, inputs, **kw):
    check(lambda x, w, *b: F.conv_transpose2d(x, w, *b, **kw),
          lambda x, w, *b: TF.conv_transpose2d(x, w, *b, **kw),
          inputs, backend=backend, dtype=dtype, what=f"conv_transpose2d {kw}")


@given(data=st.data())
def test_conv_transpose2d(backend, dtype, data):
    draw = data.draw
    groups = draw(st.integers(1, 3))
    c_in, c_out_per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride, dilation = draw(_int_or_pair(1, 3)), draw(_int_or_pair(1, 3))
    padding = draw(_int_or_pair(0, 2))
    s, d, p = _pair(stride), _pair(dilation), _pair(padding)
    # output_padding < max(stride, dilation): with dilation > stride it can reach the stride
    output_padding = tuple(draw(st.integers(0, max(s[i], d[i]) - 1)) for i in range(2))
    hw = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    out_hw = [(hw[i] - 1) * s[i] - 2 * p[i] + d[i] * (kernel[i] - 1) + output_padding[i] + 1
              for i in range(2)]
    assume(min(out_hw) > 0)
    batch = draw(st.sampled_from([(), (1,), (2,), (3,)]))
    inputs = [_values(draw, batch + (c_in,) + hw),
              _values(draw, (c_in, c_out_per_group) + kernel)]
    inputs = _with_bias(draw, inputs, c_out_per_group * groups)
    _compare_conv_transpose2d(backend, dtype, inputs, stride=stride, padding=padding,
                              output_padding=output_padding, groups=groups, dilation=dilation)


@pytest.mark.parametrize("kw", [
    dict(stride=1, dilation=3, output_padding=2),  # output_padding >= stride
    dict(stride=(2, 1), dilation=(1, 3), padding=1, output_padding=(1, 2), groups=2),
    dict(stride=2, padding=2, output_padding=1),
])
def test_conv_transpose2d_pinned(kw, backend, dtype):
    rng = np.random.default_rng(1)
    groups = kw.get("groups", 1)
    inputs = [rng.standard_normal((2, 2 * groups, 4, 3)),
              rng.standard_normal((2 * groups, 3, 3, 2)), rng.standard_normal(3 * groups)]
    _compare_conv_transpose2d(backend, dtype, inputs, **kw)


# --- linear -------------------------------------------------------------------------------
@given(data=st.data())
def test_linear(backend, dtype, data):
    draw = data.draw
    lead = draw(st.sampled_from([(), (1,), (3,), (2, 3), (2, 1, 2)]))
    n_in, n_out = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    inputs = _with_bias(draw, [_values(draw, lead + (n_in,)), _values(draw, (n_out, n_in))],
                        n_out)
    check(F.linear, TF.linear, inputs, backend=backend, dtype=dtype, what=f"linear {lead}")


# --- pooling ------------------------------------------------------------------------------
def _pool_geometry(draw, max_dilation: int):
    """kernel, stride (None or drawn), padding <= kernel // 2 per axis, dilation, (H, W)."""
    kernel = draw(_int_or_pair(1, 4))
    k = _pair(kernel)
    stride = draw(st.one_of(st.none(), _int_or_pair(1, 3)))
    p = tuple(draw(st.integers(0, k[i] // 2)) for i in range(2))
    padding = p[0] if p[0] == p[1] and draw(st.booleans()) else p
    dilation = draw(_int_or_pair(1, max_dilation))
    d = _pair(dilation)
    hw = _spatial(draw, tuple(d[i] * (k[i] - 1) + 1 - 2 * p[i] for i in range(2)))
    return kernel, stride, padding, dilation, hw


def _compare_avg_pool2d(backend, dtype, x, **kw):
    check(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), [x],
          backend=backend, dtype=dtype, what=f"avg_pool2d {kw}")


@given(data=st.data())
def test_avg_pool2d(backend, dtype, data):
    draw = data.draw
    kernel, stride, padding, _, hw = _pool_geometry(draw, max_dilation=1)
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    x = _values(draw, batch + (draw(st.integers(1, 3)),) + hw)
    _compare_avg_pool2d(backend, dtype, x, kernel_size=kernel, stride=stride, padding=padding,
                        ceil_mode=draw(st.booleans()), count_include_pad=draw(st.booleans()),
                        divisor_override=draw(st.one_of(st.none(), st.integers(1, 7))))


@pytest.mark.parametrize("kw", [
    # ceil mode: the last window starts in the right padding and is dropped (H=5 -> 3, not 4)
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=True),
    # a ceil-mode window that runs past the padding: its divisor is clipped
    dict(kernel_size=(2, 3), stride=(3, 2), padding=(1, 0), ceil_mode=True),
    dict(kernel_size=2, divisor_override=3),
])
def test_avg_pool2d_pinned(kw, backend, dtype):
    x = np.random.default_rng(2).standard_normal((2, 2, 5, 6))
    _compare_avg_pool2d(backend, dtype, x, **kw)


def _compare_max_pool2d(backend, dtype, x, **kw):
    check(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x],
          backend=backend, dtype=dtype, what=f"max_pool2d {kw}")


@given(data=st.data())
def test_max_pool2d(backend, dtype, data):
    draw = data.draw
    kernel, stride, padding, dilation, hw = _pool_geometry(draw, max_dilation=3)
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    x = _values(draw, batch + (draw(st.integers(1, 3)),) + hw, distinct=True)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
              ceil_mode=draw(st.booleans()))
    # A dilated window can lie wholly in the padding (torch's output there is -inf, its
    # index an artifact): test_max_pool2d_window_wholly_in_padding covers that case.
    assume(torch.isfinite(TF.max_pool2d(torch.from_numpy(x), **kw)).all())
    # return_indices=True makes the flat H*W indices a second output, compared exactly
    _compare_max_pool2d(backend, dtype, x, return_indices=draw(st.booleans()), **kw)


@pytest.mark.parametrize("kw", [
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True),
    dict(kernel_size=(2, 3), stride=(2, 3), dilation=(3, 2), padding=(1, 1), ceil_mode=True,
         return_indices=True),
])
def test_max_pool2d_pinned(kw, backend, dtype):
    x = np.random.default_rng(3).permutation(2 * 2 * 5 * 7).reshape(2, 2, 5, 7) / 10.0
    _compare_max_pool2d(backend, dtype, x, **kw)


def test_max_pool2d_all_minus_inf_window_picks_first_input_element(backend, dtype):
    """Where no element beats -inf, torch's index is the window's first in-bounds position
    (not a padded one), and the gradient goes there."""
    x = np.full((1, 2, 4, 5), -np.inf)
    x[:, :, 3, 4] = [1.0, 2.0]
    for kw in (dict(kernel_size=3, stride=2, padding=1),
               dict(kernel_size=2, padding=1, dilation=2, ceil_mode=True)):
        _compare_max_pool2d(backend, dtype, x, return_indices=True, **kw)


def test_max_pool2d_window_wholly_in_padding(backend, dtype):
    """With dilation 2 and padding 1, each column window of a 1-wide input taps only the
    padded columns -1 and 1, so the whole output is -inf (with padding <= kernel // 2 an axis
    that has one such window has only such windows). torch returns -inf with index 1, from its
    loop bounds naming x[.., 1, 0], and sends the gradient there; minigan returns -inf with
    index -1 (no input element, the value torch's own backward skips) and a zero gradient,
    the derivative of a constant."""
    kw = dict(kernel_size=2, stride=(2, 1), padding=(0, 1), dilation=2)
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 1))
    t = minigan.tensor(x, requires_grad=True, dtype=dtype, backend=backend)
    values, indices = F.max_pool2d(t, return_indices=True, **kw)
    assert_close(values, TF.max_pool2d(torch.from_numpy(x), **kw), dtype, "max_pool2d")
    assert np.isneginf(values.detach().numpy()).all() and (indices.numpy() == -1).all()
    (g,) = minigan.grad(values.sum(), [t], allow_unused=True)
    assert g is None or not g.numpy().any()


# --- interpolate --------------------------------------------------------------------------
MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)]
# integer, non-integer and below-one factors; 1.3 and 2.2 can keep or double a small axis,
# which torch's kernels special-case
FACTORS = [0.5, 0.6, 0.75, 1.0, 1.3, 1.5, 1.7, 2.0, 2.2, 2.5, 3.0, 1 / 3]


def _compare_interpolate(backend, dtype, x, **kw):
    check(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x],
          backend=backend, dtype=dtype, what=f"interpolate {kw}")


@pytest.mark.parametrize("mode,align_corners", MODES)
@given(data=st.data())
def test_interpolate(mode, align_corners, backend, dtype, data):
    draw = data.draw
    hw = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    x = _values(draw, (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + hw)
    kw = dict(mode=mode, align_corners=align_corners)
    if draw(st.booleans()):
        kw["size"] = draw(_int_or_pair(1, MAX_SIDE))
    else:
        factor = draw(st.one_of(st.sampled_from(FACTORS),
                                st.tuples(st.sampled_from(FACTORS), st.sampled_from(FACTORS))))
        f = factor if isinstance(factor, tuple) else (factor, factor)
        assume(all(int(n * fi) >= 1 for n, fi in zip(hw, f)))
        kw.update(scale_factor=factor,
                  recompute_scale_factor=draw(st.sampled_from([None, False, True])))
    _compare_interpolate(backend, dtype, x, **kw)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear"])
def test_interpolate_unchanged_and_doubled_axes(mode, backend, dtype):
    """3 -> 6 columns under scale 2.2 ('nearest' doubles by dst // 2, not by the scale) and
    2 -> 2 rows under scale 1.3 (copied, except by nearest-exact, which applies the scale)."""
    x = np.random.default_rng(5).standard_normal((1, 2, 2, 3))
    _compare_interpolate(backend, dtype, x, mode=mode, scale_factor=(1.3, 2.2))


# --- pad ----------------------------------------------------------------------------------
def _compare_pad(backend, dtype, x, pad, **kw):
    check(lambda t: F.pad(t, pad, **kw), lambda t: TF.pad(t, pad, **kw), [x], backend=backend,
          dtype=dtype, what=f"pad {pad} {kw}")


@given(data=st.data())
def test_pad_constant(backend, dtype, data):
    draw = data.draw
    shape = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.sampled_from([3, 4]))))
    n_dims = draw(st.integers(1, len(shape)))
    pad = [draw(st.integers(-2, 3)) for _ in range(2 * n_dims)]
    # negative pads crop, possibly to nothing (an empty output too), but torch refuses a
    # crop of more than the whole dim
    for i in range(n_dims):
        assume(shape[-1 - i] + min(pad[2 * i], 0) + min(pad[2 * i + 1], 0) >= 0)
    value = draw(st.sampled_from([None, 0.0, 1.5, -2.25]))
    _compare_pad(backend, dtype, _values(draw, shape), pad, mode="constant", value=value)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@given(data=st.data())
def test_pad_modes(mode, backend, dtype, data):
    draw = data.draw
    ndim = draw(st.sampled_from([3, 4]))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    # torch pads the last 1 or 2 dims of a 3-D input, the last 2 or 3 of a 4-D one
    n_dims = draw(st.sampled_from([1, 2] if ndim == 3 else [2, 3]))
    pad = []
    for i in range(n_dims):
        size = shape[-1 - i]
        high = {"reflect": size - 1, "circular": size, "replicate": 3}[mode]
        pad += [draw(st.integers(0, high)), draw(st.integers(0, high))]
    _compare_pad(backend, dtype, _values(draw, shape), pad, mode=mode)


# --- embedding and index_select -----------------------------------------------------------
def _compare_embedding(backend, dtype, weight, idx, **kw):
    # max_norm renorms the looked-up rows of weight in place: the weight after the call is
    # a second (non-differentiable) output, so the renormed rows are compared too
    def ours(w, i):
        return F.embedding(i, w, **kw), w.detach()

    def theirs(w, i):
        return TF.embedding(i, w, **kw), w.detach()

    check(ours, theirs, [weight, idx], backend=backend, dtype=dtype, what=f"embedding {kw}")


@given(data=st.data())
def test_embedding(backend, dtype, data):
    draw = data.draw
    num, dim = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    idx_shape = draw(st.sampled_from([(1,), (4,), (2, 3), (3, 1, 2)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    idx = rng.integers(0, num, size=idx_shape)
    kw = dict(padding_idx=draw(st.one_of(st.none(), st.integers(-num, num - 1))),
              scale_grad_by_freq=draw(st.booleans()))
    if draw(st.booleans()):
        kw.update(max_norm=draw(st.sampled_from([0.3, 1.0, 2.5])),
                  norm_type=draw(st.sampled_from([1.0, 2.0, 3.0])))
    _compare_embedding(backend, dtype, _values(draw, (num, dim)), idx, **kw)


def test_embedding_max_norm_renorms_only_looked_up_rows(backend, dtype):
    weight = np.arange(12.0).reshape(4, 3) - 4.0
    _compare_embedding(backend, dtype, weight, np.array([[3, 0], [3, 3]]), max_norm=2.0,
                       padding_idx=0, scale_grad_by_freq=True)


@given(data=st.data())
def test_index_select(backend, dtype, data):
    draw = data.draw
    shape = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3))))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    index = np.array(draw(st.lists(st.integers(0, shape[dim] - 1), min_size=0, max_size=6)),
                     dtype=np.int64)
    check(lambda t: F.index_select(t, dim, index),
          lambda t: torch.index_select(t, dim, torch.from_numpy(index)),
          [_values(draw, shape)], backend=backend, dtype=dtype,
          what=f"index_select dim={dim} {index}")
