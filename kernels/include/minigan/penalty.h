// Gradient penalties on per-sample gradient norms: the row's squared norm is a sum over the
// row (accumulated by the caller in Acc), then these give the penalty of that row and the
// coefficient c of its gradient, d penalty / d g_i = c * g_i.
//   kind 0  two-sided (WGAN-GP, DRAGAN): (||g|| - center)^2
//   kind 1  one-sided (WGAN-LP):          max(0, ||g|| - center)^2
//   kind 2  squared norm (R1, R2):        ||g||^2
//   kind 3  power (WGAN-div):             ||g||^p  = (||g||^2)^(p/2)
// At ||g|| = 0 the coefficient of kinds 0, 1 is 0 (torch's norm backward masks 0/0 to 0).
#pragma once

#include "hd.h"

namespace minigan {

enum PenaltyKind : int { PENALTY_TWO_SIDED = 0, PENALTY_ONE_SIDED = 1, PENALTY_SQUARED = 2,
                         PENALTY_POWER = 3 };

template <typename T>
MG_HD T penalty_value(T sq_norm, int kind, T center, T power) {
  const T norm = math::sqrt_(sq_norm);
  switch (kind) {
    case PENALTY_TWO_SIDED: { const T gap = norm - center; return gap * gap; }
    case PENALTY_ONE_SIDED: { const T gap = math::max_nan(norm - center, T(0)); return gap * gap; }
    case PENALTY_SQUARED: return sq_norm;
    default: return math::pow_(sq_norm, power * T(0.5));
  }
}

template <typename T>
MG_HD T penalty_coefficient(T sq_norm, int kind, T center, T power) {
  const T norm = math::sqrt_(sq_norm);
  switch (kind) {
    case PENALTY_TWO_SIDED:
      return norm == T(0) ? T(0) : T(2) * (norm - center) / norm;
    case PENALTY_ONE_SIDED:
      return (norm == T(0) || !(norm > center)) ? T(0) : T(2) * (norm - center) / norm;
    case PENALTY_SQUARED: return T(2);
    default:  // d (s^(p/2)) / d g = p s^(p/2 - 1) g
      return sq_norm == T(0) ? T(0) : power * math::pow_(sq_norm, power * T(0.5) - T(1));
  }
}

}  // namespace minigan
