// Sums in double for the CPU kernels: independent partial sums, so the adds vectorize and
// overlap (one running sum is a chain of dependent adds, latency-bound: measured slower than
// numpy's pairwise sum). The order depends only on n, never on the thread count.
#pragma once

#include <cstdint>

namespace minigan {

// sum over k < n of term(k), in 8 partial sums.
template <typename Term>
inline double sum_terms(int64_t n, const Term& term) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int j = 0; j < 8; ++j) part[j] += term(k + j);
  }
  double total = 0.0;
  for (; k < n; ++k) total += term(k);
  for (int j = 0; j < 8; ++j) total += part[j];
  return total;
}

// K sums at once over k < n: term(k, v) writes the K terms of element k into v[0..K); each
// sum kept in 4 partial sums (4*K accumulators stay in registers for K up to 4). The totals
// are added to total[0..K).
template <int K, typename Term>
inline void sum_terms_k(int64_t n, const Term& term, double* total) {
  double part[4][K] = {};
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    for (int j = 0; j < 4; ++j) {
      double v[K];
      term(k + j, v);
      for (int q = 0; q < K; ++q) part[j][q] += v[q];
    }
  }
  double tail[K] = {};
  for (; k < n; ++k) {
    double v[K];
    term(k, v);
    for (int q = 0; q < K; ++q) tail[q] += v[q];
  }
  for (int q = 0; q < K; ++q) {
    total[q] += tail[q] + ((part[0][q] + part[1][q]) + (part[2][q] + part[3][q]));
  }
}

}  // namespace minigan
