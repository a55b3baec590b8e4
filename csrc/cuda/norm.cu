// Fused batch/instance/group norm (statistics, normalize, affine, activation) and its backward,
// the channel-affine map and its backward, and the running-statistics update. Per-element math:
// minigan/norm.h and minigan/activation.h.
//
// Work units. Group s holds the A*B values x[a][s][b]; with B = CG*HW it is CG channel runs
// (one per j < CG: b in [j*HW, (j+1)*HW)), each of A*HW values. A block takes one group s, a
// range of jn consecutive channels j of it and one of `splits` equal slices of [0, A*HW):
//   grid = (S * JB, splits), JB = ceil(CG / jn), block u = s * JB + jb.
// Large channel runs (A*HW >= kMinPerBlock) get jn = 1 and, when there are too few units to
// fill the GPU (batch norm at a large batch: S = C small, A*HW large), splits > 1; small runs
// get several channels per block (group norm at a small H*W) and splits = 1.
//
// Forward: (1) each block's Welford partial (per thread in ThreadAcc, merged in double) into a
// workspace; (2) each block merges its group's JB*splits partials in a fixed order (every
// block of the group gets the same bits), the first writes mean[s], var[s], and all normalize
// their elements. Backward: (1) per block the sums of dy and dy*y for the group and, per
// channel run (s, j), of dz*y and dz; (2) dx, each block merging its group's sums; (3) per
// channel c, dweight/dbias summed over the groups holding c and the slices, in a fixed order.
// No float atomics anywhere: the results are the same bits on every run.

#include "cuda/common.cuh"
#include "minigan/activation.h"
#include "minigan/norm.h"

