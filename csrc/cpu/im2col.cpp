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

// out[k] = row[k * stride] for k < n; a constant stride of 1 or 2 (the GAN cases)
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

// A zero-padded (h + 2 ph, w + 2 pw) copy of one (sample, channel) plane. With split = sw
// its columns are de-interleaved into sw sub-planes (padded column k * sw + rho at
// sub[rho][row][k]), so a window's output columns ow are one contiguous run
// sub[rho][row][ow + q]; with split = 1 it is the plain plane and the run has stride sw.
// col2im adds into it (contiguous adds measured faster than strided read-modify-writes);
// im2col reads the plain plane (de-interleaving on load cost more than it saved there).
// Only interior positions are ever written, so the border stays zero.
template <typename T>
struct PaddedPlane {
  const ConvGeometry& g;
  const int64_t split, hp, sub_w;  // sub-planes; padded height; width of a sub-plane
  std::vector<T> data;

  PaddedPlane(const ConvGeometry& geom, int64_t split_)
      : g(geom),
        split(split_),
        hp(geom.h + 2 * geom.ph),
        sub_w((geom.w + 2 * geom.pw + split_ - 1) / split_),
        data(split_ * hp * sub_w, T(0)) {}

  // Where output row 0 of tap (i, j) starts: row oh starts window_row_step() * oh further
  // on, and its g.wo elements are window_stride() apart. (Computed once per tap: the
  // divisions cost more than a short row's copy.)
  T* window(int64_t i, int64_t j) {
    const int64_t col = j * g.dw;
    return data.data() + ((col % split) * hp + i * g.dh) * sub_w + col / split;
  }
  int64_t window_row_step() const { return g.sh * sub_w; }
  int64_t window_stride() const { return g.sw / split; }

  // Copies the unpadded plane in (load) or out (store): row by row and, within a row, one
  // sub-plane at a time, so no index needs a division.
  template <bool kLoad, typename P>
  void transfer(P* plane) {
    for (int64_t r = 0; r < g.h; ++r) {
      P* line = plane + r * g.w;
      if (split == 1) {
        T* row = data.data() + (r + g.ph) * sub_w + g.pw;
        if constexpr (kLoad) std::memcpy(row, line, sizeof(T) * g.w);
        else std::memcpy(line, row, sizeof(T) * g.w);
        continue;
      }
      for (int64_t rho = 0; rho < split; ++rho) {
        // the first input column c whose padded column c + pw has residue rho
        const int64_t c0 = ((rho - g.pw) % split + split) % split;
        T* sub = data.data() + (rho * hp + r + g.ph) * sub_w + (c0 + g.pw) / split;
        for (int64_t c = c0, k = 0; c < g.w; c += split, ++k) {
          if constexpr (kLoad) sub[k] = line[c];
          else line[c] = sub[k];
        }
      }
    }
  }

  void load(const T* plane) { transfer<true>(plane); }
  void store(T* plane) { transfer<false>(plane); }
};

template <typename T>
void im2col_channels(const T* x, T* cols, const ConvGeometry& g, int64_t begin, int64_t end) {
  const int64_t plane = g.h * g.w;
  const int64_t out_plane = g.ho * g.wo;
  const int64_t row_len = g.n * out_plane;  // one row of the column matrix
  PaddedPlane<T> xp(g, 1);
  const int64_t step = xp.window_row_step(), stride = xp.window_stride();
  for (int64_t c = begin; c < end; ++c) {
    for (int64_t n = 0; n < g.n; ++n) {
      xp.load(x + (n * g.c + c) * plane);
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          T* out = cols + ((c * g.kh + i) * g.kw + j) * row_len + n * out_plane;
          const T* row = xp.window(i, j);
          for (int64_t oh = 0; oh < g.ho; ++oh, out += g.wo, row += step) {
            gather_row(out, row, g.wo, stride);
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
  PaddedPlane<T> acc(g, g.sw);
  const int64_t step = acc.window_row_step();
  for (int64_t c = begin; c < end; ++c) {
    for (int64_t n = 0; n < g.n; ++n) {
      std::fill(acc.data.begin(), acc.data.end(), T(0));
      // Taps in a fixed order, so the sums do not depend on the thread count.
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* in = cols + ((c * g.kh + i) * g.kw + j) * row_len + n * out_plane;
          T* row = acc.window(i, j);
          for (int64_t oh = 0; oh < g.ho; ++oh, in += g.wo, row += step) {
            for (int64_t k = 0; k < g.wo; ++k) row[k] += in[k];
          }
        }
      }
      acc.store(dx + (n * g.c + c) * plane);
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
