// What every .cu of the CUDA module shares: error checks, the dtype dispatch, the stream, grid
// sizes, the SM count, a stream-ordered workspace, and deterministic block reductions (a fixed
// shuffle tree and a fixed shared-memory step: the same bits on every run, no float atomics).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/api.h"
#include "minigan/norm.h"

namespace minigan {
namespace cuda {

constexpr int kBlock = 256;  // threads per block of every kernel here (a multiple of 32)
constexpr int kWarps = kBlock / 32;

// Throws "<op>: <CUDA error string>" (plus a hint when there is no usable GPU at all).
inline void check(cudaError_t e, const char* op) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  std::string msg = std::string(op) + ": " + cudaGetErrorString(e);
  if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice)
    msg += " (no usable CUDA device here: minigan.kernels._C_cuda.device_count() is 0)";
  throw std::runtime_error(msg);
}

// After a launch: a bad configuration or a missing device shows here.
inline void check_launch(const char* op) { check(cudaGetLastError(), op); }

inline cudaStream_t as_stream(Stream s) { return reinterpret_cast<cudaStream_t>(s); }

template <typename T>
inline T* ptr(Ptr p) { return reinterpret_cast<T*>(p); }

// Calls f(T{}) with T the element type of dt.
template <typename F>
inline void dispatch(Dtype dt, F&& f) {
  if (dt == Dtype::f32) f(float{});
  else f(double{});
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Multiprocessors of the current device (cached per device; throws "<op>: ..." without one).
int sm_count(const char* op);

// Blocks for a grid-stride loop over n elements: enough to fill the GPU a few times over.
inline unsigned grid_for(int64_t n, int sms) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(ceil_div(n, kBlock), int64_t(sms) * 8)));
}

// The module's own stream-ordered memory pool on the current device (created at the first
// call, release threshold 64 MiB so that scratch memory stays mapped between steps; the
// device's default pool is left alone), or null where the device has no memory pools.
cudaMemPool_t workspace_pool(const char* op);

// Scratch memory in stream order (cudaMallocFromPoolAsync/cudaFreeAsync: free to reuse once
// the stream's earlier work is done, no device synchronization). Without memory pools,
// cudaMalloc with a stream synchronization before cudaFree.
class Workspace {
 public:
  Workspace(size_t bytes, cudaStream_t stream, const char* op) : stream_(stream) {
    if (bytes == 0) return;
    cudaMemPool_t pool = workspace_pool(op);
    pooled_ = pool != nullptr;
    check(pooled_ ? cudaMallocFromPoolAsync(&p_, bytes, pool, stream) : cudaMalloc(&p_, bytes),
          op);
  }
  ~Workspace() {
    if (!p_) return;
    if (pooled_) {
      cudaFreeAsync(p_, stream_);
    } else {
      cudaStreamSynchronize(stream_);
      cudaFree(p_);
    }
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  template <typename V>
  V* as(size_t offset_bytes = 0) const {
    return reinterpret_cast<V*>(static_cast<char*>(p_) + offset_bytes);
  }

 private:
  void* p_ = nullptr;
  cudaStream_t stream_;
  bool pooled_ = true;
};

// The accumulator of sums: double for both element types (a sum per thread is a few DADDs
// per element, far below the memory time).
using Acc = double;

// Welford per thread: in float for float32 (as torch's CUDA batch norm; a thread pushes tens
// of values) and double for float64; the merges across threads and blocks run in double.
template <typename T> struct ThreadAcc { using type = double; };
template <> struct ThreadAcc<float> { using type = float; };

#ifdef __CUDACC__

// K sums reduced together.
template <int K>
struct Sums {
  Acc v[K];
  __device__ Sums() {
#pragma unroll
    for (int i = 0; i < K; ++i) v[i] = 0;
  }
  __device__ void add(const Sums& o) {
#pragma unroll
    for (int i = 0; i < K; ++i) v[i] += o.v[i];
  }
};

template <int K>
__device__ __forceinline__ Sums<K> shfl_down(const Sums<K>& s, int offset) {
  Sums<K> r;
#pragma unroll
  for (int i = 0; i < K; ++i) r.v[i] = __shfl_down_sync(0xffffffffu, s.v[i], offset);
  return r;
}

__device__ __forceinline__ Welford<Acc> shfl_down(const Welford<Acc>& w, int offset) {
  Welford<Acc> r;
  r.n = __shfl_down_sync(0xffffffffu, w.n, offset);
  r.mean = __shfl_down_sync(0xffffffffu, w.mean, offset);
  r.m2 = __shfl_down_sync(0xffffffffu, w.m2, offset);
  return r;
}

__device__ __forceinline__ void combine(Sums<1>& a, const Sums<1>& b) { a.add(b); }
__device__ __forceinline__ void combine(Sums<2>& a, const Sums<2>& b) { a.add(b); }
__device__ __forceinline__ void combine(Sums<4>& a, const Sums<4>& b) { a.add(b); }
__device__ __forceinline__ void combine(Welford<Acc>& a, const Welford<Acc>& b) { a.merge(b); }

// Lane 0 ends with the warp's total (a fixed tree: lane i takes lane i + offset).
template <typename V>
__device__ __forceinline__ V warp_reduce(V v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) combine(v, shfl_down(v, offset));
  return v;
}

// Thread 0 ends with the block's total; every thread of the block must call it (blockDim.x ==
// kBlock). It may be called again at once (its shared scratch is free when it returns).
template <typename V>
__device__ __forceinline__ V block_reduce(V v) {
  alignas(16) __shared__ unsigned char raw[sizeof(V) * kWarps];  // V has a constructor
  V* scratch = reinterpret_cast<V*>(raw);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_reduce(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? scratch[lane] : V();
    v = warp_reduce(v);
  }
  __syncthreads();
  return v;
}

// Grid-stride loop bounds.
__device__ __forceinline__ int64_t global_thread() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t global_stride() { return int64_t(gridDim.x) * blockDim.x; }

#endif  // __CUDACC__

}  // namespace cuda
}  // namespace minigan
