// Counter-based random numbers for the CuPy backend (kernels/cupy/random.py): element i of a
// draw is a function of (seed, offset + i) only -- Philox4x32-10 (Salmon et al., SC'11) keyed
// by the 64-bit seed, on the 64-bit counter -- so a stream is two integers and a resumed run
// continues it exactly.
#include "minigan/hd.h"

namespace {

struct Words {
  unsigned int w[4];
};

__device__ __forceinline__ Words philox(unsigned long long seed, unsigned long long counter) {
  unsigned int c0 = (unsigned int)counter, c1 = (unsigned int)(counter >> 32), c2 = 0u,
               c3 = 0u;
  unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const unsigned int hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const unsigned int hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const unsigned int n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  Words out;
  out.w[0] = c0;
  out.w[1] = c1;
  out.w[2] = c2;
  out.w[3] = c3;
  return out;
}

// Uniform in [0, 1): 24 random bits for float, 53 for double (from two words).
__device__ __forceinline__ float unit(unsigned int a, unsigned int, float) {
  return (float)(a >> 8) * 5.9604644775390625e-08f;  // 2^-24
}
__device__ __forceinline__ double unit(unsigned int a, unsigned int b, double) {
  const unsigned long long bits = ((unsigned long long)(a >> 5) << 26) | (b >> 6);
  return (double)bits * 1.1102230246251565e-16;  // 2^-53
}

}  // namespace

template <typename T>
__global__ void random_uniform(T* __restrict__ out, long long n, unsigned long long seed,
                               unsigned long long offset) {
  MG_GRID_LOOP(i, n) {
    const Words r = philox(seed, offset + (unsigned long long)i);
    out[i] = unit(r.w[0], r.w[1], T(0));
  }
}

// Box-Muller: sqrt(-2 log u1) cos(2 pi u2) with u1 in (0, 1] (1 - a uniform in [0, 1)).
template <typename T>
__global__ void random_normal(T* __restrict__ out, long long n, unsigned long long seed,
                              unsigned long long offset) {
  MG_GRID_LOOP(i, n) {
    const Words r = philox(seed, offset + (unsigned long long)i);
    const T u1 = T(1) - unit(r.w[0], r.w[1], T(0));
    const T u2 = unit(r.w[2], r.w[3], T(0));
    const T two_pi = T(6.283185307179586);
    out[i] = sqrt(T(-2) * log(u1)) * cos(two_pi * u2);
  }
}

// Integers in [low, low + span), span >= 1: 64 random bits reduced modulo span.
__global__ void random_int(long long* __restrict__ out, long long n, unsigned long long seed,
                           unsigned long long offset, long long low, unsigned long long span) {
  MG_GRID_LOOP(i, n) {
    const Words r = philox(seed, offset + (unsigned long long)i);
    const unsigned long long bits = ((unsigned long long)r.w[0] << 32) | r.w[1];
    out[i] = (long long)((unsigned long long)low + bits % span);
  }
}
