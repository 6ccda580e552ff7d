// CUDA decode entry points (internal). Declared in every build; defined by src/cuda/decode_*.cu
// when HISA_WITH_CUDA, else by src/core/decode_cuda_stub.cpp (which throws BackendError).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hisa/decode.hpp"
#include "hisa/types.hpp"

namespace hisa::cuda {

// Workspace bytes of decode_select_device (depends on shapes and config only).
std::size_t decode_workspace_bytes(const DecodeProblem& p, const Config& cfg);

// p.memory == cuda, `out` device memory. Runs on opts.stream; uses opts.workspace when it is
// large enough, else allocates stream-ordered. Value checks (opts.check_values) cost one sync.
void decode_select_device(const DecodeProblem& p, const Config& cfg, int32_t* out,
                          const Options& opts);

// Host problem and host `out`: upload the whole cache (and pooled cache), run, download.
void decode_select_host_staged(const DecodeProblem& p, const Config& cfg, int32_t* out,
                               const Options& opts);

// pooled_update on device memory (u.memory == cuda), on opts.stream.
void pooled_update_device(const PagedCache& cache, const PooledCache& pooled,
                          const PooledUpdate& u, const Options& opts);

// Test hook: when true, decode_select_device runs the portable CUDA-core kernels (bitwise equal
// to the CPU) even where the sm_90a tensor-core kernels apply. Not thread-safe; tests only.
void decode_force_portable(bool on);

// Test hook: ranks `rows` rows of n synthetic ranking keys (device [rows, n], the uint32 keys of
// hisa_block_ops.cuh score_key) with the v2 selection routine of token_rank_kernel
// (decode_rank.cuh, radix fallback included), index(i) = i. out (device [rows, K]): the indices
// of the top min(K, n) (key desc, then index desc), -1 after; path (device [rows]): 1 where the
// bucket fast path ran, 0 where it declined. Synchronizes the device.
void decode_rank_rows_for_test(const uint32_t* keys, int rows, int n, int K, int32_t* out,
                               int32_t* path);

}  // namespace hisa::cuda