namespace minigan {
namespace cuda {

namespace {

constexpr int64_t kMinPerBlock = 2048;  // values per block below which blocks merge channels
constexpr int64_t kMaxSplits = 256;

struct Plan {
  int64_t run;     // A*HW, values per channel run
  int64_t jn, jb;  // channels per block, blocks per group along the channels
  int64_t splits;  // slices of each run
};

// Block geometry on the device.
struct Unit {
  int64_t s, j0, j1, f0, f1;
};

__device__ __forceinline__ Unit unit_of(const NormLayout& l, int64_t jn, int64_t jb,
                                        int64_t splits, int64_t run) {
  Unit u;
  const int64_t b = blockIdx.x;
  u.s = b / jb;
  u.j0 = (b - u.s * jb) * jn;
  u.j1 = u.j0 + jn < l.cg ? u.j0 + jn : l.cg;
  const int64_t k = blockIdx.y;
  u.f0 = k * run / splits;
  u.f1 = (k + 1) * run / splits;
  return u;
}

// Calls f(index of the value, parameter index p) for this thread's values of channel run j of
// unit u (f = a*HW + h over the slice: value (a, s, j*HW + h)).
template <typename F>
__device__ __forceinline__ void for_run(const NormLayout& l, const Unit& u, int64_t j, F&& f) {
  const int64_t base = u.s * l.b + j * l.hw, row = l.s * l.b;
  const int64_t p = (u.s % l.g) * l.cg + j;
  for (int64_t f_ = u.f0 + threadIdx.x; f_ < u.f1; f_ += kBlock) {
    const int64_t a = f_ / l.hw;
    f(a * row + base + (f_ - a * l.hw), p);
  }
}

// ---- forward ---------------------------------------------------------------------------------

template <typename T>
__global__ void __launch_bounds__(kBlock) norm_stats_kernel(const T* __restrict__ x, NormLayout l, int64_t jn,
                                                            int64_t jb, int64_t splits,
                                                            int64_t run,
                                                            Welford<Acc>* __restrict__ partial) {
  const Unit u = unit_of(l, jn, jb, splits, run);
  Welford<typename ThreadAcc<T>::type> w;
  for (int64_t j = u.j0; j < u.j1; ++j)
    for_run(l, u, j, [&](int64_t i, int64_t) { w.push(x[i]); });
  Welford<Acc> wd;
  wd.n = w.n;
  wd.mean = w.mean;
  wd.m2 = w.m2;
  wd = block_reduce(wd);
  if (threadIdx.x == 0) partial[int64_t(blockIdx.x) * splits + blockIdx.y] = wd;
}

// The group's statistics from its `count` partials at p, the same on every block: thread t
// merges partials t, t + kBlock, ... in order, then the fixed block tree.
__device__ __forceinline__ Welford<Acc> merge_partials(const Welford<Acc>* p, int64_t count) {
  Welford<Acc> w;
  for (int64_t i = threadIdx.x; i < count; i += kBlock) w.merge(p[i]);
  return block_reduce(w);
}

template <typename T>
__global__ void __launch_bounds__(kBlock) norm_apply_kernel(
    const T* __restrict__ x, T* __restrict__ out, T* __restrict__ y, T* __restrict__ mean,
    T* __restrict__ var, const T* __restrict__ weight, const T* __restrict__ bias, NormLayout l,
    int64_t jn, int64_t jb, int64_t splits, int64_t run, const Welford<Acc>* __restrict__ partial,
    double eps, int act, T slope) {
  const Unit u = unit_of(l, jn, jb, splits, run);
  __shared__ T stats[2];
  const Welford<Acc> w = merge_partials(partial + u.s * jb * splits, jb * splits);
  if (threadIdx.x == 0) {
    stats[0] = T(w.mean);
    stats[1] = T(w.var());
    if (blockIdx.x % jb == 0 && blockIdx.y == 0) {
      mean[u.s] = stats[0];
      var[u.s] = stats[1];
    }
  }
  __syncthreads();
  const T m = stats[0], rstd = inv_std(stats[1], eps);
  for (int64_t j = u.j0; j < u.j1; ++j)
    for_run(l, u, j, [&](int64_t i, int64_t p) {
      T yv;
      const T o = norm_affine_act(x[i], m, rstd, weight, bias, p, act, slope, &yv);
      y[i] = yv;
      if (out) out[i] = o;
    });
}

// ---- backward --------------------------------------------------------------------------------

// dz (the gradient of the affine map's output) and dy (of y) of one value.
template <typename T>
__device__ __forceinline__ void grads_of(const T* g, const T* out, const T* weight, int act,
                                         T slope, int64_t i, int64_t p, T& dz, T& dy) {
  dz = act ? norm_backward_dz(g[i], out[i], act, slope) : g[i];
  dy = weight ? dz * weight[p] : dz;
}

// Pass 1. Group sums (dy, dy*y) per block into gpart[block] when gpart; per channel run sums
// (dz*y, dz) into ppart[((s*CG + j)*splits + k)] when ppart; gy = dy written when gy (the
// channel-affine backward).
template <typename T>
__global__ void __launch_bounds__(kBlock) norm_grad_sums_kernel(
    const T* __restrict__ g, const T* __restrict__ out, const T* __restrict__ y,
    const T* __restrict__ weight, T* __restrict__ gy, NormLayout l, int64_t jn, int64_t jb,
    int64_t splits, int64_t run, int act, T slope, Sums<2>* __restrict__ gpart,
    Sums<2>* __restrict__ ppart) {
  const Unit u = unit_of(l, jn, jb, splits, run);
  Sums<2> group;
  for (int64_t j = u.j0; j < u.j1; ++j) {
    Sums<2> param;
    for_run(l, u, j, [&](int64_t i, int64_t p) {
      T dz, dy;
      grads_of(g, out, weight, act, slope, i, p, dz, dy);
      const Acc yv = y ? Acc(y[i]) : Acc(0);  // y is 0 only for a channel-affine gb alone
      group.v[0] += Acc(dy);
      group.v[1] += Acc(dy) * yv;
      param.v[0] += Acc(dz) * yv;
      param.v[1] += Acc(dz);
      if (gy) gy[i] = dy;
    });
    if (ppart) {  // uniform over the block
      param = block_reduce(param);
      if (threadIdx.x == 0) ppart[(u.s * l.cg + j) * splits + blockIdx.y] = param;
    }
  }
  if (gpart) {
    group = block_reduce(group);
    if (threadIdx.x == 0) gpart[int64_t(blockIdx.x) * splits + blockIdx.y] = group;
  }
}

// Pass 2: dx.
template <typename T>
__global__ void __launch_bounds__(kBlock) norm_dx_kernel(
    const T* __restrict__ g, const T* __restrict__ out, const T* __restrict__ y,
    const T* __restrict__ var, const T* __restrict__ weight, T* __restrict__ dx, NormLayout l,
    int64_t jn, int64_t jb, int64_t splits, int64_t run, double eps, int act, T slope,
    const Sums<2>* __restrict__ gpart) {
  const Unit u = unit_of(l, jn, jb, splits, run);
  __shared__ T stats[2];
  Sums<2> sums;
  const Sums<2>* p = gpart + u.s * jb * splits;
  for (int64_t i = threadIdx.x; i < jb * splits; i += kBlock) sums.add(p[i]);
  sums = block_reduce(sums);
  if (threadIdx.x == 0) {
    const Acc count = Acc(l.a) * Acc(l.b);
    stats[0] = T(sums.v[0] / count);
    stats[1] = T(sums.v[1] / count);
  }
  __syncthreads();
  const T mean_dy = stats[0], mean_dy_y = stats[1], rstd = inv_std(var[u.s], eps);
  for (int64_t j = u.j0; j < u.j1; ++j)
    for_run(l, u, j, [&](int64_t i, int64_t p_) {
      T dz, dy;
      grads_of(g, out, weight, act, slope, i, p_, dz, dy);
      dx[i] = norm_backward_dx(dy, y[i], rstd, mean_dy, mean_dy_y);
    });
}

// Pass 3: a warp per channel c sums the run partials of the groups s = c/CG + G*t and the
// slices k, in a fixed order (lane-strided, then the warp tree).
template <typename T>
__global__ void __launch_bounds__(kBlock) param_reduce_kernel(const Sums<2>* __restrict__ ppart,
                                                              T* __restrict__ dweight,
                                                              T* __restrict__ dbias, NormLayout l,
                                                              int64_t splits) {
  const int64_t c = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (c >= l.channels()) return;  // whole warps leave together
  const int64_t gi = c / l.cg, j = c - gi * l.cg;
  const int64_t groups = gi < l.s ? (l.s - gi + l.g - 1) / l.g : 0;
  Sums<2> sums;
  for (int64_t t = lane; t < groups * splits; t += 32) {
    const int64_t s = gi + l.g * (t / splits), k = t % splits;
    sums.add(ppart[(s * l.cg + j) * splits + k]);
  }
  sums = warp_reduce(sums);
  if (lane == 0) {
    if (dweight) dweight[c] = T(sums.v[0]);
    if (dbias) dbias[c] = T(sums.v[1]);
  }
}

Plan plan(const NormLayout& l, int sms) {
  Plan p;
  p.run = l.a * l.hw;
  const int64_t target = int64_t(sms) * 4;
  if (p.run >= kMinPerBlock || l.cg == 1) {
    p.jn = 1;
    p.jb = l.cg;
    const int64_t units = l.s * l.cg;
    p.splits = std::max<int64_t>(1, std::min({ceil_div(target, std::max<int64_t>(units, 1)),
                                              p.run / kMinPerBlock, kMaxSplits}));
  } else {
    p.jn = std::min(l.cg, ceil_div(kMinPerBlock, std::max<int64_t>(p.run, 1)));
    p.jb = ceil_div(l.cg, p.jn);
    p.splits = 1;
  }
  return p;
}

void check_grid(const Plan& p, const NormLayout& l, const char* op) {
  if (l.s * p.jb > 0x7fffffffLL)
    throw std::runtime_error(std::string(op) + ": too many statistics groups for one grid");
}

template <typename T>
T to(double v) { return T(v); }

}  // namespace

void norm_forward(Ptr x, Ptr out, Ptr y, Ptr mean, Ptr var, Ptr weight, Ptr bias,
                  const NormLayout& l, double eps, int act, double slope, Dtype dt,
                  Stream stream) {
  const char* op = "norm_forward";
  const int sms = sm_count(op);
  if (l.s == 0 || l.a * l.b == 0) return;
  const Plan p = plan(l, sms);
  check_grid(p, l, op);
  const cudaStream_t st = as_stream(stream);
  const dim3 grid(unsigned(l.s * p.jb), unsigned(p.splits));
  Workspace ws(size_t(l.s * p.jb * p.splits) * sizeof(Welford<Acc>), st, op);
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    norm_stats_kernel<T><<<grid, kBlock, 0, st>>>(ptr<const T>(x), l, p.jn, p.jb, p.splits,
                                                   p.run, ws.as<Welford<Acc>>());
    check_launch(op);
    norm_apply_kernel<T><<<grid, kBlock, 0, st>>>(
        ptr<const T>(x), ptr<T>(out), ptr<T>(y), ptr<T>(mean), ptr<T>(var),
        ptr<const T>(weight), ptr<const T>(bias), l, p.jn, p.jb, p.splits, p.run,
        ws.as<Welford<Acc>>(), eps, act, to<T>(slope));
    check_launch(op);
  });
}

