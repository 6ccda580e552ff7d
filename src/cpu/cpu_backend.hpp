// CPU backend entry points (internal). The dispatcher has validated shapes and values.
#pragma once

#include <cstdint>

#include "hisa/types.hpp"

namespace hisa::cpu {

// Writes idx [T, cfg.topk] for host problem `p` (SPEC.md semantics, exact).
void select(const Problem& p, const Config& cfg, int32_t* out, const Options& opts);

// Exact score I(t, s) of SPEC.md in the arithmetic every CPU path uses (see score.hpp).
float token_score(const Problem& p, int64_t t, int64_t s);

}  // namespace hisa::cpu
