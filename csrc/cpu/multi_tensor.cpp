// Multi-tensor SGD, Adam and RMSprop: the elements of all tensors are cut into chunks of
// kChunk (a tensor's last chunk may be shorter) and parallel_for splits the chunk list, so the
// work per thread is even whatever the tensor sizes. Elements are independent, so results do
// not depend on the split.

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

}  // namespace

template <typename T>
void adam_step(const std::vector<AdamTensor<T>>& tensors) {
  for_chunks(tensors, 8, [](const AdamTensor<T>& t, int64_t begin, int64_t end) {
    const AdamScalars s = t.scalars;
    if (s.amsgrad) {
      for (int64_t i = begin; i < end; ++i) {
        adam_update(t.param[i], t.grad[i], t.exp_avg[i], t.exp_avg_sq[i], &t.max_exp_avg_sq[i],
                    s);
      }
    } else {
      for (int64_t i = begin; i < end; ++i) {
        adam_update(t.param[i], t.grad[i], t.exp_avg[i], t.exp_avg_sq[i], static_cast<T*>(nullptr),
                    s);
      }
    }
  });
}

template <typename T>
void sgd_step(const std::vector<SgdTensor<T>>& tensors, const SgdScalars& scalars) {
  const SgdScalars s = scalars;
  for_chunks(tensors, 4, [&s](const SgdTensor<T>& t, int64_t begin, int64_t end) {
    if (s.momentum != 0) {
      for (int64_t i = begin; i < end; ++i) {
        sgd_update(t.param[i], t.grad[i], &t.momentum_buffer[i], t.fresh, s);
      }
    } else {
      for (int64_t i = begin; i < end; ++i) {
        sgd_update(t.param[i], t.grad[i], static_cast<T*>(nullptr), false, s);
      }
    }
  });
}

template <typename T>
void rmsprop_step(const std::vector<RmspropTensor<T>>& tensors, const RmspropScalars& scalars) {
  const RmspropScalars s = scalars;
  for_chunks(tensors, 6, [&s](const RmspropTensor<T>& t, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      rmsprop_update(t.param[i], t.grad[i], t.square_avg[i],
                     s.centered ? &t.grad_avg[i] : static_cast<T*>(nullptr),
                     s.momentum > 0 ? &t.momentum_buffer[i] : static_cast<T*>(nullptr), s);
    }
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
