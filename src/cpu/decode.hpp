// CPU reference of decode (SPEC.md "Decode"): internal entry points behind hisa/decode.hpp.
// The dispatcher (src/core/decode.cpp) has validated shapes and, when asked, values.
#pragma once

#include <cstdint>

#include "hisa/decode.hpp"
#include "hisa/types.hpp"

namespace hisa::cpu {

// idx [batch, next_n, topk] of positions, exactly what cpu::select gives each query at its
// position (same arithmetic, score.hpp), with HISA's block scores taken from the pooled cache.
void decode_select(const DecodeProblem& p, const Config& cfg, int32_t* out, const Options& opts);

// pooled_update / pooled_build on host memory (hisa/decode.hpp).
void pooled_update(const PagedCache& cache, const PooledCache& pooled, const PooledUpdate& u);

}  // namespace hisa::cpu
