// CUDA backend entry points (internal). Declared in every build; defined by src/cuda/*.cu when
// HISA_WITH_CUDA, else by src/core/cuda_stub.cpp (which throws BackendError).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa::cuda {

// Number of usable devices; 0 when there is no driver/GPU. Never throws.
int device_count();

// Device workspace bytes select_device needs for this shape/config.
std::size_t workspace_bytes(const Problem& p, const Config& cfg);

// p.memory == Device::cuda, `out` device memory [T, topk]. Runs on opts.stream; uses
// opts.workspace when opts.workspace_bytes >= workspace_bytes(p, cfg), else allocates
// (stream-ordered) itself. No host sync when check_values is false.
void select_device(const Problem& p, const Config& cfg, int32_t* out, const Options& opts);

// Host problem and host `out`: upload, select_device, download (CLI convenience path).
void select_host_staged(const Problem& p, const Config& cfg, int32_t* out, const Options& opts);

}  // namespace hisa::cuda
