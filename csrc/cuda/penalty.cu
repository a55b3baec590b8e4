// Gradient penalties on per-row gradient norms (minigan/penalty.h): forward, a block per row
// (a grid-stride over rows), the row's squared norm summed in double with the fixed block
// tree; backward, one thread per element.

#include "cuda/common.cuh"
#include "minigan/penalty.h"

namespace minigan {
namespace cuda {

namespace {

template <typename T>
__global__ void __launch_bounds__(kBlock) penalty_forward_kernel(const T* __restrict__ g,
                                                                 T* __restrict__ sq_norms,
                                                                 T* __restrict__ penalty,
                                                                 int64_t rows, int64_t cols,
                                                                 int kind, T center, T power) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {  // uniform over the block
    const T* row = g + r * cols;
    Sums<1> s;
    for (int64_t i = threadIdx.x; i < cols; i += kBlock) {
      const Acc v = row[i];
      s.v[0] += v * v;
    }
    s = block_reduce(s);
    if (threadIdx.x == 0) {
      const T sq = T(s.v[0]);
      sq_norms[r] = sq;
      if (penalty) penalty[r] = penalty_value(sq, kind, center, power);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) penalty_backward_kernel(
    const T* __restrict__ g, const T* __restrict__ sq_norms, const T* __restrict__ upstream,
    T* __restrict__ dg, int64_t cols, int64_t total, int kind, T center, T power) {
  for (int64_t i = global_thread(); i < total; i += global_stride()) {
    const int64_t r = i / cols;
    const T c = upstream[r] * penalty_coefficient(sq_norms[r], kind, center, power);
    dg[i] = c * g[i];
  }
}

}  // namespace

void penalty_forward(Ptr g, Ptr sq_norms, Ptr penalty, int64_t rows, int64_t cols, int kind,
                     double center, double power, Dtype dt, Stream stream) {
  const char* op = "penalty_forward";
  const int sms = sm_count(op);
  if (rows == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>(rows, int64_t(sms) * 32));
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    penalty_forward_kernel<T><<<blocks, kBlock, 0, as_stream(stream)>>>(
        ptr<const T>(g), ptr<T>(sq_norms), ptr<T>(penalty), rows, cols, kind, T(center),
        T(power));
  });
  check_launch(op);
}

void penalty_backward(Ptr g, Ptr sq_norms, Ptr upstream, Ptr dg, int64_t rows, int64_t cols,
                      int kind, double center, double power, Dtype dt, Stream stream) {
  const char* op = "penalty_backward";
  const int sms = sm_count(op);
  const int64_t total = rows * cols;
  if (total == 0) return;
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    penalty_backward_kernel<T><<<grid_for(total, sms), kBlock, 0, as_stream(stream)>>>(
        ptr<const T>(g), ptr<const T>(sq_norms), ptr<const T>(upstream), ptr<T>(dg), cols,
        total, kind, T(center), T(power));
  });
  check_launch(op);
}

}  // namespace cuda
}  // namespace minigan
