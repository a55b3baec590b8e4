"""matmul through cuBLAS (``cupy.matmul``) and 2-D convolution as im2col / col2im (the CUDA
extension's kernels) around one batched cuBLAS GEMM per batch slice. No cuDNN.

Layout, as kernels/numpy/conv.py: x is (N, C, H, W), weight (O, C/groups, kh, kw). The column
matrix of a batch slice of nb samples is (C*kh*kw, nb*Ho*Wo) with rows in (c, i, j) order, so
viewed as (groups, Cg*kh*kw, nb*Ho*Wo) each group's rows are one block and the GEMM
(G, Og, K) @ (G, K, nb*Ho*Wo) is one batched cuBLAS call.

The batch is processed in slices whose column matrix is at most ``CHUNK_BYTES`` (one buffer,
reused by every slice), so a layer's workspace stays bounded at any batch size. The forward's
epilogue (out laid back to NCHW, + bias, activation) is one elementwise kernel that reads the
GEMM's result through a transposed view and writes the output slice.
"""

from __future__ import annotations

import numpy as np
from minigan.kernels.cupy import _common
from minigan.kernels.cupy._common import cupy
from minigan.kernels.cupy.elementwise import act_kernel
from minigan.kernels.shapes import CONV_ACTIVATIONS, conv_out_size

CHUNK_BYTES = 64 << 20  # the most bytes one slice's column matrix takes (tests shrink it)


def matmul(a, b):
    return cupy.matmul(a, b)


