// minigan.kernels._C_cuda: the launchers behind the Python bindings (module.cpp). Plain C++:
// module.cpp is compiled by the host compiler and never sees a CUDA type. Every array is a
// device pointer (Ptr; 0 = none), every launch goes onto `stream` (a cudaStream_t as an
// integer; 0 = the legacy default stream) of the thread's current device, asynchronously.
// module.cpp validates the arguments; the launchers assume them valid and throw
// std::runtime_error("<op>: <CUDA error string>") when the CUDA runtime reports an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minigan/conv.h"
#include "minigan/norm.h"
#include "minigan/optim.h"

namespace minigan {
namespace cuda {

using Ptr = std::uintptr_t;
using Stream = std::uintptr_t;
enum class Dtype { f32, f64 };

// device.cu
int device_count();  // 0 without a driver or device; never throws
struct Details {
  std::string archs;           // the SASS/PTX targets this module was compiled for
  int runtime_version = 0;     // CUDART_VERSION of the statically linked runtime
  int driver_version = 0;      // 0: no driver
  std::string driver_error;    // why there is no usable device ("" when there is one)
  int device_count = 0;
  std::vector<std::string> devices;  // "name (sm_XY, N SMs, M MiB)"
};
Details details();

// im2col.cu: cols is (c*kh*kw, n*ho*wo); col2im overwrites dx (a gather per dx element).
void im2col(Ptr x, Ptr cols, const ConvGeometry& g, Dtype dt, Stream stream);
void col2im(Ptr cols, Ptr dx, const ConvGeometry& g, Dtype dt, Stream stream);

// norm.cu
void norm_forward(Ptr x, Ptr out, Ptr y, Ptr mean, Ptr var, Ptr weight, Ptr bias,
                  const NormLayout& l, double eps, int act, double slope, Dtype dt,
                  Stream stream);
void norm_backward(Ptr g, Ptr out, Ptr y, Ptr var, Ptr weight, Ptr dx, Ptr dweight,
                   Ptr dbias, const NormLayout& l, double eps, int act, double slope, Dtype dt,
                   Stream stream);
void channel_affine(Ptr y, Ptr weight, Ptr bias, Ptr out, int64_t a, int64_t c, int64_t b,
                    int act, double slope, Dtype dt, Stream stream);
void channel_affine_backward(Ptr g, Ptr y, Ptr weight, Ptr gy, Ptr gw, Ptr gb, int64_t a,
                             int64_t c, int64_t b, Dtype dt, Stream stream);
void running_stats_update(Ptr running_mean, Ptr running_var, Ptr mean, Ptr var, int64_t n,
                          double momentum, double correction, Dtype dt, Stream stream);

// optim.cu: one entry per tensor in every list (entries of unused state lists may be 0).
void adam_step(const std::vector<Ptr>& params, const std::vector<Ptr>& grads,
               const std::vector<Ptr>& exp_avgs, const std::vector<Ptr>& exp_avg_sqs,
               const std::vector<Ptr>& max_exp_avg_sqs, const std::vector<int64_t>& sizes,
               const std::vector<int64_t>& steps, const AdamScalars& s, Dtype dt,
               Stream stream);
void sgd_step(const std::vector<Ptr>& params, const std::vector<Ptr>& grads,
              const std::vector<Ptr>& momentum_buffers, const std::vector<bool>& fresh,
              const std::vector<int64_t>& sizes, const SgdScalars& s, Dtype dt, Stream stream);
void rmsprop_step(const std::vector<Ptr>& params, const std::vector<Ptr>& grads,
                  const std::vector<Ptr>& square_avgs, const std::vector<Ptr>& grad_avgs,
                  const std::vector<Ptr>& momentum_buffers, const std::vector<int64_t>& sizes,
                  const RmspropScalars& s, Dtype dt, Stream stream);

// penalty.cu
void penalty_forward(Ptr g, Ptr sq_norms, Ptr penalty, int64_t rows, int64_t cols, int kind,
                     double center, double power, Dtype dt, Stream stream);
void penalty_backward(Ptr g, Ptr sq_norms, Ptr upstream, Ptr dg, int64_t rows, int64_t cols,
                      int kind, double center, double power, Dtype dt, Stream stream);

}  // namespace cuda
}  // namespace minigan
