// Fused normalization on the CPU: statistics + normalize + affine + activation in one routine,
// and its whole backward, for batch, instance and group norm (the layouts of
// kernels/include/minigan/norm.h). The per-element math is the shared header's, so the CUDA
// and NVRTC kernels compute the same values.
#pragma once

#include <cstdint>

#include "minigan/norm.h"

namespace minigan {

// Per statistics group s: mean[s], var[s] (biased; sums in double, two passes), and for every
// element y = (x - mean) * rstd, rstd = 1 / sqrt(var + eps). With out non-null also
// out = act(y * w[p] + b[p]) (w, b may be null: 1 and 0), written in the same pass as y.
template <typename T>
void norm_forward(const T* x, T* out, T* y, T* mean, T* var, const T* w, const T* b,
                  const NormLayout& layout, double eps, int act, T slope);

// The gradient of norm_forward from g = d loss / d out: dz = activation_backward(g, out)
// (out may be null only with act == 0), dy = dz * w[p], and
//   dx = rstd * (dy - mean(dy) - y * mean(dy * y))   per statistics group,
//   dw[c] = sum dz * y,  db[c] = sum dz               over the elements with p == c.
// Any of dx, dw, db may be null (not wanted). Sums in double, in an order that does not
// depend on the thread count.
template <typename T>
void norm_backward(const T* g, const T* out, const T* y, const T* var, const T* w, T* dx,
                   T* dw, T* db, const NormLayout& layout, double eps, int act, T slope);

}  // namespace minigan
