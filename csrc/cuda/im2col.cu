// im2col and col2im: one thread per written element (grid-stride), the index math of
// minigan/conv.h. col2im gathers the column entries that read each dx element, so it writes
// every element once and needs no atomics (and is deterministic).

#include "cuda/common.cuh"
#include "minigan/conv.h"

namespace minigan {
namespace cuda {

namespace {

template <typename T>
__global__ void __launch_bounds__(kBlock) im2col_kernel(const T* __restrict__ x, T* __restrict__ cols,
                                                        const ConvGeometry g, int64_t total) {
  const int64_t ncols = g.col_cols();
  for (int64_t i = global_thread(); i < total; i += global_stride()) {
    const int64_t row = i / ncols;
    cols[i] = im2col_value(x, g, row, i - row * ncols);
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) col2im_kernel(const T* __restrict__ cols, T* __restrict__ dx,
                                                        const ConvGeometry g, int64_t total) {
  for (int64_t i = global_thread(); i < total; i += global_stride()) {
    const int64_t iw = i % g.w, ih = (i / g.w) % g.h, nc = i / (g.w * g.h);
    const int64_t ch = nc % g.c, n = nc / g.c;
    dx[i] = col2im_value<T, Acc>(cols, g, n, ch, ih, iw);
  }
}

}  // namespace

void im2col(Ptr x, Ptr cols, const ConvGeometry& g, Dtype dt, Stream stream) {
  const int64_t total = g.col_rows() * g.col_cols();
  const int sms = sm_count("im2col");
  if (total == 0) return;
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    im2col_kernel<T><<<grid_for(total, sms), kBlock, 0, as_stream(stream)>>>(
        ptr<const T>(x), ptr<T>(cols), g, total);
  });
  check_launch("im2col");
}

void col2im(Ptr cols, Ptr dx, const ConvGeometry& g, Dtype dt, Stream stream) {
  const int64_t total = g.n * g.c * g.h * g.w;
  const int sms = sm_count("col2im");
  if (total == 0) return;
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    col2im_kernel<T><<<grid_for(total, sms), kBlock, 0, as_stream(stream)>>>(
        ptr<const T>(cols), ptr<T>(dx), g, total);
  });
  check_launch("col2im");
}

}  // namespace cuda
}  // namespace minigan
