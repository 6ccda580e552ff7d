// Shared by the workload generators: size checks and the empty f32 workload they fill.
#pragma once

#include <cstdint>

#include "hisa/workload.hpp"

namespace hisa::eval {

// Throws ArgumentError naming T, S, H or D: T >= 0, T <= S (causal default), S fits int32,
// H >= 1, D >= 1.
void validate_workload_sizes(int64_t T, int64_t S, int64_t H, int64_t D);

// An f32 workload of these sizes with q, k, w allocated (contents unset), no ranges.
Workload allocate_f32_workload(int64_t T, int64_t S, int64_t H, int64_t D);

}  // namespace hisa::eval
