// A minimal parallel-for on std::thread, used instead of OpenMP: OpenMP's worker threads
// spin for a while after each parallel region, which on a small machine steals the cores
// from the OpenBLAS GEMM that numpy runs right after (measured: the GEMMs of a DCGAN step
// ~1.5x slower). Threads here are started per call and joined, so nothing spins; starting
// them costs tens of microseconds against kernels of milliseconds.
//
// The default is one thread. OpenBLAS's own workers spin after every GEMM (numpy's GEMMs
// are between every two of these kernels), so no core looks idle and Linux started our
// helper beside its parent, on the caller's core: on the 2-core development machine a DCGAN
// step took 6% (64px) and 11% (32px) longer with two threads than with one. Helpers are now
// kept off the caller's core (avoid_caller_core): im2col of a DCGAN layer right after a GEMM
// then takes 1.2-1.3 ms with two threads against 2.0-2.1 with one (2.2-2.4 with two before).
// A whole step still measured no better with two (within this machine's +-15% noise), so
// the default stays 1; set_num_threads(n) raises it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

namespace minigan {

// Keeps a helper thread off the caller's core (Linux; elsewhere a no-op). Right after one of
// numpy's GEMMs the other cores hold OpenBLAS workers that spin with sched_yield, so the
// scheduler sees no idle core and starts a new thread beside its parent: both halves of the
// work then share one core while the spinning one yields to nobody. On a core of its own the
// helper runs at once (the spinning worker yields to it).
template <typename Thread>
inline void avoid_caller_core(Thread& th) {
#ifdef __linux__
  const int cpu = sched_getcpu();
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (cpu < 0 || cpu >= CPU_SETSIZE ||
      sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || !CPU_ISSET(cpu, &allowed))
    return;
  CPU_CLR(cpu, &allowed);
  if (CPU_COUNT(&allowed) == 0) return;
  pthread_setaffinity_np(th.native_handle(), sizeof(allowed), &allowed);
#else
  (void)th;
#endif
}

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
    if (begin < end) {
      pool.emplace_back([&body, begin, end] { body(begin, end); });
      avoid_caller_core(pool.back());
    }
  }
  body(int64_t(0), std::min(n, step));
  for (auto& th : pool) th.join();
}

}  // namespace minigan
