// Gradient penalties: one pass over each row of g forward (its squared norm, in double) and
// one backward (a row scaled by its coefficient). Rows are split across threads.

#include "penalty.h"

#include "parallel.h"
#include "sums.h"

namespace minigan {

template <typename T>
void penalty_forward(const T* g, T* sq_norms, T* penalty, int64_t n, int64_t d, int kind,
                     T center, T power) {
  parallel_for(n, d, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* row = g + i * d;
      const T sq = T(sum_terms(d, [&](int64_t k) {
        const double v = double(row[k]);
        return v * v;
      }));
      sq_norms[i] = sq;
      penalty[i] = penalty_value(sq, kind, center, power);
    }
  });
}

template <typename T>
void penalty_backward(const T* g, const T* sq_norms, const T* upstream, T* dg, int64_t n,
                      int64_t d, int kind, T center, T power) {
  parallel_for(n, d, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T c = upstream[i] * penalty_coefficient(sq_norms[i], kind, center, power);
      const T* row = g + i * d;
      T* drow = dg + i * d;
      for (int64_t k = 0; k < d; ++k) drow[k] = c * row[k];
    }
  });
}

template void penalty_forward<float>(const float*, float*, float*, int64_t, int64_t, int, float,
                                     float);
template void penalty_forward<double>(const double*, double*, double*, int64_t, int64_t, int,
                                      double, double);
template void penalty_backward<float>(const float*, const float*, const float*, float*, int64_t,
                                      int64_t, int, float, float);
template void penalty_backward<double>(const double*, const double*, const double*, double*,
                                       int64_t, int64_t, int, double, double);

}  // namespace minigan
