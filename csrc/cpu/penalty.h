// Per-sample gradient-norm penalties on the CPU (WGAN-GP, WGAN-LP, DRAGAN, R1/R2, WGAN-div):
// the per-row math of kernels/include/minigan/penalty.h over g viewed as (N, D).
#pragma once

#include <cstdint>

#include "minigan/penalty.h"

namespace minigan {

// sq_norms[i] = sum_j g[i][j]^2 (summed in double), penalty[i] = penalty_value(sq_norms[i]).
template <typename T>
void penalty_forward(const T* g, T* sq_norms, T* penalty, int64_t n, int64_t d, int kind,
                     T center, T power);

// dg[i][j] = (upstream[i] * penalty_coefficient(sq_norms[i])) * g[i][j].
template <typename T>
void penalty_backward(const T* g, const T* sq_norms, const T* upstream, T* dg, int64_t n,
                      int64_t d, int kind, T center, T power);

}  // namespace minigan
