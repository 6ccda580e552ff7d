// Per-method CUDA entry points behind hisa::cuda::select_device (backend.cu). All pointers in
// the Problem are device memory; ks/ke are always set (backend.cu materialises the causal
// default into the workspace). No host sync, no allocation: scratch comes from `ws`.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa::cuda {

// flat (exact DSA): src/cuda/flat_*.cu
std::size_t flat_workspace_bytes(const Problem& p, const Config& cfg);
void flat_select(const Problem& p, const Config& cfg, int32_t* out, void* ws, cudaStream_t st);

// HISA and block-sparse (cfg.method == hisa or block): src/cuda/hisa_*.cu
std::size_t hisa_workspace_bytes(const Problem& p, const Config& cfg);
void hisa_select(const Problem& p, const Config& cfg, int32_t* out, void* ws, cudaStream_t st);

// MISA, plain and hierarchical (cfg.method == misa): src/cuda/misa_*.cu
std::size_t misa_workspace_bytes(const Problem& p, const Config& cfg);
void misa_select(const Problem& p, const Config& cfg, int32_t* out, void* ws, cudaStream_t st);

// Order::index for paths that rank in score order (MISA, decode): rows [nrows, topk] re-sorted
// ascending in place, -1 last (src/cuda/row_order.cu). Graph-capturable, no host sync.
void order_rows_by_index_device(int32_t* rows, int64_t nrows, int64_t topk, cudaStream_t st);

}  // namespace hisa::cuda
