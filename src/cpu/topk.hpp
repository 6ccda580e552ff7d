// Top-k over rank keys (score.hpp rank_key): nth_element, then a sort of the kept part only.
#pragma once

#include <cstdint>
#include <vector>

namespace hisa::cpu {

// Keeps the best min(k, keys.size()) keys (larger key = better), best first when `ranked`,
// else in no particular order. O(n + k log k).
void keep_top(std::vector<uint64_t>& keys, int64_t k, bool ranked = true);

// Writes the indices of `ranked` into out[0..width), then -1 in the unused slots.
void write_ranked(const std::vector<uint64_t>& ranked, int32_t* out, int64_t width);

}  // namespace hisa::cpu
