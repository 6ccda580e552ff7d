// Top-k of short rows in small CTAs (radix_topk_rows takes it by default for rows of at most
// 8192 columns; HISA_TOPK_SHORT_CTA=0/1 or radix_topk_set_short_cta(0/1) force it): HISA's
// stage-2b rows (k = 2048 of m * B <= 16384 candidates) selected by one bucket histogram
// (topk_bucket_select.cuh) in CTAs of 256 threads and 2048 buckets, so that four CTAs share
// an SM where the radix kernel (512 threads, 96 KiB) fits two. A row whose buckets are
// crowded is flagged, out[0] = kShortRowRefused, and the radix kernel's retry pass
// (topk_radix.cu) selects it. Same contract as radix_topk_rows.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/topk_radix.cuh"

namespace hisa::cuda {

constexpr int32_t kShortRowRefused = -2;
constexpr int64_t kShortRowMaxCols = 16384;
constexpr int64_t kShortRowMaxK = 2048;

// Whether short_topk_rows takes these rows: 1 <= k <= kShortRowMaxK, 1 <= cols <=
// kShortRowMaxCols, f32 or f16 scores.
bool short_topk_fits(const TopkRowsArgs& a);

// Enqueues the short-row kernel (`vec`: 16-byte aligned rows); refused rows are left flagged
// for the retry pass. `wide_buckets`: buckets at or above the k-th key's may hold up to 64 keys
// instead of 32 before the row is refused (the A/B switch HISA_TOPK_BUCKET64). No allocation,
// no host sync.
void short_topk_rows(const TopkRowsArgs& a, bool vec, bool wide_buckets, cudaStream_t stream,
                     const char* ctx);

}  // namespace hisa::cuda
