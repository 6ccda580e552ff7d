// BlockStats (block_stats.hpp).
#include "cpu/block_stats.hpp"

#include <algorithm>
#include <cmath>

#include "cpu/score.hpp"

namespace hisa::cpu {
namespace {

// min / max that propagate NaN (a NaN key element makes its block's bound NaN).
float min_nan(float a, float b) { return (a != a || b != b) ? a + b : std::min(a, b); }
float max_nan(float a, float b) { return (a != a || b != b) ? a + b : std::max(a, b); }

}  // namespace

void BlockStats::ensure(const Problem& p, int64_t B, int64_t ks, int64_t count,
                        BlockSummary kind, const PooledKeys& pooled) {
  if (ks != ks_ || B != B_ || p.D != D_ || kind != kind_) {
    ks_ = ks;
    B_ = B;
    D_ = p.D;
    kind_ = kind;
    count_ = 0;
    a_.clear();
    b_.clear();
  }
  if (count <= count_ || kind == BlockSummary::mean) return;
  a_.resize(count * D_);
  if (kind == BlockSummary::bound) b_.resize(count * D_);
  row_.resize(D_);
  for (int64_t j = count_; j < count; ++j) {
    float* a = a_.data() + j * D_;
    float* b = kind == BlockSummary::bound ? b_.data() + j * D_ : nullptr;
    for (int64_t s = ks + j * B; s < ks + (j + 1) * B; ++s) {
      decode_run(p.dtype, p.k, s * D_, D_, row_.data());
      if (p.k_scale != nullptr)
        for (int64_t d = 0; d < D_; ++d) row_[d] = p.k_scale[s] * row_[d];
      const bool first = s == ks + j * B;
      for (int64_t d = 0; d < D_; ++d) {
        const float x = row_[d];
        if (kind == BlockSummary::bound) {
          a[d] = first ? x : min_nan(a[d], x);
          b[d] = first ? x : max_nan(b[d], x);
        } else {
          const float diff = x - pooled_at(pooled, j, d);
          const float sq = diff * diff;
          a[d] = first ? sq : a[d] + sq;
        }
      }
    }
    if (kind == BlockSummary::emax)
      for (int64_t d = 0; d < D_; ++d) a[d] = a[d] / static_cast<float>(B);
  }
  count_ = count;
}

float emax_gamma(int64_t B) {
  return static_cast<float>(std::sqrt(2.0 * std::log(static_cast<double>(B))));
}

}  // namespace hisa::cpu
