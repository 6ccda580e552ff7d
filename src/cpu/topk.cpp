// Top-k selection on rank keys (topk.hpp).
#include "cpu/topk.hpp"

#include <algorithm>
#include <functional>

#include "cpu/score.hpp"

namespace hisa::cpu {

void keep_top(std::vector<uint64_t>& keys, int64_t k, bool ranked) {
  const int64_t n = static_cast<int64_t>(keys.size());
  if (k < n) {
    std::nth_element(keys.begin(), keys.begin() + k, keys.end(), std::greater<uint64_t>());
    keys.resize(k);
  }
  if (ranked) std::sort(keys.begin(), keys.end(), std::greater<uint64_t>());
}

void write_ranked(const std::vector<uint64_t>& ranked, int32_t* out, int64_t width) {
  const int64_t n = std::min<int64_t>(width, static_cast<int64_t>(ranked.size()));
  for (int64_t i = 0; i < n; ++i) out[i] = index_of(ranked[i]);
  std::fill(out + n, out + width, -1);
}

}  // namespace hisa::cpu
