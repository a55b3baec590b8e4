// Optimizer updates of one element, in torch's single-tensor order (torch/optim/{adam,sgd,
// rmsprop}.py; the numpy backend's kernels/numpy/optim.py does the same operations on whole
// arrays): each operation rounded to T, scalars rounded to T where torch rounds them, bias
// corrections computed once per tensor in double on the host.
#pragma once

#include "hd.h"

namespace minigan {

// Scalars of one Adam step for one tensor (the bias corrections depend on its step count).
struct AdamScalars {
  double lr, beta1, beta2, eps, weight_decay;
  double step_size;            // lr / (1 - beta1^step)
  double bias_correction2_sqrt;  // sqrt(1 - beta2^step)
  bool amsgrad, maximize, decoupled;
};

// a + w (end - a), torch's lerp: the second formula for |w| >= 0.5 is exact at w = 1.
template <typename T>
MG_HD T lerp_(T a, T end, T w) {
  return math::abs_(w) < T(0.5) ? a + w * (end - a) : end - (end - a) * (T(1) - w);
}

// The gradient as the update sees it: negated when maximizing, plus L2 weight decay.
template <typename T>
MG_HD T effective_grad(T p, T g, double weight_decay, bool maximize) {
  if (maximize) g = -g;
  if (weight_decay != 0) g = g + T(weight_decay) * p;
  return g;
}

// One Adam/AdamW(/AMSGrad) update of p and its state; vmax is read/written only with amsgrad.
template <typename T>
MG_HD void adam_update(T& p, T g, T& m, T& v, T* vmax, const AdamScalars& s) {
  double wd = s.weight_decay;
  if (s.decoupled && wd != 0) {
    p = p * T(1 - s.lr * wd);
    wd = 0;
  }
  g = effective_grad(p, g, wd, s.maximize);
  m = lerp_(m, g, T(1 - s.beta1));
  v = v * T(s.beta2);
  v = v + g * T(1 - s.beta2) * g;
  T second = v;
  if (s.amsgrad) {
    *vmax = math::max_nan(*vmax, v);
    second = *vmax;
  }
  const T denom = math::sqrt_(second) / T(s.bias_correction2_sqrt) + T(s.eps);
  p = p + m * T(-s.step_size) / denom;
}

struct SgdScalars {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};

// One SGD update; buf is read/written only with momentum != 0; fresh: buf is new and is set
// to the gradient (torch's first momentum step).
template <typename T>
MG_HD void sgd_update(T& p, T g, T* buf, bool fresh, const SgdScalars& s) {
  g = effective_grad(p, g, s.weight_decay, s.maximize);
  if (s.momentum != 0) {
    T b;
    if (fresh) {
      b = g;
    } else {
      b = *buf * T(s.momentum);
      b = b + T(1 - s.dampening) * g;
    }
    *buf = b;
    g = s.nesterov ? g + T(s.momentum) * b : b;
  }
  p = p + T(-s.lr) * g;
}

struct RmspropScalars {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

// One RMSprop update; grad_avg is used only when centered, buf only with momentum > 0.
template <typename T>
MG_HD void rmsprop_update(T& p, T g, T& square_avg, T* grad_avg, T* buf,
                          const RmspropScalars& s) {
  g = effective_grad(p, g, s.weight_decay, s.maximize);
  square_avg = square_avg * T(s.alpha);
  square_avg = square_avg + T(1 - s.alpha) * g * g;
  T avg;
  if (s.centered) {
    *grad_avg = lerp_(*grad_avg, g, T(1 - s.alpha));
    avg = math::sqrt_(square_avg - *grad_avg * *grad_avg);
  } else {
    avg = math::sqrt_(square_avg);
  }
  avg = avg + T(s.eps);
  if (s.momentum > 0) {
    *buf = *buf * T(s.momentum) + g / avg;
    p = p + T(-s.lr) * *buf;
  } else {
    p = p + T(-s.lr) * g / avg;
  }
}

}  // namespace minigan
