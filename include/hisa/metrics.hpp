// Fidelity metrics of an approximate selection against the flat (exact) selection
// on the same inputs (SPEC.md "Fidelity metrics"). Index lists are [T, k] int32, -1 padded.
#pragma once

#include <cstdint>
#include <vector>

#include "hisa/types.hpp"

namespace hisa {

// Per-row IoU |A n F| / |A u F| over valid (non -1) indices. Both empty -> 1.
std::vector<double> row_iou(const int32_t* approx, int64_t k_approx, const int32_t* flat,
                            int64_t k_flat, int64_t T);
// Per-row recall |A n F| / |F|. Empty F -> 1.
std::vector<double> row_recall(const int32_t* approx, int64_t k_approx, const int32_t* flat,
                               int64_t k_flat, int64_t T);
// Per-row score-mass recall: sum_{s in A} I+ / sum_{s in F} I+, with I+ = max(I, 0) the exact
// score of SPEC.md computed on the host problem `p`. Zero mass in F -> 1.
std::vector<double> row_mass_recall(const Problem& p, const int32_t* approx, int64_t k_approx,
                                    const int32_t* flat, int64_t k_flat);

struct Summary {
  double mean = 0, p1 = 0, p5 = 0, min = 0;  // p1/p5: 1st/5th percentile (low tail)
  int64_t rows = 0;
};
// Percentiles by nearest rank on the ascending sort: pX = v[ceil(X/100 * n) - 1].
Summary summarize(const std::vector<double>& per_row);

}  // namespace hisa
