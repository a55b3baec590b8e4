// Scatter-add along one axis and one-hot, for the CuPy backend (kernels/cupy/layout.py).
// One thread per element, grid-stride; every offset is 64-bit.
#include "minigan/hd.h"

// out, viewed as (P, S, Q), gets g, viewed as (P, L, Q), added at out[p][index[l]][q]
// (atomically: several l may name one slot). A negative index counts from the end; one
// outside [-S, S) adds nothing.
template <typename T>
__global__ void index_add(const T* __restrict__ g, const long long* __restrict__ index,
                          T* __restrict__ out, long long n, long long L, long long S,
                          long long Q) {
  MG_GRID_LOOP(i, n) {
    const long long q = i % Q, rest = i / Q;
    const long long l = rest % L, p = rest / L;
    long long s = index[l];
    if (s < 0) s += S;
    if (s < 0 || s >= S) continue;
    atomicAdd(out + (p * S + s) * Q + q, g[i]);
  }
}

// out, viewed as (P, K, Q): out[p][k][q] = (index[p][q] == k); an index outside [0, K)
// gives a row of zeros.
template <typename T>
__global__ void one_hot(const long long* __restrict__ index, T* __restrict__ out, long long n,
                        long long K, long long Q) {
  MG_GRID_LOOP(i, n) {
    const long long q = i % Q, rest = i / Q;
    const long long k = rest % K, p = rest / K;
    out[i] = T(index[p * Q + q] == k ? 1 : 0);
  }
}
