// Multi-tensor SGD, Adam and RMSprop: the elements of all tensors are cut into chunks of
// kChunk (a tensor's last chunk may be shorter) and parallel_for splits the chunk list, so the
// work per thread is even whatever the tensor sizes. Elements are independent, so results do
// not depend on the split.
//
// Vectorization. Each chunk's loop is one instantiation per combination of the flags that
// decide which arrays are written or which formula runs (amsgrad, maximize, decoupled; a fresh
// momentum buffer; centered, momentum): the flags are set in a local copy of the scalars, so
// the shared update's branches on them fold away and its remaining branches (weight decay,
// lerp's formula) are selects the compiler if-converts. The pointers are __restrict
// (parameter, gradient and state never overlap).
//
// SGD vectorizes with any flags. Adam and RMSprop take a square root, and GCC vectorizes sqrt
// only under -fno-math-errno (with errno, each sqrt keeps a branch to libm for negative inputs;
// GCC fixes this per compiler run, so no pragma or attribute can lift it for one file). Built
// with it they ran 2.6x (Adam) and 2.2x (RMSprop) faster than the numpy loop on DCGAN's 3.6M
// float32 parameters; without it, scalar, 0.7-0.9x. The module says which in
// OPTIMIZERS_VECTORIZED. sqrtps is correctly rounded like sqrtss: values are the same.

#include "multi_tensor.h"

#include <algorithm>

#include "parallel.h"

namespace minigan {

namespace {

constexpr int64_t kChunk = int64_t(1) << 16;

struct Chunk {
  int64_t tensor, begin, end;
};

template <typename Tensor>
std::vector<Chunk> chunks_of(const std::vector<Tensor>& tensors) {
  std::vector<Chunk> chunks;
  for (int64_t t = 0; t < int64_t(tensors.size()); ++t) {
    for (int64_t b = 0; b < tensors[t].size; b += kChunk) {
      chunks.push_back({t, b, std::min(tensors[t].size, b + kChunk)});
    }
  }
  return chunks;
}

// Calls update(tensor, begin, end) for every chunk, the chunks split across threads.
template <typename Tensor, typename Update>
void for_chunks(const std::vector<Tensor>& tensors, int64_t cost, const Update& update) {
  const std::vector<Chunk> chunks = chunks_of(tensors);
  parallel_for(int64_t(chunks.size()), cost * kChunk, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      update(tensors[chunks[c].tensor], chunks[c].begin, chunks[c].end);
    }
  });
}

template <bool kAmsgrad, bool kMaximize, bool kDecoupled, typename T>
void adam_chunk(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                T* __restrict vmax, int64_t n, AdamScalars s) {
  s.amsgrad = kAmsgrad;
  s.maximize = kMaximize;
  s.decoupled = kDecoupled;
  for (int64_t i = 0; i < n; ++i) {
    T unused = T(0);
    adam_update(p[i], g[i], m[i], v[i], kAmsgrad ? &vmax[i] : &unused, s);
  }
}

template <typename T>
using AdamChunk = void (*)(T*, const T*, T*, T*, T*, int64_t, AdamScalars);

template <int kFlags, typename T>
constexpr AdamChunk<T> adam_chunk_of = adam_chunk<(kFlags & 4) != 0, (kFlags & 2) != 0,
                                                  (kFlags & 1) != 0, T>;

template <typename T>
AdamChunk<T> adam_kernel(const AdamScalars& s) {
  static constexpr AdamChunk<T> table[8] = {
      adam_chunk_of<0, T>, adam_chunk_of<1, T>, adam_chunk_of<2, T>, adam_chunk_of<3, T>,
      adam_chunk_of<4, T>, adam_chunk_of<5, T>, adam_chunk_of<6, T>, adam_chunk_of<7, T>};
  return table[4 * s.amsgrad + 2 * s.maximize + s.decoupled];
}

template <bool kMomentum, bool kFresh, typename T>
void sgd_chunk(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n,
               SgdScalars s) {
  if (!kMomentum) s.momentum = 0;
  for (int64_t i = 0; i < n; ++i) {
    T unused = T(0);
    sgd_update(p[i], g[i], kMomentum ? &buf[i] : &unused, kFresh, s);
  }
}

