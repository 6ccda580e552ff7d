// Spread statistics of full key blocks for the non-mean block summaries (docs/semantics.md
// "Block summaries"): channel-wise min/max (bound) or channel-wise variance (emax), per
// worker and per sequence start, cached like PooledKeys.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/keys.hpp"
#include "hisa/types.hpp"

namespace hisa::cpu {

class BlockStats {
 public:
  // Makes the statistics of blocks 0..count-1 of the sequence starting at ks available:
  //   bound: lo(j)[d] = min, hi(j)[d] = max over s in block j of k'[s,d] = f32(k_scale[s]*k[s,d])
  //   emax:  var(j)[d] = (sum over s ascending of f32(f32(k'[s,d] - kbar_j[d])^2)) / f32(B),
  //          kbar_j from `pooled` (which must hold the block).
  // Row-major [block][D]. A new (ks, B, kind) resets the cache.
  void ensure(const Problem& p, int64_t B, int64_t ks, int64_t count, BlockSummary kind,
              const PooledKeys& pooled);
  const float* lo(int64_t j) const { return a_.data() + j * D_; }
  const float* hi(int64_t j) const { return b_.data() + j * D_; }
  const float* var(int64_t j) const { return a_.data() + j * D_; }

 private:
  int64_t ks_ = -1, B_ = 0, D_ = 0, count_ = 0;
  BlockSummary kind_ = BlockSummary::mean;
  std::vector<float> a_, b_;  // bound: lo, hi; emax: var
  std::vector<float> row_;
};

// Element d of pooled key j in PooledKeys' panel layout.
inline float pooled_at(const PooledKeys& pooled, int64_t j, int64_t d) {
  return pooled.panel(j / kLanes)[d * kLanes + j % kLanes];
}

// The emax spread factor sqrt(2 ln B), rounded once to f32 (0 for B = 1).
float emax_gamma(int64_t B);

}  // namespace hisa::cpu
