// Fused batch / instance / group norm forward and backward: one thread per run of statistics
// groups. The forward reads each group twice for its statistics (mean, then the centred
// second moment, both summed in double) and writes y and out in a third pass; the backward
// reads g, out and y once for its four sums and once more for dx. The parameter gradients are
// summed per group and then across groups in group order (so they do not depend on the
// thread count).
//
// Each statistics group is A rows of B values; row i of group s starts at (i * S + s) * B,
// and within a row the values of affine channel p = (s % G) * CG + q are the HW values from
// q * HW (one run per channel, so the affine parameters are loop constants).

#include "fused_norm.h"

#include <type_traits>
#include <vector>

#include "minigan/activation.h"
#include "parallel.h"
#include "sums.h"

namespace minigan {

namespace {

// Calls f(std::integral_constant<int, act>), so each activation gets its own loop with the
// activation's switch folded away.
template <typename F>
inline void with_activation(int act, const F& f) {
  switch (act) {
    case ACT_RELU: f(std::integral_constant<int, ACT_RELU>{}); break;
    case ACT_LEAKY_RELU: f(std::integral_constant<int, ACT_LEAKY_RELU>{}); break;
    case ACT_TANH: f(std::integral_constant<int, ACT_TANH>{}); break;
    case ACT_SIGMOID: f(std::integral_constant<int, ACT_SIGMOID>{}); break;
    default: f(std::integral_constant<int, ACT_NONE>{}); break;
  }
}

// Calls f(offset, p) for each run of HW values of group s that share the affine channel p:
// A rows, CG runs a row.
template <typename F>
inline void for_runs(const NormLayout& L, int64_t s, const F& f) {
  const int64_t p0 = (s % L.g) * L.cg;
  for (int64_t i = 0; i < L.a; ++i) {
    const int64_t row = L.index(i, s, 0);
    for (int64_t q = 0; q < L.cg; ++q) f(row + q * L.hw, p0 + q);
  }
}

// One run of n values that share the affine channel: y and out in one pass. Instantiated per
// activation and per presence of weight and bias (known at compile time, the shared
// function's tests on them fold away), with __restrict pointers, so the loop vectorizes
// (tanh and sigmoid call libm per element).
template <int kAct, bool kWeight, bool kBias, typename T>
void affine_run(const T* __restrict x, T* __restrict y, T* __restrict out, int64_t n, T mean,
                T rstd, T weight, T bias, T slope) {
  const T* w = kWeight ? &weight : nullptr;
  const T* b = kBias ? &bias : nullptr;
  for (int64_t k = 0; k < n; ++k) {
    T yk;
    out[k] = norm_affine_act(x[k], mean, rstd, w, b, 0, kAct, slope, &yk);
    y[k] = yk;
  }
}

template <typename T>
using AffineRun = void (*)(const T*, T*, T*, int64_t, T, T, T, T, T);

template <int kAct, typename T>
AffineRun<T> affine_run_of(bool weight, bool bias) {
  return weight ? (bias ? affine_run<kAct, true, true, T> : affine_run<kAct, true, false, T>)
                : (bias ? affine_run<kAct, false, true, T> : affine_run<kAct, false, false, T>);
}

}  // namespace

template <typename T>
void norm_forward(const T* x, T* out, T* y, T* mean, T* var, const T* w, const T* b,
                  const NormLayout& L, double eps, int act, T slope) {
  const double count = double(L.count());
  parallel_for(L.s, 3 * L.count(), [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      double sum = 0.0;
      for (int64_t i = 0; i < L.a; ++i) {
        const T* row = x + L.index(i, s, 0);
        sum += sum_terms(L.b, [&](int64_t k) { return double(row[k]); });
      }
      const double m = sum / count;
      double sq = 0.0;
      for (int64_t i = 0; i < L.a; ++i) {
        const T* row = x + L.index(i, s, 0);
        sq += sum_terms(L.b, [&](int64_t k) {
          const double d = double(row[k]) - m;
          return d * d;
        });
      }
      const T mt = T(m), vt = T(sq / count);
      mean[s] = mt;
      var[s] = vt;
      // var rounded to T before eps is added, as the numpy path and torch do.
      const T rstd = inv_std(vt, eps);
      if (!out) {
        for (int64_t i = 0; i < L.a; ++i) {
          const int64_t row = L.index(i, s, 0);
          for (int64_t k = 0; k < L.b; ++k) y[row + k] = (x[row + k] - mt) * rstd;
        }
        continue;
      }
      with_activation(act, [&](auto code) {
        constexpr int kAct = decltype(code)::value;
        const AffineRun<T> run = affine_run_of<kAct, T>(w != nullptr, b != nullptr);
        for_runs(L, s, [&](int64_t off, int64_t p) {
          run(x + off, y + off, out + off, L.hw, mt, rstd, w ? w[p] : T(1), b ? b[p] : T(0),
              slope);
        });
      });
    }
  });
}

