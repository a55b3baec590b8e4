"""2-D convolution on numpy: im2col, then one GEMM per group, and col2im for the adjoint.

Layout: x is (N, C, H, W), weight is (O, C/groups, kh, kw). The column matrix of a slice of
the batch is laid out as (groups, C/groups * kh * kw, n * Ho * Wo), so each group is one large
GEMM (better BLAS efficiency than n small ones).

The batch is processed in slices whose column matrix is about ``CHUNK_BYTES``. A whole-batch
column matrix is kh*kw times the input (64 MB for a DCGAN layer at batch 64): glibc serves an
allocation that large with a fresh mmap that page-faults on first touch (measured here:
filling a new 64 MB array cost 2.5x per byte what a 31 MB one did). Slices of a few MB come
from the heap, are reused from slice to slice, and stay in cache between the copy that fills
them and the GEMM that reads them. The result does not depend on the slicing except for the
order in which ``conv2d_backward_weight`` sums the slices' products.

im2col and col2im run in the compiled extension (csrc/cpu/im2col.cpp) when it is built, and
as numpy strided copies otherwise; both use the same column layout and share the GEMMs.
"""

from __future__ import annotations

import numpy as np
from minigan.kernels import compiled
from minigan.kernels.numpy import activation
from minigan.kernels.shapes import conv_out_size as out_size
from numpy.lib.stride_tricks import as_strided

CHUNK_BYTES = 8 << 20  # target size of one slice's column matrix (tests shrink it)
MIN_COLUMNS = 2048  # but at least this many GEMM columns (small outputs: 4x4 at batch 64)