template <bool kCentered, bool kMomentum, bool kMaximize, typename T>
void rmsprop_chunk(T* __restrict p, const T* __restrict g, T* __restrict square_avg,
                   T* __restrict grad_avg, T* __restrict buf, int64_t n, RmspropScalars s) {
  s.centered = kCentered;
  s.maximize = kMaximize;
  if (!kMomentum) s.momentum = 0;
  for (int64_t i = 0; i < n; ++i) {
    T unused_avg = T(0), unused_buf = T(0);
    rmsprop_update(p[i], g[i], square_avg[i], kCentered ? &grad_avg[i] : &unused_avg,
                   kMomentum ? &buf[i] : &unused_buf, s);
  }
}

template <typename T>
using RmspropChunk = void (*)(T*, const T*, T*, T*, T*, int64_t, RmspropScalars);

template <int kFlags, typename T>
constexpr RmspropChunk<T> rmsprop_chunk_of =
    rmsprop_chunk<(kFlags & 4) != 0, (kFlags & 2) != 0, (kFlags & 1) != 0, T>;

template <typename T>
RmspropChunk<T> rmsprop_kernel(const RmspropScalars& s) {
  static constexpr RmspropChunk<T> table[8] = {
      rmsprop_chunk_of<0, T>, rmsprop_chunk_of<1, T>, rmsprop_chunk_of<2, T>,
      rmsprop_chunk_of<3, T>, rmsprop_chunk_of<4, T>, rmsprop_chunk_of<5, T>,
      rmsprop_chunk_of<6, T>, rmsprop_chunk_of<7, T>};
  return table[4 * s.centered + 2 * (s.momentum > 0) + s.maximize];
}

}  // namespace

template <typename T>
void adam_step(const std::vector<AdamTensor<T>>& tensors) {
  for_chunks(tensors, 8, [](const AdamTensor<T>& t, int64_t begin, int64_t end) {
    T* vmax = t.scalars.amsgrad ? t.max_exp_avg_sq + begin : nullptr;
    adam_kernel<T>(t.scalars)(t.param + begin, t.grad + begin, t.exp_avg + begin, t.exp_avg_sq + begin, vmax,
        end - begin, t.scalars);
  });
}

template <typename T>
void sgd_step(const std::vector<SgdTensor<T>>& tensors, const SgdScalars& scalars) {
  const bool momentum = scalars.momentum != 0;
  for_chunks(tensors, 4, [&](const SgdTensor<T>& t, int64_t begin, int64_t end) {
    T* buf = momentum ? t.momentum_buffer + begin : nullptr;
    auto run = !momentum ? sgd_chunk<false, false, T>
               : t.fresh ? sgd_chunk<true, true, T> : sgd_chunk<true, false, T>;
    run(t.param + begin, t.grad + begin, buf, end - begin, scalars);
  });
}

template <typename T>
void rmsprop_step(const std::vector<RmspropTensor<T>>& tensors, const RmspropScalars& scalars) {
  const bool centered = scalars.centered, momentum = scalars.momentum > 0;
  const RmspropChunk<T> run = rmsprop_kernel<T>(scalars);
  for_chunks(tensors, 6, [&](const RmspropTensor<T>& t, int64_t begin, int64_t end) {
    run(t.param + begin, t.grad + begin, t.square_avg + begin,
        centered ? t.grad_avg + begin : nullptr, momentum ? t.momentum_buffer + begin : nullptr,
        end - begin, scalars);
  });
}

template void adam_step<float>(const std::vector<AdamTensor<float>>&);
template void adam_step<double>(const std::vector<AdamTensor<double>>&);
template void sgd_step<float>(const std::vector<SgdTensor<float>>&, const SgdScalars&);
template void sgd_step<double>(const std::vector<SgdTensor<double>>&, const SgdScalars&);
template void rmsprop_step<float>(const std::vector<RmspropTensor<float>>&,
                                  const RmspropScalars&);
template void rmsprop_step<double>(const std::vector<RmspropTensor<double>>&,
                                   const RmspropScalars&);

}  // namespace minigan
