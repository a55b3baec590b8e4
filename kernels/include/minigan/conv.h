// im2col / col2im index math: which input element a column-matrix entry reads.
//   cols[(c*kh + i)*kw + j][(n*ho + oh)*wo + ow] = x[n][c][oh*sh + i*dh - ph][ow*sw + j*dw - pw]
// (zero outside the input). col2im is its adjoint: each dx element gathers the column entries
// that read it (a gather per output element, so the GPU needs no atomics).
#pragma once

#include "hd.h"

namespace minigan {

struct ConvGeometry {
  int64_t n, c, h, w, kh, kw, ho, wo, sh, sw, ph, pw, dh, dw;
  MG_HD int64_t col_rows() const { return c * kh * kw; }
  MG_HD int64_t col_cols() const { return n * ho * wo; }
};

// The value of column entry (row, col) of x's column matrix.
template <typename T>
MG_HD T im2col_value(const T* x, const ConvGeometry& g, int64_t row, int64_t col) {
  const int64_t j = row % g.kw, i = (row / g.kw) % g.kh, ch = row / (g.kw * g.kh);
  const int64_t ow = col % g.wo, oh = (col / g.wo) % g.ho, n = col / (g.wo * g.ho);
  const int64_t ih = oh * g.sh + i * g.dh - g.ph, iw = ow * g.sw + j * g.dw - g.pw;
  if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return T(0);
  return x[((n * g.c + ch) * g.h + ih) * g.w + iw];
}

// dx[n][ch][ih][iw]: the sum of the column entries that read it, in (i, j) order.
template <typename T, typename Acc>
MG_HD T col2im_value(const T* cols, const ConvGeometry& g, int64_t n, int64_t ch, int64_t ih,
                     int64_t iw) {
  Acc sum = 0;
  const int64_t ncols = g.col_cols();
  for (int64_t i = 0; i < g.kh; ++i) {
    const int64_t th = ih + g.ph - i * g.dh;  // = oh * sh
    if (th < 0 || th % g.sh) continue;
    const int64_t oh = th / g.sh;
    if (oh >= g.ho) continue;
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t tw = iw + g.pw - j * g.dw;
      if (tw < 0 || tw % g.sw) continue;
      const int64_t ow = tw / g.sw;
      if (ow >= g.wo) continue;
      sum += Acc(cols[((ch * g.kh + i) * g.kw + j) * ncols + (n * g.ho + oh) * g.wo + ow]);
    }
  }
  return T(sum);
}

}  // namespace minigan
