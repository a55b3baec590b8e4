// The emulation's device queries (csrc/cuda/emu/run.sh): one device, EMU_SMS multiprocessors.
#include <cuda_runtime.h>
#include "cuda/common.cuh"
namespace minigan { namespace cuda {
int device_count() { return 1; }
Details details() { Details d; d.archs = "emu"; d.device_count = 1; d.devices = {"cpu emulation"}; return d; }
int sm_count(const char*) { const char* e = std::getenv("EMU_SMS"); return e ? std::atoi(e) : 4; }
cudaMemPool_t workspace_pool(const char*) { return reinterpret_cast<cudaMemPool_t>(1); }
}}
