// A minimal parallel-for on std::thread, used instead of OpenMP: OpenMP's worker threads
// spin for a while after each parallel region, which on a small machine steals the cores
// from the OpenBLAS GEMM that numpy runs right after (measured: the GEMMs of a DCGAN step
// ~1.5x slower). Threads here are started per call and joined, so nothing spins; starting
// them costs tens of microseconds against kernels of milliseconds.
//
// The default is one thread. OpenBLAS's own workers spin after every GEMM (numpy's GEMMs
// are between every two of these kernels), so a second thread of ours shares a core with a
// spinning one and the join waits for it: on the 2-core development machine a DCGAN step
// took 6% (64px) and 11% (32px) longer with two threads than with one.
// set_num_threads(n) raises it, for machines or workloads where that pays.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace minigan {

inline int64_t& max_threads() {
  static int64_t n = 1;
  return n;
}

// Calls body(begin, end) on contiguous pieces of [0, n), one per thread; runs inline when
// the work (n * cost_per_item) is too small to be worth a thread.
template <typename Body>
void parallel_for(int64_t n, int64_t cost_per_item, const Body& body) {
  const int64_t min_work = int64_t(1) << 16;
  int64_t threads = std::min(max_threads(), n);
  if (n * cost_per_item < 2 * min_work) threads = 1;
  if (threads <= 1) {
    if (n > 0) body(int64_t(0), n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  const int64_t step = (n + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t begin = t * step, end = std::min(n, begin + step);
    if (begin < end) pool.emplace_back([&body, begin, end] { body(begin, end); });
  }
  body(int64_t(0), std::min(n, step));
  for (auto& th : pool) th.join();
}

}  // namespace minigan
