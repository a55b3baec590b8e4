// What the module knows about the machine: built targets, runtime and driver versions, devices.
// None of it throws without a driver: the statically linked runtime opens libcuda at its first
// call and reports cudaErrorInsufficientDriver (no driver) or cudaErrorNoDevice.

#include <atomic>
#include <mutex>
#include <cstdio>
#include <string>

#include "cuda/common.cuh"

namespace minigan {
namespace cuda {

namespace {

#define MG_STR2(...) #__VA_ARGS__
#define MG_STR(...) MG_STR2(__VA_ARGS__)

std::string built_archs() {
#ifdef __CUDA_ARCH_LIST__
  // nvcc's list of the virtual architectures compiled for, e.g. "800,900" (SASS for each and
  // PTX for the last: setup.py's gencode flags).
  std::string list = MG_STR(__CUDA_ARCH_LIST__), out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string a = list.substr(start, end - start);
    if (!a.empty()) {
      const int v = std::stoi(a) / 10;
      out += (out.empty() ? "" : ", ") + std::string("sm_") + std::to_string(v);
    }
    start = end + 1;
  }
  return out;
#else
  return "unknown (nvcc without __CUDA_ARCH_LIST__)";
#endif
}

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

Details details() {
  Details d;
  d.archs = built_archs();
  cudaRuntimeGetVersion(&d.runtime_version);
  if (cudaDriverGetVersion(&d.driver_version) != cudaSuccess) {
    cudaGetLastError();
    d.driver_version = 0;
  }
  const cudaError_t e = cudaGetDeviceCount(&d.device_count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    d.device_count = 0;
    d.driver_error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    if (d.driver_version == 0) d.driver_error += " (no CUDA driver, libcuda.so.1, was found)";
  } else if (d.device_count == 0) {
    d.driver_error = "the driver reports no CUDA device";
  }
  for (int i = 0; i < d.device_count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      d.devices.push_back("(properties unavailable)");
      continue;
    }
    char buf[512];
    std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %d SMs, %zu MiB)", p.name, p.major, p.minor,
                  p.multiProcessorCount, size_t(p.totalGlobalMem >> 20));
    d.devices.push_back(buf);
  }
  return d;
}

int sm_count(const char* op) {
  static std::atomic<int> cache[64];  // per device ordinal; 0 = not asked yet
  int dev = 0;
  check(cudaGetDevice(&dev), op);
  if (dev >= 0 && dev < 64) {
    const int n = cache[dev].load(std::memory_order_relaxed);
    if (n > 0) return n;
  }
  int n = 0;
  check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev), op);
  n = std::max(n, 1);
  if (dev >= 0 && dev < 64) cache[dev].store(n, std::memory_order_relaxed);
  return n;
}

cudaMemPool_t workspace_pool(const char* op) {
  static std::mutex mutex;
  static cudaMemPool_t pools[64];
  static bool asked[64];
  int dev = 0;
  check(cudaGetDevice(&dev), op);
  if (dev < 0 || dev >= 64) return nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  if (!asked[dev]) {
    asked[dev] = true;
    int supported = 0;
    if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, dev) != cudaSuccess)
      supported = 0;
    if (supported) {
      cudaMemPoolProps props = {};
      props.allocType = cudaMemAllocationTypePinned;
      props.location.type = cudaMemLocationTypeDevice;
      props.location.id = dev;
      cudaMemPool_t pool = nullptr;
      if (cudaMemPoolCreate(&pool, &props) == cudaSuccess) {
        uint64_t threshold = uint64_t(64) << 20;
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
        pools[dev] = pool;
      }
    }
    cudaGetLastError();
  }
  return pools[dev];
}

}  // namespace cuda
}  // namespace minigan
