"""2-D convolution on numpy: im2col through a strided view, then one GEMM per group.

Layout: x is (N, C, H, W), weight is (O, C/groups, kh, kw). The column matrix is laid out
as (groups, C/groups * kh * kw, N * Ho * Wo) so that each group is a single large GEMM
(better BLAS efficiency than N small ones); building it is the one copy of the input.
"""

from __future__ import annotations

import numpy as np
from minigan.kernels.shapes import conv_out_size as out_size
from numpy.lib.stride_tricks import as_strided


def _pad_hw(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _windows(xp: np.ndarray, kh, kw, ho, wo, stride, dilation) -> np.ndarray:
    """(N, C, kh, kw, Ho, Wo) view of the padded input's receptive fields (no copy)."""
    n, c = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (n, c, kh, kw, ho, wo),
                      (s0, s1, s2 * dilation[0], s3 * dilation[1], s2 * stride[0], s3 * stride[1]),
                      writeable=False)


def _columns(x, kh, kw, stride, padding, dilation, groups, out_hw=None):
    n, c, h, w = x.shape
    ho, wo = out_hw or (out_size(h, kh, stride[0], padding[0], dilation[0]),
                        out_size(w, kw, stride[1], padding[1], dilation[1]))
    win = _windows(_pad_hw(x, *padding), kh, kw, ho, wo, stride, dilation)
    # (N, G, Cg, kh, kw, Ho, Wo) -> (G, Cg, kh, kw, N, Ho, Wo): one copy, GEMM-ready.
    win = win.reshape(n, groups, c // groups, kh, kw, ho, wo).transpose(1, 2, 3, 4, 0, 5, 6)
    cols = np.ascontiguousarray(win).reshape(groups, (c // groups) * kh * kw, n * ho * wo)
    return cols, ho, wo


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    n = x.shape[0]
    o, _, kh, kw = weight.shape
    cols, ho, wo = _columns(x, kh, kw, stride, padding, dilation, groups)
    wmat = weight.reshape(groups, o // groups, -1)
    out = np.matmul(wmat, cols)  # (G, Og, N*Ho*Wo)
    out = out.reshape(o, n, ho, wo).transpose(1, 0, 2, 3)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    return np.ascontiguousarray(out)


def _grad_matrix(g, groups):
    """(N, O, Ho, Wo) -> (G, O/G, N*Ho*Wo)."""
    n, o, ho, wo = g.shape
    return np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(groups, o // groups, n * ho * wo)


def conv2d_backward_weight(x, g, kernel_hw, stride, padding, dilation, groups):
    kh, kw = kernel_hw
    # The windows follow g's size: a transposed conv with output_padding can leave x one
    # row longer than the windows g covers.
    cols, _, _ = _columns(x, kh, kw, stride, padding, dilation, groups, g.shape[2:])
    gw = np.matmul(_grad_matrix(g, groups), cols.transpose(0, 2, 1))  # (G, Og, Cg*kh*kw)
    o = g.shape[1]
    return gw.reshape(o, x.shape[1] // groups, kh, kw)


def conv2d_backward_input(g, weight, input_hw, stride, padding, dilation, groups):
    """col2im: the transposed GEMM, then kh*kw strided scatter-adds into the padded input."""
    n, o, ho, wo = g.shape
    _, cg, kh, kw = weight.shape
    c = cg * groups
    h, w = input_hw
    wmat = weight.reshape(groups, o // groups, cg * kh * kw)
    dcols = np.matmul(wmat.transpose(0, 2, 1), _grad_matrix(g, groups))  # (G, Cg*kh*kw, N*L)
    dcols = dcols.reshape(c, kh, kw, n, ho, wo)
    ph, pw = padding
    dx = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=g.dtype)
    sh, sw = stride
    dh, dw = dilation
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            dx[:, :, r0:r0 + sh * (ho - 1) + 1:sh, c0:c0 + sw * (wo - 1) + 1:sw] += \
                dcols[:, i, j].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(dx[:, :, ph:ph + h, pw:pw + w])