// The sums pass, then dx and/or the parameter reduction (shared with channel_affine_backward).
template <typename T>
void grad_passes(const char* op, const T* g, const T* out, const T* y, const T* var,
                 const T* weight, T* gy, T* dx, T* dweight, T* dbias, const NormLayout& l,
                 double eps, int act, T slope, int sms, cudaStream_t st) {
  const Plan p = plan(l, sms);
  check_grid(p, l, op);
  const bool params = dweight || dbias;
  const size_t gbytes = dx ? size_t(l.s * p.jb * p.splits) * sizeof(Sums<2>) : 0;
  const size_t pbytes = params ? size_t(l.s * l.cg * p.splits) * sizeof(Sums<2>) : 0;
  Workspace ws(gbytes + pbytes, st, op);
  Sums<2>* gpart = dx ? ws.as<Sums<2>>() : nullptr;
  Sums<2>* ppart = params ? ws.as<Sums<2>>(gbytes) : nullptr;
  const dim3 grid(unsigned(l.s * p.jb), unsigned(p.splits));
  norm_grad_sums_kernel<T><<<grid, kBlock, 0, st>>>(g, out, y, weight, gy, l, p.jn, p.jb,
                                                     p.splits, p.run, act, slope, gpart, ppart);
  check_launch(op);
  if (dx) {
    norm_dx_kernel<T><<<grid, kBlock, 0, st>>>(g, out, y, var, weight, dx, l, p.jn, p.jb,
                                                p.splits, p.run, eps, act, slope, gpart);
    check_launch(op);
  }
  if (params) {
    const unsigned blocks = unsigned(ceil_div(l.channels(), kWarps));
    param_reduce_kernel<T><<<blocks, kBlock, 0, st>>>(ppart, dweight, dbias, l, p.splits);
    check_launch(op);
  }
}

