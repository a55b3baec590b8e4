// The activations a fused kernel applies to its own result, and their gradients from that
// result. Codes as kernels/triton/_common.py's act_args: 0 none, 1 relu, 2 leaky_relu,
// 3 tanh, 4 sigmoid. The formulas are the numpy backend's (kernels/numpy/activation.py and
// minigan/autograd/nn_ops.py activation_grad), operation for operation.
#pragma once

#include "hd.h"

namespace minigan {

enum Activation : int { ACT_NONE = 0, ACT_RELU = 1, ACT_LEAKY_RELU = 2, ACT_TANH = 3,
                        ACT_SIGMOID = 4 };

// act(v): relu as clip(v, 0) (NaN propagates), leaky_relu as v * (1 if v > 0 else slope)
// (for 0 <= slope <= 1; computed as max(v, 0) + slope * min(v, 0)),
// sigmoid from exp(-|v|) only (no overflow).
template <typename T>
MG_HD T activate(T v, int act, T slope) {
  switch (act) {
    case ACT_RELU: return math::max_nan(v, T(0));
    // = v * (v > 0 ? 1 : slope) (the same value, up to the sign of a zero), written from
    // selects without arithmetic in a branch: GCC does not if-convert the product form
    // (trapping math) and kept a data-dependent branch per element, 6x slower on the CPU.
    // With an FMA (nvcc contracts it) the value is the same: fma(slope, 0, v) = v exactly.
    case ACT_LEAKY_RELU: return math::max_nan(v, T(0)) + slope * (v < T(0) ? v : T(0));
    case ACT_TANH: return math::tanh_(v);
    case ACT_SIGMOID: {
      const T e = math::exp_(-math::abs_(v));
      return v >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    }
    default: return v;
  }
}

// g times d act / d v, from the output out = act(v) (for leaky_relu 0 <= slope <= 1, where
// out > 0 exactly when v > 0): relu g * (out > 0), leaky g * max(out > 0, slope), tanh
// g * (1 - out^2), sigmoid (g * out) * (1 - out).
template <typename T>
MG_HD T activation_backward(T g, T out, int act, T slope) {
  switch (act) {
    case ACT_RELU: return g * (out > T(0) ? T(1) : T(0));
    case ACT_LEAKY_RELU: return g * math::max_(out > T(0) ? T(1) : T(0), slope);
    case ACT_TANH: return g * (T(1) - out * out);
    case ACT_SIGMOID: return g * out * (T(1) - out);
    default: return g;
  }
}

}  // namespace minigan
