// Multi-tensor Adam, SGD and RMSprop (in the spirit of apex's multi_tensor_apply): one launch
// updates many tensors. The host cuts every tensor into chunks of kChunk elements, a block per
// chunk, and passes the tensors' pointers, sizes and per-tensor scalars and the block -> (tensor,
// chunk) map in one kernel argument (a __grid_constant__ struct under 4 KB); a longer list takes
// several launches. A tensor whose pointers are all 16-byte aligned is read and written in 16-byte
// vectors. The per-element update is minigan/optim.h's, in torch's single-tensor order.

#include <array>
#include <cmath>

#include "cuda/common.cuh"
#include "minigan/optim.h"

namespace minigan {
namespace cuda {

namespace {

constexpr int kMaxTensors = 32;
constexpr int kMaxBlocks = 320;
constexpr int64_t kChunk = 16384;
constexpr unsigned char kFresh = 1, kAligned = 2;

template <int NP>
struct ListMeta {
  void* ptr[NP][kMaxTensors];
  int64_t size[kMaxTensors];
  double s1[kMaxTensors], s2[kMaxTensors];  // per-tensor scalars (Adam's bias corrections)
  unsigned char flag[kMaxTensors];          // kFresh (SGD's new momentum buffer), kAligned
  unsigned char tensor[kMaxBlocks];         // block -> slot
  int chunk[kMaxBlocks];                    // block -> chunk of that tensor
};

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ void load(const void* base, int64_t i, T (&r)[V]) {
  const Vec<T, V> v = *reinterpret_cast<const Vec<T, V>*>(static_cast<const T*>(base) + i);
#pragma unroll
  for (int k = 0; k < V; ++k) r[k] = v.v[k];
}

template <typename T, int V>
__device__ __forceinline__ void store(void* base, int64_t i, const T (&r)[V]) {
  Vec<T, V> v;
#pragma unroll
  for (int k = 0; k < V; ++k) v.v[k] = r[k];
  *reinterpret_cast<Vec<T, V>*>(static_cast<T*>(base) + i) = v;
}

template <typename T, int NP, typename Op>
__global__ void __launch_bounds__(kBlock) multi_tensor_kernel(const __grid_constant__ ListMeta<NP> meta,
                                                              const Op op) {
  const int t = meta.tensor[blockIdx.x];
  const int64_t start = int64_t(meta.chunk[blockIdx.x]) * kChunk;
  const int64_t end = min(meta.size[t], start + kChunk);
  constexpr int V = 16 / sizeof(T);
  int64_t tail = start;
  if (meta.flag[t] & kAligned) {  // start is a multiple of kChunk, so of V
    tail = start + (end - start) / V * V;
    for (int64_t i = start + int64_t(threadIdx.x) * V; i < tail; i += int64_t(kBlock) * V)
      op.template apply<T, V>(meta, t, i);
  }
  for (int64_t i = tail + threadIdx.x; i < end; i += kBlock) op.template apply<T, 1>(meta, t, i);
}

struct AdamOp {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled;
  template <typename T, int V, typename M>
  __device__ __forceinline__ void apply(const M& m, int t, int64_t i) const {
    T p[V], g[V], ea[V], es[V], mx[V];
    load<T, V>(m.ptr[0][t], i, p);
    load<T, V>(m.ptr[1][t], i, g);
    load<T, V>(m.ptr[2][t], i, ea);
    load<T, V>(m.ptr[3][t], i, es);
    if (amsgrad) load<T, V>(m.ptr[4][t], i, mx);
    const AdamScalars s{lr, beta1, beta2, eps, weight_decay, m.s1[t], m.s2[t],
                        amsgrad, maximize, decoupled};
#pragma unroll
    for (int k = 0; k < V; ++k) adam_update(p[k], g[k], ea[k], es[k], amsgrad ? &mx[k] : nullptr, s);
    store<T, V>(m.ptr[0][t], i, p);
    store<T, V>(m.ptr[2][t], i, ea);
    store<T, V>(m.ptr[3][t], i, es);
    if (amsgrad) store<T, V>(m.ptr[4][t], i, mx);
  }
};

struct SgdOp {
  SgdScalars s;
  template <typename T, int V, typename M>
  __device__ __forceinline__ void apply(const M& m, int t, int64_t i) const {
    T p[V], g[V], b[V];
    const bool fresh = m.flag[t] & kFresh, mom = s.momentum != 0;
    load<T, V>(m.ptr[0][t], i, p);
    load<T, V>(m.ptr[1][t], i, g);
    if (mom && !fresh) load<T, V>(m.ptr[2][t], i, b);
#pragma unroll
    for (int k = 0; k < V; ++k) sgd_update(p[k], g[k], mom ? &b[k] : nullptr, fresh, s);
    store<T, V>(m.ptr[0][t], i, p);
    if (mom) store<T, V>(m.ptr[2][t], i, b);
  }
};

struct RmspropOp {
  RmspropScalars s;
  template <typename T, int V, typename M>
  __device__ __forceinline__ void apply(const M& m, int t, int64_t i) const {
    T p[V], g[V], sq[V], ga[V], b[V];
    const bool mom = s.momentum > 0;
    load<T, V>(m.ptr[0][t], i, p);
    load<T, V>(m.ptr[1][t], i, g);
    load<T, V>(m.ptr[2][t], i, sq);
    if (s.centered) load<T, V>(m.ptr[3][t], i, ga);
    if (mom) load<T, V>(m.ptr[4][t], i, b);
#pragma unroll
    for (int k = 0; k < V; ++k)
      rmsprop_update(p[k], g[k], sq[k], s.centered ? &ga[k] : nullptr, mom ? &b[k] : nullptr, s);
    store<T, V>(m.ptr[0][t], i, p);
    store<T, V>(m.ptr[2][t], i, sq);
    if (s.centered) store<T, V>(m.ptr[3][t], i, ga);
    if (mom) store<T, V>(m.ptr[4][t], i, b);
  }
};

// Per tensor: its NP pointers (0 where that state is unused), size, scalars and flags.
template <int NP>
struct Tensor {
  std::array<Ptr, NP> p;
  int64_t size;
  double s1, s2;
  unsigned char flag;
};

template <typename T, int NP, typename Op>
void run_lists(const char* name, const std::vector<Tensor<NP>>& tensors, const Op& op,
               cudaStream_t st) {
  static_assert(sizeof(ListMeta<NP>) + sizeof(Op) <= 4000, "kernel arguments over 4 KB");
  ListMeta<NP> meta{};
  int nt = 0, nb = 0;
  auto launch = [&] {
    multi_tensor_kernel<T, NP, Op><<<nb, kBlock, 0, st>>>(meta, op);
    check_launch(name);
    nb = 0;
  };
  for (const Tensor<NP>& x : tensors) {
    if (x.size == 0) continue;
    bool aligned = true;
    for (int k = 0; k < NP; ++k) {
      meta.ptr[k][nt] = reinterpret_cast<void*>(x.p[k]);
      aligned = aligned && x.p[k] % 16 == 0;  // 0 (unused) is aligned
    }
    meta.size[nt] = x.size;
    meta.s1[nt] = x.s1;
    meta.s2[nt] = x.s2;
    meta.flag[nt] = x.flag | (aligned ? kAligned : 0);
    ++nt;
    const int64_t chunks = ceil_div(x.size, kChunk);
    for (int64_t c = 0; c < chunks; ++c) {
      meta.tensor[nb] = static_cast<unsigned char>(nt - 1);
      meta.chunk[nb] = static_cast<int>(c);
      ++nb;
      const bool last = c == chunks - 1;
      if (nb == kMaxBlocks || (nt == kMaxTensors && last)) {
        launch();
        if (last) {
          nt = 0;
        } else {  // the rest of this tensor's chunks go with the next launch, as slot 0
          for (int k = 0; k < NP; ++k) meta.ptr[k][0] = meta.ptr[k][nt - 1];
          meta.size[0] = meta.size[nt - 1];
          meta.s1[0] = meta.s1[nt - 1];
          meta.s2[0] = meta.s2[nt - 1];
          meta.flag[0] = meta.flag[nt - 1];
          nt = 1;
        }
      }
    }
  }
  if (nb > 0) launch();
}

Ptr at(const std::vector<Ptr>& v, size_t i) { return i < v.size() ? v[i] : 0; }

}  // namespace

void adam_step(const std::vector<Ptr>& params, const std::vector<Ptr>& grads,
               const std::vector<Ptr>& exp_avgs, const std::vector<Ptr>& exp_avg_sqs,
               const std::vector<Ptr>& max_exp_avg_sqs, const std::vector<int64_t>& sizes,
               const std::vector<int64_t>& steps, const AdamScalars& s, Dtype dt,
               Stream stream) {
  const char* op = "adam_step";
  sm_count(op);  // a clear error without a device
  std::vector<Tensor<5>> ts(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    const double step = double(steps[i]);
    ts[i] = {{params[i], grads[i], exp_avgs[i], exp_avg_sqs[i],
              s.amsgrad ? at(max_exp_avg_sqs, i) : 0},
             sizes[i],
             s.lr / (1 - std::pow(s.beta1, step)),
             std::sqrt(1 - std::pow(s.beta2, step)),
             0};
  }
  const AdamOp a{s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.amsgrad, s.maximize,
                 s.decoupled};
  dispatch(dt, [&](auto t) { run_lists<decltype(t), 5>(op, ts, a, as_stream(stream)); });
}

void sgd_step(const std::vector<Ptr>& params, const std::vector<Ptr>& grads,
              const std::vector<Ptr>& momentum_buffers, const std::vector<bool>& fresh,
              const std::vector<int64_t>& sizes, const SgdScalars& s, Dtype dt, Stream stream) {
  const char* op = "sgd_step";
  sm_count(op);
  std::vector<Tensor<3>> ts(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i)
    ts[i] = {{params[i], grads[i], s.momentum != 0 ? at(momentum_buffers, i) : 0},
             sizes[i], 0.0, 0.0,
             static_cast<unsigned char>(i < fresh.size() && fresh[i] ? kFresh : 0)};
  dispatch(dt, [&](auto t) {
    run_lists<decltype(t), 3>(op, ts, SgdOp{s}, as_stream(stream));
  });
}

void rmsprop_step(const std::vector<Ptr>& params, const std::vector<Ptr>& grads,
                  const std::vector<Ptr>& square_avgs, const std::vector<Ptr>& grad_avgs,
                  const std::vector<Ptr>& momentum_buffers, const std::vector<int64_t>& sizes,
                  const RmspropScalars& s, Dtype dt, Stream stream) {
  const char* op = "rmsprop_step";
  sm_count(op);
  std::vector<Tensor<5>> ts(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i)
    ts[i] = {{params[i], grads[i], square_avgs[i], s.centered ? at(grad_avgs, i) : 0,
              s.momentum > 0 ? at(momentum_buffers, i) : 0},
             sizes[i], 0.0, 0.0, 0};
  dispatch(dt, [&](auto t) {
    run_lists<decltype(t), 5>(op, ts, RmspropOp{s}, as_stream(stream));
  });
}

}  // namespace cuda
}  // namespace minigan
