// CPU emulation of the CUDA subset csrc/cuda uses (csrc/cuda/emu/run.sh): every block's threads
// are std::threads, __syncthreads a block barrier, warp shuffles a per-warp buffer and barrier.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <thread>
#include <vector>
#include <memory>
#include <cstdint>
#include <cstdio>
using std::min; using std::max;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(x)
#define __grid_constant__
struct dim3 { unsigned x = 1, y = 1, z = 1; dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {} };
typedef struct CUstream_st* cudaStream_t;
typedef struct CUmemPool_st* cudaMemPool_t;
enum cudaError_t { cudaSuccess = 0, cudaErrorInsufficientDriver = 35, cudaErrorNoDevice = 100, cudaErrorNotSupported = 801 };
inline const char* cudaGetErrorString(cudaError_t) { return "emu error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaMallocFromPoolAsync(void** p, size_t n, cudaMemPool_t, cudaStream_t) { *p = std::malloc(n); std::memset(*p, 0xff, n); return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t n) { *p = std::malloc(n); return cudaSuccess; }
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) { std::memset(p, v, n); return cudaSuccess; }

namespace emu {
struct Block { std::barrier<>* bar; std::barrier<>* warp[32]; double buf[32][32]; };
inline thread_local dim3 tIdx, bIdx, bDim, gDim;
inline thread_local Block* blk;
inline void sync() { blk->bar->arrive_and_wait(); }
template <typename V> V shfl_down(V v, int off) {
  const int lane = tIdx.x & 31, w = tIdx.x >> 5;
  blk->buf[w][lane] = double(v);
  blk->warp[w]->arrive_and_wait();
  V r = lane + off < 32 ? V(blk->buf[w][lane + off]) : v;
  blk->warp[w]->arrive_and_wait();
  return r;
}
template <typename K, typename... A>
void launch(K kernel, dim3 grid, dim3 block, size_t, cudaStream_t, A... args) {
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      Block b;
      std::barrier<> bar(block.x);
      std::vector<std::unique_ptr<std::barrier<>>> warps;
      for (unsigned w = 0; w < block.x / 32; ++w) { warps.emplace_back(new std::barrier<>(32)); b.warp[w] = warps.back().get(); }
      b.bar = &bar;
      std::vector<std::thread> ts;
      for (unsigned t = 0; t < block.x; ++t)
        ts.emplace_back([&, t] {
          tIdx = dim3(t); bIdx = dim3(bx, by); bDim = block; gDim = grid; blk = &b;
          kernel(args...);
          b.warp[t >> 5]->arrive_and_drop();
          bar.arrive_and_drop();
        });
      for (auto& th : ts) th.join();
    }
}
}  // namespace emu
#define threadIdx emu::tIdx
#define blockIdx emu::bIdx
#define blockDim emu::bDim
#define gridDim emu::gDim
#define __syncthreads() emu::sync()
#define __shfl_down_sync(mask, v, off) emu::shfl_down(v, off)
