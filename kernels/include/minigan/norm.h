// Normalization statistics, normalize + affine + activation, and its backward: the math of
// the fused batch, instance and group norm kernels, for one element or one statistics group.
//
// Layout. x is viewed as (A, S, B): statistics group s (0 <= s < S) holds the A*B values
// x[a][s][b]. The affine parameters (weight, bias; C entries) are indexed by
//     p(s, b) = (s % G) * CG + b / HW
//   batch norm    (N, C, H*W):   A = N, S = C,   B = HW,      G = C, CG = 1,  HW = B
//   instance norm (1, N*C, H*W): A = 1, S = N*C, B = HW,      G = C, CG = 1,  HW = B
//   group norm    (1, N*G, Cg*H*W): A = 1, S = N*G, B = Cg*HW, G = G, CG = Cg, HW = H*W
#pragma once

#include "activation.h"
#include "hd.h"

namespace minigan {

struct NormLayout {
  int64_t a, s, b;     // x viewed as (A, S, B)
  int64_t g, cg, hw;   // affine parameter index p(s, b) = (s % g) * cg + b / hw
  MG_HD int64_t count() const { return a * b; }                // values per group
  MG_HD int64_t index(int64_t ai, int64_t si, int64_t bi) const { return (ai * s + si) * b + bi; }
  MG_HD int64_t param(int64_t si, int64_t bi) const { return (si % g) * cg + bi / hw; }
  MG_HD int64_t channels() const { return g * cg; }             // C, the affine length
};

// Running mean and centred second moment (Welford; Chan et al.'s merge for partial results
// from other threads or blocks). Acc is the accumulator type: double for float32 on the CPU.
template <typename Acc>
struct Welford {
  Acc n = 0, mean = 0, m2 = 0;
  MG_HD void push(Acc x) {
    n += Acc(1);
    const Acc d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
  }
  MG_HD void merge(const Welford& o) {
    if (o.n == Acc(0)) return;
    if (n == Acc(0)) { *this = o; return; }
    const Acc total = n + o.n;
    const Acc d = o.mean - mean;
    mean += d * (o.n / total);
    m2 += o.m2 + d * d * (n * o.n / total);
    n = total;
  }
  MG_HD Acc var() const { return n > Acc(0) ? m2 / n : Acc(0); }   // biased
};

// 1 / sqrt(var + eps) in T, as the kernels store it.
template <typename T>
MG_HD T inv_std(T var, double eps) { return T(1) / math::sqrt_(var + T(eps)); }

// Forward of one element: y = (x - mean) * rstd, out = act(y * w + b) (w, b may be null:
// 1 and 0). Returns out; writes y (the normalized value the backward reads).
template <typename T>
MG_HD T norm_affine_act(T x, T mean, T rstd, const T* w, const T* b, int64_t p, int act,
                        T slope, T* y) {
  const T yv = (x - mean) * rstd;
  *y = yv;
  T z = w ? yv * w[p] : yv;
  if (b) z = z + b[p];
  return activate(z, act, slope);
}

// Backward, first pass, one element: dz = g * act'(from out) is the gradient of the affine
// map's output, dy = dz * w the gradient of y. Adds dy and dy * y to the group's sums
// (sum_dy, sum_dy_y: for dx) and dz * y, dz to the parameter's (for dw, db).
template <typename T>
MG_HD T norm_backward_dz(T g, T out, int act, T slope) {
  return activation_backward(g, out, act, slope);
}

// Backward, second pass, one element: dx = rstd * (dy - mean(dy) - y * mean(dy * y)) with
// the group's means of dy and dy * y.
template <typename T>
MG_HD T norm_backward_dx(T dy, T y, T rstd, T mean_dy, T mean_dy_y) {
  return rstd * (dy - mean_dy - y * mean_dy_y);
}

}  // namespace minigan
