// minigan's shared host/device math: the per-element and per-row functions that the CPU
// extension (csrc/cpu, g++), the CUDA extension (csrc/cuda, nvcc) and the CuPy backend's
// runtime-compiled kernels (kernels/cupy, NVRTC) all call, so the math is written once and
// tested on the CPU against torch (tests/test_fused_cpu.py).
//
// Rules for every header here: no standard-library includes under NVRTC, no exceptions, no
// allocation; functions are MG_HD templates on the element type T (float or double) and, where
// a sum is kept, on its accumulator type.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define MG_HD __host__ __device__ __forceinline__
#else
#define MG_HD inline
#include <math.h>
#include <stdint.h>
#endif

#if defined(__CUDACC_RTC__)
typedef long long int64_t;
typedef int int32_t;
#endif

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
// A grid-stride loop over [0, n) with 64-bit indices (the runtime-compiled kernels' idiom).
#define MG_GRID_LOOP(i, n)                                                       \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (long long)blockDim.x * gridDim.x)
#endif

namespace minigan {
namespace math {

// Overloads by type, so float32 math stays float32 on both sides (sqrtf on the host and the
// device for float; the double functions for double).
MG_HD float sqrt_(float x) { return sqrtf(x); }
MG_HD double sqrt_(double x) { return sqrt(x); }
MG_HD float exp_(float x) { return expf(x); }
MG_HD double exp_(double x) { return exp(x); }
MG_HD float tanh_(float x) { return tanhf(x); }
MG_HD double tanh_(double x) { return tanh(x); }
MG_HD float abs_(float x) { return fabsf(x); }
MG_HD double abs_(double x) { return fabs(x); }
MG_HD float pow_(float x, float y) { return powf(x, y); }
MG_HD double pow_(double x, double y) { return pow(x, y); }

template <typename T>
MG_HD T max_(T a, T b) { return a > b ? a : b; }

// max that propagates NaN from either side (as torch's maximum and numpy's clip do).
template <typename T>
MG_HD T max_nan(T a, T b) { return (a != a || a > b) ? a : b; }

}  // namespace math
}  // namespace minigan
