// im2col and col2im for the numpy backend's convolution (NCHW, float32 and float64).
//
// numpy does the GEMM (OpenBLAS); these are the two data movements around it, which numpy
// can only express as strided copies and kh*kw strided read-modify-write passes. Here each
// element of the column matrix is written (im2col) or read (col2im) once.
//
// Column layout (shared with kernels/numpy/conv.py): cols[c][i][j][n][oh][ow], i.e. a
// (C*kh*kw, n*Ho*Wo) row-major matrix; with groups it is the same memory viewed as
// (groups, C/groups*kh*kw, n*Ho*Wo).
//
// Both go one (sample, channel) plane at a time through a zero-padded copy of the plane
// (a few KB, in L1): every window then lies inside it, so the inner loops have no bounds
// tests, which matters for the small late layers (a 4x4 output row is four elements, and
// the per-row tests cost more than the copy: measured 0.5 GB/s before, on DCGAN's 8->4
// layer). Channels are split across threads.

#include "im2col.h"

#include <cstring>
#include <vector>

#include "parallel.h"

namespace minigan {

namespace {

// out[ow] = row[ow * stride] for ow < n; a constant stride of 1 or 2 (the GAN cases)
// lets the compiler vectorize.
template <typename T>
inline void gather_row(T* out, const T* row, int64_t n, int64_t stride) {
  if (stride == 1) {
    std::memcpy(out, row, sizeof(T) * n);
  } else if (stride == 2) {
    for (int64_t k = 0; k < n; ++k) out[k] = row[2 * k];
  } else {
    for (int64_t k = 0; k < n; ++k) out[k] = row[k * stride];
  }
}

// row[ow * stride] += in[ow] for ow < n.
template <typename T>
inline void scatter_add_row(T* row, const T* in, int64_t n, int64_t stride) {
  if (stride == 1) {
    for (int64_t k = 0; k < n; ++k) row[k] += in[k];
  } else if (stride == 2) {
    for (int64_t k = 0; k < n; ++k) row[2 * k] += in[k];
  } else {
    for (int64_t k = 0; k < n; ++k) row[k * stride] += in[k];
  }
}

// A (h + 2 ph, w + 2 pw) plane whose border stays zero: only the interior is ever written.
template <typename T>
struct PaddedPlane {
  const ConvGeometry& g;
  const int64_t wp;
  std::vector<T> data;

  explicit PaddedPlane(const ConvGeometry& geom)
      : g(geom), wp(geom.w + 2 * geom.pw), data((geom.h + 2 * geom.ph) * wp, T(0)) {}

  T* interior_row(int64_t r) { return data.data() + (r + g.ph) * wp + g.pw; }

  // The padded-plane row that output row oh of tap (i, j) starts reading from.
  T* window_row(int64_t oh, int64_t i, int64_t j) {
    return data.data() + (oh * g.sh + i * g.dh) * wp + j * g.dw;
  }
};

template <typename T>
void im2col_channels(const T* x, T* cols, const ConvGeometry& g, int64_t begin, int64_t end) {
  const int64_t plane = g.h * g.w;
  const int64_t out_plane = g.ho * g.wo;
  const int64_t row_len = g.n * out_plane;  // one row of the column matrix
  PaddedPlane<T> xp(g);
  for (int64_t c = begin; c < end; ++c) {
    for (int64_t n = 0; n < g.n; ++n) {
      const T* src = x + (n * g.c + c) * plane;
      for (int64_t r = 0; r < g.h; ++r) std::memcpy(xp.interior_row(r), src + r * g.w,
                                                    sizeof(T) * g.w);
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          T* out = cols + ((c * g.kh + i) * g.kw + j) * row_len + n * out_plane;
          for (int64_t oh = 0; oh < g.ho; ++oh) {
            gather_row(out + oh * g.wo, xp.window_row(oh, i, j), g.wo, g.sw);
          }
        }
      }
    }
  }
}

template <typename T>
void col2im_channels(const T* cols, T* dx, const ConvGeometry& g, int64_t begin, int64_t end) {
  const int64_t plane = g.h * g.w;
  const int64_t out_plane = g.ho * g.wo;
  const int64_t row_len = g.n * out_plane;
  PaddedPlane<T> acc(g);
  for (int64_t c = begin; c < end; ++c) {
    for (int64_t n = 0; n < g.n; ++n) {
      std::fill(acc.data.begin(), acc.data.end(), T(0));
      // Taps in a fixed order, so the sums do not depend on the thread count.
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* in = cols + ((c * g.kh + i) * g.kw + j) * row_len + n * out_plane;
          for (int64_t oh = 0; oh < g.ho; ++oh) {
            scatter_add_row(acc.window_row(oh, i, j), in + oh * g.wo, g.wo, g.sw);
          }
        }
      }
      T* dst = dx + (n * g.c + c) * plane;
      for (int64_t r = 0; r < g.h; ++r) std::memcpy(dst + r * g.w, acc.interior_row(r),
                                                    sizeof(T) * g.w);
    }
  }
}

// Per channel: the plane copies plus the column-matrix rows written or read.
int64_t channel_work(const ConvGeometry& g) {
  return g.n * (g.h * g.w + g.kh * g.kw * g.ho * g.wo);
}

}  // namespace

template <typename T>
void im2col(const T* x, T* cols, const ConvGeometry& g) {
  parallel_for(g.c, channel_work(g), [&](int64_t begin, int64_t end) {
    im2col_channels(x, cols, g, begin, end);
  });
}

template <typename T>
void col2im(const T* cols, T* dx, const ConvGeometry& g) {
  parallel_for(g.c, channel_work(g), [&](int64_t begin, int64_t end) {
    col2im_channels(cols, dx, g, begin, end);
  });
}

template void im2col<float>(const float*, float*, const ConvGeometry&);
template void im2col<double>(const double*, double*, const ConvGeometry&);
template void col2im<float>(const float*, float*, const ConvGeometry&);
template void col2im<double>(const double*, double*, const ConvGeometry&);

}  // namespace minigan
