// Multi-tensor optimizer steps on the CPU: one call updates every tensor of a parameter group,
// split into fixed-size chunks across all tensors (as apex's multi_tensor_apply does on a
// GPU), so one large tensor and many small ones parallelize alike. Each element goes through
// the shared per-element update (kernels/include/minigan/optim.h) once: one pass over
// parameter, gradient and state, where numpy needs about ten.
#pragma once

#include <cstdint>
#include <vector>

#include "minigan/optim.h"

namespace minigan {

template <typename T>
struct AdamTensor {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  T* max_exp_avg_sq;  // null unless amsgrad
  int64_t size;
  AdamScalars scalars;  // the bias corrections are per tensor (each has its own step count)
};

template <typename T>
struct SgdTensor {
  T* param;
  const T* grad;
  T* momentum_buffer;  // null when momentum == 0
  bool fresh;          // the buffer is new: set to the gradient (torch's first momentum step)
  int64_t size;
};

template <typename T>
struct RmspropTensor {
  T* param;
  const T* grad;
  T* square_avg;
  T* grad_avg;         // null unless centered
  T* momentum_buffer;  // null unless momentum > 0
  int64_t size;
};

template <typename T>
void adam_step(const std::vector<AdamTensor<T>>& tensors);

template <typename T>
void sgd_step(const std::vector<SgdTensor<T>>& tensors, const SgdScalars& scalars);

template <typename T>
void rmsprop_step(const std::vector<RmspropTensor<T>>& tensors, const RmspropScalars& scalars);

}  // namespace minigan