def _batch_slices(n: int, bytes_per_sample: int, columns_per_sample: int) -> list[slice]:
    """Slices of the batch, all of one length but the last (none for an empty batch)."""
    step = max(CHUNK_BYTES // max(bytes_per_sample, 1),
               -(-MIN_COLUMNS // max(columns_per_sample, 1)))
    step = max(1, min(n, step))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _padded(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _windows(xp: np.ndarray, kh, kw, ho, wo, stride, dilation) -> np.ndarray:
    """(N, C, kh, kw, Ho, Wo) view of the padded input's receptive fields (no copy)."""
    n, c = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (n, c, kh, kw, ho, wo),
                      (s0, s1, s2 * dilation[0], s3 * dilation[1], s2 * stride[0], s3 * stride[1]),
                      writeable=False)


def _geometry(x_shape, kh, kw, ho, wo, stride, padding, dilation) -> tuple:
    return (*x_shape, kh, kw, ho, wo, *stride, *padding, *dilation)


def _fill_columns(cols: np.ndarray, x, kh, kw, ho, wo, stride, padding, dilation, groups):
    """im2col of the batch slice ``x`` into the buffer ``cols`` (G, Cg*kh*kw, n*Ho*Wo)."""
    if compiled.CPU is not None:
        compiled.CPU.im2col(x, cols, _geometry(x.shape, kh, kw, ho, wo, stride, padding,
                                               dilation))
        return cols
    n, c = x.shape[:2]
    win = _windows(_padded(x, *padding), kh, kw, ho, wo, stride, dilation)
    # (n, G, Cg, kh, kw, Ho, Wo) -> (G, Cg, kh, kw, n, Ho, Wo): the one copy of the input.
    win = win.reshape(n, groups, c // groups, kh, kw, ho, wo).transpose(1, 2, 3, 4, 0, 5, 6)
    np.copyto(cols.reshape(win.shape), win)
    return cols


class _ColumnBuffer:
    """One allocation for the column matrices of every slice: slice ``nb`` samples."""

    def __init__(self, slices, c, kh, kw, ho, wo, groups, dtype):
        nb_max = slices[0].stop if slices else 0
        self.rows = (groups, (c // groups) * kh * kw)
        self.per_sample = ho * wo
        self.flat = np.empty(groups * self.rows[1] * nb_max * ho * wo, dtype=dtype)

    def view(self, nb: int) -> np.ndarray:
        cols = nb * self.per_sample
        return self.flat[:self.rows[0] * self.rows[1] * cols].reshape(*self.rows, cols)


def _grad_matrix(g: np.ndarray, groups: int) -> np.ndarray:
    """(n, O, Ho, Wo) -> (G, O/G, n*Ho*Wo)."""
    n, o, ho, wo = g.shape
    return np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(groups, o // groups, n * ho * wo)


def _dense(in_hw, kernel_hw, out_hw, padding, dilation) -> bool:
    """One window covering the whole unpadded input (DCGAN's last D and first G layer): the
    convolution is a plain matrix product and im2col a reshape, so neither is copied."""
    return (tuple(out_hw) == (1, 1) and tuple(in_hw) == tuple(kernel_hw)
            and tuple(padding) == (0, 0) and tuple(dilation) == (1, 1))


def _dense_input(x: np.ndarray, groups: int) -> np.ndarray:
    """(n, C, kh, kw) -> (G, n, Cg*kh*kw), a view."""
    return x.reshape(x.shape[0], groups, -1).transpose(1, 0, 2)


def _dense_grad(g: np.ndarray, groups: int) -> np.ndarray:
    """(n, O, 1, 1) -> (G, n, O/G), a view."""
    return g.reshape(g.shape[0], groups, -1).transpose(1, 0, 2)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, act=None):
    """conv2d + bias, then ``act`` (None or (name, slope), relu or leaky_relu;
    :mod:`.activation`)."""
    if act is not None and act[0] not in activation.CONV_ACTIVATIONS:
        raise ValueError(f"conv2d_forward: unknown fused activation {act[0]!r}; choose one of "
                         f"{', '.join(activation.CONV_ACTIVATIONS)}")
    return activation.apply(_conv2d(x, weight, bias, stride, padding, dilation, groups), act)


def _conv2d(x, weight, bias, stride, padding, dilation, groups):
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    ho = out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = out_size(w, kw, stride[1], padding[1], dilation[1])
    wmat = weight.reshape(groups, o // groups, -1)
    if _dense((h, w), (kh, kw), (ho, wo), padding, dilation):
        res = np.matmul(_dense_input(x, groups), wmat.transpose(0, 2, 1))  # (G, n, Og)
        out = np.ascontiguousarray(res.transpose(1, 0, 2)).reshape(n, o, 1, 1)
        return out if bias is None else out + bias.reshape(1, o, 1, 1)
    out = np.empty((n, o, ho, wo), dtype=np.result_type(x, weight))
    slices = _batch_slices(n, c * kh * kw * ho * wo * x.itemsize, ho * wo)
    buf = _ColumnBuffer(slices, c, kh, kw, ho, wo, groups, x.dtype)
    for s in slices:
        nb = s.stop - s.start
        cols = _fill_columns(buf.view(nb), x[s], kh, kw, ho, wo, stride, padding, dilation,
                             groups)
        res = np.matmul(wmat, cols)  # (G, Og, nb*Ho*Wo)
        out[s] = res.reshape(o, nb, ho, wo).transpose(1, 0, 2, 3)
    if bias is not None:
        out += bias.reshape(1, o, 1, 1)
    return out


def conv2d_backward_weight(x, g, kernel_hw, stride, padding, dilation, groups):
    x = np.ascontiguousarray(x)
    kh, kw = kernel_hw
    n, c = x.shape[:2]
    o, ho, wo = g.shape[1:]
    if _dense(x.shape[2:], kernel_hw, (ho, wo), padding, dilation):
        gw = np.matmul(_dense_grad(g, groups).transpose(0, 2, 1), _dense_input(x, groups))
        return gw.reshape(o, c // groups, kh, kw)
    # The windows follow g's size: a transposed conv with output_padding can leave x one
    # row longer than the windows g covers.
    slices = _batch_slices(n, c * kh * kw * ho * wo * x.itemsize, ho * wo)
    buf = _ColumnBuffer(slices, c, kh, kw, ho, wo, groups, x.dtype)
    # The product is formed as its transpose, cols (K, n*Ho*Wo) @ g^T: both operands then
    # stream along their long contiguous axis, which OpenBLAS runs up to 20% faster than
    # g @ cols^T for the DCGAN layers; the (K, Og) result is small to transpose back.
    gw_t = None
    for s in slices:
        nb = s.stop - s.start
        cols = _fill_columns(buf.view(nb), x[s], kh, kw, ho, wo, stride, padding, dilation,
                             groups)
        part = np.matmul(cols, _grad_matrix(g[s], groups).transpose(0, 2, 1))  # (G, K, Og)
        gw_t = part if gw_t is None else np.add(gw_t, part, out=gw_t)
    if gw_t is None:  # an empty batch
        gw_t = np.zeros((groups, (c // groups) * kh * kw, o // groups),
                        dtype=np.result_type(x, g))
    return np.ascontiguousarray(gw_t.transpose(0, 2, 1)).reshape(o, c // groups, kh, kw)


def _col2im(dcols: np.ndarray, dx: np.ndarray, kh, kw, ho, wo, stride, padding, dilation):
    """Overwrite dx (n, C, H, W) with the windows of dcols (G, Cg*kh*kw, n*Ho*Wo) summed
    back into place: the adjoint of ``_fill_columns``."""
    if compiled.CPU is not None:
        compiled.CPU.col2im(dcols, dx, _geometry(dx.shape, kh, kw, ho, wo, stride, padding,
                                                 dilation))
        return
    n, c, h, w = dx.shape
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    dcols = dcols.reshape(c, kh, kw, n, ho, wo).transpose(3, 0, 1, 2, 4, 5)
    acc = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dx.dtype)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            acc[:, :, r0:r0 + sh * (ho - 1) + 1:sh, c0:c0 + sw * (wo - 1) + 1:sw] += \
                dcols[:, :, i, j]
    dx[...] = acc[:, :, ph:ph + h, pw:pw + w]


def conv2d_backward_input(g, weight, input_hw, stride, padding, dilation, groups):
    """col2im: the transposed GEMM, then the windows summed back into the input."""
    n, o, ho, wo = g.shape
    _, cg, kh, kw = weight.shape
    c = cg * groups
    wmat = weight.reshape(groups, o // groups, cg * kh * kw)
    if _dense(input_hw, (kh, kw), (ho, wo), padding, dilation):
        dx = np.matmul(_dense_grad(g, groups), wmat)  # (G, n, Cg*kh*kw)
        return np.ascontiguousarray(dx.transpose(1, 0, 2)).reshape(n, c, *input_hw)
    wmat_t = wmat.transpose(0, 2, 1)
    dx = np.empty((n, c, *input_hw), dtype=np.result_type(g, weight))
    for s in _batch_slices(n, c * kh * kw * ho * wo * g.itemsize, ho * wo):
        dcols = np.matmul(wmat_t, _grad_matrix(g[s], groups))  # (G, Cg*kh*kw, nb*Ho*Wo)
        _col2im(dcols, dx[s], kh, kw, ho, wo, stride, padding, dilation)
    return dx
