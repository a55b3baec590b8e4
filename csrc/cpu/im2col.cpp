// im2col and col2im for the numpy backend's convolution (NCHW, float32 and float64).
//
// numpy does the GEMM (OpenBLAS); these are the two data movements around it, which numpy
// can only express as strided copies and kh*kw strided read-modify-write passes. Here each
// output element is written once, rows are split across threads, and the inner loop runs
// over a contiguous row of the column matrix.
//
// Column layout (shared with kernels/numpy/conv.py): cols[c][i][j][n][oh][ow], i.e. a
// (C*kh*kw, n*Ho*Wo) row-major matrix; with groups it is the same memory viewed as
// (groups, C/groups*kh*kw, n*Ho*Wo).

#include "im2col.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"

namespace minigan {

namespace {

// The output columns ow in [lo, hi) read input column ow*sw + off inside [0, w).
inline void valid_range(int64_t wo, int64_t sw, int64_t off, int64_t w, int64_t* lo,
                        int64_t* hi) {
  // ow*sw + off >= 0  <=>  ow >= ceil(-off / sw)
  int64_t a = off >= 0 ? 0 : (-off + sw - 1) / sw;
  // ow*sw + off <= w - 1  <=>  ow <= floor((w - 1 - off) / sw)
  int64_t b = (w - 1 - off) < 0 ? -1 : (w - 1 - off) / sw;
  *lo = std::min(a, wo);
  *hi = std::max(*lo, std::min(b + 1, wo));
}

// Rows [begin, end) of the column matrix.
template <typename T>
void im2col_rows(const T* x, T* cols, const ConvGeometry& g, int64_t begin, int64_t end) {
  const int64_t plane = g.h * g.w;
  const int64_t out_plane = g.ho * g.wo;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t c = r / (g.kh * g.kw);
    const int64_t i = (r / g.kw) % g.kh;
    const int64_t j = r % g.kw;
    const int64_t col_off = j * g.dw - g.pw;
    int64_t lo, hi;
    valid_range(g.wo, g.sw, col_off, g.w, &lo, &hi);
    T* out = cols + r * g.n * out_plane;
    for (int64_t n = 0; n < g.n; ++n) {
      const T* src = x + (n * g.c + c) * plane;
      for (int64_t oh = 0; oh < g.ho; ++oh, out += g.wo) {
        const int64_t ih = oh * g.sh + i * g.dh - g.ph;
        if (ih < 0 || ih >= g.h) {
          std::memset(out, 0, sizeof(T) * g.wo);
          continue;
        }
        const T* row = src + ih * g.w + col_off;
        for (int64_t ow = 0; ow < lo; ++ow) out[ow] = T(0);
        if (g.sw == 1) {
          std::memcpy(out + lo, row + lo, sizeof(T) * (hi - lo));
        } else if (g.sw == 2) {  // the common GAN down-sampling: a constant stride vectorizes
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = row[2 * ow];
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = row[ow * g.sw];
        }
        for (int64_t ow = hi; ow < g.wo; ++ow) out[ow] = T(0);
      }
    }
  }
}

// Channels [begin, end) of dx.
template <typename T>
void col2im_channels(const T* cols, T* dx, const ConvGeometry& g, int64_t begin, int64_t end) {
  const int64_t plane = g.h * g.w;
  const int64_t out_plane = g.ho * g.wo;
  const int64_t taps = g.kh * g.kw;
  for (int64_t c = begin; c < end; ++c) {
    for (int64_t n = 0; n < g.n; ++n) {
      std::memset(dx + (n * g.c + c) * plane, 0, sizeof(T) * plane);
    }
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t i = t / g.kw, j = t % g.kw;
      const int64_t col_off = j * g.dw - g.pw;
      int64_t lo, hi;
      valid_range(g.wo, g.sw, col_off, g.w, &lo, &hi);
      const T* in = cols + (c * taps + t) * g.n * out_plane;
      for (int64_t n = 0; n < g.n; ++n) {
        T* dst = dx + (n * g.c + c) * plane;
        for (int64_t oh = 0; oh < g.ho; ++oh, in += g.wo) {
          const int64_t ih = oh * g.sh + i * g.dh - g.ph;
          if (ih < 0 || ih >= g.h) continue;
          T* row = dst + ih * g.w + col_off;
          if (g.sw == 2) {
            for (int64_t ow = lo; ow < hi; ++ow) row[2 * ow] += in[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) row[ow * g.sw] += in[ow];
          }
        }
      }
    }
  }
}

}  // namespace

template <typename T>
void im2col(const T* x, T* cols, const ConvGeometry& g) {
  parallel_for(g.c * g.kh * g.kw, g.n * g.ho * g.wo, [&](int64_t begin, int64_t end) {
    im2col_rows(x, cols, g, begin, end);
  });
}

template <typename T>
void col2im(const T* cols, T* dx, const ConvGeometry& g) {
  // Threads own whole channels, so no two threads add into the same dx element; within a
  // channel the taps are summed in a fixed order, which makes the result independent of
  // the thread count.
  const int64_t work = g.n * (g.h * g.w + g.kh * g.kw * g.ho * g.wo);
  parallel_for(g.c, work, [&](int64_t begin, int64_t end) {
    col2im_channels(cols, dx, g, begin, end);
  });
}

template void im2col<float>(const float*, float*, const ConvGeometry&);
template void im2col<double>(const double*, double*, const ConvGeometry&);
template void col2im<float>(const float*, float*, const ConvGeometry&);
template void col2im<double>(const double*, double*, const ConvGeometry&);

}  // namespace minigan