def _batch_slices(n: int, bytes_per_sample: int) -> list[slice]:
    step = max(1, min(n, CHUNK_BYTES // max(bytes_per_sample, 1)))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _geometry(nb, c, h, w, kh, kw, ho, wo, stride, padding, dilation) -> tuple:
    return (nb, c, h, w, kh, kw, ho, wo, *stride, *padding, *dilation)


class _Columns:
    """One column buffer for every slice of a call: ``view(nb)`` is (G, Cg*kh*kw, nb*Ho*Wo)."""

    def __init__(self, slices, c, kh, kw, ho, wo, groups, dtype):
        self.rows = (groups, (c // groups) * kh * kw)
        self.per_sample = ho * wo
        nb_max = slices[0].stop - slices[0].start if slices else 0
        self.flat = cupy.empty(c * kh * kw * nb_max * ho * wo, dtype=dtype)

    def view(self, nb: int):
        cols = nb * self.per_sample
        return self.flat[:self.rows[0] * self.rows[1] * cols].reshape(*self.rows, cols)


def _im2col(x_slice, cols, geometry) -> None:
    _common.ext().im2col(x_slice.data.ptr, cols.data.ptr, geometry,
                         _common.dtype_name(x_slice.dtype), _common.stream())


def _col2im(cols, dx_slice, geometry) -> None:
    """Overwrites dx_slice (every element: a gather of the column entries that read it)."""
    _common.ext().col2im(cols.data.ptr, dx_slice.data.ptr, geometry,
                         _common.dtype_name(dx_slice.dtype), _common.stream())


def _grad_matrix(g, groups: int):
    """(n, O, Ho, Wo) -> (G, O/G, n*Ho*Wo), contiguous."""
    n, o, ho, wo = g.shape
    return cupy.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(groups, o // groups,
                                                                    n * ho * wo)


def _dense(in_hw, kernel_hw, out_hw, padding, dilation) -> bool:
    """One window covering the whole unpadded input: the convolution is a plain product and
    im2col a reshape (DCGAN's last D and first G layers)."""
    return (tuple(out_hw) == (1, 1) and tuple(in_hw) == tuple(kernel_hw)
            and tuple(padding) == (0, 0) and tuple(dilation) == (1, 1))


def _dense_input(x, groups: int):
    """(n, C, kh, kw) -> (G, n, Cg*kh*kw), a view."""
    return x.reshape(x.shape[0], groups, -1).transpose(1, 0, 2)


def _dense_grad(g, groups: int):
    """(n, O, 1, 1) -> (G, n, O/G), a view."""
    return g.reshape(g.shape[0], groups, -1).transpose(1, 0, 2)


def _epilogue(res, bias, act, out) -> None:
    """out = act(res + bias[o]) with res an (n, O, Ho, Wo) view; out written in place."""
    code, slope = _common.act_args(act, CONV_ACTIVATIONS, "conv2d_forward")
    if bias is None and code == 0:
        out[...] = res
    elif bias is None:
        act_kernel(False)(res, np.int32(code), np.float64(slope), out)
    else:
        act_kernel(True)(res, bias.reshape(1, -1, 1, 1), np.int32(code), np.float64(slope), out)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, act=None):
    """conv2d + bias, then ``act`` (None or (name, slope): relu or leaky_relu) in the
    epilogue."""
    _common.act_args(act, CONV_ACTIVATIONS, "conv2d_forward")  # a bad name fails up front
    dtype = _common.check_float("conv2d_forward", x, weight, bias)
    x, weight, bias = (_common.ready(t, dtype) for t in (x, weight, bias))
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    ho = conv_out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_out_size(w, kw, stride[1], padding[1], dilation[1])
    out = cupy.empty((n, o, ho, wo), dtype=dtype)
    if out.size == 0:
        return out
    wmat = weight.reshape(groups, o // groups, cg * kh * kw)
    if _dense((h, w), (kh, kw), (ho, wo), padding, dilation):
        res = cupy.matmul(_dense_input(x, groups), wmat.transpose(0, 2, 1))  # (G, n, Og)
        _epilogue(res.transpose(1, 0, 2).reshape(n, o, 1, 1), bias, act, out)
        return out
    slices = _batch_slices(n, c * kh * kw * ho * wo * x.itemsize)
    cols = _Columns(slices, c, kh, kw, ho, wo, groups, dtype)
    for s in slices:
        nb = s.stop - s.start
        view = cols.view(nb)
        _im2col(x[s], view, _geometry(nb, c, h, w, kh, kw, ho, wo, stride, padding, dilation))
        res = cupy.matmul(wmat, view)  # (G, Og, nb*Ho*Wo)
        _epilogue(res.reshape(o, nb, ho, wo).transpose(1, 0, 2, 3), bias, act, out[s])
    return out


def conv2d_backward_input(g, weight, input_hw, stride, padding, dilation, groups):
    """The adjoint in x (= conv_transpose2d): the transposed GEMM, then col2im."""
    dtype = _common.check_float("conv2d_backward_input", g, weight)
    g, weight = _common.ready(g, dtype), _common.ready(weight, dtype)
    n, o, ho, wo = g.shape
    _, cg, kh, kw = weight.shape
    c = cg * groups
    h, w = (int(v) for v in input_hw)
    wmat = weight.reshape(groups, o // groups, cg * kh * kw)
    if n * c * h * w == 0:
        return cupy.zeros((n, c, h, w), dtype=dtype)
    if g.size == 0 or wmat.size == 0:  # an empty sum: nothing reaches x
        return cupy.zeros((n, c, h, w), dtype=dtype)
    if _dense((h, w), (kh, kw), (ho, wo), padding, dilation):
        dx = cupy.matmul(_dense_grad(g, groups), wmat)  # (G, n, Cg*kh*kw)
        return cupy.ascontiguousarray(dx.transpose(1, 0, 2)).reshape(n, c, h, w)
    dx = cupy.empty((n, c, h, w), dtype=dtype)
    wmat_t = wmat.transpose(0, 2, 1)
    for s in _batch_slices(n, c * kh * kw * ho * wo * g.itemsize):
        nb = s.stop - s.start
        dcols = cupy.matmul(wmat_t, _grad_matrix(g[s], groups))  # (G, Cg*kh*kw, nb*Ho*Wo)
        _col2im(dcols, dx[s], _geometry(nb, c, h, w, kh, kw, ho, wo, stride, padding,
                                        dilation))
    return dx


def conv2d_backward_weight(x, g, kernel_hw, stride, padding, dilation, groups):
    """The adjoint in the weight: im2col, then (G, Og, M) @ (G, M, K) summed over slices."""
    dtype = _common.check_float("conv2d_backward_weight", x, g)
    x, g = _common.ready(x, dtype), _common.ready(g, dtype)
    kh, kw = (int(v) for v in kernel_hw)
    n, c, h, w = x.shape
    o, ho, wo = g.shape[1:]
    cg = c // groups
    if n * ho * wo == 0 or o * cg * kh * kw == 0:
        return cupy.zeros((o, cg, kh, kw), dtype=dtype)
    if _dense((h, w), (kh, kw), (ho, wo), padding, dilation):
        gw = cupy.matmul(_dense_grad(g, groups).transpose(0, 2, 1), _dense_input(x, groups))
        return gw.reshape(o, cg, kh, kw)
    # The windows follow g's size: a transposed conv with output_padding can leave x one row
    # longer than the windows g covers (im2col reads only the windows).
    slices = _batch_slices(n, c * kh * kw * ho * wo * x.itemsize)
    cols = _Columns(slices, c, kh, kw, ho, wo, groups, dtype)
    gw = None
    for s in slices:
        nb = s.stop - s.start
        view = cols.view(nb)
        _im2col(x[s], view, _geometry(nb, c, h, w, kh, kw, ho, wo, stride, padding, dilation))
        part = cupy.matmul(_grad_matrix(g[s], groups), view.transpose(0, 2, 1))  # (G, Og, K)
        gw = part if gw is None else cupy.add(gw, part, out=gw)
    return gw.reshape(o, cg, kh, kw)


KERNELS = {
    "matmul": matmul,
    "conv2d_forward": conv2d_forward,
    "conv2d_backward_input": conv2d_backward_input,
    "conv2d_backward_weight": conv2d_backward_weight,
}