template <typename T>
void norm_backward(const T* g, const T* out, const T* y, const T* var, const T* w, T* dx,
                   T* dw, T* db, const NormLayout& L, double eps, int act, T slope) {
  const double count = double(L.count());
  const bool params = dw || db;
  // Per group and affine channel of the group: sum dz * y and sum dz.
  std::vector<double> part_dzy(params ? L.s * L.cg : 0), part_dz(params ? L.s * L.cg : 0);
  parallel_for(L.s, (dx ? 5 : 3) * L.count(), [&](int64_t begin, int64_t end) {
    with_activation(act, [&](auto code) {
      constexpr int kAct = decltype(code)::value;
      // out is only read by an activation's backward (null with act == 0).
      auto dz_at = [&](int64_t i) {
        return norm_backward_dz(g[i], kAct == ACT_NONE ? T(0) : out[i], kAct, slope);
      };
      for (int64_t s = begin; s < end; ++s) {
        double sum_dy = 0.0, sum_dy_y = 0.0;
        for (int64_t q = 0; q < L.cg; ++q) {
          // sums[0..4): dy, dy * y, dz * y, dz over the runs of channel q.
          double sums[4] = {0, 0, 0, 0};
          const int64_t p = (s % L.g) * L.cg + q;
          const T wp = w ? w[p] : T(1);
          for (int64_t i = 0; i < L.a; ++i) {
            const int64_t off = L.index(i, s, 0) + q * L.hw;
            sum_terms_k<4>(L.hw, [&](int64_t k, double* v) {
              const T dz = dz_at(off + k);
              const double dy = double(w ? dz * wp : dz), yk = double(y[off + k]);
              v[0] = dy;
              v[1] = dy * yk;
              v[2] = double(dz) * yk;
              v[3] = double(dz);
            }, sums);
          }
          sum_dy += sums[0];
          sum_dy_y += sums[1];
          if (params) {
            part_dzy[s * L.cg + q] = sums[2];
            part_dz[s * L.cg + q] = sums[3];
          }
        }
        if (!dx) continue;
        const T mean_dy = T(sum_dy / count), mean_dy_y = T(sum_dy_y / count);
        const T rstd = inv_std(var[s], eps);
        for_runs(L, s, [&](int64_t off, int64_t p) {
          const T wp = w ? w[p] : T(1);
          for (int64_t k = 0; k < L.hw; ++k) {
            const T dz = dz_at(off + k);
            dx[off + k] = norm_backward_dx(w ? dz * wp : dz, y[off + k], rstd, mean_dy,
                                           mean_dy_y);
          }
        });
      }
    });
  });
  if (!params) return;
  // Across groups in group order: channel p = (s % G) * CG + q gets groups s, s + G, ...
  const int64_t channels = L.channels();
  std::vector<double> acc_dzy(channels, 0.0), acc_dz(channels, 0.0);
  for (int64_t s = 0; s < L.s; ++s) {
    for (int64_t q = 0; q < L.cg; ++q) {
      const int64_t p = (s % L.g) * L.cg + q;
      acc_dzy[p] += part_dzy[s * L.cg + q];
      acc_dz[p] += part_dz[s * L.cg + q];
    }
  }
  for (int64_t p = 0; p < channels; ++p) {
    if (dw) dw[p] = T(acc_dzy[p]);
    if (db) db[p] = T(acc_dz[p]);
  }
}

#define MINIGAN_INSTANTIATE(T)                                                               \
  template void norm_forward<T>(const T*, T*, T*, T*, T*, const T*, const T*,                \
                                const NormLayout&, double, int, T);                          \
  template void norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*,   \
                                 T*, const NormLayout&, double, int, T);
MINIGAN_INSTANTIATE(float)
MINIGAN_INSTANTIATE(double)
#undef MINIGAN_INSTANTIATE

}  // namespace minigan
