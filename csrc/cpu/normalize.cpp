// Normalization forward and backward, and the affine map after it, for the numpy backend:
// one thread per group of channels, each channel read twice and written once (numpy needs
// about eight passes for the forward: mean, subtract, square, mean, add, sqrt, divide, and six
// for the backward); the affine map and its three gradients take one pass each.

#include "normalize.h"

#include <cmath>

#include "parallel.h"
#include "sums.h"

namespace minigan {

namespace {

// Calls f(row pointer offset) for the A rows of B values that make up channel ch.
template <typename F>
inline void for_rows(int64_t a, int64_t c, int64_t b, int64_t ch, const F& f) {
  for (int64_t i = 0; i < a; ++i) f((i * c + ch) * b);
}

}  // namespace

template <typename T>
void normalize_forward(const T* x, T* y, T* mean, T* var, int64_t a, int64_t c, int64_t b,
                       double eps) {
  const double count = double(a) * double(b);
  parallel_for(c, 3 * a * b, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      double sum = 0.0;
      for_rows(a, c, b, ch, [&](int64_t off) {
        sum += sum_terms(b, [&](int64_t k) { return double(x[off + k]); });
      });
      const double m = sum / count;
      double sq = 0.0;
      for_rows(a, c, b, ch, [&](int64_t off) {
        sq += sum_terms(b, [&](int64_t k) {
          const double d = double(x[off + k]) - m;
          return d * d;
        });
      });
      const double v = sq / count;
      mean[ch] = T(m);
      var[ch] = T(v);
      // The same rounding as the numpy path: var rounded to T before eps is added.
      const T invstd = T(1) / std::sqrt(T(v) + T(eps));
      const T mt = T(m);
      for_rows(a, c, b, ch, [&](int64_t off) {
        for (int64_t k = 0; k < b; ++k) y[off + k] = (x[off + k] - mt) * invstd;
      });
    }
  });
}

template <typename T>
void normalize_backward(const T* g, const T* y, const T* var, T* dx, int64_t a, int64_t c,
                        int64_t b, double eps) {
  const double count = double(a) * double(b);
  parallel_for(c, 3 * a * b, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      double sg = 0.0, sgy = 0.0;
      for_rows(a, c, b, ch, [&](int64_t off) {
        sg += sum_terms(b, [&](int64_t k) { return double(g[off + k]); });
        sgy += sum_terms(b, [&](int64_t k) { return double(g[off + k]) * double(y[off + k]); });
      });
      const T mg = T(sg / count), mgy = T(sgy / count);
      const T invstd = T(1) / std::sqrt(var[ch] + T(eps));
      for_rows(a, c, b, ch, [&](int64_t off) {
        for (int64_t k = 0; k < b; ++k) dx[off + k] = invstd * (g[off + k] - mg - y[off + k] * mgy);
      });
    }
  });
}

template <typename T>
void channel_affine(const T* y, const T* w, const T* b, T* out, int64_t a, int64_t c,
                    int64_t b_len) {
  parallel_for(c, 2 * a * b_len, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      const T wc = w ? w[ch] : T(1), bc = b ? b[ch] : T(0);
      for_rows(a, c, b_len, ch, [&](int64_t off) {
        for (int64_t k = 0; k < b_len; ++k) out[off + k] = y[off + k] * wc + bc;
      });
    }
  });
}

template <typename T>
void channel_affine_backward(const T* g, const T* y, const T* w, T* gy, T* gw, T* gb,
                             int64_t a, int64_t c, int64_t b_len) {
  parallel_for(c, 3 * a * b_len, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      const T wc = w ? w[ch] : T(1);
      double sgy = 0.0, sg = 0.0;
      for_rows(a, c, b_len, ch, [&](int64_t off) {
        if (gy) {
          for (int64_t k = 0; k < b_len; ++k) gy[off + k] = g[off + k] * wc;
        }
        if (gw) sgy += sum_terms(b_len, [&](int64_t k) { return double(g[off + k]) * y[off + k]; });
        if (gb) sg += sum_terms(b_len, [&](int64_t k) { return double(g[off + k]); });
      });
      if (gw) gw[ch] = T(sgy);
      if (gb) gb[ch] = T(sg);
    }
  });
}

template void normalize_forward<float>(const float*, float*, float*, float*, int64_t, int64_t,
                                       int64_t, double);
template void normalize_forward<double>(const double*, double*, double*, double*, int64_t,
                                        int64_t, int64_t, double);
template void normalize_backward<float>(const float*, const float*, const float*, float*,
                                        int64_t, int64_t, int64_t, double);
template void normalize_backward<double>(const double*, const double*, const double*, double*,
                                         int64_t, int64_t, int64_t, double);
template void channel_affine<float>(const float*, const float*, const float*, float*, int64_t,
                                    int64_t, int64_t);
template void channel_affine<double>(const double*, const double*, const double*, double*,
                                     int64_t, int64_t, int64_t);
template void channel_affine_backward<float>(const float*, const float*, const float*, float*,
                                             float*, float*, int64_t, int64_t, int64_t);
template void channel_affine_backward<double>(const double*, const double*, const double*,
                                              double*, double*, double*, int64_t, int64_t,
                                              int64_t);

}  // namespace minigan