void norm_backward(Ptr g, Ptr out, Ptr y, Ptr var, Ptr weight, Ptr dx, Ptr dweight,
                   Ptr dbias, const NormLayout& l, double eps, int act, double slope, Dtype dt,
                   Stream stream) {
  const char* op = "norm_backward";
  const int sms = sm_count(op);
  if (!dx && !dweight && !dbias) return;
  if (l.s == 0 || l.a * l.b == 0) return;
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    grad_passes<T>(op, ptr<const T>(g), ptr<const T>(out), ptr<const T>(y), ptr<const T>(var),
                   ptr<const T>(weight), nullptr, ptr<T>(dx), ptr<T>(dweight), ptr<T>(dbias), l,
                   eps, act, to<T>(slope), sms, as_stream(stream));
  });
}

// ---- channel affine ----------------------------------------------------------------------------

namespace {

template <typename T>
__global__ void __launch_bounds__(kBlock) channel_affine_kernel(const T* __restrict__ y,
                                                                const T* __restrict__ weight,
                                                                const T* __restrict__ bias,
                                                                T* __restrict__ out, int64_t c,
                                                                int64_t b, int64_t total,
                                                                int act, T slope) {
  for (int64_t i = global_thread(); i < total; i += global_stride()) {
    const int64_t ch = (i / b) % c;
    T z = weight ? y[i] * weight[ch] : y[i];
    if (bias) z = z + bias[ch];
    out[i] = activate(z, act, slope);
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) scale_kernel(const T* __restrict__ g,
                                                       const T* __restrict__ weight,
                                                       T* __restrict__ gy, int64_t c, int64_t b,
                                                       int64_t total) {
  for (int64_t i = global_thread(); i < total; i += global_stride())
    gy[i] = weight ? g[i] * weight[(i / b) % c] : g[i];
}

template <typename T>
__global__ void __launch_bounds__(kBlock) running_stats_kernel(T* __restrict__ rm,
                                                               T* __restrict__ rv,
                                                               const T* __restrict__ mean,
                                                               const T* __restrict__ var,
                                                               int64_t n, T keep, T m,
                                                               T correction) {
  // numpy's order (kernels/numpy/norm.py): running = running * (1 - m); running += m * value
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    if (rm) rm[i] = rm[i] * keep + m * mean[i];
    if (rv) rv[i] = rv[i] * keep + m * (var[i] * correction);
  }
}

}  // namespace

