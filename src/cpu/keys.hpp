// Keys in the panel layout of kernel.hpp: the whole key array (packed once per select), the
// pooled block keys of one sequence start (a per-thread cache), and gathered token lists.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/kernel.hpp"
#include "hisa/types.hpp"

namespace hisa::cpu {

// All S keys decoded to f32, in panels of kLanes (key s is lane s % kLanes of panel s / kLanes).
// Tail lanes are zero. O(S * D) floats, shared read-only by every worker.
struct KeyPanels {
  int64_t count = 0, D = 0;
  std::vector<float> data;   // [panels][D][kLanes]
  std::vector<float> scale;  // [panels * kLanes] k_scale, zero padded; empty when k_scale null
  const float* panel(int64_t pi) const { return data.data() + pi * D * kLanes; }
  const float* panel_scale(int64_t pi) const {
    return scale.empty() ? nullptr : scale.data() + pi * kLanes;
  }
};
KeyPanels pack_keys(const Problem& p, int threads);

// Pooled keys kbar_j (score.hpp) of the full blocks of the sequence that starts at `ks`,
// blocks aligned to ks. Cached per worker thread: a new ks resets it; asking for more blocks
// of the same ks extends it. Every kbar_j is computed the same way whatever the history, so
// results never depend on scheduling. Memory O(S * D / B).
class PooledKeys {
 public:
  // Makes blocks 0..count-1 available; block j covers [ks + j*B, ks + (j+1)*B) (all full).
  void ensure(const Problem& p, int64_t B, int64_t ks, int64_t count);
  int64_t count() const { return count_; }
  const float* panel(int64_t pj) const { return data_.data() + pj * D_ * kLanes; }

 private:
  int64_t ks_ = -1, B_ = 0, D_ = 0, count_ = 0;
  std::vector<float> data_;          // [panels][D][kLanes]
  std::vector<float> acc_, row_;     // scratch: running sum, one decoded key row
};

// Decodes keys idx[0..n) (n <= kLanes) of the raw key array into one panel (tail lanes zero)
// and, when k_scale is set, their scales into scale[0..kLanes) (tail zero). `rows` is scratch
// of kLanes * D floats (keys are decoded row-major there, then transposed 8 x 8).
void gather_panel(const Problem& p, const int32_t* idx, int64_t n, float* panel, float* scale,
                  float* rows);

}  // namespace hisa::cpu