void channel_affine(Ptr y, Ptr weight, Ptr bias, Ptr out, int64_t a, int64_t c, int64_t b,
                    int act, double slope, Dtype dt, Stream stream) {
  const char* op = "channel_affine";
  const int sms = sm_count(op);
  const int64_t total = a * c * b;
  if (total == 0) return;
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    channel_affine_kernel<T><<<grid_for(total, sms), kBlock, 0, as_stream(stream)>>>(
        ptr<const T>(y), ptr<const T>(weight), ptr<const T>(bias), ptr<T>(out), c, b, total,
        act, to<T>(slope));
  });
  check_launch(op);
}

void channel_affine_backward(Ptr g, Ptr y, Ptr weight, Ptr gy, Ptr gw, Ptr gb, int64_t a,
                             int64_t c, int64_t b, Dtype dt, Stream stream) {
  const char* op = "channel_affine_backward";
  const int sms = sm_count(op);
  const int64_t total = a * c * b;
  if (c == 0 || (!gy && !gw && !gb)) return;
  const cudaStream_t st = as_stream(stream);
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    if (total == 0) {  // empty sums: zeros
      if (gw) check(cudaMemsetAsync(ptr<T>(gw), 0, size_t(c) * sizeof(T), st), op);
      if (gb) check(cudaMemsetAsync(ptr<T>(gb), 0, size_t(c) * sizeof(T), st), op);
      return;
    }
    if (!gw && !gb) {
      scale_kernel<T><<<grid_for(total, sms), kBlock, 0, st>>>(ptr<const T>(g),
                                                               ptr<const T>(weight), ptr<T>(gy),
                                                               c, b, total);
      check_launch(op);
      return;
    }
    // The norm backward's sums pass over the layout (A, C, B) with a channel per group.
    const NormLayout l{a, c, b, c, 1, b};
    grad_passes<T>(op, ptr<const T>(g), nullptr, ptr<const T>(y), nullptr, ptr<const T>(weight),
                   ptr<T>(gy), nullptr, ptr<T>(gw), ptr<T>(gb), l, 0.0, 0, T(0), sms, st);
  });
}

void running_stats_update(Ptr running_mean, Ptr running_var, Ptr mean, Ptr var, int64_t n,
                          double momentum, double correction, Dtype dt, Stream stream) {
  const char* op = "running_stats_update";
  const int sms = sm_count(op);
  if (n == 0 || (!running_mean && !running_var)) return;
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    running_stats_kernel<T><<<grid_for(n, sms), kBlock, 0, as_stream(stream)>>>(
        ptr<T>(running_mean), ptr<T>(running_var), ptr<const T>(mean), ptr<const T>(var), n,
        T(1 - momentum), T(momentum), T(correction));
  });
  check_launch(op);
}

}  // namespace cuda
}  // namespace minigan
